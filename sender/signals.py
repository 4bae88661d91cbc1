"""How every long-running Herald process stops: SIGTERM (a pod being stopped, a campaign
paused) or SIGINT (Ctrl-C) sets its stop flag, after one log line that says why.

The processes (send, receive, simulator) each hold an `asyncio.Event` that their loops
watch; this is the one place that wires the signals to it. Logging itself is set up
once per process by the `herald` command (herald.logs).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

logger = logging.getLogger(__name__)


def _on_stop_signal(signum: signal.Signals, stop: Callable[[], None]) -> None:
    logger.info("stopping on %s", signum.name)
    stop()


def install_stop_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    """Calls `stop()` (after a log line) on each SIGTERM or SIGINT delivered to `loop`.

    Every signal calls `stop()` again: a second SIGTERM from a kubelet, or a second
    Ctrl-C, finds the process already stopping. So `stop` must be idempotent and cheap,
    as `asyncio.Event.set` is; it runs in the loop, not in a signal handler, so it may
    log or schedule. Unix only, like `add_signal_handler` itself.
    """
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _on_stop_signal, signum, stop)
