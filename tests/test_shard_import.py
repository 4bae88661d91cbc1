"""Audience import into shard streams, against a real redis-server: counts, drops,
dedupe, opt-outs, A/B variants, sharding, variables, crash and resume, concurrent
importers; the CSV reader's tolerance; the demo audience."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from typing import Any

import pytest
import redis as redis_sync
import redis.asyncio as aioredis

from crds.campaign import ColumnMapping, ColumnVariable
from herald.local.demo_audience import demo_opt_outs, demo_rows
from herald.local.redis import RedisServer
from sender.importer.audience_csv import CsvHeaderError, MalformedRow, aiter_csv_rows, iter_csv_rows
from sender.importer.report import ImportReport, read_import_report
from sender.importer.shards import import_audience, recipient_from_entry
from sender.sms.numbers import DropReason, normalize_number, shard_of
from sender.sms.states import State, Transition, message_key
from sender.sms.variants import VariantPicker
from sender.store.import_batches import ImportConflict
from sender.store.keys import OPT_OUT_SET, SENDERS_GROUP, CampaignKeys
from sender.store.transitions import StateStore, read_counters

KEYS = CampaignKeys("shop", "spring-sale")
CLEAN = CampaignKeys("shop", "clean-run")
SHARDS = 4
DEFAULTS: dict[str, Any] = {"shards": SHARDS, "columns": ColumnMapping(), "default_region": "CN"}


async def run(redis: aioredis.Redis, rows: Any, keys: CampaignKeys = KEYS,
              **options: Any) -> ImportReport:
    return await import_audience(redis, keys, rows, **{**DEFAULTS, **options})


async def raw_entries(redis: aioredis.Redis, stream: str) -> list[dict[str, str]]:
    reply: Any = await redis.xrange(stream)
    return [fields for _, fields in reply]


async def entries(redis: aioredis.Redis, keys: CampaignKeys = KEYS,
                  shards: int = SHARDS) -> list[list[dict[str, str]]]:
    """Each shard's entries, in order, as str dicts."""
    return [[dict(fields)
             for fields in await raw_entries(redis, keys.shard(i))] for i in range(shards)]


def adds_up(report: ImportReport) -> bool:
    return (report.total == report.queued + report.invalid + report.suppressed
            + report.opted_out
            and report.invalid == sum(report.reasons.values())
            and report.suppressed == sum(report.suppressed_reasons.values())
            and report.queued == sum(report.shards)
            and (not report.variants or report.queued == sum(report.variants.values())))


def expected_audience(rows: Iterable[Mapping[str, str]], opt_outs: set[str]) -> Counter[str]:
    """What the import should count, worked out independently of the importer."""
    counts: Counter[str] = Counter()
    taken: set[str] = set()
    for row in rows:
        number = normalize_number(row["phone"], "CN")
        if isinstance(number, DropReason):
            counts["invalid"] += 1
        elif number in taken:
            counts["suppressed"] += 1
        else:
            taken.add(number)
            counts["optedOut" if number in opt_outs else "queued"] += 1
    return counts


# -- counts, drops, dedupe, opt-outs --------------------------------------------------------

async def test_counts_add_up_and_match_the_audience(redis: aioredis.Redis) -> None:
    opt_outs = demo_opt_outs(3000, seed=3)
    await redis.sadd(OPT_OUT_SET, *opt_outs)
    report = await run(redis, demo_rows(3000, seed=3), batch=256)

    expected = expected_audience(demo_rows(3000, seed=3), set(opt_outs))
    assert (report.total, report.queued, report.invalid, report.suppressed,
            report.opted_out) == (3000, expected["queued"], expected["invalid"],
                                  expected["suppressed"], expected["optedOut"])
    assert report.opted_out == len(opt_outs) > 0
    assert adds_up(report) and report.complete and report.rows_done == 3000
    assert [len(shard) for shard in await entries(redis)] == list(report.shards)
    counters = await read_counters(redis, KEYS)
    assert (counters.total, counters.queued, counters.invalid, counters.suppressed,
            counters.opted_out) == (3000, report.queued, report.invalid, report.suppressed,
                                    report.opted_out)
    assert not await redis.exists(KEYS.seen)  # dropped once the import is done
    # Senders move the campaign's counters on; the import's report stays as it was.
    first: Any = await redis.xrange(KEYS.shard(0), count=1)
    entry_id = first[0][0]
    await StateStore(redis, KEYS).apply(
        [Transition(message_key(0, entry_id), State.OPTED_OUT)])
    assert (await read_counters(redis, KEYS)).opted_out == report.opted_out + 1
    assert await read_import_report(redis, KEYS) == report


