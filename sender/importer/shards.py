"""Import a campaign's audience into its shard streams in Redis (DESIGN.md §3, step 1).

Rows stream in (never a whole list in memory) and go out in batches: each number is
normalised to E.164 or counted invalid by reason, filtered, deduplicated within the
campaign, checked against the opt-out set, given its A/B variant (a stable hash of
the number and the weights) and appended to the stream of its shard
(`shard_of(number, shards)`) with its variables.

Resumable and idempotent: this module decides what each batch adds, and the store
(sender.store.import_batches) commits it whole, in one script that writes only if the
import's progress is still what it read, so after a crash Redis holds whole batches
only; a rerun over the same source skips the rows the progress mark says are in and
carries on, never enqueueing or counting a row twice, even with two importers at once.

Counters added to the campaign's counters hash, beside total, invalid, suppressed and
optedOut: `imported` (entries queued), `drop:<DropReason>`, `suppress:Duplicate`,
`suppress:Filtered`, `suppress:SuppressionList`, `variant:<name>:total`, with channels
`channel:<name>:total` and `channel:<name>:country:<CC>` (the number's ISO 3166 region,
ZZ for none: the pre-send plan's cost), and with a test group (spec.winner)
`awaitingWinner` and `variant:<name>:awaitingWinner`.

A shard entry has the fields n (E.164), v (variant, may be empty), x (the variables as
compact JSON) and, when recipients are timed by their own clocks (`recipient_zones`), z:
the recipient's IANA zone, from its row's time-zone column if that names a zone, else
the one its number's prefix gives (sender.sms.number_zones); none when neither gives one
(the campaign's zone times it). Counted as `zone:<source>` (TIME_ZONE_SOURCES).
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Collection,
    Iterable,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any, NamedTuple

import redis.asyncio as aioredis

from crds.campaign import ColumnMapping
from sender.importer.audience_rows import MalformedRow, UndecodableRow
from sender.importer.report import (
    DUPLICATE,
    FILTERED,
    HOLDOUT,
    SUPPRESSION_LIST,
    ImportReport,
    read_import_report,
)
from sender.sms.audience_filter import FilterRowError
from sender.sms.lanes import Lanes
from sender.sms.numbers import NO_COUNTRY, DropReason, Recipient, parse_number, shard_of
from sender.sms.routing import Router
from sender.sms.send_times import zone as time_zone
from sender.sms.variants import HoldoutPicker, TestGroupPicker, VariantPicker
from sender.store.import_batches import BatchRead, BatchWrite, ImportBatches, ImportConflict
from sender.store.keys import CampaignKeys

# Fields of a shard stream entry.
NUMBER, VARIANT, VARIABLES, TIME_ZONE = "n", "v", "x", "z"

UNROUTABLE = "unroutable"
"""Counter of valid numbers no channel of the run serves; unroutable:<country> by the
number's ISO 3166 region (ZZ: none)."""

# Where a recipient's zone came from (status.timeZoneSources), counted as zone:<source>.
ZONE_FROM_COLUMN, ZONE_FROM_NUMBER, CAMPAIGN_ZONE, UNKNOWN_ZONE = (
    "ZoneFromColumn", "ZoneFromNumber", "CampaignZone", "UnknownZone")
TIME_ZONE_SOURCES = (ZONE_FROM_COLUMN, ZONE_FROM_NUMBER, CAMPAIGN_ZONE, UNKNOWN_ZONE)


Rows = AsyncIterable[Mapping[str, str]] | Iterable[Mapping[str, str]]


def recipient_from_entry(fields: Mapping[str, str]) -> Recipient:
    """The Recipient of a shard entry as the store's clients read it."""
    return Recipient(fields[NUMBER], json.loads(fields.get(VARIABLES) or "{}"),
                     fields.get(VARIANT, ""))


