"""`herald export CAMPAIGN -o DEST` and `kubectl herald export CAMPAIGN -o DEST`: one
implementation of a person's export of a campaign's per-recipient results.

    DEST        a file (a PVC's mount, in a pod) or s3://BUCKET/KEY
    --format    csv | parquet (default: parquet for a name ending .parquet, else csv)
    --redis     the campaign's Redis (default HERALD_REDIS_URL, HERALD_REDIS_PASSWORD)
    --unmasked  full numbers: only when the Campaign names spec.export.unmaskedSecretRef
                and the caller may read that Secret (checked with the caller's own
                kubeconfig, so RBAC on that one Secret decides who sees numbers)
    S3          credentials from --credentials-secret NAME (a Secret the caller may read:
                accessKeyId, secretAccessKey, and optionally endpoint and region), else
                AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION

CAMPAIGN may also name a CampaignRun (one run of a recurring campaign). The Campaign is
read from the cluster (kubeconfig as kubectl finds it) to check that the
run in Redis is this Campaign's (same uid) and for its export settings; the rows come
from Redis, a page at a time (sender.export).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `herald`'s parser imports this module: the rest comes when it runs
    from crds.campaign import ExportFormat
    from herald.plugin.kube import Cluster
    from sender.export.destinations import S3Credentials
    from sender.export.process import ExportResult
    from sender.store.keys import CampaignKeys

SECRET_KEYS = {"access_key_id": "accessKeyId", "secret_access_key": "secretAccessKey",
               "endpoint": "endpoint", "region": "region"}
"""The keys of an S3 credentials Secret (spec.export.destination.credentialsSecretRef)."""


def add_arguments(sub: argparse.ArgumentParser, *, output_required: bool = True) -> None:
    sub.add_argument("-o", "--output", required=output_required, metavar="FILE|s3://BUCKET/KEY",
                     help="where to write the export")
    sub.add_argument("--format", choices=("csv", "parquet"),
                     help="default: parquet for a name ending .parquet, else csv")
    sub.add_argument("--redis", metavar="URL",
                     help="the campaign's Redis (default HERALD_REDIS_URL)")
    sub.add_argument("--unmasked", action="store_true",
                     help="full numbers; needs read access to the Secret the Campaign's"
                          " spec.export.unmaskedSecretRef names")
    sub.add_argument("--credentials-secret", metavar="SECRET",
                     help="S3 credentials from this Secret of the namespace (accessKeyId,"
                          " secretAccessKey, endpoint, region); default: AWS_* variables")


def export_format(args: argparse.Namespace) -> ExportFormat:
    from crds.campaign import ExportFormat
    from sender.export.writers import format_of

    if args.format:
        return format_of(args.format)
    return ExportFormat.PARQUET if args.output.endswith(".parquet") else ExportFormat.CSV


def credentials_from(data: Mapping[str, str]) -> S3Credentials | None:
    """S3 credentials from a Secret's decoded data; None without a key id and secret."""
    from sender.export.destinations import S3Credentials

    values = {name: data.get(key, "") for name, key in SECRET_KEYS.items()}
    if not (values["access_key_id"] and values["secret_access_key"]):
        return None
    return S3Credentials(**values)


def credentials_from_env(env: Mapping[str, str]) -> S3Credentials | None:
    return credentials_from({
        "accessKeyId": env.get("AWS_ACCESS_KEY_ID", ""),
        "secretAccessKey": env.get("AWS_SECRET_ACCESS_KEY", ""),
        "endpoint": env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL", ""),
        "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION", "")})


def secret_data(cluster: Cluster, name: str, why: str) -> dict[str, str]:
    """A Secret's decoded data, read with the caller's own credentials."""
    found: Any = cluster.secret(name, why)
    return {key: base64.b64decode(value).decode() for key, value in
            (found.get("data") or {}).items()}


def run(cluster: Cluster, args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from crds.campaign import Campaign
    from crds.campaign_run import CampaignRun
    from herald.plugin.kube import PluginError
    from sender.export.destinations import ExportError, is_url
    from sender.store.client import RedisUrlError, connect, connect_from_env
    from sender.store.keys import CampaignKeys

    # A recurring campaign's runs are CampaignRuns, each with its own run in Redis.
    campaign = cluster.get(Campaign.PLURAL, args.name) or cluster.get(CampaignRun.PLURAL,
                                                                      args.name)
    if campaign is None:
        raise PluginError(f"campaign {args.name} not found in namespace {cluster.namespace}"
                          " (nor a CampaignRun of that name)")
    spec_export = (campaign.get("spec") or {}).get("export") or {}
    if args.unmasked:
        ref = (spec_export.get("unmaskedSecretRef") or {}).get("name")
        if not ref:
            raise PluginError(
                f"campaign {args.name} names no spec.export.unmaskedSecretRef: its export"
                " shows masked numbers only")
        cluster.secret(ref, f"which gates unmasked exports of campaign {args.name}")
    credentials = None
    if is_url(args.output):
        if args.credentials_secret:
            credentials = credentials_from(secret_data(
                cluster, args.credentials_secret, "which holds the S3 credentials"))
            if credentials is None:
                raise PluginError(f"secret {args.credentials_secret} has no accessKeyId and"
                                  " secretAccessKey")
        else:
            credentials = credentials_from_env(os.environ)
    try:
        redis = connect(args.redis) if args.redis else connect_from_env()
    except RedisUrlError as error:
        raise PluginError(str(error)) from None
    keys = CampaignKeys(cluster.namespace, args.name)
    uid = campaign["metadata"].get("uid")
    try:
        result = asyncio.run(_export(redis, keys, uid, args, credentials))
    except ExportError as error:
        raise PluginError(str(error)) from None
    except (RedisError, OSError) as error:  # Redis does not answer, or refuses the login
        raise PluginError(f"Redis: {type(error).__name__}: {error}") from None
    shown = "full numbers" if result.unmasked else "numbers masked"
    print(f"exported {result.rows:,} recipients of campaign {keys.ref} to {result.location}"
          f" ({export_format(args).value}, {shown}) in {result.seconds:.1f}s")
    return 0


async def _export(redis: Any, keys: CampaignKeys, uid: str | None, args: argparse.Namespace,
                  credentials: S3Credentials | None) -> ExportResult:
    from sender.export.destinations import ExportError
    from sender.export.process import export_run, read_config

    try:
        config = await read_config(redis, keys)
        if uid and config.uid != uid:
            raise ExportError(f"Redis holds a run of an earlier campaign named {keys.ref},"
                              " not this one's")
        return await export_run(redis, keys, args.output, export_format(args),
                                unmasked=args.unmasked, credentials=credentials)
    finally:
        await redis.aclose()
