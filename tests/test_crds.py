"""The API: generated CRDs are fresh and structural, examples pass, bad manifests fail."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from controllers.decisions.campaign_recurrence import build_campaign_run
from crds.base import HeraldResource
from crds.campaign import Campaign
from crds.channel import PooledSourceAddress, SourceAddress
from crds.generate import CHART_CRD_DIR, KINDS, crd, stale_files
from crds.template import TemplateSpec
from herald.local.kube.object_writes import merge_patch
from tests.crd_validation import (
    EXAMPLES,
    REPO,
    all_rules,
    apply_defaults,
    crd_schemas,
    load_example,
    validate,
)

# Core objects (the Secret) are not ours to validate.
EXAMPLE_FILES = sorted(
    p.name for p in EXAMPLES.glob("*.yaml") if "sms.herald.dev/" in p.read_text(encoding="utf-8")
)
MODELS: dict[str, type[HeraldResource]] = {k.KIND: k for k in KINDS}


def test_committed_crds_match_the_models() -> None:
    assert stale_files() == [], "CRDs are stale: run `python -m crds.generate`"


def test_chart_ships_crds_as_kept_templates() -> None:
    for kind in KINDS:
        text = (CHART_CRD_DIR / f"sms.herald.dev_{kind.PLURAL}.yaml").read_text()
        assert "{{- if .Values.crds.enabled }}" in text
        assert "helm.sh/resource-policy: keep" in text


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.KIND)
def test_crd_is_discoverable(kind: type[HeraldResource]) -> None:
    spec = crd(kind)["spec"]
    assert spec["names"]["categories"] == ["sms"]
    assert spec["names"]["shortNames"]
    version = spec["versions"][0]
    assert version["additionalPrinterColumns"][-1]["name"] == "Age"
    if "status" in kind.model_fields:
        assert version["subresources"] == {"status": {}}


def _walk(node: Any, path: str = "") -> Any:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.KIND)
def test_schema_is_structural_and_explained(kind: type[HeraldResource]) -> None:
    """What the API server refuses, and what `kubectl explain` needs."""
    schema = crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema):
        assert "$ref" not in node and "anyOf" not in node, path
        assert "uniqueItems" not in node, path
        assert not ("additionalProperties" in node and "properties" in node), path
        assert "title" not in node, path
        if "/properties/" in path and path.rsplit("/", 2)[-2] == "properties":
            assert "type" in node, f"{path} has no type"
            if not path.endswith(("/apiVersion", "/kind", "/metadata")):
                assert node.get("description"), f"{path} has no description"


def test_spec_has_no_floats() -> None:
    for schema in crd_schemas().values():
        for path, node in _walk(schema["properties"]["spec"]):
            assert node.get("type") != "number", f"{path} is a float"


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_is_valid(name: str) -> None:
    manifest = load_example(name)
    assert validate(manifest) == []
    MODELS[manifest["kind"]].model_validate(manifest)


def test_example_approval_pins_the_example_template() -> None:
    template = TemplateSpec.model_validate(load_example("template-manual.yaml")["spec"])
    approval = load_example("templateapproval.yaml")
    assert approval["spec"]["contentHash"] == template.content_hash()


# Each row: a valid example, a merge patch that breaks it, the error it must give.
BAD = [
    pytest.param("channel.yaml", {"spec": {"smpp": {"password": "hunter2"}}},
                 "literal password is refused", id="channel-literal-password"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"passwordSecretRef": None}}},
                 "spec.smpp: 'passwordSecretRef' is a required property",
                 id="channel-no-secret-ref"),
    pytest.param("channel.yaml", {"spec": {"rateLimit": {"burst": 2500}}},
                 "burst must not exceed messagesPerSecond", id="channel-burst-over-rate"),
    pytest.param("channel.yaml", {"spec": {"rateLimit": {"burst": 0}}},
                 "spec.rateLimit.burst: 0 is less than the minimum of 1", id="channel-burst-zero"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"systemId": "a-very-long-system-id"}}},
                 "spec.smpp.systemId: 'a-very-long-system-id' is too long",
                 id="channel-system-id-over-15"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"port": 70000}}},
                 "spec.smpp.port: 70000 is greater than the maximum", id="channel-port-range"),
    pytest.param("channel.yaml", {"spec": {"routing": {"countries": ["China"]}}},
                 "spec.routing.countries.0: 'China' does not match", id="channel-country-not-iso"),
    pytest.param("channel.yaml", {"spec": {"routing": {"prefixes": ["86138"]}}},
                 "spec.routing.prefixes.0: '86138' does not match",
                 id="channel-prefix-not-e164"),
    pytest.param("channel.yaml", {"spec": {"retry": {"failoverAfterSeconds": -1}}},
                 "spec.retry.failoverAfterSeconds", id="channel-failover-after-negative"),
    pytest.param("channel.yaml",
                 {"spec": {"retry": {"initialBackoffSeconds": 120, "maxBackoffSeconds": 60}}},
                 "initialBackoffSeconds must not exceed", id="channel-backoff-inverted"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"bindMode": "transceiver"}}},
                 "spec.smpp.bindMode: 'transceiver' is not one of",
                 id="channel-enum-not-camelcase"),
    pytest.param("channel.yaml",
                 {"spec": {"smpp": {"bindMode": "TransmitterAndReceiver"}, "maxBinds": 1}},
                 "maxBinds must be 2 or more", id="channel-pair-needs-two-binds"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"tls": True}}},
                 "spec.smpp.tls: True is not of type 'object'", id="channel-tls-was-boolean"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"tls": {
                     "insecureSkipVerify": True, "caRef": {"name": "smsc-ca"}}}}},
                 "caRef has no effect with insecureSkipVerify", id="channel-tls-ca-and-insecure"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"tls": {"caRef": {
                     "kind": "Secrets", "name": "smsc-ca"}}}}},
                 "spec.smpp.tls.caRef.kind: 'Secrets' is not one of", id="channel-tls-ca-kind"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddresses": [
                     {"address": "+14155550100", "ton": "International", "npi": "ISDN"}]}}},
                 "set exactly one of sourceAddr and sourceAddresses",
                 id="channel-source-and-pool"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddr": None}}},
                 "set exactly one of sourceAddr and sourceAddresses", id="channel-no-source"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddr": None,
                                                    "sourceAddresses": []}}},
                 "spec.smpp.sourceAddresses: [] should be non-empty", id="channel-empty-pool"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddr": None, "sourceAddresses": [
                     {"address": "+14155550100", "countries": ["USA"]}]}}},
                 "spec.smpp.sourceAddresses.0.countries.0: 'USA' does not match",
                 id="channel-pool-country-not-iso"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddr": None, "sourceAddresses": [
                     {"address": "+14155550100", "messagesPerSecond": 0}]}}},
                 "spec.smpp.sourceAddresses.0.messagesPerSecond: 0 is less than the minimum",
                 id="channel-pool-rate-zero"),
    # The sender writes an address as single octets, and SMSCs take printable ASCII.
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddr": {"address": "Café"}}}},
                 "spec.smpp.sourceAddr.address: 'Café' does not match",
                 id="channel-source-not-ascii"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddr": None, "sourceAddresses": [
                     {"address": "商店"}]}}},
                 "spec.smpp.sourceAddresses.0.address: '商店' does not match",
                 id="channel-pool-address-not-ascii"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddr": {"address": "Herald\tShop"}}}},
                 "does not match", id="channel-source-control-character"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceAddr": {
                     "address": "HeraldShop12", "ton": "Alphanumeric"}}}},
                 "an alphanumeric sender ID has 11 characters at most",
                 id="channel-alphanumeric-too-long"),
    pytest.param("channel.yaml", {"spec": {"smpp": {"sourceSelection": "sticky"}}},
                 "spec.smpp.sourceSelection: 'sticky' is not one of",
                 id="channel-source-selection-enum"),
    pytest.param("channel.yaml", {"spec": {"maxBinds": 1, "keywordReplies": {
                     "help": {"reply": "Acme: reply STOP to opt out"}}}},
                 "keyword replies are sent by the channel's receiver",
                 id="channel-keywords-need-a-receiver-bind"),
    pytest.param("channel.yaml", {"spec": {"maxBinds": 3, "smpp": {
                     "bindMode": "TransmitterAndReceiver"}, "keywordReplies": {
                     "help": {"reply": "Acme: reply STOP to opt out"}}}},
                 "keyword replies are sent by the channel's receiver",
                 id="channel-keywords-need-a-receiver-pair"),
    pytest.param("channel.yaml", {"spec": {"keywordReplies": {"optInReply": "Welcome back"}}},
                 "optInReply needs optIn.keywords", id="channel-opt-in-reply-without-keywords"),
    pytest.param("channel.yaml", {"spec": {"keywordReplies": {"custom": [
                     {"keyword": "Stop", "reply": "?"}]}}},
                 "is an opt-out keyword", id="channel-custom-keyword-is-opt-out"),
    pytest.param("channel.yaml", {"spec": {"optIn": {"keywords": ["TD"]}}},
                 "is an opt-out keyword", id="channel-opt-in-keyword-is-opt-out"),
    pytest.param("channel.yaml", {"spec": {"optIn": {"keywords": ["START"]}, "keywordReplies": {
                     "custom": [{"keyword": "start", "reply": "?"}]}}},
                 "a keyword is defined twice", id="channel-keyword-in-custom-and-opt-in"),
    pytest.param("channel.yaml", {"spec": {"keywordReplies": {
                     "help": {"keywords": ["HELP", "INFO"], "reply": "Acme"},
                     "custom": [{"keyword": "Info", "reply": "?"}]}}},
                 "a keyword is defined twice", id="channel-keyword-in-help-and-custom"),
    pytest.param("channel.yaml", {"spec": {"keywordReplies": {
                     "help": {"keywords": ["HELP", "help"], "reply": "Acme"}}}},
                 "a keyword is defined twice", id="channel-help-keyword-twice"),
    pytest.param("channel.yaml", {"spec": {"keywordReplies": {"custom": [
                     {"keyword": "JOIN", "reply": "Welcome", "label": "VIP"}]}}},
                 "spec.keywordReplies.custom.0.label: 'VIP' does not match",
                 id="channel-label-not-lowercase"),
    pytest.param("campaign.yaml", {"spec": {"compliance": {"suppressionLists": [
                     {"name": "dnc", "url": "https://x/dnc.csv",
                      "configMapRef": {"name": "dnc"}}]}}},
                 "a suppression list takes exactly one of", id="campaign-suppression-two-sources"),
    pytest.param("campaign.yaml", {"spec": {"variants": [
                     {"name": "holdout", "templateRef": {"name": "a"}, "weight": 50},
                     {"name": "b", "templateRef": {"name": "b"}, "weight": 50}]}},
                 "the variant name holdout is taken", id="campaign-variant-named-holdout"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"audience": {"inline": [
                     {"phone": "+8613800138000"}]}}},
                 "a trigger Api campaign takes its recipients from posted events",
                 id="campaign-trigger-with-audience"),
    pytest.param("campaign.yaml", {"spec": {"audience": None}},
                 "a trigger Api campaign takes its recipients from posted events",
                 id="campaign-no-audience"),
    pytest.param("channel.yaml", {"spec": {"pricing": {"currency": "CNY", "countries": [
                     {"country": "China", "pricePerSegment": "0.045"}]}}},
                 "spec.pricing.countries.0.country: 'China' does not match",
                 id="channel-pricing-country-not-iso"),
    pytest.param("channel.yaml", {"spec": {"pricing": {"currency": "CNY", "countries": [
                     {"country": "CN", "pricePerSegment": 0.045}]}}},
                 "spec.pricing.countries.0.pricePerSegment: 0.045 is not of type 'string'",
                 id="channel-pricing-price-a-float"),
    pytest.param("channel.yaml", {"spec": {"pricing": {"currency": "CNY",
                                                       "pricePerSegment": "0,045"}}},
                 "spec.pricing.pricePerSegment: '0,045' does not match",
                 id="channel-pricing-price-not-decimal"),
    pytest.param("channel.yaml", {"spec": {"pricing": {"currency": "yuan"}}},
                 "spec.pricing.currency: 'yuan'", id="channel-pricing-currency-not-iso"),
    pytest.param("channel.yaml", {"spec": {"pricing": {"currency": None}}},
                 "spec.pricing: 'currency' is a required property",
                 id="channel-pricing-no-currency"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"dryRun": True}},
                 "a trigger Api campaign has no audience to plan", id="campaign-trigger-dry-run"),
    pytest.param("campaign-birthday.yaml", {"spec": {"dryRun": True}},
                 "a recurring campaign plans each run", id="campaign-recurring-dry-run"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"ingest": None}},
                 "ingest is the API of a trigger Api campaign", id="campaign-trigger-no-ingest"),
    pytest.param("campaign.yaml", {"spec": {"ingest": {"tokenSecretRef": {"name": "t"}}}},
                 "ingest is the API of a trigger Api campaign", id="campaign-ingest-no-trigger"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"holdoutPercent": 10}},
                 "a trigger Api campaign sends every posted event",
                 id="campaign-trigger-holdout"),
    pytest.param("campaign-order-shipped.yaml",
                 {"spec": {"schedule": {"recurrence": "0 10 * * *"}}},
                 "a trigger Api campaign runs until cancelled", id="campaign-trigger-recurring"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"compliance": {"suppressionLists": [
                     {"name": "dnc", "url": "https://x/dnc.csv"}]}}},
                 "suppression lists are read at import", id="campaign-trigger-suppression"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"templateRef": None, "variants": [
                     {"name": "a", "templateRef": {"name": "a"}, "weight": 50},
                     {"name": "b", "templateRef": {"name": "b"}, "weight": 50}],
                     "winner": {"testPercent": 10}}},
                 "it has no test group to choose a winner from", id="campaign-trigger-winner"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"trigger": "API"}},
                 "spec.trigger: 'API' is not one of", id="campaign-trigger-not-camelcase"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"ingest": {"maxQueued": 0}}},
                 "spec.ingest.maxQueued: 0 is less than the minimum of 1",
                 id="campaign-ingest-queue-zero"),
    pytest.param("campaign.yaml", {"spec": {"holdoutPercent": 60}},
                 "spec.holdoutPercent: 60 is greater than the maximum",
                 id="campaign-holdout-over-50"),
    pytest.param("campaign.yaml", {"spec": {"variants": None, "templateRef": {
                     "name": "double-eleven"}, "winner": {"testPercent": 10}}},
                 "winner needs variants to choose from", id="campaign-winner-no-variants"),
    pytest.param("campaign.yaml", {"spec": {"holdoutPercent": 50,
                                            "winner": {"testPercent": 50}}},
                 "must leave part of the audience for the winner",
                 id="campaign-holdout-and-test-leave-nothing"),
    pytest.param("campaign.yaml", {"spec": {"winner": {"testPercent": 10,
                                                       "manual": "nosuch"}}},
                 "winner.manual must name one of the variants",
                 id="campaign-manual-winner-unknown"),
    pytest.param("campaign.yaml", {"spec": {"winner": {"testPercent": 60}}},
                 "spec.winner.testPercent: 60 is greater than the maximum",
                 id="campaign-test-over-50"),
    pytest.param("campaign.yaml", {"spec": {"winner": {"testPercent": 10,
                                                       "metric": "OpenRatio"}}},
                 "spec.winner.metric: 'OpenRatio' is not one of",
                 id="campaign-winner-unknown-metric"),
    pytest.param("campaign.yaml", {"spec": {"links": {"expireAfterSeconds": 60}}},
                 "spec.links.expireAfterSeconds: 60 is less than the minimum",
                 id="campaign-links-expire-too-soon"),
    pytest.param("campaign.yaml", {"spec": {"winner": {"testPercent": 10,
                                                       "confidencePercent": 99.5}}},
                 "spec.winner.confidencePercent: 99.5 is not of type 'integer'",
                 id="campaign-winner-float-confidence"),
    pytest.param("campaign.yaml", {"spec": {"winner": {"testPercent": 10},
                                            "canary": {"percent": 10}}},
                 "canary and winner both send a first share", id="campaign-canary-and-winner"),
    pytest.param("campaign-order-shipped.yaml", {"spec": {"canary": {"percent": 10}}},
                 "it has no audience to send a canary share of", id="campaign-trigger-canary"),
    pytest.param("campaign.yaml", {"spec": {"holdoutPercent": 50, "canary": {"percent": 50}}},
                 "holdoutPercent + canary.percent must leave part of the audience",
                 id="campaign-holdout-and-canary-leave-nothing"),
    pytest.param("campaign.yaml", {"spec": {"canary": {"percent": 60}}},
                 "spec.canary.percent: 60 is greater than the maximum",
                 id="campaign-canary-over-50"),
    pytest.param("campaign.yaml", {"spec": {"canary": {"percent": 10,
                                                       "maxFailurePercent": 2.5}}},
                 "spec.canary.maxFailurePercent: 2.5 is not of type 'integer'",
                 id="campaign-canary-float-threshold"),
    pytest.param("campaign.yaml", {"spec": {"autoPause": {"minMessages": 0}}},
                 "spec.autoPause.minMessages: 0 is less than the minimum of 1",
                 id="campaign-auto-pause-no-messages"),
    pytest.param("campaign.yaml", {"spec": {"export": {"destination": {
        "url": "s3://exports/run.csv"}}}},
                 "an export URL needs credentials: set credentialsSecretRef",
                 id="campaign-export-url-without-credentials"),
    pytest.param("campaign.yaml", {"spec": {"export": {"destination": {
        "url": "s3://exports/run.csv", "credentialsSecretRef": {"name": "s3"},
        "persistentVolumeClaim": {"claimName": "results"}}}}},
                 "set exactly one of persistentVolumeClaim or url",
                 id="campaign-export-two-destinations"),
    pytest.param("campaign.yaml", {"spec": {"export": {"destination": {
        "persistentVolumeClaim": {"claimName": "results"},
        "credentialsSecretRef": {"name": "s3"}}}}},
                 "credentialsSecretRef is for a url destination",
                 id="campaign-export-claim-with-credentials"),
    pytest.param("campaign.yaml", {"spec": {"export": {"destination": {
        "url": "https://exports.example/run.csv", "credentialsSecretRef": {"name": "s3"}}}}},
                 "spec.export.destination.url: 'https://exports.example/run.csv' does not"
                 " match", id="campaign-export-url-not-s3"),
    pytest.param("campaign.yaml", {"spec": {"export": {
        "unmaskedSecretRef": {"name": "numbers"}, "destination": {
            "url": "s3://exports/run.csv", "credentialsSecretRef": {"name": "s3"}}}}},
                 "full numbers go only to a url whose credentialsSecretRef is"
                 " unmaskedSecretRef", id="campaign-export-unmasked-elsewhere"),
    pytest.param("campaign.yaml", {"spec": {"export": {
        "unmaskedSecretRef": {"name": "s3"}, "destination": {
            "persistentVolumeClaim": {"claimName": "results"}}}}},
                 "full numbers go only to a url", id="campaign-export-unmasked-to-a-claim"),
    pytest.param("campaign.yaml", {"spec": {"export": {"destination": {
        "persistentVolumeClaim": {"claimName": "results", "path": "runs/../../etc/x.csv"}}}}},
                 "spec.export.destination.persistentVolumeClaim.path: 'runs/../../etc/x.csv'"
                 " does not match", id="campaign-export-path-out-of-the-claim"),
    pytest.param("campaign.yaml", {"spec": {"export": {"format": "Xlsx", "destination": {
        "persistentVolumeClaim": {"claimName": "results"}}}}},
                 "spec.export.format: 'Xlsx' is not one of", id="campaign-export-format"),
    pytest.param("template.yaml", {"spec": {"category": "Promotion"}},
                 "spec.category: 'Promotion' is not one of", id="template-unknown-category"),
    pytest.param("template.yaml", {"spec": {"signature": None}},
                 "Marketing templates need a signature", id="template-marketing-no-signature"),
    pytest.param("template.yaml", {"spec": {"optOutText": ""}},
                 "Marketing templates need a signature and optOutText",
                 id="template-marketing-no-opt-out"),
    pytest.param("template.yaml", {"spec": {"body": ""}},
                 "spec.body: '' should be non-empty", id="template-empty-body"),
    pytest.param("template.yaml", {"spec": {"variables": [{"name": "1st"}]}},
                 "spec.variables.0.name: '1st' does not match", id="template-bad-variable-name"),
    pytest.param("template.yaml", {"spec": {"review": "manual"}},
                 "spec.review: 'manual' is not one of", id="template-review-not-camelcase"),
    pytest.param("templateapproval.yaml", {"spec": {"contentHash": "deadbeef"}},
                 "spec.contentHash: 'deadbeef' does not match", id="approval-bad-hash"),
    pytest.param("campaign.yaml", {"spec": {"templateRef": {"name": "double-eleven"}}},
                 "exactly one of templateRef or variants", id="campaign-template-and-variants"),
    pytest.param("campaign.yaml", {"spec": {"variants": None}},
                 "exactly one of templateRef or variants", id="campaign-no-template"),
    pytest.param("campaign.yaml", {"spec": {"variants": [
        {"name": "a", "templateRef": {"name": "x"}, "weight": 60},
        {"name": "b", "templateRef": {"name": "y"}, "weight": 30}]}},
                 "variant weights must sum to 100", id="campaign-weights-90"),
    pytest.param("campaign.yaml", {"spec": {"variants": [
        {"name": "a", "templateRef": {"name": "x"}, "weight": 50},
        {"name": "a", "templateRef": {"name": "y"}, "weight": 50}]}},
                 "variant names must be unique", id="campaign-duplicate-variant"),
    pytest.param("campaign.yaml", {"spec": {"variants": [
        {"name": "a", "templateRef": {"name": "x"}, "weight": 100}]}},
                 "spec.variants: [{", id="campaign-one-variant"),
    pytest.param("campaign.yaml", {"spec": {"channels": [{"name": "a"}, {"name": "a"}]}},
                 "channel names must be unique", id="campaign-duplicate-channel"),
    pytest.param("campaign.yaml", {"spec": {"channels": []}},
                 "spec.channels: [] should be non-empty", id="campaign-no-channels"),
    pytest.param("campaign.yaml",
                 {"spec": {"schedule": {"sendWindow": {"start": "21:00", "end": "09:00"}}}},
                 "start must be before end", id="campaign-window-inverted"),
    pytest.param("campaign.yaml", {"spec": {"schedule": {"sendWindow": {"start": "25:00"}}}},
                 "spec.schedule.sendWindow.start: '25:00' does not match",
                 id="campaign-window-not-a-clock"),
    pytest.param("campaign.yaml", {"spec": {"schedule": {"quietHours": {"end": "8:00"}}}},
                 "spec.schedule.quietHours.end: '8:00' does not match",
                 id="campaign-quiet-hours-not-a-clock"),
    pytest.param("campaign.yaml", {"spec": {"audience": {"url": {"url": "https://x/a.csv"}}}},
                 "exactly one of inline, configMapRef", id="campaign-two-sources"),
    pytest.param("campaign.yaml", {"spec": {"audience": {"inline": None}}},
                 "exactly one of inline, configMapRef", id="campaign-no-source"),
    pytest.param("campaign.yaml", {"spec": {"audience": {"inline": None, "url": {
        "url": "ftp://x/a.csv"}}}}, "spec.audience.url.url: 'ftp://x/a.csv' does not match",
                 id="campaign-url-not-http"),
    pytest.param("campaign.yaml", {"spec": {"audience": {"format": "Csv", "sheet": "名单"}}},
                 "sheet names a worksheet of an XLSX file", id="campaign-sheet-of-a-csv"),
    pytest.param("campaign.yaml", {"spec": {"audience": {"format": "xlsx"}}},
                 "spec.audience.format: 'xlsx' is not one of", id="campaign-format-not-camelcase"),
    pytest.param("campaign.yaml", {"spec": {"audience": {"encoding": "gb 18030"}}},
                 "spec.audience.encoding: 'gb 18030' does not match",
                 id="campaign-encoding-not-a-codec-name"),
    pytest.param("campaign.yaml", {"spec": {"schedule": {"recurrence": "every monday"}}},
                 "spec.schedule.recurrence: 'every monday' does not match",
                 id="campaign-recurrence-not-cron"),
    pytest.param("campaign.yaml", {"spec": {"schedule": {"recurrence": "0 10 * *"}}},
                 "spec.schedule.recurrence: '0 10 * *' does not match",
                 id="campaign-recurrence-four-fields"),
    pytest.param("campaign-birthday.yaml", {"spec": {"schedule": {"concurrencyPolicy": "forbid"}}},
                 "spec.schedule.concurrencyPolicy: 'forbid' is not one of",
                 id="campaign-concurrency-not-camelcase"),
    pytest.param("campaign-birthday.yaml",
                 {"spec": {"schedule": {"startingDeadlineSeconds": -1}}},
                 "spec.schedule.startingDeadlineSeconds: -1 is less than the minimum of 0",
                 id="campaign-negative-deadline"),
    pytest.param("campaign-birthday.yaml",
                 {"spec": {"schedule": {"successfulRunsHistoryLimit": 1000}}},
                 "spec.schedule.successfulRunsHistoryLimit: 1000 is greater than the maximum",
                 id="campaign-history-over-limit"),
    pytest.param("campaign.yaml", {"spec": {"rateLimit": {"messagesPerSecond": 1.5}}},
                 "spec.rateLimit.messagesPerSecond: 1.5 is not of type 'integer'",
                 id="campaign-float-rate"),
    pytest.param("campaign.yaml", {"spec": {"senders": 0}},
                 "spec.senders: 0 is less than the minimum of 1", id="campaign-no-senders"),
]


@pytest.mark.parametrize("audience", [
    pytest.param({"format": "Xlsx", "sheet": "名单"}, id="xlsx-sheet"),
    pytest.param({"format": "Auto", "sheet": "Sheet1", "encoding": "gb18030"}, id="auto"),
    pytest.param({"format": "Csv", "encoding": "utf-16-le"}, id="csv-utf16"),
])
def test_audience_file_settings_pass(audience: dict[str, Any]) -> None:
    manifest = merge_patch(load_example("campaign.yaml"), {"spec": {"audience": audience}})
    assert validate(manifest) == []


@pytest.mark.parametrize("winner", [
    pytest.param({"testPercent": 10}, id="defaults"),
    pytest.param({"testPercent": 50, "decideAfterSeconds": 60, "confidencePercent": 80,
                  "minSamplePerVariant": 1, "fallback": "FirstVariant",
                  "manual": "reminder"}, id="every-field"),
])
def test_winner_settings_pass(winner: dict[str, Any]) -> None:
    manifest = merge_patch(load_example("campaign.yaml"),
                           {"spec": {"holdoutPercent": 49, "winner": winner}})
    assert validate(manifest) == []


@pytest.mark.parametrize("spec", [
    pytest.param({"canary": {"percent": 10}}, id="canary-defaults"),
    pytest.param({"holdoutPercent": 49, "canary": {
        "percent": 50, "holdSeconds": 0, "maxFailurePercent": 0, "maxOptOutPercent": 100}},
        id="canary-every-field"),
    pytest.param({"autoPause": {}}, id="auto-pause-defaults"),
    pytest.param({"canary": {"percent": 1}, "autoPause": {
        "maxFailurePercent": 100, "maxOptOutPercent": 1, "minMessages": 1}},
        id="canary-and-auto-pause"),
])
def test_canary_and_auto_pause_settings_pass(spec: dict[str, Any]) -> None:
    assert validate(merge_patch(load_example("campaign.yaml"), {"spec": spec})) == []


POOL = [{"address": "+14155550100", "ton": "International", "npi": "ISDN",
         "countries": ["US", "CA"], "messagesPerSecond": 1},
        {"address": "10690000", "ton": "National", "countries": ["CN"]},
        {"address": "Herald", "ton": "Alphanumeric"}]


@pytest.mark.parametrize("smpp", [
    pytest.param({"sourceAddr": None, "sourceAddresses": POOL}, id="pool"),
    pytest.param({"sourceAddr": None, "sourceAddresses": POOL[:1],
                  "sourceSelection": "Sticky"}, id="sticky-pool-of-one"),
    pytest.param({}, id="one-address-as-before"),
    pytest.param({"sourceAddr": {"address": "My Shop!", "ton": "Alphanumeric"}},
                 id="alphanumeric-with-space-and-punctuation"),
    pytest.param({"sourceAddr": {"address": "+123456789012345678", "ton": "International"}},
                 id="long-number"),
])
def test_sender_addresses_pass(smpp: dict[str, Any]) -> None:
    """A pool, or the one sourceAddr that Channels had before pools (unchanged)."""
    manifest = merge_patch(load_example("channel.yaml"), {"spec": {"smpp": smpp}})
    assert validate(manifest) == []
    spec = MODELS["Channel"].model_validate(manifest).spec  # type: ignore[attr-defined]
    assert [a.address for a in spec.smpp.sources] == (
        [a["address"] for a in smpp["sourceAddresses"]] if "sourceAddresses" in smpp
        else [smpp["sourceAddr"]["address"]] if smpp else ["Herald"])


@pytest.mark.parametrize("address, ton, reason", [
    pytest.param("Café", "Unknown", "should match pattern", id="not-ascii"),
    pytest.param("HeraldShop12", "Alphanumeric", "11 characters at most", id="alphanumeric-12"),
])
def test_the_models_refuse_what_the_api_server_refuses(address: str, ton: str,
                                                       reason: str) -> None:
    """Objects read without the API server (tools, tests, a Channel stored before the
    rule) meet the same checks in the models."""
    for model in (SourceAddress, PooledSourceAddress):
        with pytest.raises(ValueError, match=reason):
            model.model_validate({"address": address, "ton": ton})
    assert SourceAddress.model_validate({"address": "HeraldShop1", "ton": "Alphanumeric"})


def test_the_carrier_guides_pool_is_a_valid_channel() -> None:
    """docs/carriers.md shows a pool: it must apply over the example Channel."""
    text = (REPO / "docs" / "carriers.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
                 if "sourceAddresses" in b)
    patch = yaml.safe_load(block)
    patch["spec"]["smpp"]["sourceAddr"] = None
    manifest = merge_patch(load_example("channel.yaml"), patch)
    assert validate(manifest) == []
    assert len(MODELS["Channel"].model_validate(manifest).spec.smpp.sources) == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("example, patch, reason", BAD)
def test_bad_manifest_is_rejected(example: str, patch: dict[str, Any], reason: str) -> None:
    manifest = merge_patch(load_example(example), patch)
    errors = validate(manifest)
    assert any(reason in e for e in errors), errors


# Transition rules compare the update with the stored object.
TRANSITIONS = [
    pytest.param("template-manual.yaml", {}, {"spec": {"review": "Auto"}},
                 "review cannot be relaxed from Manual to Auto", id="template-manual-to-auto"),
    pytest.param("campaign.yaml", {"spec": {"cancel": True}}, {"spec": {"cancel": False}},
                 "a cancelled campaign cannot be resumed", id="campaign-uncancel"),
    pytest.param("templateapproval.yaml", {}, {"spec": {"templateName": "other"}},
                 "an approval is immutable", id="approval-retargeted"),
    pytest.param("campaign.yaml", {}, {"spec": {"schedule": {"recurrence": "@daily"}}},
                 "a campaign cannot turn recurring or one-shot", id="campaign-turns-recurring"),
    pytest.param("campaign-birthday.yaml", {}, {"spec": {"schedule": {"recurrence": ""}}},
                 "a campaign cannot turn recurring or one-shot", id="campaign-turns-one-shot"),
]


@pytest.mark.parametrize("example, before, after, reason", TRANSITIONS)
def test_bad_update_is_rejected(example: str, before: Any, after: Any, reason: str) -> None:
    old = merge_patch(load_example(example), before)
    assert validate(old) == []
    errors = validate(merge_patch(old, after), old=old)
    assert any(reason in e for e in errors), errors


@pytest.mark.parametrize("example, before", [
    pytest.param("campaign.yaml", {"spec": {"cancel": False}}, id="campaign-cancel"),
    pytest.param("campaign.yaml", {"spec": {"paused": True}}, id="campaign-unpause"),
    pytest.param("campaign-birthday.yaml", {"spec": {"schedule": {"recurrence": "@weekly"}}},
                 id="recurring-campaign-cancel"),
])
def test_allowed_update_passes(example: str, before: Any) -> None:
    old = merge_patch(load_example(example), before)
    new = merge_patch(old, {"spec": {"cancel": True, "paused": False}})
    assert validate(new, old=old) == []


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_schema_defaults_agree_with_model_defaults(name: str) -> None:
    """What the API server stores for a manifest is what the models read it as.

    A default only in the schema (or only in the model) means the operator and
    `kubectl get -o yaml` disagree about what the user asked for.
    """
    manifest = load_example(name)
    model = MODELS[manifest["kind"]]
    schema = crd_schemas()[(manifest["apiVersion"], manifest["kind"])]
    for stripped in (manifest, merge_patch(manifest, {"spec": {"schedule": None}})):
        stored = apply_defaults(schema, stripped)
        assert model.model_validate(stored) == model.model_validate(stripped)


def campaign_run(**spec: Any) -> dict[str, Any]:
    """The CampaignRun the operator makes of the birthday example at a tick."""
    campaign = Campaign.model_validate(load_example("campaign-birthday.yaml"))
    campaign.metadata.namespace, campaign.metadata.uid = "default", "uid-1"
    body = build_campaign_run(campaign, datetime(2026, 12, 2, 2, 0, tzinfo=UTC))
    return merge_patch(body, {"spec": spec}) if spec else body


def test_the_runs_the_operator_makes_are_valid() -> None:
    assert validate(campaign_run()) == []
    assert validate(campaign_run(paused=True), old=campaign_run()) == []


RUN_BAD = [
    pytest.param({"schedule": {"recurrence": "0 10 * * *"}},
                 "a run does not recur: its Campaign does", id="run-recurs"),
    pytest.param({"scheduledTime": None},
                 "spec: 'scheduledTime' is a required property", id="run-without-tick"),
]
RUN_TRANSITIONS = [
    pytest.param({"scheduledTime": "2026-12-03T02:00:00Z"},
                 "scheduledTime cannot change", id="run-moved"),
    pytest.param({"cancel": False}, "a cancelled campaign cannot be resumed",
                 id="run-uncancelled"),
]


@pytest.mark.parametrize("patch, reason", RUN_BAD)
def test_bad_run_is_rejected(patch: dict[str, Any], reason: str) -> None:
    errors = validate(campaign_run(**patch))
    assert any(reason in e for e in errors), errors


@pytest.mark.parametrize("patch, reason", RUN_TRANSITIONS)
def test_bad_run_update_is_rejected(patch: dict[str, Any], reason: str) -> None:
    old = campaign_run(cancel=True)
    errors = validate(merge_patch(old, {"spec": patch}), old=old)
    assert any(reason in e for e in errors), errors


def test_every_cel_rule_has_a_failing_case() -> None:
    """A rule nobody breaks in a test could be wrong and no test would notice."""
    reasons = [str(p.values[-1]) for p in BAD + TRANSITIONS + RUN_BAD + RUN_TRANSITIONS]
    for rule in all_rules():
        assert any(r in rule["message"] for r in reasons), f"no bad manifest breaks {rule}"


def test_a_recurring_campaign_may_change_its_cron() -> None:
    old = load_example("campaign-birthday.yaml")
    new = merge_patch(old, {"spec": {"schedule": {"recurrence": "@weekly"}}})
    assert validate(new, old=old) == []