async def import_audience(
    redis: aioredis.Redis,
    keys: CampaignKeys,
    rows: Rows,
    *,
    shards: int,
    columns: ColumnMapping,
    default_region: str,
    variants: Sequence[tuple[str, int]] = (),
    dedupe: bool = True,
    respect_opt_outs: bool = True,
    keep: Callable[[Mapping[str, str]], bool] | None = None,
    required: Mapping[str, Collection[str]] | None = None,
    suppression: bool = False,
    holdout_percent: int = 0,
    test_percent: int = 0,
    recipient_zones: bool = False,
    channels: Sequence[str] = (),
    router: Router | None = None,
    batch: int = 1000,
    part: int = 0,
    parts: int = 1,
) -> ImportReport:
    """Import `rows` (dicts keyed by column) into the campaign's `shards` streams.

    Rerun it with the same source and settings after a crash: it resumes after the last
    committed batch. Once complete it returns the report without reading `rows`.
    `keep`, if given, gets a recipient's variables and says whether to send (the
    audience filter); rows it refuses count as suppressed. `required` names, by variant,
    the variables its template uses: a row lacking one counts invalid (MissingVariables)
    rather than failing at send time. `suppression`: the campaign's suppression lists
    are loaded (sender.store.import_batches.load_suppression); their numbers count as
    suppressed (SuppressionList). `recipient_zones`: give each entry its recipient's
    zone (z), from the time-zone column or the number. `test_percent` (spec.winner): the
    recipients outside the test group go to the rest streams, shards to 2 * shards - 1
    (counted awaitingWinner), which only the winner's senders read. `channels` (the run's,
    in the campaign's order) and `router`: each number goes to the lane of its shard and
    of the channel the router gives it (sender.sms.lanes), counted channel:<name>:total;
    one no channel serves is counted unroutable (and unroutable:<country>), not queued.
    Without them every number takes the one channel's lanes. Variables are the columns
    `columns.variables` maps, or, if it maps none, every column but the phone and
    time-zone ones. Raises ImportConflict if an import with other settings is in Redis.

    `parts` importers at once (`part` each, 0..parts-1) import one source together:
    each reads every row and normalises and commits every parts-th batch of `batch`
    rows, batch B by part B % parts (sender.store.import_batches: each part resumes on
    its own; the import is done when all are). Their counts are one importer's.
    """
    if shards < 1 or batch < 1:
        raise ValueError("shards and batch must be at least 1")
    if not 0 <= part < parts:
        raise ValueError(f"part {part} of {parts}")
    importer = _Importer(redis, keys, _Settings(
        shards, columns, default_region, VariantPicker(variants), tuple(variants),
        dedupe, respect_opt_outs, keep,
        {variant: frozenset(names) for variant, names in (required or {}).items()},
        suppression, HoldoutPicker(holdout_percent), recipient_zones,
        TestGroupPicker(test_percent, holdout_percent) if test_percent else None,
        tuple(channels), router, parts, batch if parts > 1 else 0), part)
    start = await importer.begin()
    if start is not None:
        index, after, number = 0, start, -1
        # One batch in flight, the next read and waiting for it: each commit's script goes
        # with the lookups of the batch after it, one round trip a batch, while the
        # importer reads the batch after that (_Importer.send).
        committing: asyncio.Task[BatchRead | None] | None = None
        waiting: _Batch | None = None
        try:
            async for pending in _chunks(rows, batch):
                number += 1
                first, index = index, index + len(pending)
                if number % parts != part or index <= start:
                    continue  # another part's, or committed before a restart
                if first < start:
                    pending, first = pending[start - first:], start
                normalised = importer.normalise(first, pending)
                if waiting is not None:
                    ready, waiting = waiting, None
                    committing = await importer.send(ready, after, committing, normalised)
                    after = ready.end
                waiting = normalised
            if waiting is not None:
                ready, waiting = waiting, None
                committing = await importer.send(ready, after, committing, None)
            if committing is not None:
                await committing
        except BaseException as error:
            # An error reading the source: the batches read land first (a rerun resumes
            # after them). Cancelled: so is the commit in flight, whose script lands whole
            # or not at all, as after a crash.
            if committing is not None and not committing.done():
                if isinstance(error, asyncio.CancelledError):
                    committing.cancel()
                await asyncio.gather(committing, return_exceptions=True)
            landed = committing is None or (not committing.cancelled()
                                            and committing.exception() is None)
            if waiting is not None and landed and not isinstance(error, asyncio.CancelledError):
                await asyncio.gather(_land(importer, waiting, after, committing),
                                     return_exceptions=True)
            raise
        if index < start:
            raise ImportConflict(f"{keys.ref}: the source has {index} rows, fewer than the"
                                 f" {start} already imported; was it replaced?")
        await importer.finish()
    return await read_import_report(redis, keys)


async def _land(importer: _Importer, batch: _Batch, after: int,
                committing: asyncio.Task[BatchRead | None] | None) -> None:
    """Commit `batch`, read and not yet sent, after the one in flight."""
    await (await importer.send(batch, after, committing, None))


