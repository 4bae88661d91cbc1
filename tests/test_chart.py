"""The Helm chart: rendered with default, fully-enabled and external-Redis values, every
object valid against the Kubernetes schemas, the restricted Pod Security Standard on
every pod, least-privilege RBAC, and values.schema.json refusing bad values."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from prometheus_client import REGISTRY, Counter, Gauge, Histogram

import controllers.metrics
import sender.metrics
from controllers.config import OperatorConfig
from controllers.decisions.campaign_jobs import Owner, build_sender_job
from controllers.decisions.pod_spec import PodSettings
from controllers.decisions.receiver_deployment import build_receiver_deployment
from herald.cli import parser
from sender.metrics import BatchHistogram
from tests.test_campaign_plan import CHANNEL_SPEC
from tests.test_install_manifests import REPO, TOOLS, helm_template

KUBERNETES = "1.33.0"
VALUES = Path(__file__).parent / "data" / "chart"
RENDERS = {
    "default": (),
    "full": ("-f", str(VALUES / "full-values.yaml")),
    "external-redis": ("-f", str(VALUES / "external-redis-values.yaml")),
}
Doc = dict[str, Any]


def render(name: str) -> list[Doc]:
    return helm_template("--namespace", "herald", *RENDERS[name])


def pod_specs(docs: list[Doc]) -> dict[str, Doc]:
    return {f"{d['kind']}/{d['metadata']['name']}": d["spec"]["template"]["spec"]
            for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet")}


def only(docs: list[Doc], kind: str, name: str) -> Doc:
    (found,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


MONITORING = "monitoring.coreos.com/v1"
"""The Prometheus Operator's kinds: no schema offline, so checked by hand below."""


@pytest.mark.parametrize("values", RENDERS)
def test_every_object_is_valid_for_kubernetes(values: str) -> None:
    docs = render(values)
    assert docs
    for doc in docs:
        if doc["apiVersion"] != MONITORING:
            kubernetes_validate.validate(doc, KUBERNETES, strict=True)


