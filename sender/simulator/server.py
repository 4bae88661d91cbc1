"""An SMPP 3.4 server for tests, benchmarks and demos: `herald simulator` or `Simulator`.

One asyncio task per connection (`SmppSession`); receipts and MO messages from one timer
(`DeliveryQueue`); outcomes from `OutcomePolicy`; records in `records`; the HTTP
control API in `control`. No task, timer or log line per message.

    async with Simulator(SimulatorConfig(port=0)) as smsc:
        ...  # bind to 127.0.0.1:smsc.port
        assert smsc.counters.accepted == 1
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import sys
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from sender.signals import install_stop_signals
from sender.simulator.config import SimulatorConfig, merge_config
from sender.simulator.control import ControlServer
from sender.simulator.delivery import Delivery, DeliveryQueue, Receiver, mo_body
from sender.simulator.outcomes import OutcomePolicy
from sender.simulator.records import AcceptedMessage, Counters, ReassembledMessage, reassemble
from sender.simulator.session import READ_SIZE, SmppSession
from sender.smpp.codes import CommandStatus

_THROTTLED, _QUEUE_FULL = CommandStatus.ESME_RTHROTTLED, CommandStatus.ESME_RMSGQFUL


def server_tls_context(config: SimulatorConfig) -> ssl.SSLContext | None:
    """The listener's TLS, when the config has a certificate; client certificates
    required when it has a client CA."""
    if not config.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config.tls_cert_file, config.tls_key_file or None)
    if config.tls_client_ca_file:
        context.load_verify_locations(config.tls_client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class Simulator:
    """The SMPP server, its records and its control API. See SimulatorConfig for behaviour."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.counters = Counters()
        self.accepted: list[AcceptedMessage] = []
        """Every accepted submit, in order (if config.record_accepted)."""
        self.policy = OutcomePolicy(self.config)
        self.deliveries = DeliveryQueue(self.config, self.counters, self._route)
        self.bind_counts: Counter[str] = Counter()
        """Binds open now, by system_id."""
        self.binds_by_mode: Counter[str] = Counter()
        """Binds ever made, by mode: Transceiver, Transmitter, Receiver."""
        self._sessions: set[SmppSession] = set()
        self._receivers: dict[str, list[SmppSession]] = {}
        self._turn = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self._control: ControlServer | None = None
        self._next_id = random.Random(self.config.seed).randrange(0x10000000, 0x40000000)
        self._drop_countdown = 0
        self._drop_due = False
        self._clock = time.time

    # Lifecycle

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._connected, self.config.host, self.config.port, limit=READ_SIZE * 4,
            ssl=server_tls_context(self.config))
        if self.config.control_port is not None:
            self._control = ControlServer(self)
            await self._control.start(self.config.host, self.config.control_port)

    async def stop(self) -> None:
        if self._control is not None:
            await self._control.stop()
            self._control = None
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions):
            session.abort()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
        self.deliveries.close()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The SMPP port bound (useful with port 0)."""
        assert self._server is not None, "Simulator is not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def control_port(self) -> int | None:
        return self._control.port if self._control else None

    # Control

    def configure(self, patch: Mapping[str, Any]) -> SimulatorConfig:
        """Change the running config (see merge_config); raises ValueError when invalid."""
        self.config = merge_config(self.config, patch)
        self.policy.configure(self.config)
        self.deliveries.config = self.config
        return self.config

    def throttle_next(self, count: int, status: int = _THROTTLED) -> None:
        """Refuse the next `count` submits with status (ESME_RTHROTTLED or ESME_RMSGQFUL)."""
        self.policy.throttle_next(count, status)

    def drop_connections(self) -> int:
        """Drop every connection now, as a crashed SMSC would; returns how many."""
        self._drop_due = False
        sessions = [s for s in self._sessions if s.is_open]
        for session in sessions:
            if self.config.drops_lose_receipts:
                self.deliveries.forget_receipts(session)
            session.abort()
        self.counters.drops += len(sessions)
        return len(sessions)

    def drop_after(self, submits: int) -> None:
        """Drop every connection right after the next `submits` accepted submits."""
        self._drop_countdown = submits

    def inject_mo(self, source: str, destination: str, text: str,
                  system_id: str | None = None, *, source_ton: int | None = None) -> str:
        """Queue an MO deliver_sm (esm_class 0) to a receiver bind; returns its system_id.
        `source_ton` 2 writes the source as a national number, as some SMSCs do."""
        target = system_id or self.config.accounts[0].system_id
        body = mo_body(source, destination, text, source_ton)
        self.deliveries.schedule(Delivery(target, body, False), 0)
        return target

    @property
    def unanswered(self) -> int:
        """submit_sm accepted whose responses wait for the configured latency."""
        return sum(session.unanswered for session in self._sessions if session.is_open)

    def reset(self) -> None:
        """Forget records, counters, queued deliveries and throttle state; binds stay."""
        self.accepted.clear()
        self.counters = self.deliveries.counters = Counters()
        self.counters.binds = self.counters.peak_binds = sum(self.bind_counts.values())
        self.policy.reset(self.config)
        self.deliveries.clear()
        self._drop_countdown = 0

    def reassembled(self) -> list[ReassembledMessage]:
        return reassemble(self.accepted)

    def stats(self) -> dict[str, Any]:
        return self.counters.to_json() | {
            "bound": dict(self.bind_counts), "connections": len(self._sessions),
            "recorded": len(self.accepted), "deliveries_pending": self.deliveries.pending}

    # Connections

    async def _connected(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        session = SmppSession(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(session)
        self._tasks.add(task)
        try:
            await session.run()
        finally:
            self._tasks.discard(task)

    def _bound(self, session: SmppSession) -> None:
        system_id = session.system_id or ""
        self.bind_counts[system_id] += 1
        self.counters.binds += 1
        self.counters.peak_binds = max(self.counters.peak_binds, sum(self.bind_counts.values()))
        self.binds_by_mode[session.mode] += 1
        if session.can_receive:
            self._receivers.setdefault(system_id, []).append(session)
            self.deliveries.receiver_bound(system_id)

    def _closed(self, session: SmppSession) -> None:
        self._sessions.discard(session)
        if session.system_id is not None:
            self.bind_counts[session.system_id] -= 1
            if not self.bind_counts[session.system_id]:
                del self.bind_counts[session.system_id]
            receivers = self._receivers.get(session.system_id, [])
            if session in receivers:
                receivers.remove(session)
        self.deliveries.receiver_closed(session)

    def _route(self, system_id: str, preferred: Receiver | None) -> Receiver | None:
        if preferred is not None and preferred.is_open and preferred.can_receive:
            return preferred
        receivers = self._receivers.get(system_id)
        if not receivers:
            return None
        self._turn += 1
        return receivers[self._turn % len(receivers)]

    def _accept(self, record: AcceptedMessage) -> None:
        counters = self.counters
        counters.accepted += 1
        counters.outcomes[record.outcome] += 1
        counters.per_destination[record.destination] += 1
        if self.config.record_accepted:
            self.accepted.append(record)
        every = self.config.drop_every_submits
        if self._drop_countdown:
            self._drop_countdown -= 1
            self._drop_due = not self._drop_countdown
        if every and counters.accepted % every == 0:
            self._drop_due = True

    def _count_refusal(self, status: int) -> None:
        if status == _THROTTLED:
            self.counters.throttled += 1
        elif status == _QUEUE_FULL:
            self.counters.queue_full += 1
        else:
            self.counters.submit_errors += 1


async def serve(config: SimulatorConfig) -> None:
    """Run until SIGINT or SIGTERM; print one line with the ports once listening."""
    stop = asyncio.Event()
    install_stop_signals(asyncio.get_running_loop(), stop.set)
    async with Simulator(config) as smsc:
        control = f" control http://{config.host}:{smsc.control_port}" \
            if smsc.control_port else ""
        print(f"SMPP simulator listening on {config.host}:{smsc.port}{control}", flush=True)
        await stop.wait()


def run(config: SimulatorConfig) -> int:
    """`herald simulator`: serve until stopped; 0 when stopped, 1 if it could not listen."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config))
    except OSError as error:
        print(f"herald simulator: cannot listen on {config.host}: {error}", file=sys.stderr)
        return 1
    return 0