# -- the importer --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Settings:
    shards: int
    columns: ColumnMapping
    default_region: str
    pick_variant: VariantPicker
    variants: tuple[tuple[str, int], ...]
    dedupe: bool
    respect_opt_outs: bool
    keep: Callable[[Mapping[str, str]], bool] | None
    required: Mapping[str, frozenset[str]]
    """Variables each variant's template uses."""
    suppression: bool = False
    holdout: HoldoutPicker = field(default_factory=lambda: HoldoutPicker(0))
    recipient_zones: bool = False
    test: TestGroupPicker | None = None
    """Who is in a winner campaign's test group; None: everyone is sent at once."""
    channels: tuple[str, ...] = ()
    router: Router | None = None
    parts: int = 1
    batch: int = 0
    """With parts, the batch size: it says which rows are whose."""

    @property
    def lanes(self) -> Lanes:
        """The lanes (shard x channel), and as many rest lanes after them with a test group."""
        return Lanes(self.shards, max(1, len(self.channels)), self.test is not None)

    @property
    def streams(self) -> int:
        return self.lanes.streams

    def fingerprint(self) -> str:
        """What a resumed import must agree on (a changed shard count would move numbers)."""
        return _compact({
            "shards": self.shards, "variants": self.variants, "dedupe": self.dedupe,
            "respectOptOuts": self.respect_opt_outs, "defaultRegion": self.default_region,
            **({"suppression": True} if self.suppression else {}),
            **({"holdout": self.holdout.percent} if self.holdout.percent else {}),
            **({"zones": True} if self.recipient_zones else {}),
            **({"test": self.test.percent} if self.test is not None else {}),
            **({"parts": self.parts, "batch": self.batch} if self.parts > 1 else {}),
            # Routed numbers would land in other lanes: another routing is another import.
            **({"routes": [[r.channel, sorted(r.countries), r.prefixes, sorted(r.carriers)]
                           for r in self.router.routes], "channels": self.channels,
                "unavailable": sorted(self.router.unavailable)}
               if self.router is not None else {}),
            "columns": self.columns.model_dump(mode="json", by_alias=True),
        })


_Candidate = tuple[int, str, str, str, tuple[str, ...], int, str]
"""A row with a valid number, before dedupe and opt-outs: (its index in the source, the
number, its variables' JSON, its time zone, where its zone came from (TIME_ZONE_SOURCES,
counted once it is queued), the index of the channel it is routed to in the run's
order, the ISO 3166-1 region of its number (ZZ: none, for the plan's cost)). A plain
tuple: one a row, and a NamedTuple costs nine times as much to build (360 ns against
40), a frozen dataclass more."""


@dataclass
class _Batch:
    """Rows [start, end) of the source, read and normalised once, committed maybe later."""

    start: int
    end: int
    candidates: list[_Candidate]
    drops: list[tuple[int, str]]
    """(row index, counter field) of rows dropped before dedupe."""

    def since(self, done: int) -> _Batch:
        """The part of the batch not yet committed (another importer took the rest)."""
        if done <= self.start:
            return self
        return _Batch(max(self.start, done), self.end,
                      [c for c in self.candidates if c[0] >= done],
                      [d for d in self.drops if d[0] >= done])


