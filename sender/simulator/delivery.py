"""deliver_sm from the simulator to ESMEs: delivery receipts and injected MO messages.

One timer for all connections (no task per message): deliveries wait in a heap ordered by
due time; when the timer fires, every due deliver_sm is written, one write per connection.
A deliver_sm not answered by deliver_sm_resp (ESME_ROK) within the ack timeout, or whose
connection closed, is sent again, to the same bind if it is still open, else to any
receiver or transceiver bind of the same system_id, up to `receipt_retries` times. With no
such bind open, it waits for one. With `drops_lose_receipts`, a connection the simulator
drops on purpose takes the receipts owed to it along instead (`forget_receipts`).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sender.simulator.config import SimulatorConfig
from sender.simulator.records import AcceptedMessage, Counters, decode_text
from sender.smpp.codes import ESM_DELIVERY_RECEIPT, RECEIPT_STAT, CommandId, MessageState, Tag
from sender.smpp.pdu import DeliverSm, cstr_tlv, encode_frame, network_error_code
from sender.sms.text import detect_encoding, encode_gsm7_unpacked, encode_ucs2

GSM_NETWORK: int = 3
"""network_error_code network type for GSM."""


class Receiver(Protocol):
    """A bound connection that deliver_sm can be written to."""

    @property
    def is_open(self) -> bool: ...

    @property
    def can_receive(self) -> bool: ...

    outstanding: dict[int, Delivery]
    """deliver_sm written and not yet answered, by sequence_number."""

    def next_sequence(self) -> int: ...

    def write(self, data: bytes) -> None: ...


@dataclass(slots=True)
class Delivery:
    """One deliver_sm to send: its body is encoded once, its header per attempt."""

    system_id: str
    body: bytes
    is_receipt: bool
    preferred: Receiver | None = None
    attempts: int = 0


Route = Callable[[str, "Receiver | None"], "Receiver | None"]
"""(system_id, preferred bind) to the bind to use now, or None if none is bound."""


def _address_type(address: str) -> tuple[int, int]:
    """(TON, NPI): international/E.164 for numbers, alphanumeric otherwise."""
    return (1, 1) if address.lstrip("+").isdigit() else (5, 0)


_date_cache: tuple[int, str] = (-1, "")


def receipt_date(timestamp: float) -> str:
    """YYMMDDhhmm in UTC, cached per minute (receipts come in bursts)."""
    global _date_cache
    minute = int(timestamp // 60)
    if _date_cache[0] != minute:
        _date_cache = (minute, time.strftime("%y%m%d%H%M", time.gmtime(timestamp)))
    return _date_cache[1]


def receipt_text(message: AcceptedMessage, state: MessageState, error_code: int, text_id: str,
                 done: float) -> str:
    """The de facto standard receipt text (SMPP 3.4 Appendix B)."""
    data = message.user_data
    excerpt = decode_text(data[:40] if message.data_coding == 8 else data[:20],
                          message.data_coding)[:20]
    delivered = "001" if state == MessageState.DELIVERED else "000"
    return (f"id:{text_id} sub:001 dlvrd:{delivered} submit date:{receipt_date(message.timestamp)}"
            f" done date:{receipt_date(done)} stat:{RECEIPT_STAT[state]} err:{error_code:03d}"
            f" text:{excerpt}")


def receipt_body(message: AcceptedMessage, state: MessageState, error_code: int, text_id: str,
                 done: float) -> bytes:
    """deliver_sm body of a receipt: esm_class 0x04, receipted_message_id and message_state."""
    tlvs: dict[int, bytes] = {Tag.RECEIPTED_MESSAGE_ID: cstr_tlv(message.message_id),
            Tag.MESSAGE_STATE: bytes((state,))}
    if error_code:
        tlvs[Tag.NETWORK_ERROR_CODE] = network_error_code(GSM_NETWORK, error_code)
    text = receipt_text(message, state, error_code, text_id, done)
    src_ton, src_npi = _address_type(message.destination)
    dst_ton, dst_npi = _address_type(message.source)
    return DeliverSm(
        source_addr_ton=src_ton, source_addr_npi=src_npi, source_addr=message.destination,
        dest_addr_ton=dst_ton, dest_addr_npi=dst_npi, destination_addr=message.source,
        esm_class=ESM_DELIVERY_RECEIPT, short_message=text.encode("ascii", "replace"),
        tlvs=tlvs).encode_body()  # fmt: skip


def mo_body(source: str, destination: str, text: str, source_ton: int | None = None) -> bytes:
    """deliver_sm body of a mobile-originated message: GSM-7 if it fits, else UCS-2.
    `source_ton` overrides the source's TON (2: a number in national format)."""
    if detect_encoding(text) == "GSM7":
        data, coding = encode_gsm7_unpacked(text), 0
    else:
        data, coding = encode_ucs2(text), 8
    src_ton, src_npi = _address_type(source)
    src_ton = src_ton if source_ton is None else source_ton
    dst_ton, dst_npi = _address_type(destination)
    return DeliverSm(source_addr_ton=src_ton, source_addr_npi=src_npi, source_addr=source,
                     dest_addr_ton=dst_ton, dest_addr_npi=dst_npi, destination_addr=destination,
                     data_coding=coding, short_message=data).encode_body()