def test_monitoring_objects_select_heralds_metrics_ports() -> None:
    docs = render("full")
    monitor = only(docs, "ServiceMonitor", "herald-operator")
    service = only(docs, "Service", "herald-operator-metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items())
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    operator = only(docs, "Deployment", "herald-operator")["spec"]["template"]
    assert {"name": "metrics", "containerPort": 9090} in operator["spec"]["containers"][0]["ports"]
    assert service["spec"]["selector"].items() <= operator["metadata"]["labels"].items()
    pods = only(docs, "PodMonitor", "herald-pods")
    assert pods["spec"]["namespaceSelector"] == {"any": True}
    assert pods["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    for doc in (monitor, pods, only(docs, "PrometheusRule", "herald")):
        assert doc["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def exported_metrics() -> set[str]:
    """Every metric family Herald defines (sender.metrics, controllers.metrics), as PromQL
    may name them."""
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("herald_"):
            kind_suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"],
                             "gauge": [""]}[family.type]
            names.update(family.name + suffix for suffix in kind_suffixes)
    return names


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bherald_[a-z_]+\b", expr))


def metric_labels() -> dict[str, set[str]]:
    """Label names of every sample name Herald exports (the `le` of histograms too)."""
    labels: dict[str, set[str]] = {}
    for metric in [*vars(sender.metrics).values(), *vars(controllers.metrics).values()]:
        if isinstance(metric, Counter | Gauge | Histogram | BatchHistogram):
            names = set(metric._labelnames)
            base = metric._name
            if isinstance(metric, Counter):
                labels[base + "_total"] = names
            elif isinstance(metric, Histogram | BatchHistogram):
                labels.update({base + "_bucket": names | {"le"}, base + "_sum": names,
                               base + "_count": names})
            else:
                labels[base] = names
    return labels


def check_labels(expr: str) -> None:
    """Every label an expression matches on or groups by is one its metrics carry."""
    known = metric_labels()
    used_metrics = metric_names(expr)
    for name, matchers in re.findall(r"\b(herald_[a-z_]+)\{([^}]*)\}", expr):
        for label in re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)", matchers):
            assert label in known[name], (expr, name, label)
    for grouping in re.findall(r"by \(([^)]*)\)", expr):
        for label in (g.strip() for g in grouping.split(",")):
            assert any(label in known[m] for m in used_metrics), (expr, label)


def test_every_alert_names_metrics_that_exist() -> None:
    rule = only(render("full"), "PrometheusRule", "herald")
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert alerts.keys() == {"HeraldChannelNotBound", "HeraldDeliveryRatioLow",
                             "HeraldCampaignStalled", "HeraldThrottlingStorm",
                             "HeraldRateLimitSaturated", "HeraldCampaignPausedItself"}
    known = exported_metrics()
    for name, alert in alerts.items():
        used = metric_names(alert["expr"])
        assert used and used <= known, (name, used - known)
        check_labels(alert["expr"])
        assert alert["labels"]["severity"] and alert["annotations"]["summary"]


def test_the_dashboard_is_grafana_json_over_metrics_that_exist() -> None:
    config = only(render("full"), "ConfigMap", "herald-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config["data"]["herald.json"])
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    known = exported_metrics()
    for expr in exprs:
        used = metric_names(expr)
        assert used and used <= known, (expr, used - known)
        check_labels(expr)
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for topic in ("progress", "submit rate", "delivery", "outcomes", "error", "channel"):
        assert topic in titles, topic


@pytest.mark.parametrize("values", RENDERS)
def test_every_pod_is_restricted_and_has_resources(values: str) -> None:
    specs = pod_specs(render(values))
    assert specs
    for where, spec in specs.items():
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec.get("hostNetwork") is not True and spec.get("hostPID") is not True
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert "privileged" not in context, where
            resources = container["resources"]
            assert resources["requests"] and resources["limits"].get("memory"), where


def rules_of(docs: list[Doc], kind: str) -> list[Doc]:
    return [rule for d in docs if d["kind"] == kind for rule in d["rules"]]


# What the operator may do, and nothing more (docs/install.md says why each is needed).
OPERATOR_RULES = {
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    ("sms.herald.dev", "channels"): {"get", "list", "watch", "patch"},
    ("sms.herald.dev", "templates"): {"get", "list", "watch", "patch"},
    ("sms.herald.dev", "campaigns"): {"get", "list", "watch", "patch"},
    ("sms.herald.dev", "templateapprovals"): {"get", "list", "watch"},
    ("sms.herald.dev", "campaignruns"): {"get", "list", "watch", "create", "patch", "delete"},
    ("sms.herald.dev", "channels/status"): {"patch"},
    ("sms.herald.dev", "templates/status"): {"patch"},
    ("sms.herald.dev", "campaigns/status"): {"patch"},
    ("sms.herald.dev", "campaignruns/status"): {"patch"},
    ("sms.herald.dev", "channels/finalizers"): {"update"},
    ("sms.herald.dev", "campaigns/finalizers"): {"update"},
    ("sms.herald.dev", "campaignruns/finalizers"): {"update"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch"},
    ("apps", "deployments"): {"get", "create", "update", "delete"},
    ("", "secrets"): {"get"},
    ("", "configmaps"): {"get", "list", "watch"},
    ("", "events"): {"create"},
}


def grants(rules: list[Doc]) -> dict[tuple[str, str], set[str]]:
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for values in (rule["apiGroups"], rule["resources"], rule["verbs"]):
            assert "*" not in values, rule  # no wildcards
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    return granted


def test_the_operator_gets_exactly_what_it_needs_cluster_wide() -> None:
    docs = render("default")
    assert grants(rules_of(docs, "ClusterRole")) == OPERATOR_RULES
    assert not rules_of(docs, "Role")
    binding = only(docs, "ClusterRoleBinding", "herald-operator")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "herald-operator",
                                    "namespace": "herald"}]


def test_a_namespaced_install_keeps_only_crds_cluster_wide() -> None:
    docs = render("full")
    crds = ("apiextensions.k8s.io", "customresourcedefinitions")
    assert grants(rules_of(docs, "ClusterRole")) == {crds: OPERATOR_RULES[crds]}
    roles = {d["metadata"]["namespace"]: grants(d["rules"]) for d in docs if d["kind"] == "Role"}
    namespaced = {k: v for k, v in OPERATOR_RULES.items() if k != crds}
    # The release's own namespace too: its sensitive-word lists apply everywhere.
    assert roles == {"shop": namespaced, "notices": namespaced, "herald": namespaced}
    bound = {d["metadata"]["namespace"] for d in docs if d["kind"] == "RoleBinding"}
    assert bound == {"shop", "notices", "herald"}
    args = only(docs, "Deployment", "herald-operator")["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert {"--namespace=shop", "--namespace=notices", "--namespace=herald"} <= set(args)


@pytest.mark.parametrize("values", RENDERS)
def test_the_operator_runs_alone_with_a_liveness_probe(values: str) -> None:
    deployment = only(render(values), "Deployment", "herald-operator")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert any(a.startswith("--liveness=http://0.0.0.0:8080/") for a in container["args"])
    parser().parse_args(container["args"])  # the image's command takes these arguments


def env_of(docs: list[Doc]) -> dict[str, Doc]:
    container = only(docs, "Deployment", "herald-operator")["spec"]["template"]["spec"][
        "containers"][0]
    return {e["name"]: e for e in container["env"]}


def test_redis_in_chart_or_external_with_its_password_from_a_secret() -> None:
    default = render("default")
    redis = only(default, "StatefulSet", "herald-redis")
    args = redis["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert args[args.index("--maxmemory") + 1] == "768mb"  # else noeviction never applies
    assert redis["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]
    assert env_of(default)["HERALD_REDIS_URL"]["value"] == (
        "redis://herald-redis.herald.svc:6379/0")
    assert "HERALD_REDIS_PASSWORD" not in env_of(default)

    external = render("external-redis")
    assert not [d for d in external if d["kind"] == "StatefulSet"]
    env = env_of(external)
    assert env["HERALD_REDIS_URL"]["value"] == "rediss://redis.example.com:6380/0"
    assert env["HERALD_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "herald-redis", "key": "password"}
    assert env["HERALD_POD_REDIS_SECRET"]["value"] == "herald-redis"


def test_redis_accepts_only_heralds_pods() -> None:
    policy = only(render("default"), "NetworkPolicy", "herald-redis")
    (rule,) = policy["spec"]["ingress"]
    assert rule["from"] == [{"namespaceSelector": {},
                             "podSelector": {"matchLabels": {"app.kubernetes.io/name": "herald"}}}]
    assert rule["ports"] == [{"port": 6379, "protocol": "TCP"}]


@pytest.mark.parametrize("url", [
    pytest.param("redis+sentinel://s1.redis:26379,s2.redis:26379,s3.redis:26379/mymaster/0",
                 id="sentinel"),
    pytest.param("redis+cluster://node-0.redis:6379,node-1.redis:6379", id="cluster"),
])
def test_sentinel_and_cluster_urls_reach_the_operator(url: str) -> None:
    escaped = url.replace(",", "\\,")  # --set splits at commas; a values file need not
    docs = helm_template("--namespace", "herald", "--set", "redis.enabled=false",
                         "--set", f"redis.external.url={escaped}")
    assert env_of(docs)["HERALD_REDIS_URL"]["value"] == url
    assert not [d for d in docs if d["kind"] == "StatefulSet"]


@pytest.mark.parametrize("flags, complaint", [
    pytest.param(("--set", "operator.logFormat=xml"), "logFormat", id="log-format"),
    pytest.param(("--set", "redis.enabled=false"), "external", id="external-without-url"),
    pytest.param(("--set", "redis.external.url=redis://user:pw@host:6379"), "url",
                 id="password-in-url"),
    pytest.param(("--set", "redis.external.url=redis+sentinel://:pw@s1:26379/m"), "url",
                 id="password-in-sentinel-url"),
    pytest.param(("--set", "redis.external.url=memcached://host:11211"), "url",
                 id="unknown-scheme"),
    pytest.param(("--set", "operator.degradedFailurePercent=0"), "degradedFailurePercent",
                 id="percent-range"),
    pytest.param(("--set", "operator.manualReviewCategories={Spam}"), "manualReviewCategories",
                 id="unknown-category"),
    pytest.param(("--set", "watchNamespaces={Bad_Name}"), "watchNamespaces", id="namespace"),
    pytest.param(("--set", "operatr.logFormat=json"), "operatr", id="typo"),
])
def test_values_schema_refuses_bad_values(flags: tuple[str, ...], complaint: str) -> None:
    result = subprocess.run(
        [str(TOOLS / "helm"), "template", "herald", str(REPO / "charts" / "herald"), *flags],
        capture_output=True, text=True, check=False)
    assert result.returncode != 0, f"accepted {flags}"
    assert complaint in result.stderr, result.stderr


def test_the_argocd_health_checks_render_as_argocd_cm_keys() -> None:
    docs = render("full")
    config = only(docs, "ConfigMap", "herald-argocd-health")
    assert config["metadata"]["namespace"] == "argocd"
    scripts = REPO / "charts" / "herald" / "resource_customizations" / "sms.herald.dev"
    assert config["data"] == {
        f"resource.customizations.health.sms.herald.dev_{kind}":
            (scripts / script / "health.lua").read_text(encoding="utf-8")
        for kind, script in (("Channel", "Channel"), ("Template", "Template"),
                             ("Campaign", "Campaign"), ("CampaignRun", "Campaign"))}
    assert not [d for d in render("default") if d["kind"] == "ConfigMap"]


def pods_the_operator_creates() -> dict[str, Doc]:
    """Pod templates of a sender Job and a receiver Deployment, as the operator builds them."""
    pods = PodSettings()
    sender = build_sender_job(Owner("shop", "spring", "u1"), [CHANNEL_SPEC], 2, 2,
                              suspend=False, pods=pods)
    receiver = build_receiver_deployment(Owner("shop", "carrier-a", "u2"),
                                         CHANNEL_SPEC, pods)
    return {"sender": sender["spec"]["template"], "receiver": receiver["spec"]["template"]}


def selects(selector: Doc, labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_the_pod_monitor_and_redis_policy_select_the_operators_pods() -> None:
    docs = render("full")
    monitor = only(docs, "PodMonitor", "herald-pods")["spec"]
    (redis_rule,) = only(docs, "NetworkPolicy", "herald-redis")["spec"]["ingress"]
    (allowed,) = redis_rule["from"]
    for role, template in pods_the_operator_creates().items():
        labels = template["metadata"]["labels"]
        assert selects(monitor["selector"], labels), role
        assert selects(allowed["podSelector"], labels), role
        (container,) = template["spec"]["containers"]
        ports = {p["name"] for p in container.get("ports", [])}
        assert monitor["podMetricsEndpoints"][0]["port"] in ports, role


def test_the_pods_pull_with_the_charts_pull_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_of(render("full"))
    monkeypatch.setenv("HERALD_IMAGE_PULL_SECRETS", env["HERALD_IMAGE_PULL_SECRETS"]["value"])
    pods = OperatorConfig.from_env().pod_settings()
    job = build_sender_job(Owner("shop", "spring", "u1"), [CHANNEL_SPEC], 1, 1, suspend=False,
                           pods=pods)
    assert job["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    assert "HERALD_IMAGE_PULL_SECRETS" not in env_of(render("default"))


def test_the_ingest_api_serves_trigger_campaigns_from_redis_alone() -> None:
    """One `herald ingest` Deployment per install behind a Service: the command the
    image takes, the operator's Redis with its password, no API token, probes on the
    port the Service targets; none with ingest.enabled false."""
    external = render("external-redis")
    deployment = only(external, "Deployment", "herald-ingest")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    args = parser().parse_args(container["args"])
    assert (args.run.__name__, args.port) == ("run_ingest", 8080)
    env = {e["name"]: e for e in container["env"]}
    assert env["HERALD_REDIS_URL"] == env_of(external)["HERALD_REDIS_URL"]
    assert env["HERALD_REDIS_PASSWORD"] == env_of(external)["HERALD_REDIS_PASSWORD"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    service = only(external, "Service", "herald-ingest")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    assert selects({"matchLabels": service["spec"]["selector"]},
                   deployment["spec"]["template"]["metadata"]["labels"])
    policy = only(external, "NetworkPolicy", "herald-ingest")
    assert policy["spec"]["ingress"] == [{"ports": [{"port": 8080, "protocol": "TCP"}]}]
    off = helm_template("--namespace", "herald", "--set", "ingest.enabled=false")
    assert not [d for d in off if "ingest" in d["metadata"]["name"]]