@pytest.mark.parametrize("row, outcome", [
    pytest.param({"phone": "+8613800138000"}, "queued", id="e164"),
    pytest.param({"phone": "138 0013 8000"}, "queued", id="national-spaced"),
    pytest.param({"phone": "+1 415 555 2671"}, "queued", id="other-country"),
    pytest.param({"phone": "  "}, DropReason.MISSING_NUMBER, id="blank"),
    pytest.param({"name": "王"}, DropReason.MISSING_NUMBER, id="no-phone-column"),
    pytest.param({"phone": "N/A"}, DropReason.UNPARSABLE_NUMBER, id="text"),
    pytest.param({"phone": "1381234"}, DropReason.INVALID_NUMBER, id="too-short"),
    pytest.param({"phone": "138****5678"}, DropReason.INVALID_NUMBER, id="masked"),
    pytest.param({"phone": "+861062345678"}, DropReason.NOT_MOBILE, id="landline"),
    pytest.param(MalformedRow(3, "4 cells, header has 3"), DropReason.MALFORMED_ROW,
                 id="malformed"),
])
async def test_rows_are_queued_or_dropped_by_reason(
    redis: aioredis.Redis, row: dict[str, str], outcome: str
) -> None:
    report = await run(redis, [row])
    if outcome == "queued":
        assert (report.queued, report.invalid, dict(report.reasons)) == (1, 0, {})
    else:
        assert (report.queued, report.invalid, dict(report.reasons)) == (0, 1, {outcome: 1})
    assert report.total == 1 and adds_up(report)


@pytest.mark.parametrize("dedupe, queued, suppressed", [
    pytest.param(True, 2, 3, id="dedupe"),
    pytest.param(False, 5, 0, id="no-dedupe"),
])
async def test_duplicates_are_suppressed_across_forms_and_batches(
    redis: aioredis.Redis, dedupe: bool, queued: int, suppressed: int
) -> None:
    rows = [{"phone": p} for p in ("+8613800138000", "13800138000", "138-0013-8000",
                                   "+8613900139000", "+86 139 0013 9000")]
    report = await run(redis, rows, dedupe=dedupe, batch=2)
    assert (report.queued, report.suppressed) == (queued, suppressed)
    assert report.suppressed_reasons == ({"Duplicate": suppressed} if suppressed else {})
    numbers = [e["n"] for shard in await entries(redis) for e in shard]
    assert sorted(numbers) == sorted(
        ["+8613800138000", "+8613900139000"] if dedupe else
        ["+8613800138000"] * 3 + ["+8613900139000"] * 2)


@pytest.mark.parametrize("respect, queued, opted_out, suppressed", [
    pytest.param(True, 1, 1, 1, id="respected"),
    pytest.param(False, 2, 0, 1, id="ignored-for-verification"),
])
async def test_opted_out_numbers_are_never_queued(
    redis: aioredis.Redis, respect: bool, queued: int, opted_out: int, suppressed: int
) -> None:
    await redis.sadd(OPT_OUT_SET, "+8613800138000")
    rows = [{"phone": "13800138000"}, {"phone": "13900139000"}, {"phone": "+8613800138000"}]
    report = await run(redis, rows, respect_opt_outs=respect)
    # The second listing of an opted-out number is a duplicate, not a second opt-out.
    assert (report.queued, report.opted_out, report.suppressed) == (queued, opted_out, suppressed)
    numbers = {e["n"] for shard in await entries(redis) for e in shard}
    assert ("+8613800138000" in numbers) is not respect


