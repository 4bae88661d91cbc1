"""The audience decided before the importer Job: a ConfigMap or Secret (or its key) that
does not exist, an encoding Python does not know; and what the run tells the importer
about the file (format, sheet, encoding). Pure, without I/O."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from controllers.decisions import reasons
from controllers.decisions.campaign_audience import RECHECK_SECONDS
from controllers.decisions.campaign_plan import plan_campaign
from controllers.decisions.campaign_world import AudienceSeen, CampaignPlan
from crds.base import find_condition
from crds.campaign import FileFormat
from tests.test_campaign_plan import SETTINGS, campaign, ready, run_of, world

CONFIG_MAP = {"defaultRegion": "CN", "configMapRef": {"name": "list"}}
SECRET = {"defaultRegion": "CN", "secretRef": {"name": "vip", "key": "vip.xlsx"}}


@pytest.mark.parametrize("audience, seen, reason, message", [
    pytest.param(CONFIG_MAP, AudienceSeen(keys=None), reasons.AUDIENCE_NOT_FOUND,
                 "waiting for ConfigMap list (audience key 'recipients.csv'): it does not exist",
                 id="no-config-map"),
    pytest.param(CONFIG_MAP, AudienceSeen(keys=frozenset({"list.xlsx", "a.csv"})),
                 reasons.AUDIENCE_NOT_FOUND,
                 "waiting for key 'recipients.csv' in ConfigMap list: it has 'a.csv', 'list.xlsx'",
                 id="config-map-without-the-key"),
    pytest.param(SECRET, AudienceSeen(keys=None), reasons.AUDIENCE_NOT_FOUND,
                 "waiting for Secret vip (audience key 'vip.xlsx'): it does not exist",
                 id="no-secret"),
    pytest.param(SECRET, AudienceSeen(keys=frozenset()), reasons.AUDIENCE_NOT_FOUND,
                 "waiting for key 'vip.xlsx' in Secret vip: it has no keys", id="empty-secret"),
    pytest.param({**CONFIG_MAP, "encoding": "klingon"}, AudienceSeen(keys=frozenset()),
                 reasons.UNKNOWN_ENCODING,
                 "audience.encoding 'klingon' is not a text encoding Python knows",
                 id="unknown-encoding-first"),
    pytest.param({"defaultRegion": "CN", "inline": [{"phone": "13800138000"}],
                  "encoding": "base64"}, None, reasons.UNKNOWN_ENCODING,
                 "audience.encoding 'base64' is not a text encoding", id="bytes-codec"),
])
def test_an_audience_that_cannot_be_imported_stops_before_the_importer(
    audience: dict[str, Any], seen: AudienceSeen | None, reason: str, message: str
) -> None:
    plan = plan_for(audience, seen)
    assert ready(plan) == ("Pending", reason)
    condition = find_condition(plan.status.conditions, "Ready")
    assert condition is not None and condition.message.startswith(message)
    stalled = find_condition(plan.status.conditions, "Stalled")
    assert stalled is not None and (stalled.status, stalled.reason) == ("True", reason)
    assert plan.actions.create == () and plan.actions.write_run is None
    assert [(e.type, e.reason) for e in plan.events] == [("Warning", reason)]
    if reason == reasons.AUDIENCE_NOT_FOUND:  # one API read per look: not every second
        assert plan.requeue_after_seconds == RECHECK_SECONDS


@pytest.mark.parametrize("audience, seen", [
    pytest.param(CONFIG_MAP, AudienceSeen(keys=frozenset({"recipients.csv"})), id="config-map"),
    pytest.param(SECRET, AudienceSeen(keys=frozenset({"vip.xlsx", "other"})), id="secret"),
    pytest.param(CONFIG_MAP, None, id="not-looked-at"),
])
def test_an_audience_that_is_there_is_imported(
    audience: dict[str, Any], seen: AudienceSeen | None
) -> None:
    plan = plan_for(audience, seen)
    assert ready(plan) == ("Importing", reasons.IMPORTING)
    assert [job["metadata"]["name"] for job in plan.actions.create] == [
        "double-eleven-2026-import"]


def test_once_the_config_map_exists_the_campaign_goes_on() -> None:
    waiting = plan_for(CONFIG_MAP, AudienceSeen(keys=None))
    found = plan_campaign_after(waiting, CONFIG_MAP, AudienceSeen(frozenset({"recipients.csv"})))
    assert ready(found) == ("Importing", reasons.IMPORTING)
    assert [e.reason for e in found.events] == [reasons.IMPORTING]


@pytest.mark.parametrize("audience, source", [
    pytest.param({**CONFIG_MAP, "format": "Xlsx", "sheet": "名单"},
                 {"file": "audience.csv", "format": FileFormat.XLSX, "sheet": "名单",
                  "encoding": "Auto"}, id="config-map-xlsx"),
    pytest.param({**SECRET, "encoding": "gb18030"},
                 {"file": "audience.csv", "format": FileFormat.AUTO, "sheet": "",
                  "encoding": "gb18030"}, id="secret-gb18030"),
    pytest.param({"defaultRegion": "CN", "url": {"url": "https://crm.example/list.xlsx"},
                  "format": "Xlsx", "sheet": "Sheet2"},
                 {"url": "https://crm.example/list.xlsx", "format": FileFormat.XLSX,
                  "sheet": "Sheet2", "encoding": "Auto"}, id="url-xlsx"),
])
def test_the_run_tells_the_importer_how_to_read_the_file(
    audience: dict[str, Any], source: dict[str, Any]
) -> None:
    plan = plan_for(audience, AudienceSeen(keys=frozenset({"recipients.csv", "vip.xlsx"})))
    assert plan.actions.write_run is not None
    written = plan.actions.write_run.audience.source.model_dump()
    assert {k: written[k] for k in source} == source


def test_a_run_started_before_these_fields_is_not_reported_edited() -> None:
    """An operator upgraded mid-run reads the run's audience without format, sheet and
    encoding (and with url.format, gone since): no edit happened."""
    url = {"defaultRegion": "CN", "url": {"url": "https://crm.example/list.xlsx"}}
    started = campaign(audience=url)
    run = run_of(started, import_done=True)
    fields = copy.deepcopy(run.config.frozen_fields)
    for name in ("format", "sheet", "encoding"):
        del fields["audience"][name]
    fields["audience"]["url"]["format"] = "Xlsx"
    older = dataclasses.replace(run, config=run.config.model_copy(
        update={"frozen_fields": fields, "frozen_hash": "from-an-older-operator"}))
    assert plan_campaign(started, world(run=older), SETTINGS).status.edits_not_applied == []
    edited = campaign(audience={**url, "sheet": "Sheet2"})
    assert plan_campaign(edited, world(run=older), SETTINGS).status.edits_not_applied == [
        "audience"]


def plan_for(audience: dict[str, Any], seen: AudienceSeen | None) -> CampaignPlan:
    return plan_campaign(campaign(audience=audience), world(audience=seen), SETTINGS)


def plan_campaign_after(previous: CampaignPlan, audience: dict[str, Any],
                        seen: AudienceSeen) -> CampaignPlan:
    return plan_campaign(campaign(previous.status, audience=audience), world(audience=seen),
                         SETTINGS)
