"""`kubectl herald COMMAND`: the commands, each a few API calls and a view.

    status CAMPAIGN            phase, progress, rates, breakdowns, conditions, Events
    preview TEMPLATE|CAMPAIGN  the reviewed text, encoding, segments; a campaign's plan
    approve TEMPLATE           approve a Manual-review template's current content
    pause|resume|cancel CAMPAIGN
    trace CAMPAIGN             Campaign -> runs -> Jobs -> pods, and the channels' binds
    export CAMPAIGN -o DEST    every recipient's variant, channel, state, error, clicks
                               as CSV or Parquet to a file or s3:// (herald.plugin.export)
    report CAMPAIGN|--since 7d one HTML page: a campaign's report, or a summary (herald
                               report's, herald.report.command)

`-o json|yaml` prints a view's structure instead of its text. Exit status: 0 done,
1 an error (a message on stderr says which), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from controllers.decisions.campaign_jobs import label_value
from crds.campaign import Campaign
from crds.campaign_run import CAMPAIGN_LABEL, CampaignRun
from crds.channel import Channel
from crds.template import Template
from herald.plugin import export, views
from herald.plugin.arguments import add_cluster_arguments
from herald.plugin.kube import Cluster, Object, PluginError
from herald.report import command as report_command

SELF_PAUSED = ("AutoPaused",)
"""Conditions True while a campaign holds itself paused (a failed canary, autoPause): a
person takes the pause over with spec.paused true, then resumes with false (see the
Campaign's canary and autoPause)."""
RESUME_WAIT_SECONDS = 60.0

Kind = type[Campaign] | type[Template]
KINDS: dict[str, Kind] = {
    "campaign": Campaign, "campaigns": Campaign, **dict.fromkeys(Campaign.SHORT_NAMES, Campaign),
    "template": Template, "templates": Template, **dict.fromkeys(Template.SHORT_NAMES, Template),
}


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(
        prog="kubectl herald", description="Herald's campaigns, from kubectl.")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, target: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.add_argument("name", metavar=target)
        add_cluster_arguments(sub)
        return sub

    for name, summary in (("status", "a campaign's phase, progress, breakdowns and Events"),
                          ("trace", "a campaign's runs, Jobs, pods and channels")):
        command(name, summary, "CAMPAIGN").add_argument(
            "-o", "--output", choices=("text", "json", "yaml"), default="text")
    command("preview", "a template's reviewed text, encoding and segments, or each of a"
            " campaign's templates and its plan", "TEMPLATE|CAMPAIGN").add_argument(
        "-o", "--output", choices=("text", "json", "yaml"), default="text")
    command("approve", "approve a Manual-review template's current content",
            "TEMPLATE").add_argument("--note", default="", help="why, for the record")
    command("pause", "suspend a campaign's sending (spec.paused: true)", "CAMPAIGN")
    command("resume", "resume a paused campaign, also one that paused itself",
            "CAMPAIGN").add_argument("--timeout", type=float, default=RESUME_WAIT_SECONDS,
                                     help="seconds to wait for the operator to take over a"
                                          " pause the campaign made itself")
    command("cancel", "cancel a campaign for good (spec.cancel: true)", "CAMPAIGN")
    export.add_arguments(command(
        "export", "every recipient's results (numbers masked) as CSV or Parquet, to a file"
        " or an S3-compatible URL", "CAMPAIGN"))
    report = commands.add_parser("report", help=report_command.SUMMARY,
                                 description=report_command.SUMMARY)
    report_command.add_arguments(report)
    add_cluster_arguments(report)
    return main


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cluster = Cluster(args.kubeconfig, args.context, args.namespace)
        return COMMANDS[args.command](cluster, args)
    except PluginError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


# -- the commands ------------------------------------------------------------------------

def status(cluster: Cluster, args: argparse.Namespace) -> int:
    campaign = _campaign(cluster, args.name)
    view = views.campaign_status(campaign, cluster.events_of(campaign))
    return _show(args.output, view, lambda: views.status_lines(view, datetime.now(UTC)))


def preview(cluster: Cluster, args: argparse.Namespace) -> int:
    kind, name = _kind_and_name(args.name)
    view: dict[str, Any]
    if kind is not Template:
        campaign = cluster.get(Campaign.PLURAL, name)
        if campaign is not None:
            templates = {t: cluster.get(Template.PLURAL, t)
                         for _, t in views.campaign_templates(campaign)}
            view = views.campaign_preview(campaign, templates)
            return _show(args.output, view, lambda: views.preview_lines(view))
        if kind is Campaign:
            raise _not_found(cluster, "campaign", name)
    template = cluster.get(Template.PLURAL, name)
    if template is None:
        raise _not_found(cluster, "template" if kind else "campaign or template", name)
    view = views.template_preview(template)
    return _show(args.output, view, lambda: views.preview_lines(view))


def approve(cluster: Cluster, args: argparse.Namespace) -> int:
    from kubernetes.client.exceptions import ApiException

    from controllers.kube import Kube
    from herald.approve import approve_template
    from herald.plugin.kube import api_message

    try:
        return asyncio.run(approve_template(args.name, cluster.namespace, note=args.note,
                                            kube=Kube(cluster.custom.api_client)))
    except ApiException as error:  # 409: this content is approved already; 403: RBAC
        raise PluginError(api_message(error)) from None


def pause(cluster: Cluster, args: argparse.Namespace) -> int:
    return _set_spec(cluster, args.name, {"paused": True}, "paused")


def resume(cluster: Cluster, args: argparse.Namespace) -> int:
    campaign = _campaign(cluster, args.name)
    if (campaign.get("spec") or {}).get("cancel"):
        raise PluginError(f"campaign {args.name} is cancelled: it cannot be resumed")
    self_paused = [c["type"] for c in (campaign.get("status") or {}).get("conditions") or []
                   if c.get("type") in SELF_PAUSED and c.get("status") == "True"]
    if self_paused and not (campaign.get("spec") or {}).get("paused"):
        # The pause is the operator's, in status: a person takes it over first.
        taken = cluster.patch_spec(Campaign.PLURAL, args.name, {"paused": True})
        _wait_for_pause(cluster, args.name, taken["metadata"].get("generation"), args.timeout)
    cluster.patch_spec(Campaign.PLURAL, args.name, {"paused": False})
    print(f"campaign.sms.herald.dev/{args.name} resumed"
          + (f" (it had paused itself: {', '.join(self_paused)})" if self_paused else ""))
    return 0


def cancel(cluster: Cluster, args: argparse.Namespace) -> int:
    return _set_spec(cluster, args.name, {"cancel": True}, "cancelled")


def trace(cluster: Cluster, args: argparse.Namespace) -> int:
    campaign = _campaign(cluster, args.name)
    selector = f"{CAMPAIGN_LABEL}={label_value(args.name)}"
    runs = cluster.list_of(CampaignRun.PLURAL, selector)
    jobs = cluster.jobs(selector)
    pods = cluster.pods(selector) if jobs else []
    channels = {c["name"]: cluster.get(Channel.PLURAL, c["name"])
                for c in (campaign.get("spec") or {}).get("channels") or []}
    view = views.trace(campaign, runs, jobs, pods, channels)
    return _show(args.output, view, lambda: views.trace_lines(view))


COMMANDS: dict[str, Callable[[Cluster, argparse.Namespace], int]] = {
    "status": status, "preview": preview, "approve": approve, "pause": pause,
    "resume": resume, "cancel": cancel, "trace": trace, "export": export.run,
    "report": report_command.run,
}


# -- helpers -----------------------------------------------------------------------------

def _set_spec(cluster: Cluster, name: str, spec: Object, done: str) -> int:
    """Patch an existing campaign's spec and say so, as kubectl patch does."""
    _campaign(cluster, name)
    cluster.patch_spec(Campaign.PLURAL, name, spec)
    print(f"campaign.sms.herald.dev/{name} {done}")
    return 0


def _campaign(cluster: Cluster, name: str) -> Object:
    campaign = cluster.get(Campaign.PLURAL, name)
    if campaign is None:
        raise _not_found(cluster, "campaign", name)
    return campaign


def _not_found(cluster: Cluster, what: str, name: str) -> PluginError:
    return PluginError(f"{what} {name} not found in namespace {cluster.namespace}")


def _kind_and_name(text: str) -> tuple[Kind | None, str]:
    """`NAME`, or kubectl's `TYPE/NAME` (campaign/x, smstpl/y)."""
    kind, slash, name = text.partition("/")
    if not slash:
        return None, text
    found = KINDS.get(kind.lower().removesuffix(".sms.herald.dev"))
    if found is None:
        raise PluginError(f"{kind!r} is not a kind herald preview shows: campaign or template")
    return found, name


def _wait_for_pause(cluster: Cluster, name: str, generation: int | None,
                    timeout: float) -> None:
    """Until the operator has seen spec.paused (its Ready reason Paused at that
    generation), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        campaign = _campaign(cluster, name)
        status = campaign.get("status") or {}
        ready: dict[str, Any] = next(
            (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
        if ready.get("reason") == "Paused" and (
                generation is None or (status.get("observedGeneration") or 0) >= generation):
            return
        if time.monotonic() > deadline:
            raise PluginError(f"the operator did not take over the pause of {name} within"
                              f" {timeout:g}s; spec.paused is true now, set it to false once"
                              " its Ready reason is Paused")
        time.sleep(0.5)


def _show(output: str, view: Any, lines: Callable[[], list[str]]) -> int:
    if output == "json":
        print(json.dumps(view, indent=2, default=str))
    elif output == "yaml":
        print(yaml.safe_dump(view, sort_keys=False, allow_unicode=True), end="")
    else:
        print("\n".join(lines()))
    return 0
