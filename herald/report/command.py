"""`herald report` and `kubectl herald report`: one implementation, two entry points.

    report CAMPAIGN [-o FILE]     one campaign's page: funnel, variants with intervals,
                                  rates over time (Redis), errors, channels, countries
    report --since 7d [-o FILE]   the namespace's campaigns per day and per week

The Campaigns come from the Kubernetes API with the caller's kubeconfig (KUBECONFIG, as
kubectl; herald.plugin.kube); the run's timeline from Redis (--redis, else
HERALD_REDIS_URL, with HERALD_REDIS_PASSWORD). Without Redis the page still shows
everything else, and says the time series is not available and why.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime

from redis.exceptions import RedisError

from crds.campaign import Campaign
from crds.campaign_run import CampaignRun
from herald.plugin.kube import Cluster, PluginError
from herald.report.arguments import SUMMARY, add_arguments
from herald.report.figures import campaign_report
from herald.report.page import render_report
from herald.report.summary import parse_window, render_summary, summarize
from sender.store.run_timeline import TimelineSample

REDIS_CONNECT_SECONDS = 3.0
__all__ = ["SUMMARY", "add_arguments", "run"]
def run(cluster: Cluster, args: argparse.Namespace, now: datetime | None = None) -> int:
    now = now or datetime.now(UTC)
    if (args.name is None) == (args.since is None):
        raise PluginError("give a CAMPAIGN, or --since WINDOW for a summary, not both")
    if args.since is not None:
        try:
            window = parse_window(args.since)
        except ValueError as error:
            raise PluginError(str(error)) from None
        objects = cluster.list_of(Campaign.PLURAL) + cluster.list_of(CampaignRun.PLURAL)
        html = render_summary(cluster.namespace, summarize(objects, window, now))
    else:
        plural = Campaign.PLURAL
        campaign = cluster.get(plural, args.name)
        if campaign is None:
            campaign, plural = cluster.get(CampaignRun.PLURAL, args.name), CampaignRun.PLURAL
        if campaign is None:
            raise PluginError(f"campaign {args.name} not found in namespace"
                              f" {cluster.namespace}")
        timeline, note = read_timeline(args.redis, cluster.namespace, args.name)
        html = render_report(campaign_report(campaign, timeline, note, now))
    write(args.output, html)
    return 0


def read_timeline(url: str | None, namespace: str, name: str
                  ) -> tuple[list[TimelineSample] | None, str]:
    """The run's samples, or None and why not."""
    url = url or os.environ.get("HERALD_REDIS_URL")
    if not url:
        return None, "no Redis given (--redis URL or HERALD_REDIS_URL)"
    try:
        samples = asyncio.run(_read(url, os.environ.get("HERALD_REDIS_PASSWORD") or None,
                                    namespace, name))
    except ValueError as error:  # RedisUrlError
        return None, f"the Redis URL is not one Herald reads: {error}"
    except (RedisError, OSError) as error:
        return None, f"Redis is not reachable ({type(error).__name__})"
    if not samples:
        return None, ("the run has no timeline in Redis: it has not started sending, or its"
                      " keys were deleted after the retention")
    return samples, ""


async def _read(url: str, password: str | None, namespace: str, name: str
                ) -> list[TimelineSample]:
    from sender.store.client import connect
    from sender.store.keys import CampaignKeys
    from sender.store.run_timeline import read_timeline as read

    redis = connect(url, password, socket_connect_timeout=REDIS_CONNECT_SECONDS,
                    socket_timeout=REDIS_CONNECT_SECONDS)
    try:
        return await read(redis, CampaignKeys(namespace, name))
    finally:
        await redis.aclose()


def write(output: str, html: str) -> None:
    if output == "-":
        sys.stdout.write(html)
        return
    try:
        with open(output, "w", encoding="utf-8") as file:
            file.write(html)
    except OSError as error:
        raise PluginError(f"cannot write {output}: {error.strerror}") from None
    print(f"wrote {output}", file=sys.stderr)
