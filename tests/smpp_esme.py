"""A minimal asyncio ESME on sender.smpp.pdu for tests: requests matched to responses by
sequence_number, deliver_sm queued (and acknowledged unless told not to)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

from sender.smpp.codes import CommandId, PduError
from sender.smpp.pdu import (
    BindReceiver,
    BindResp,
    BindTransceiver,
    BindTransmitter,
    DeliverSm,
    DeliverSmResp,
    Pdu,
    SubmitSm,
    SubmitSmResp,
    decode,
)
from sender.smpp.stream import FrameBuffer

BINDS: dict[str, type[BindTransmitter | BindReceiver | BindTransceiver]] = {
    "transmitter": BindTransmitter, "receiver": BindReceiver, "transceiver": BindTransceiver}


async def eventually(check: Callable[[], bool], timeout: float = 5.0,
                     message: str = "condition") -> None:
    """Wait until check() holds, polling, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} did not hold within {timeout}s")
        await asyncio.sleep(0.005)


class Esme:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.sequence = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[Pdu]] = {}
        self.delivered: asyncio.Queue[DeliverSm] = asyncio.Queue()
        self.received: list[Pdu] = []
        self.auto_ack = True
        self.closed = asyncio.Event()
        self._task = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, port: int) -> Esme:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def _read(self) -> None:
        frames = FrameBuffer()
        try:
            while data := await self.reader.read(65536):
                for frame in frames.feed(data):
                    self._dispatch(decode(frame))
        except (ConnectionError, PduError):
            pass
        finally:
            self.closed.set()
            for future in self.waiting.values():
                if not future.done():
                    future.set_exception(ConnectionError("connection closed"))

    def _dispatch(self, pdu: Pdu) -> None:
        self.received.append(pdu)
        if isinstance(pdu, DeliverSm):
            if self.auto_ack:
                self.send(DeliverSmResp(sequence_number=pdu.sequence_number))
            self.delivered.put_nowait(pdu)
        elif pdu.command_id & 0x80000000:
            future = self.waiting.pop(pdu.sequence_number, None)
            if future is not None and not future.done():
                future.set_result(pdu)

    def send(self, pdu: Pdu) -> int:
        if not pdu.command_id & 0x80000000 and not pdu.sequence_number:
            pdu.sequence_number = next(self.sequence)
        self.writer.write(pdu.encode())
        return pdu.sequence_number

    def expect(self, sequence: int) -> asyncio.Future[Pdu]:
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self.waiting[sequence] = future
        return future

    async def request(self, pdu: Pdu, timeout: float = 5.0) -> Any:
        pdu.sequence_number = pdu.sequence_number or next(self.sequence)
        future = self.expect(pdu.sequence_number)
        self.send(pdu)
        return await asyncio.wait_for(future, timeout)

    async def bind(self, mode: str = "transceiver", system_id: str = "herald",
                   password: str = "herald") -> BindResp:
        resp: BindResp = await self.request(BINDS[mode](system_id=system_id, password=password))
        return resp

    def submit_pdu(self, destination: str = "+8613800000001", text: bytes = b"Hello there",
                   **fields: Any) -> SubmitSm:
        return SubmitSm(source_addr=fields.pop("source_addr", "Herald"),
                        destination_addr=destination, short_message=text, **fields)

    async def submit(self, destination: str = "+8613800000001", text: bytes = b"Hello there",
                     **fields: Any) -> SubmitSmResp:
        resp: SubmitSmResp = await self.request(self.submit_pdu(destination, text, **fields))
        return resp

    async def submit_many(self, pdus: list[SubmitSm], timeout: float = 5.0) -> list[Pdu]:
        """Write all at once (one segment), then wait for every response."""
        futures = []
        for pdu in pdus:
            pdu.sequence_number = next(self.sequence)
            futures.append(self.expect(pdu.sequence_number))
        self.writer.write(b"".join(pdu.encode() for pdu in pdus))
        return list(await asyncio.wait_for(asyncio.gather(*futures), timeout))

    async def next_deliver(self, timeout: float = 5.0) -> DeliverSm:
        return await asyncio.wait_for(self.delivered.get(), timeout)

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


def command_ids(pdus: list[Pdu]) -> list[CommandId]:
    return [pdu.command_id for pdu in pdus]