class _Importer:
    """Turns rows into batches for the store to commit (sender.store.import_batches)."""

    def __init__(self, redis: aioredis.Redis, keys: CampaignKeys, settings: _Settings,
                 part: int = 0) -> None:
        self._settings = settings
        self._batches = ImportBatches(redis, keys, settings.streams, settings.fingerprint(),
                                      settings.dedupe, settings.respect_opt_outs,
                                      settings.suppression, part, settings.parts)

    async def begin(self) -> int | None:
        return await self._batches.begin()

    async def finish(self) -> None:
        await self._batches.finish()

    async def send(self, batch: _Batch, after: int,
                   before: asyncio.Task[BatchRead | None] | None,
                   following: _Batch | None) -> asyncio.Task[BatchRead | None]:
        """Start committing `batch` once `before` (the commit in flight, if any) is in;
        return once its script is written (or the commit is over), with the task that
        finishes it: Redis runs the batch while the caller reads the next one. `before`
        read `batch`'s lookups behind its script; this commit reads those of
        `following` (the next batch) behind its own, and its task returns them."""
        read = await before if before is not None else None
        sent = asyncio.Event()
        upcoming = [c[1] for c in following.candidates] if following is not None else None

        async def commit() -> BatchRead | None:
            try:
                return await self._batches.commit(
                    batch.start, batch.end,
                    numbers=lambda done: [c[1] for c in batch.since(done).candidates],
                    decide=lambda done, lookups: self._decide(batch.since(done), *lookups),
                    after=after, sending=sent.set, read=read, following=upcoming)
            finally:
                sent.set()

        task = asyncio.create_task(commit())
        try:
            await sent.wait()  # woken as the task writes the script
            # A client with a socket timeout writes in a task of its own (asyncio.wait_for
            # on Python 3.11), which runs after this one at the loop's next turn: without
            # that turn it would write only once the next batch is read, 5 ms later, and
            # Redis would sit idle meanwhile (a third of a clean row's time).
            await asyncio.sleep(0)
        except BaseException:  # cancelled before its script went: so is the commit
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        return task

    def normalise(self, start: int, rows: list[Mapping[str, str]]) -> _Batch:
        """Rows [start, start + len(rows)) read: numbers parsed, rows dropped or kept
        (pure: it may run while the batch before is committed)."""
        s = self._settings
        phone, zone = s.columns.phone, s.columns.time_zone
        mapped = [(v.name, v.value) for v in s.columns.variables]
        candidates: list[_Candidate] = []
        drops: list[tuple[int, str]] = []
        region = s.default_region
        shapes: dict[tuple[str, ...], _Shape] = {}  # a batch's rows mostly share one
        router, zones, required, keep = s.router, s.recipient_zones, s.required, s.keep
        for index, row in enumerate(rows, start):
            if isinstance(row, MalformedRow):
                reason = (DropReason.UNDECODABLE if isinstance(row, UndecodableRow)
                          else DropReason.MALFORMED_ROW)
                drops.append((index, f"drop:{reason}"))
                continue
            parsed = parse_number(row.get(phone) or "", region)
            if isinstance(parsed, DropReason):
                drops.append((index, f"drop:{parsed}"))
                continue
            number = parsed.e164
            channel = 0
            found = parsed.region
            if router is not None:
                name = router.route(parsed.number, number, kind=parsed.kind, country=found)
                if name is None:
                    drops.append((index, f"{UNROUTABLE}:{found or NO_COUNTRY}"))
                    continue
                channel = s.channels.index(name)
            number_zone = parsed.zone() if zones else ""
            keys = tuple(row)
            shape = shapes.get(keys)
            if shape is None:
                shape = shapes[keys] = _Shape.of(keys, phone, zone, mapped)
            if required and not required.get(s.pick_variant(number),
                                             frozenset()) <= shape.names:
                drops.append((index, f"drop:{DropReason.MISSING_VARIABLES}"))
                continue
            values = shape.values(row)
            if keep is not None:
                try:
                    kept = keep(dict(zip(shape.order, values, strict=True)))
                except FilterRowError:
                    drops.append((index, f"drop:{DropReason.FILTER_ERROR}"))
                    continue
                if not kept:
                    drops.append((index, f"suppress:{FILTERED}"))
                    continue
            recipient_zone, sources = (
                _recipient_zone(row.get(zone, "") if zone else "", number_zone)
                if zones else ("", ()))
            candidates.append((index, number, shape.json(values), recipient_zone,
                               sources, channel, found or NO_COUNTRY))
        return _Batch(start, start + len(rows), candidates, drops)

    def _decide(self, batch: _Batch, seen: set[str], opted_out: set[str],
                suppressed: set[str]) -> BatchWrite:
        """What the batch adds: dedupe, opt-outs, variants and shards, and the counts."""
        s = self._settings
        counts: Counter[str] = Counter(reason for _, reason in batch.drops)
        counts["total"] = batch.end - batch.start
        shard_counts: Counter[int] = Counter()
        taken: set[str] = set()
        held: set[str] = set()
        entries: list[tuple[int, str, str, str, str]] = []
        lanes, shards, channels = s.lanes, s.shards, s.channels
        dedupe, opt_outs, holdout, pick, test = (
            s.dedupe, s.respect_opt_outs, s.holdout, s.pick_variant, s.test)
        lane_of = lanes.lane
        for _, number, variables, zone_of_row, zone_sources, channel, country in batch.candidates:
            if dedupe:
                if number in seen or number in taken:
                    counts[f"suppress:{DUPLICATE}"] += 1
                    continue
                taken.add(number)
            if number in suppressed:
                counts[f"suppress:{SUPPRESSION_LIST}"] += 1
                continue
            if opt_outs and number in opted_out:
                counts["optedOut"] += 1
                continue
            if holdout(number):  # after every exclusion: the baseline is like the rest
                held.add(number)
                counts.update({"holdout": 1, f"variant:{HOLDOUT}:total": 1,
                               f"variant:{HOLDOUT}:holdout": 1})
                continue
            variant = pick(number)
            rest = test is not None and not test(number)  # the rest, for the winner
            if rest:
                counts["awaitingWinner"] += 1
                counts[f"variant:{variant}:awaitingWinner"] += 1
            lane = lane_of(shard_of(number, shards), channel, rest)
            entries.append((lane, number, variant, variables, zone_of_row))
            shard_counts[lane] += 1
            if channels:
                counts[f"channel:{channels[channel]}:total"] += 1
                counts[f"channel:{channels[channel]}:country:{country}"] += 1
            for source in zone_sources:
                counts[f"zone:{source}"] += 1
            if variant:
                counts[f"variant:{variant}:total"] += 1
        counts["imported"] += len(entries)
        counts["invalid"] = sum(n for k, n in counts.items() if k.startswith("drop:"))
        counts["suppressed"] = sum(n for k, n in counts.items() if k.startswith("suppress:"))
        counts[UNROUTABLE] = sum(n for k, n in counts.items()
                                 if k.startswith(f"{UNROUTABLE}:"))
        return BatchWrite(batch.end, entries, taken, counts, shard_counts, held)