async def test_the_filter_suppresses_rows_it_refuses(redis: aioredis.Redis) -> None:
    rows = [{"phone": f"+86138001380{i:02d}", "city": city}
            for i, city in enumerate(["上海", "北京", "上海", "深圳"])]
    report = await run(redis, rows, keep=lambda v: v.get("city") == "上海")
    assert (report.queued, report.suppressed, dict(report.suppressed_reasons)) == (
        2, 2, {"Filtered": 2})


async def test_rows_lacking_a_template_variable_are_invalid_not_sent(
    redis: aioredis.Redis
) -> None:
    """Caught at import, counted with a reason, not failed one by one at send time; per
    variant, since each variant's template uses its own variables."""
    weights = [("a", 50), ("b", 50)]
    pick = VariantPicker(weights)
    rows = [{"phone": f"+86138001380{i:02d}", "name": "x"} for i in range(40)]
    report = await run(redis, rows, variants=weights,
                       required={"a": ["name"], "b": ["name", "code"]})
    in_b = sum(1 for row in rows if pick(row["phone"]) == "b")
    assert 0 < in_b < 40
    assert dict(report.reasons) == {DropReason.MISSING_VARIABLES: in_b}
    assert report.queued == 40 - in_b and adds_up(report)


# -- variants, shards, variables ------------------------------------------------------------

async def test_variants_split_by_weight_and_stick_to_the_number(redis: aioredis.Redis) -> None:
    weights = [("a", 20), ("b", 30), ("never", 0), ("c", 50)]
    report = await run(redis, demo_rows(10000, seed=11), variants=weights)
    assert adds_up(report) and set(report.variants) == {"a", "b", "c"}
    for name, weight in weights:
        share = 100 * report.variants.get(name, 0) / report.queued
        assert abs(share - weight) < 2, (name, share)
    pick = VariantPicker(weights)
    by_number = {e["n"]: e["v"] for shard in await entries(redis) for e in shard}
    assert all(pick(n) == v for n, v in by_number.items())
    # Another campaign with other shards gives each number the same variant.
    await run(redis, demo_rows(2000, seed=11), CLEAN, variants=weights, shards=3)
    again = {e["n"]: e["v"] for shard in await entries(redis, CLEAN, 3) for e in shard}
    assert all(by_number[n] == v for n, v in again.items())


async def test_no_variants_means_an_empty_variant(redis: aioredis.Redis) -> None:
    report = await run(redis, [{"phone": "+8613800138000"}])
    assert report.variants == {}
    assert [e["v"] for shard in await entries(redis) for e in shard] == [""]


