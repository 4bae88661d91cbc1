"""bench/sender.py stays runnable: small runs against the simulator print the JSON the
README describes, with every message delivered once, and a run under faults returns with
the fault figures. No timing is asserted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
FIGURES = {"messages", "seconds", "msg_per_s", "dlr_per_s", "peak_rss_mb", "duplicates", "lost",
           "unknown", "receipts_missing", "not_received"}


def bench(sides: str, *flags: str, messages: int = 300, timeout: int = 60) -> dict[str, Any]:
    """The report of a run of `messages` messages per side.

    The bench runs in a session of its own: if this test is cut short (pytest-timeout),
    the simulator, Redis and side it started go with it."""
    bench_run = subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "sender.py"), "--messages", str(messages),
         "--sides", sides, "--timeout", str(timeout), *flags],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        stdout, stderr = bench_run.communicate(timeout=2 * timeout)
    finally:
        if bench_run.poll() is None:
            os.killpg(bench_run.pid, signal.SIGKILL)
            bench_run.communicate()
    assert bench_run.returncode == 0, stderr
    report: dict[str, Any] = json.loads(stdout)  # one JSON object and nothing else
    return report


def test_peer_run_prints_the_report() -> None:
    report = bench("peer")
    assert {"messages": 300, "receipts": True, "smsc": "simulator"}.items() <= report.items()
    assert {"window", "herald", "peer", "ratio_msg_per_s"} <= report.keys()
    assert "skipped" in report["herald"]
    assert report["ratio_msg_per_s"] is None
    peer = report["peer"]
    assert peer.keys() >= FIGURES, peer
    assert (peer["messages"], peer["accepted"], peer["receipts"]) == (300, 300, 300), peer
    assert (peer["duplicates"], peer["lost"], peer["timed_out"]) == (0, 0, False), peer
    assert (peer["unknown"], peer["receipts_missing"], peer["not_received"]) == (0, 0, 0), peer
    assert peer["peak_rss_mb"] > 0
    if sys.platform == "linux":  # waits for a core, from /proc/PID/schedstat
        assert peer["run_queue_wait_seconds"] >= 0 and peer["smsc_run_queue_wait_seconds"] >= 0


def test_herald_run_prints_the_report() -> None:
    herald = bench("herald")["herald"]
    assert herald.keys() >= FIGURES, herald
    assert (herald["messages"], herald["accepted"], herald["receipts"]) == (300, 300, 300), herald
    assert (herald["duplicates"], herald["lost"], herald["timed_out"]) == (0, 0, False), herald
    assert (herald["unknown"], herald["receipts_missing"]) == (0, 0), herald
    assert herald["states"] == {"delivered": 300}, herald
    # msg/s on the peer's clock, the first submit to the last response: inside the run's,
    # which also holds the bind, the recovery and the loops' shutdown.
    assert 0 < herald["submit_seconds"] < herald["run_seconds"], herald
    assert herald["msg_per_s"] > herald["run_msg_per_s"] > 0, herald
    if sys.platform == "linux":  # the sender's, the local Redis's and the simulator's
        assert all(herald[f"{who}run_queue_wait_seconds"] >= 0
                   for who in ("", "redis_", "smsc_")), herald


def test_both_sides_meet_an_smsc_the_warmup_already_served() -> None:
    """With both sides, an unmeasured peer run goes first (node-smpp's SMSC is slower
    cold): its messages go to the same numbers, and the SMSC's record is reset before
    each side, so neither side counts them as duplicates."""
    report = bench("herald,peer", "--warmup", "200")
    assert report["warmup"]["side"] == "peer" and report["warmup"]["messages"] == 200
    assert report["warmup"]["msg_per_s"] > 0, report["warmup"]
    for side in ("herald", "peer"):
        figures = report[side]
        assert (figures["accepted"], figures["duplicates"], figures["lost"]) == (300, 0, 0)
    assert report["ratio_msg_per_s"] > 0
    assert "warmup" not in bench("herald", "--warmup", "200")  # one side: nothing to even


def test_features_mode_runs_herald_with_caps_and_windows_off_and_on() -> None:
    """--frequency-cap with --recipient-windows: Herald's side off, then on; every number
    its own and every window open, so none is capped or held, and the run with them on
    checked every message (its cap calls)."""
    report = bench("herald", "--frequency-cap", "1/24/Category", "--recipient-windows",
                   "--cap-rounds", "1")
    assert report["mode"] == "features"
    assert report["frequency_cap"] == {"maxMessages": 1, "periodHours": 24, "scope": "Category"}
    assert report["send_times"]["window"]["timeZoneSource"] == "Recipient"
    assert {"ratio_on_msg_per_s", "within_target", "target"} <= report.keys()
    for name, on in (("herald", False), ("herald_on", True)):
        (figures,) = report[name]["runs"]
        assert figures.keys() >= FIGURES, figures
        assert (figures["accepted"], figures["duplicates"], figures["lost"]) == (300, 0, 0)
        assert figures["capped"] == 0 and (figures["cap_calls"] > 0) is on, figures
        assert figures["states"] == {"delivered": 300}, figures  # none waiting
        # Each message was timed by its own zone with them on, by the campaign's without.
        assert figures["send_time_zones"] == (["Asia/Shanghai"] if on else ["UTC"]), figures
        assert report[name]["msg_per_s"] == [figures["msg_per_s"]]


def test_features_mode_runs_herald_with_one_address_and_with_a_pool() -> None:
    """--source-pool 3 --sticky-sources: off sends from one address, on from the pool;
    every message delivered once either way."""
    report = bench("herald", "--source-pool", "3", "--sticky-sources", "--cap-rounds", "1")
    assert report["source_pool"] == {"addresses": 3, "sticky": True}
    for name, addresses in (("herald", 1), ("herald_on", 3)):
        (figures,) = report[name]["runs"]
        assert (figures["accepted"], figures["duplicates"], figures["lost"]) == (300, 0, 0)
        assert figures["states"] == {"delivered": 300}, figures
        assert figures["source_addresses"] == addresses, figures


def test_processes_mode_sends_the_shards_from_a_process_each() -> None:
    """--processes 2: the same messages sent by one process, then as two shards by two
    processes at once on one channel; every message delivered once either way."""
    report = bench("herald", "--processes", "2", "--cap-rounds", "1")
    assert report["processes"] == 2 and "2 processes at least 1.5x" in report["target"]
    for name, processes in (("herald", 1), ("herald_on", 2)):
        (figures,) = report[name]["runs"]
        assert (figures["accepted"], figures["duplicates"], figures["lost"]) == (300, 0, 0)
        assert figures["states"] == {"delivered": 300}, figures
        assert figures["processes"] == processes and figures["receipts"] == 300, figures
    box = report["box"]  # what the box allowed: its cores over the path's CPU a message
    (one,), (two,) = report["herald"]["runs"], report["herald_on"]["runs"]
    cost = sum(two[k] for k in ("cpu_us_per_message", "redis_cpu_us_per_message",
                                "smsc_cpu_us_per_message"))
    assert box["box_cpu_us_per_message"]["several"] == pytest.approx(cost)
    assert box["ceiling_ratio"] == pytest.approx(
        box["cores"] * 1e6 / cost / one["msg_per_s"], rel=1e-2)


def test_channel_limits_hold_across_processes_from_the_smscs_side() -> None:
    """--processes 2 --channel-rate 1000 --max-binds 1: the channel's one bind slot goes
    to one process at a time, so the other waits for it (and does not fail), and the
    simulator never has two binds open; its busiest second stays within what the
    limiter can let through: burst + rate and its 1% (token time), plus the submits in
    flight then, a window per bind (a bound that holds whatever the timing). Unlimited,
    1,500 messages would go within a second, well over that bound."""
    report = bench("herald", "--processes", "2", "--channel-rate", "1000", "--max-binds", "1",
                   "--cap-rounds", "1", messages=1500)
    assert report["channel"] == {"rate": 1000, "burst": 50, "max_binds": 1}
    for name in ("herald", "herald_on"):
        (figures,) = report[name]["runs"]
        assert (figures["accepted"], figures["duplicates"], figures["lost"]) == (1500, 0, 0)
        assert figures["states"] == {"delivered": 1500}, figures
        limits = figures["channel_limits"]
        assert {"max_accepted_in_any_1s", "busiest_1s_starts_at_s", "rate_held",
                "rate_held_with_burst"} <= limits.keys(), limits
        assert (limits["channel_rate"], limits["burst"], limits["max_binds"]) == (1000, 50, 1)
        assert 0 < limits["max_accepted_in_any_1s"] <= 50 + 1010 + 100, limits
        assert (limits["peak_binds"], limits["binds_held"]) == (1, True), limits
    shards = report["herald_on"]["runs"][0]["shards"]
    assert sorted(shard["submitted"] for shard in shards) == [750, 750], shards


def test_herald_runs_over_tls_to_a_tls_simulator() -> None:
    """--tls: the simulator serves TLS only, so every message delivered came over it."""
    report = bench("herald", "--tls")
    herald = report["herald"]
    assert report["tls"] is True
    assert (herald["accepted"], herald["receipts"], herald["duplicates"]) == (300, 300, 0), herald


# The side's own --timeout (120 s) is far beyond pytest's: a bench that waited for the
# receipts the SMSC lost until then would fail here rather than report timed_out.
@pytest.mark.timeout(60)
def test_a_run_under_faults_returns_with_the_fault_figures() -> None:
    """The SMSC drops its connections every 200 accepted submits, losing the receipts
    owed to them (due 5 s after each submit), and throttles every 7th submit: each side
    waits 1 s after its last submit for the receipts still owed, then reports."""
    report = bench("herald,peer", "--faults", "drop=200,throttle=7", "--receipt-delay-ms",
                   "5000", "--receipt-wait-seconds", "1", messages=600, timeout=120)
    assert report["simulator"]["faults"] == {"drop": 200, "throttle": 7}
    assert report["receipt_wait_seconds"] == 1.0
    for side in ("herald", "peer"):
        figures = report[side]
        assert figures.keys() >= FIGURES, figures
        assert not figures["timed_out"], figures
        assert figures["smsc_drops"] >= 1 and figures["smsc_refused"] >= 1, figures
        assert figures["smsc_receipts_lost"] >= 1, figures
        assert figures["duplicates"] == 0, figures
        assert figures["accepted"] + figures["rejected"] + figures["unknown"] * (
            side == "peer") == 600, figures  # Herald counts its unknown among the rejected
        assert figures["receipts_missing"] == figures["accepted"] - figures["receipts"] >= 1
    herald = report["herald"]
    # Herald's guarantees under drops: nothing lost, nothing resent, at most a window of
    # unknowns per drop; what the SMSC never got is exactly the unknowns it did not get.
    assert herald["lost"] == 0, herald
    assert 0 < herald["unknown"] <= 100 * herald["smsc_drops"], herald
    assert herald["not_received"] == herald["unknown"] - herald["unknown_received"], herald
    states = herald["states"]
    assert (states["unknown"], states["submitted"]) == (herald["unknown"],
                                                        herald["receipts_missing"]), states
    assert sum(states.values()) == 600, states


def test_ingest_bench_prints_the_report() -> None:
    """bench/ingest.py: every event accepted once, by Herald and by the HTTP floor."""
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "ingest.py"), "--events", "200",
         "--concurrency", "4"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["events"], report["concurrency"]) == (200, 4)
    assert report["herald"]["statuses"] == {"202": 200}, report
    assert report["herald"]["queued"] == 200
    assert report["floor"]["accepted"] == 200
    assert {"events_per_s", "p50_ms", "p99_ms"} <= report["herald"].keys()
    assert report["ratio_events_per_s"] > 0


def test_routing_bench_routes_each_network_to_its_channel() -> None:
    """bench/routing.py: by prefix and by carrier, every generated number lands on the
    channel of its network (3 of the 8 prefixes are China Mobile's, 2 Unicom's)."""
    run = subprocess.run(
        [sys.executable, str(REPO / "bench" / "routing.py"), "--numbers", "800",
         "--rounds", "1"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["by_prefix"]["routed"] == {"cmcc": 300, "rest": 500}
    assert report["by_carrier"]["routed"] == {"cmcc": 300, "unicom": 200, "telecom": 300}
    assert {"extra_us_by_prefix", "extra_us_by_carrier"} <= report.keys()


def bench_sender_module() -> Any:
    """bench/sender.py as a module (it is a script, not a package's)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_sender", REPO / "bench" / "sender.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_sender", module)  # its dataclasses look themselves up
    spec.loader.exec_module(sys.modules["bench_sender"])
    return sys.modules["bench_sender"]


@pytest.mark.parametrize("shanghai", ["00:05", "12:40", "21:10", "23:45", "23:59"])
def test_recipient_windows_are_open_for_the_run_at_any_hour(shanghai: str) -> None:
    """--recipient-windows' window and quiet hours let every message go for the next two
    hours from any start (it refused to run from 23:30 to 00:00 in Asia/Shanghai, and
    failed this suite's run of it then)."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from sender.sms.send_times import Span

    hour, minute = map(int, shanghai.split(":"))
    now = datetime(2026, 12, 7, hour, minute, tzinfo=ZoneInfo("Asia/Shanghai"))
    rules = bench_sender_module().open_send_times(now)
    window = Span.parse(rules["window"]["start"], rules["window"]["end"])
    quiet = Span.parse(rules["quiet_hours"]["start"], rules["quiet_hours"]["end"])
    for later in range(0, 121, 10):
        at = (now + timedelta(minutes=later)).time()
        assert window.holds(at) and not quiet.holds(at), (shanghai, later, rules)