def _recipient_zone(cell: str, number_zone: str) -> tuple[str, tuple[str, ...]]:
    """A recipient's zone ("" for the campaign's) and where it came from: the row's
    cell when it names an IANA zone, else the number's."""
    cell = cell.strip()
    if cell and time_zone(cell) is not None:
        return cell, (ZONE_FROM_COLUMN,)
    unknown = (UNKNOWN_ZONE,) if cell else ()
    if number_zone:
        return number_zone, (ZONE_FROM_NUMBER, *unknown)
    return "", (CAMPAIGN_ZONE, *unknown)


async def _chunks(rows: Rows, size: int) -> AsyncIterator[list[Mapping[str, str]]]:
    """The rows in lists of `size` (the last shorter); a plain iterable is sliced
    without an await a row."""
    if isinstance(rows, AsyncIterable):
        chunk: list[Mapping[str, str]] = []
        async for row in rows:
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
    else:
        iterator = iter(rows)
        while chunk := list(islice(iterator, size)):
            yield chunk



class _Shape(NamedTuple):
    """The variables of rows with the same columns (in the same order): their names,
    the cells they come from, and their JSON with a %s for each value, so that a row's
    variables are one itemgetter and one % away (a dict and a join a row took a
    quarter of a clean row's time). The JSON is _compact's: json's own escaping
    (encode_basestring is what ensure_ascii=False uses), compact, in the row's order."""

    order: tuple[str, ...]
    """The variables' names, in their order."""
    names: frozenset[str]
    values: Callable[[Mapping[str, str]], tuple[str, ...]]
    """A row's values of them, in that order."""
    template: str

    @classmethod
    def of(cls, columns: tuple[str, ...], phone: str, zone: str | None,
           mapped: list[tuple[str, str]]) -> _Shape:
        """The variables `columns.variables` maps (`mapped`: name, column) where the row
        has the column, or without a mapping every column but the phone and zone ones."""
        if mapped:
            sources: dict[str, str] = {}
            for name, column in mapped:
                if column in columns:
                    sources[name] = column  # as a dict display: the first place, the last
        else:
            sources = {column: column for column in columns
                       if column != phone and column != zone}
        cells = tuple(sources.values())
        values: Callable[[Mapping[str, str]], tuple[str, ...]]
        if len(cells) > 1:
            values = itemgetter(*cells)
        elif cells:
            values = partial(_one, cells[0])
        else:
            values = _none
        template = "{" + ",".join(encode_basestring(name).replace("%", "%%") + ":%s"
                                  for name in sources) + "}"
        return cls(tuple(sources), frozenset(sources), values, template)

    def json(self, values: tuple[str, ...]) -> str:
        try:
            return self.template % tuple(map(encode_basestring, values))
        except TypeError:  # a value that is not a string: the general encoder
            return _compact(dict(zip(self.order, values, strict=True)))


def _one(cell: str, row: Mapping[str, str]) -> tuple[str, ...]:
    return (row[cell],)


def _none(row: Mapping[str, str]) -> tuple[str, ...]:
    return ()


# One encoder for every row: json.dumps with options builds a new one a call.
_compact_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _compact(value: Any) -> str:
    return _compact_encoder.encode(value)