@pytest.mark.parametrize("variants, message", [
    pytest.param([("a", 50), ("a", 50)], "unique", id="duplicate-name"),
    pytest.param([("", 100)], "non-empty", id="empty-name"),
    pytest.param([("a", -1), ("b", 101)], "negative", id="negative"),
    pytest.param([("a", 0), ("b", 0)], "all be zero", id="all-zero"),
])
def test_bad_variants_are_refused(variants: list[tuple[str, int]], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        VariantPicker(variants)


async def test_each_number_lands_in_its_stable_shard(redis: aioredis.Redis) -> None:
    report = await run(redis, demo_rows(2000, seed=5))
    shards = await entries(redis)
    assert all(shard_of(e["n"], SHARDS) == i for i, shard in enumerate(shards) for e in shard)
    assert all(n > 0 for n in report.shards)
    await run(redis, demo_rows(2000, seed=5), CLEAN)
    assert await entries(redis, CLEAN) == shards


async def test_every_shard_has_the_senders_group_from_the_start(redis: aioredis.Redis) -> None:
    await run(redis, [{"phone": "+8613800138000"}], shards=3)
    for i in range(3):
        groups: Any = await redis.xinfo_groups(KEYS.shard(i))
        assert [(g["name"], g["last-delivered-id"]) for g in groups] == [
            (SENDERS_GROUP, "0-0")]
    streams: Any = {KEYS.shard(i): ">" for i in range(3)}
    pending: Any = await redis.xreadgroup(SENDERS_GROUP, "pod", streams)
    assert sum(len(messages) for _, messages in pending) == 1


ROW = {"phone": "13800138000", "name": "王小明", "code": "D11-8F3K", "tz": "Asia/Shanghai"}
ALL_BUT_PHONE = {"name": "王小明", "code": "D11-8F3K", "tz": "Asia/Shanghai"}
MAPPED = [ColumnVariable(name="customer", value="name"),
          ColumnVariable(name="coupon", value="code"),
          ColumnVariable(name="city", value="no-such-column")]


@pytest.mark.parametrize("row, columns, variables, zone", [
    pytest.param(ROW, ColumnMapping(), ALL_BUT_PHONE, None, id="unmapped-columns-pass-through"),
    pytest.param(ROW, ColumnMapping(time_zone="tz"), {"name": "王小明", "code": "D11-8F3K"},
                 None, id="time-zone-column-unused-without-recipient-zones"),
    pytest.param(ROW, ColumnMapping(variables=MAPPED), {"customer": "王小明", "coupon": "D11-8F3K"},
                 None, id="mapped-renamed-missing-left-out"),
    pytest.param({"mobile": ROW["phone"], **ALL_BUT_PHONE}, ColumnMapping(phone="mobile"),
                 ALL_BUT_PHONE, None, id="phone-column-renamed"),
])
async def test_entries_carry_the_mapped_variables(
    redis: aioredis.Redis, row: dict[str, str], columns: ColumnMapping,
    variables: dict[str, str], zone: str | None,
) -> None:
    await run(redis, [row], columns=columns)
    [entry] = [fields for i in range(SHARDS) for fields in await raw_entries(redis, KEYS.shard(i))]
    recipient = recipient_from_entry(entry)
    assert (recipient.phone, recipient.variables) == ("+8613800138000", variables)
    assert entry.get("z") == (zone or None)
    assert "王小明" in entry["x"] and " " not in entry["x"]  # compact, not \u escaped


async def test_variables_keep_every_character_as_json_writes_it(redis: aioredis.Redis) -> None:
    values = ['say "hi"', "back\\slash", "two\nlines\ttab", "\x00\x1f\x7f", "王小明 😀",
              "\u2028\u2029", "", "{not json}", "\ud7ff\ue000"]
    row = {"phone": "+8613800138000", **{f"v{i}": v for i, v in enumerate(values)},
           'a "quoted" name': "x"}
    await run(redis, [row])
    [entry] = [fields for i in range(SHARDS) for fields in await raw_entries(redis, KEYS.shard(i))]
    variables = {k: v for k, v in row.items() if k != "phone"}
    assert entry["x"] == json.dumps(variables, ensure_ascii=False, separators=(",", ":"))
    assert recipient_from_entry(entry).variables == variables


@pytest.mark.parametrize("phone, cell, zone, sources", [
    pytest.param("+8613800138000", "America/New_York", "America/New_York",
                 {"ZoneFromColumn": 1}, id="column-names-a-zone"),
    pytest.param("+8613800138000", " ", "Asia/Shanghai", {"ZoneFromNumber": 1},
                 id="empty-cell-number-zone"),
    pytest.param("+12125551234", "", "America/New_York", {"ZoneFromNumber": 1},
                 id="us-area-code"),
    pytest.param("+8613800138000", "Mars/Olympus", "Asia/Shanghai",
                 {"ZoneFromNumber": 1, "UnknownZone": 1}, id="cell-not-a-zone"),
    pytest.param("+79161234567", "", None, {"CampaignZone": 1},
                 id="russian-mobile-spans-zones"),
    pytest.param("+34612345678", "", None, {"CampaignZone": 1},
                 id="spain-with-the-canaries"),
    pytest.param("+34612345678", "Atlantic/Canary", "Atlantic/Canary", {"ZoneFromColumn": 1},
                 id="the-column-settles-it"),
    pytest.param("+447911123456", "", "Europe/Guernsey", {"ZoneFromNumber": 1},
                 id="uk-zones-keep-one-clock"),
    pytest.param("+61412345678", "bogus", None, {"CampaignZone": 1, "UnknownZone": 1},
                 id="australian-mobile-and-a-bad-cell"),
])
async def test_recipients_get_their_own_time_zone(
    redis: aioredis.Redis, phone: str, cell: str, zone: str | None, sources: dict[str, int],
) -> None:
    await run(redis, [{"phone": phone, "tz": cell}], columns=ColumnMapping(time_zone="tz"),
              recipient_zones=True)
    [entry] = [fields for i in range(SHARDS) for fields in await raw_entries(redis, KEYS.shard(i))]
    assert entry.get("z") == zone
    counters: Any = await redis.hgetall(KEYS.counters)
    assert {k.removeprefix("zone:"): int(v) for k, v in counters.items()
            if k.startswith("zone:")} == sources


# -- crash, resume, concurrency -------------------------------------------------------------

class Crash(Exception):
    pass


def crashing(rows: Iterable[dict[str, str]], after: int) -> Iterator[dict[str, str]]:
    for i, row in enumerate(rows):
        if i == after:
            raise Crash(f"killed after {after} rows")
        yield row


async def snapshot(redis: aioredis.Redis, keys: CampaignKeys) -> tuple[Any, ...]:
    return (await entries(redis, keys), await redis.hgetall(keys.counters),
            await redis.hgetall(keys.import_progress))


@pytest.mark.parametrize("after", [0, 1, 99, 100, 1234, 2499])
async def test_a_rerun_after_a_crash_neither_duplicates_nor_double_counts(
    redis: aioredis.Redis, after: int
) -> None:
    await redis.sadd(OPT_OUT_SET, *demo_opt_outs(2500))
    variants = [("a", 50), ("b", 50)]
    with pytest.raises(Crash):
        await run(redis, crashing(demo_rows(2500), after), variants=variants, batch=100)
    partial = await read_import_report(redis, KEYS)
    assert partial.rows_done == partial.total == after // 100 * 100 and not partial.complete

    resumed = await run(redis, demo_rows(2500), variants=variants, batch=100)
    clean = await run(redis, demo_rows(2500), CLEAN, variants=variants, batch=100)
    assert resumed == clean and adds_up(resumed)
    assert await snapshot(redis, KEYS) == await snapshot(redis, CLEAN)


async def test_a_finished_import_is_not_read_again(redis: aioredis.Redis) -> None:
    first = await run(redis, demo_rows(500))
    assert await run(redis, crashing(demo_rows(500), 0)) == first


async def test_a_resume_in_other_batch_sizes_lines_up_on_rows(redis: aioredis.Redis) -> None:
    with pytest.raises(Crash):
        await run(redis, crashing(demo_rows(1000), 450), batch=64)
    await run(redis, demo_rows(1000), batch=1000)
    await run(redis, demo_rows(1000), CLEAN)
    assert await snapshot(redis, KEYS) == await snapshot(redis, CLEAN)


async def test_two_importers_at_once_commit_each_row_once(redis: aioredis.Redis) -> None:
    reports = await asyncio.gather(run(redis, demo_rows(3000), batch=70),
                                   run(redis, demo_rows(3000), batch=50))
    clean = await run(redis, demo_rows(3000), CLEAN)
    assert list(reports) == [clean, clean]
    assert await snapshot(redis, KEYS) == await snapshot(redis, CLEAN)



def landing_before(rows: Iterable[dict[str, str]], url: str, batch: int
                   ) -> Iterator[dict[str, str]]:
    """The rows, and before the first of the third batch, a wait (the loop blocked, as
    by a parse) until the first batch is in: it can land only if its script went out
    before the importer came back for rows."""
    with redis_sync.Redis.from_url(url, decode_responses=True) as client:
        for i, row in enumerate(rows):
            if i == 2 * batch:
                deadline = time.monotonic() + 10
                while int(client.hget(KEYS.import_progress, "rows_done") or 0) < batch:
                    assert time.monotonic() < deadline, "the first batch's script never went"
                    time.sleep(0.001)
            yield row


async def test_a_batch_is_written_before_the_next_is_read(
    redis: aioredis.Redis, redis_server: RedisServer
) -> None:
    # The fixture's client has a socket timeout: redis-py writes in a task of its own.
    report = await run(redis, landing_before(demo_rows(500), redis_server.url, 100),
                       batch=100)
    assert report.complete and report.total == 500

# -- an import in parts (several importer pods) ---------------------------------------------

PARTED = CampaignKeys("shop", "in-parts")


async def queued_numbers(redis: aioredis.Redis, keys: CampaignKeys) -> list[set[str]]:
    return [{fields["n"] for fields in shard} for shard in await entries(redis, keys)]


def without_parts(progress: Mapping[Any, Any]) -> dict[str, str]:
    """An import's progress hash less what only an import in parts keeps."""
    config = json.loads(progress["config"])
    return {**{k: v for k, v in progress.items() if k not in ("config", "rows_done")
               and not k.startswith(("rows_done:", "done:"))},
            "config": json.dumps({k: v for k, v in config.items()
                                  if k not in ("parts", "batch")})}


async def assert_same_as_one_importer(redis: aioredis.Redis, rows: int, **options: Any) -> None:
    clean = await run(redis, demo_rows(rows), CLEAN, **options)
    report = await read_import_report(redis, PARTED)
    assert report.complete and adds_up(report)
    assert (report.total, report.queued, report.invalid, report.suppressed, report.opted_out,
            report.reasons, report.suppressed_reasons, report.shards, report.variants) == (
        clean.total, clean.queued, clean.invalid, clean.suppressed, clean.opted_out,
        clean.reasons, clean.suppressed_reasons, clean.shards, clean.variants)
    assert await redis.hgetall(PARTED.counters) == await redis.hgetall(CLEAN.counters)
    assert without_parts(await redis.hgetall(PARTED.import_progress)) == without_parts(
        await redis.hgetall(CLEAN.import_progress))
    # Every number once, in its shard: which of its rows is queued may differ.
    assert await queued_numbers(redis, PARTED) == await queued_numbers(redis, CLEAN)
    assert not await redis.exists(PARTED.claimed, PARTED.seen)


@pytest.mark.parametrize("parts", [2, 3, 5])
async def test_parts_at_once_count_as_one_importer(redis: aioredis.Redis, parts: int) -> None:
    await redis.sadd(OPT_OUT_SET, *demo_opt_outs(3000))
    options = {"variants": [("a", 50), ("b", 50)], "batch": 70}
    await asyncio.gather(*(run(redis, demo_rows(3000), PARTED, part=part, parts=parts,
                               **options) for part in range(parts)))
    await assert_same_as_one_importer(redis, 3000, **options)


async def test_the_import_is_done_when_its_last_part_is(redis: aioredis.Redis) -> None:
    for part in (2, 0):
        report = await run(redis, demo_rows(1000), PARTED, part=part, parts=3, batch=100)
        assert not report.complete
        assert await redis.exists(PARTED.claimed)  # the parts to come still dedupe on it
    await run(redis, demo_rows(1000), PARTED, part=1, parts=3, batch=100)
    await assert_same_as_one_importer(redis, 1000, batch=100)


@pytest.mark.parametrize("after", [0, 150, 555])
async def test_a_part_rerun_after_a_crash_takes_up_its_own_batches(
    redis: aioredis.Redis, after: int
) -> None:
    """A part's pod killed mid-way and started again, while the other parts run on; and
    two pods of one part at once (the killed one's replacement and a straggler)."""
    await redis.sadd(OPT_OUT_SET, *demo_opt_outs(2000))
    with pytest.raises(Crash):
        await run(redis, crashing(demo_rows(2000), after), PARTED, part=1, parts=3, batch=50)
    await asyncio.gather(
        run(redis, demo_rows(2000), PARTED, part=0, parts=3, batch=50),
        run(redis, demo_rows(2000), PARTED, part=1, parts=3, batch=50),
        run(redis, demo_rows(2000), PARTED, part=1, parts=3, batch=50),
        run(redis, demo_rows(2000), PARTED, part=2, parts=3, batch=50))
    await assert_same_as_one_importer(redis, 2000, batch=50)


async def gated(rows: Iterable[dict[str, str]], at: int, reached: asyncio.Event,
                go: asyncio.Event) -> AsyncIterator[dict[str, str]]:
    for i, row in enumerate(rows):
        if i == at:
            reached.set()
            await go.wait()
        yield row


@pytest.mark.parametrize("at", [0, 250])
async def test_a_pod_of_a_part_that_outlives_the_import_adds_nothing(
    redis: aioredis.Redis, at: int
) -> None:
    """A pod of part 1 stalls (before its first batch, or after one) while its
    replacement and the other parts finish the import; then it goes on."""
    reached, go = asyncio.Event(), asyncio.Event()
    late = asyncio.create_task(run(redis, gated(demo_rows(600), at, reached, go), PARTED,
                                   part=1, parts=3, batch=100))
    await asyncio.wait_for(reached.wait(), 10)
    for part in range(3):
        await run(redis, demo_rows(600), PARTED, part=part, parts=3, batch=100)
    go.set()
    await asyncio.wait_for(late, 10)
    await assert_same_as_one_importer(redis, 600, batch=100)


async def test_parts_must_agree_on_the_split(redis: aioredis.Redis) -> None:
    await run(redis, demo_rows(300), PARTED, part=0, parts=2, batch=100)
    with pytest.raises(ImportConflict, match="other settings"):
        await run(redis, demo_rows(300), PARTED, part=1, parts=2, batch=50)
    with pytest.raises(ImportConflict, match="other settings"):
        await run(redis, demo_rows(300), PARTED, part=1, parts=3, batch=100)
    with pytest.raises(ValueError, match="part 2 of 2"):
        await run(redis, demo_rows(300), PARTED, part=2, parts=2)


@pytest.mark.parametrize("change", [
    pytest.param({"shards": 2}, id="shards"),
    pytest.param({"variants": [("a", 100)]}, id="variants"),
    pytest.param({"default_region": "US"}, id="region"),
])
async def test_a_resume_with_other_settings_is_refused(
    redis: aioredis.Redis, change: dict[str, Any]
) -> None:
    with pytest.raises(Crash):
        await run(redis, crashing(demo_rows(300), 150), batch=100)
    with pytest.raises(ImportConflict, match="other settings"):
        await run(redis, demo_rows(300), **change)


async def test_a_shorter_source_on_resume_is_refused(redis: aioredis.Redis) -> None:
    with pytest.raises(Crash):
        await run(redis, crashing(demo_rows(300), 250), batch=100)
    with pytest.raises(ImportConflict, match="fewer than"):
        await run(redis, demo_rows(100))


# -- CSV ------------------------------------------------------------------------------------

CSV = ("\ufeffphone,name,code\r\n"
       "+8613800138000,王小明,D11-8F3K\r\n"
       '13900139000,"李, 华","多行\r\n备注"\r\n'
       "\r\n"
       ",,\r\n"
       "13700137000,张伟,D11-2J9Q,\r\n")
ROWS = [{"phone": "+8613800138000", "name": "王小明", "code": "D11-8F3K"},
        {"phone": "13900139000", "name": "李, 华", "code": "多行\n备注"},
        {"phone": "13700137000", "name": "张伟", "code": "D11-2J9Q"}]


def test_a_bom_crlf_csv_parses() -> None:
    assert list(iter_csv_rows(io.StringIO(CSV, newline=""))) == ROWS
    assert list(iter_csv_rows(CSV.replace("\r\n", "\r").splitlines(keepends=True))) == ROWS


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


@pytest.mark.parametrize("encoding", ["utf-8", "gb18030"])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 4096])
async def test_byte_chunks_split_anywhere_give_the_same_rows(encoding: str, size: int) -> None:
    data = CSV.encode(encoding)
    assert [row async for row in aiter_csv_rows(chunks(data, size), encoding=encoding)] == ROWS


