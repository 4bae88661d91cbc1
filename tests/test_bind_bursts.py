"""A burst of submit_sm_resps is handled a few frames at a turn (sender.smpp.bind).

An SMSC that answers a written batch at once sends a whole window of responses in one
read. The bind hands the slots each turn frees to whoever waits in `reserve` before it
handles the rest, so new submits are on the wire while the burst is still being read.
Real TCP against a minimal SMSC written here, which answers the first window of submits
in one write and every later submit at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from herald.local.kube.client import wait_for
from sender.smpp.bind import BindSettings, SmppBind, frames_a_turn
from sender.smpp.codes import HEADER, RESPONSE_BIT, CommandId
from sender.smpp.pdu import DeliverSm, SubmitSm, encode_frame
from sender.smpp.stream import FrameBuffer

WINDOW = 100
TOTAL = 2 * WINDOW


class BurstSmsc:
    """Binds anyone; holds the first WINDOW submits and answers them in one write."""

    def __init__(self) -> None:
        self.held: list[int] = []
        self.submits = 0
        self.server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        frames = FrameBuffer()
        while data := await reader.read(65536):
            out = []
            for frame in frames.feed(data):
                _, command_id, _, sequence = HEADER.unpack_from(frame)
                if command_id == CommandId.BIND_TRANSCEIVER:
                    out.append(encode_frame(command_id | RESPONSE_BIT, 0, sequence, b"smsc\0"))
                elif command_id == CommandId.SUBMIT_SM:
                    self.submits += 1
                    answer = encode_frame(CommandId.SUBMIT_SM_RESP, 0, sequence,
                                          b"%08x\0" % self.submits)
                    if self.submits <= WINDOW:
                        self.held.append(sequence)
                        if self.submits == WINDOW:  # the whole window in one write
                            out.extend(encode_frame(CommandId.SUBMIT_SM_RESP, 0, s,
                                                    b"%08x\0" % s) for s in self.held)
                    else:
                        out.append(answer)
                elif command_id == CommandId.UNBIND:
                    out.append(encode_frame(CommandId.UNBIND_RESP, 0, sequence))
            if out:
                writer.write(b"".join(out))
        writer.close()


class Recorder:
    """Notes, for each response, how many submits the test's dispatch had sent."""

    def __init__(self) -> None:
        self.sent = 0
        self.sent_at_response: dict[int, int] = {}

    def submit_done(self, ref: Any, status: int, message_id: str) -> None:
        self.sent_at_response[ref] = self.sent

    def submits_done(self, done: Sequence[tuple[Any, int, str]]) -> None:
        for ref, status, message_id in done:
            self.submit_done(ref, status, message_id)

    def deliver(self, pdu: DeliverSm) -> int:
        return 0

    def receipts_in(self, receipts: Sequence[tuple[bytes, dict[int, bytes]]]) -> list[int]:
        return [0] * len(receipts)

    def receipt(self, short_message: bytes, tlvs: dict[int, bytes]) -> int:
        return 0

    def lost(self, refs: Sequence[Any], reason: str) -> None:
        pass


@pytest.fixture
async def smsc() -> AsyncIterator[BurstSmsc]:
    smsc = BurstSmsc()
    smsc.server = await asyncio.start_server(smsc.serve, "127.0.0.1", 0)
    async with smsc.server:
        yield smsc


async def dispatch(bind: SmppBind, recorder: Recorder) -> None:
    """Write TOTAL submits as slots free, as the sender's dispatch does."""
    while recorder.sent < TOTAL:
        slots = await bind.reserve(TOTAL - recorder.sent)
        submits = [(SubmitSm(destination_addr=f"+86138{recorder.sent + i:08d}",
                             short_message=b"hello").encode_body(), recorder.sent + i)
                   for i in range(slots)]
        recorder.sent += slots
        bind.send(submits)


async def test_a_burst_of_responses_frees_slots_before_it_is_all_handled(
        smsc: BurstSmsc) -> None:
    recorder = Recorder()
    settings = BindSettings(host="127.0.0.1", port=smsc.port, system_id="herald",
                            password="herald", window=WINDOW, response_timeout=10.0)
    bind = SmppBind(settings, recorder)
    running = asyncio.create_task(bind.run())
    sending = asyncio.create_task(dispatch(bind, recorder))
    try:
        await wait_for(lambda: len(recorder.sent_at_response), timeout=10,
                       until=lambda answered: answered == TOTAL,
                       message="not every submit was answered")
    finally:
        sending.cancel()
        await bind.stop()
        await running
    burst = [recorder.sent_at_response[ref] for ref in range(WINDOW)]
    # The first turn's responses come before any new submit; by the burst's last
    # response, the slots the earlier turns freed were already written to (all but the
    # last turn's, when the burst came in one read, as loopback gives it).
    turn = frames_a_turn(WINDOW)
    assert turn < WINDOW
    assert burst[0] == WINDOW
    assert burst[-1] >= WINDOW + turn, burst
    assert smsc.submits == TOTAL