class DeliveryQueue:
    """Due deliver_sm, written in batches by one loop timer; acks and resends."""

    def __init__(self, config: SimulatorConfig, counters: Counters, route: Route) -> None:
        self.config = config
        self.counters = counters
        self._route = route
        self._heap: list[tuple[float, int, Delivery]] = []
        self._order = itertools.count()
        self._awaiting: deque[tuple[float, Receiver, int]] = deque()
        self._waiting: defaultdict[str, list[Delivery]] = defaultdict(list)
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> int:
        """Deliveries not yet acknowledged: due, waiting for a bind, or written."""
        return (len(self._heap) + sum(map(len, self._waiting.values()))
                + len({(id(r), s) for _, r, s in self._awaiting if s in r.outstanding}))

    def schedule(self, delivery: Delivery, delay: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        heapq.heappush(self._heap, (due, next(self._order), delivery))
        if self._timer is None or due < self._timer.when():
            self._arm(loop)

    def acknowledge(self, receiver: Receiver, sequence: int, status: int) -> None:
        delivery = receiver.outstanding.pop(sequence, None)
        if delivery is None:
            return
        if status:
            self._resend(delivery)
            self._arm(asyncio.get_running_loop())
        elif delivery.is_receipt:
            self.counters.receipts_acked += 1
        else:
            self.counters.mo_acked += 1

    def receiver_closed(self, receiver: Receiver) -> None:
        deliveries = list(receiver.outstanding.values())
        receiver.outstanding.clear()
        for delivery in deliveries:
            self._resend(delivery)
        if deliveries:
            self._arm(asyncio.get_running_loop())

    def forget_receipts(self, receiver: Receiver) -> int:
        """Lose the receipts owed to `receiver` (a connection about to be dropped): written
        and unanswered, or due to it; MO messages stay. Returns how many were lost."""
        written = [seq for seq, d in receiver.outstanding.items() if d.is_receipt]
        for sequence in written:
            del receiver.outstanding[sequence]

        def owed(delivery: Delivery) -> bool:
            return delivery.is_receipt and delivery.preferred is receiver

        due = len(self._heap)
        self._heap = [entry for entry in self._heap if not owed(entry[2])]
        heapq.heapify(self._heap)
        lost = len(written) + due - len(self._heap)
        for system_id, waiting in self._waiting.items():
            kept = [delivery for delivery in waiting if not owed(delivery)]
            lost += len(waiting) - len(kept)
            self._waiting[system_id] = kept
        self.counters.receipts_lost += lost
        return lost

    def receiver_bound(self, system_id: str) -> None:
        """A bind that takes deliver_sm opened: send what waited for one."""
        waiting = self._waiting.pop(system_id, [])
        for delivery in waiting:
            self.schedule(delivery, 0.0)

    def clear(self) -> None:
        self._heap.clear()
        self._awaiting.clear()
        self._waiting.clear()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _resend(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        if delivery.attempts > self.config.receipt_retries:
            self.counters.receipts_given_up += 1
            return
        self.counters.receipts_retried += 1
        heapq.heappush(self._heap, (0.0, next(self._order), delivery))

    def _arm(self, loop: asyncio.AbstractEventLoop) -> None:
        awaiting = self._awaiting
        while awaiting and awaiting[0][2] not in awaiting[0][1].outstanding:
            awaiting.popleft()  # answered already
        when = min(self._heap[0][0] if self._heap else float("inf"),
                   awaiting[0][0] if awaiting else float("inf"))
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
            self._timer = None
        if when != float("inf"):
            self._timer = loop.call_at(when, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        heap, awaiting = self._heap, self._awaiting
        deadline = now + self.config.receipt_ack_timeout_ms / 1000
        batches: dict[Receiver, list[bytes]] = {}
        counters = self.counters
        while heap and heap[0][0] <= now:
            delivery = heapq.heappop(heap)[2]
            receiver = self._route(delivery.system_id, delivery.preferred)
            if receiver is None:
                self._waiting[delivery.system_id].append(delivery)
                continue
            delivery.preferred = receiver
            sequence = receiver.next_sequence()
            receiver.outstanding[sequence] = delivery
            awaiting.append((deadline, receiver, sequence))
            batches.setdefault(receiver, []).append(
                encode_frame(CommandId.DELIVER_SM, 0, sequence, delivery.body))
            if delivery.is_receipt:
                counters.receipts_sent += 1
            else:
                counters.mo_sent += 1
        for receiver, frames in batches.items():
            receiver.write(b"".join(frames))
        while awaiting and awaiting[0][0] <= now:
            _, receiver, sequence = awaiting.popleft()
            unanswered = receiver.outstanding.pop(sequence, None)
            if unanswered is not None:
                self._resend(unanswered)
        self._arm(loop)