def malformed(line: int) -> tuple[str, int]:
    return ("malformed", line)


@pytest.mark.parametrize("text, expected", [
    pytest.param("phone,name\n1,a,b\n2,b\n", [malformed(2), {"phone": "2", "name": "b"}],
                 id="too-many-cells"),
    pytest.param("phone,name\n1\n2,b\n", [malformed(2), {"phone": "2", "name": "b"}],
                 id="too-few-cells"),
    pytest.param("phone,name,\n1,a\n2,b,c\n", [{"phone": "1", "name": "a"},
                                               {"phone": "2", "name": "b"}],
                 id="unnamed-last-column-optional"),
    pytest.param('phone,name\n1,"a\n2,b\n3,c\n', [malformed(2), {"phone": "2", "name": "b"},
                                                  {"phone": "3", "name": "c"}],
                 id="quote-never-closed"),
    pytest.param('phone,name\n1,a"b\n2,"say ""hi"""\n',
                 [{"phone": "1", "name": 'a"b'}, {"phone": "2", "name": 'say "hi"'}],
                 id="quotes-inside-fields"),
    pytest.param("phone,name\n1,a\x00b\n", [{"phone": "1", "name": "a\x00b"}], id="nul"),
    pytest.param("", [], id="empty-file"),
    pytest.param("phone,name\n", [], id="header-only"),
])
def test_malformed_rows_are_marked_not_fatal(text: str, expected: list[Any]) -> None:
    rows = list(iter_csv_rows(io.StringIO(text, newline=""), max_record_lines=3))
    assert [malformed(r.line) if isinstance(r, MalformedRow) else r for r in rows] == expected


