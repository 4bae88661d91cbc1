"""The operator's logs: kopf's format, without a line per timer run.

Herald's campaign timer runs every second per campaign and the channel timer every
5 s per channel; kopf logs "Timer 'reconcile' succeeded." at INFO each time, which
drowns what matters. Failures and retries still log, as do all other handlers.
"""

from __future__ import annotations

import logging
import re

import kopf

TIMER_SUCCEEDED = re.compile(r"Timer '[^']*' succeeded\.")


class QuietTimers(logging.Filter):
    """Drops kopf's INFO line for each timer run that succeeded."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == logging.INFO
                    and TIMER_SUCCEEDED.fullmatch(record.getMessage()) is not None)


def configure_logging(*, verbose: bool, json_format: bool) -> None:
    kopf.configure(verbose=verbose,
                   log_format=kopf.LogFormat.JSON if json_format else kopf.LogFormat.FULL)
    if not verbose:
        for handler in logging.getLogger().handlers:
            handler.addFilter(QuietTimers())