def test_a_quote_left_open_swallows_at_most_max_record_lines() -> None:
    text = 'phone,name\n1,"a\n' + "".join(f"{i},x\n" for i in range(2, 10))
    rows = list(iter_csv_rows([text], max_record_lines=3))
    assert isinstance(rows[0], MalformedRow) and rows[0].line == 2
    assert [r["phone"] for r in rows[1:]] == [str(i) for i in range(2, 10)]


@pytest.mark.parametrize("text", ['"phone\n', "p" * 200_000 + "\n"])
def test_an_unreadable_header_raises(text: str) -> None:
    with pytest.raises(CsvHeaderError):
        list(iter_csv_rows([text], max_record_lines=1))


async def test_malformed_csv_rows_are_counted_by_the_import(redis: aioredis.Redis) -> None:
    text = 'phone,name\n13800138000,王\n1,2,3\n13900139000,李\nabc,x\n"\n'
    rows = aiter_csv_rows(chunks(text.encode(), 7))
    report = await run(redis, rows)
    assert (report.total, report.queued, dict(report.reasons)) == (
        5, 2, {DropReason.MALFORMED_ROW: 2, DropReason.UNPARSABLE_NUMBER: 1})


# -- demo audience --------------------------------------------------------------------------

def test_the_demo_audience_is_deterministic_and_realistic() -> None:
    rows = list(demo_rows(10000))
    assert rows == list(demo_rows(10000)) and rows != list(demo_rows(10000, seed=8))
    assert all(set(r) == {"phone", "name", "code"} for r in rows)
    counts = expected_audience(rows, set())
    assert 0.02 < counts["invalid"] / 10000 < 0.04
    assert 0.005 < counts["suppressed"] / 10000 < 0.015
    reasons = Counter(normalize_number(r["phone"], "CN") for r in rows)
    assert {DropReason.INVALID_NUMBER, DropReason.UNPARSABLE_NUMBER, DropReason.NOT_MOBILE,
            DropReason.MISSING_NUMBER} <= set(reasons)
    assert any(not r["phone"].startswith("+") for r in rows)
    assert any(" " in r["phone"] for r in rows) and any("-" in r["phone"] for r in rows)


def test_demo_opt_outs_are_valid_numbers_of_the_audience() -> None:
    numbers = {normalize_number(r["phone"], "CN") for r in demo_rows(10000)}
    opt_outs = demo_opt_outs(10000)
    assert opt_outs == demo_opt_outs(10000) and 30 <= len(opt_outs) <= 60
    assert len(set(opt_outs)) == len(opt_outs) and set(opt_outs) <= numbers
    assert all(json.dumps(n).startswith('"+86') for n in opt_outs)
