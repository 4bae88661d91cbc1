"""The `herald` command: one entry point for every process Herald runs.

    herald operator   run the operator (kopf) against the cluster in KUBECONFIG or in-pod
    herald approve    approve a Manual-review template's current content
    herald crds       write the CRD YAML from the API models
    herald demo       run the main job locally on embedded defaults
    herald local      up: the local stack in the foreground, for your own kubectl; down
    herald import     import a campaign's audience into Redis (the importer pod's process)
    herald send       send one shard of a campaign (a sender Job pod's process)
    herald receiver   hold a channel's receiver bind: late receipts, replies (its Deployment)
    herald ingest     serve the ingest API of trigger Api campaigns (its Deployment)
    herald links      serve the short links of tracked links (its Deployment)
    herald simulator  run the SMPP 3.4 simulator (an SMSC for tests and demos)
    herald export     a campaign's per-recipient results as CSV or Parquet (as kubectl
                      herald export: herald.plugin.export)
    herald report     a campaign's report, or a namespace's summary, as one HTML page
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from typing import Any


def run_operator(args: argparse.Namespace) -> int:
    import kopf

    import controllers.operator  # noqa: F401  (registers every handler)
    from sender.metrics import serve_metrics

    serve_metrics(args.metrics_port)
    kopf.run(
        clusterwide=not args.namespace,
        namespaces=args.namespace,
        standalone=True,
        liveness_endpoint=args.liveness,
    )
    return 0


def approve(args: argparse.Namespace) -> int:
    import asyncio

    from herald.approve import approve_template

    return asyncio.run(approve_template(args.name, args.namespace, note=args.note))


def write_crds(args: argparse.Namespace) -> int:
    from crds.generate import main

    return main(["--check"] if args.check else [])


def run_demo(args: argparse.Namespace) -> int:
    try:
        from herald.local.demo import main
    except ModuleNotFoundError as error:  # the image leaves out herald.local and kmock
        raise SystemExit(f"herald demo needs Herald's local extra ({error.name} is missing):"
                         " run it from a checkout with `make demo`") from None

    return main(output=str(args.output), redis_url=args.redis)


def run_local(args: argparse.Namespace) -> int:
    from pathlib import Path

    try:
        from herald.local.up import main
        from herald.local.up_state import down
    except ModuleNotFoundError as error:  # the image leaves out herald.local and kmock
        raise SystemExit(f"herald local needs Herald's local extra ({error.name} is"
                         " missing): run it from a checkout") from None

    if args.action == "down":
        return down(Path(args.kubeconfig))
    return main(Path(args.kubeconfig), smpp_port=args.smpp_port)


def run_simulator(args: argparse.Namespace) -> int:
    import yaml

    from sender.simulator.config import SimulatorConfig, load_config, with_account
    from sender.simulator.server import run

    if (args.system_id is None) != (args.password is None):
        raise SystemExit("herald simulator: --system-id and --password go together")
    if (args.tls_cert is None) != (args.tls_key is None):
        raise SystemExit("herald simulator: --tls-cert and --tls-key go together")
    flags = {"host": args.host, "port": args.port, "control_port": args.control_port,
             "message_id_format": args.message_id_format, "latency_ms": args.latency_ms,
             "receipt_delay_ms": args.receipt_delay_ms, "window": args.window,
             "seed": args.seed, "tls_cert_file": args.tls_cert, "tls_key_file": args.tls_key,
             "tls_client_ca_file": args.tls_client_ca}
    try:
        config = load_config(args.config) if args.config else SimulatorConfig()
        if args.system_id is not None:
            config = with_account(config, args.system_id, args.password)
        config = SimulatorConfig.model_validate(
            config.model_dump() | {name: value for name, value in flags.items()
                                   if value is not None})
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise SystemExit(f"herald simulator: bad configuration: {error}") from None
    return run(config)


def run_import(args: argparse.Namespace) -> int:
    from sender.importer.process import main

    return main(args.campaign)


def run_send(args: argparse.Namespace) -> int:
    from sender.send.process import campaign_main

    return campaign_main(args.campaign, args.shard, args.rest)


def run_receiver(args: argparse.Namespace) -> int:
    from sender.receive.process import main

    return main(args.channel)


def run_ingest(args: argparse.Namespace) -> int:
    from sender.ingest.process import main

    return main(args.host, args.port)


def run_links(args: argparse.Namespace) -> int:
    from sender.links.process import main

    return main(args.host, args.port)


def run_export(args: argparse.Namespace) -> int:
    if args.campaign:  # the export Job's pod
        from sender.export.process import main as job_main

        return job_main(args.campaign)
    if not args.name or not args.output:
        raise SystemExit("herald export: give CAMPAIGN and -o FILE|s3://BUCKET/KEY (or"
                         " --campaign NAMESPACE/NAME in the export Job's pod)")
    from herald.plugin import export

    return _with_cluster("herald export", args, export.run)


def run_report(args: argparse.Namespace) -> int:
    from herald.report import command

    return _with_cluster("herald report", args, command.run)


def _with_cluster(command: str, args: argparse.Namespace,
                  run: Callable[[Any, argparse.Namespace], int]) -> int:
    """run(cluster, args) as its kubectl herald subcommand does, with the cluster of the
    arguments' kubeconfig, context and namespace."""
    from herald.plugin.kube import Cluster, PluginError

    try:
        return run(Cluster(args.kubeconfig, args.context, args.namespace), args)
    except PluginError as error:
        print(f"{command}: {error}", file=sys.stderr)
        return 1


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="herald", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--log-format", choices=["auto", "json", "console"],
                      default=os.environ.get("HERALD_LOG_FORMAT") or "auto",
                      help="auto: console on a terminal, JSON lines otherwise (a pod);"
                           " default HERALD_LOG_FORMAT")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    op = commands.add_parser("operator", help="run the operator")
    op.add_argument("--namespace", action="append", default=[],
                    help="watch only this namespace (repeatable); default: all namespaces")
    op.add_argument("--liveness", default="http://0.0.0.0:8080/healthz",
                    help="liveness endpoint URL for the kubelet's probe ('' for none)")
    op.add_argument("--log-format", choices=["text", "json"], dest="operator_log_format",
                    help="as herald --log-format: text is console (kept for the chart)")
    op.add_argument("--metrics-port", type=int, default=9090,
                    help="port of /metrics (0: none)")
    op.add_argument("--verbose", action="store_true",
                    help="debug logs; they show kopf's diffs of specs, which for inline"
                         " audiences hold phone numbers")
    op.set_defaults(run=run_operator)

    appr = commands.add_parser(
        "approve", help="approve a Manual-review template's current content"
    )
    appr.add_argument("kind", choices=["template"], help="what to approve")
    appr.add_argument("name", help="the Template's name")
    appr.add_argument("-n", "--namespace", default="default")
    appr.add_argument("--note", default="", help="reviewer's note for the audit trail")
    appr.set_defaults(run=approve)

    crd = commands.add_parser("crds", help="write the CRD YAML from the models")
    crd.add_argument("--check", action="store_true", help="fail if the committed YAML is stale")
    crd.set_defaults(run=write_crds)

    demo = commands.add_parser("demo", help="run the main job locally on embedded defaults")
    demo.add_argument("-o", "--output", choices=["text", "json", "yaml"], default="text",
                      help="text: progress and tables; json/yaml: the final objects only")
    demo.add_argument("--redis", metavar="URL",
                      help="use this Redis (redis://, rediss://, redis+sentinel://,"
                           " redis+cluster://) instead of starting a redis-server")
    demo.set_defaults(run=run_demo)

    local = commands.add_parser(
        "local", help="the local stack for your own kubectl: up (foreground), down",
        description="up: start a Kubernetes API, Redis, the SMPP simulator, local Job runners"
                    " and the operator on loopback, write a kubeconfig for kubectl, and run"
                    " until Ctrl-C or `herald local down`. down: stop the one started with"
                    " that kubeconfig, from another shell.")
    local.add_argument("action", choices=["up", "down"])
    local.add_argument("--kubeconfig", default=".herald/kubeconfig",
                       help="the kubeconfig to write (up) or whose stack to stop (down);"
                            " default .herald/kubeconfig")
    local.add_argument("--smpp-port", type=int, default=0,
                       help="the simulator's port on 127.0.0.1 (default: any free one; the"
                            " example Channel's herald-simulator:2775 reaches it either way)")
    local.set_defaults(run=run_local)

    # The pods' processes: each reads its work from Redis, named by one object.
    pod_processes = [
        ("import", "--campaign", run_import,
         "import a campaign's audience into Redis (the importer pod)",
         "Reads the run's config from Redis (HERALD_REDIS_URL, HERALD_REDIS_PASSWORD);"
         " resumes an interrupted import."),
        ("send", "--campaign", run_send, "send one shard of a campaign (a sender Job's pod)",
         "Reads the run's config from Redis (HERALD_REDIS_URL); the SMPP password from"
         " HERALD_SMPP_PASSWORD. Exits 0 when the shard is done, 143 when stopped before."),
        ("receiver", "--channel", run_receiver,
         "hold a channel's receiver bind (the channel's Deployment)",
         "Binds as a receiver with HERALD_CHANNEL_SMPP (JSON) and HERALD_SMPP_PASSWORD;"
         " applies late receipts and opt-out replies in Redis (HERALD_REDIS_URL) until"
         " SIGTERM."),
    ]
    for name, flag, run, summary, description in pod_processes:
        process = commands.add_parser(name, help=summary, description=description)
        process.add_argument(flag, required=True, metavar="NAMESPACE/NAME")
        if name == "send":
            process.add_argument("--shard", type=int, help="default: JOB_COMPLETION_INDEX")
            process.add_argument(
                "--rest", action="store_true",
                help="send rest shard I of an A/B winner campaign, with the winner chosen")
        process.set_defaults(run=run)

    ingest = commands.add_parser(
        "ingest", help="serve the ingest API of trigger Api campaigns (its Deployment)",
        description="POST /v1/namespaces/NS/campaigns/NAME/messages queues one message;"
                    " GET .../messages/ID tells its state. Reads everything from Redis"
                    " (HERALD_REDIS_URL, HERALD_REDIS_PASSWORD); runs until SIGTERM.")
    ingest.add_argument("--host", default="0.0.0.0", help="address to listen on")
    ingest.add_argument("--port", type=int,
                        help="port (default HERALD_INGEST_PORT, else 8080; 0: any free)")
    ingest.set_defaults(run=run_ingest)

    links = commands.add_parser(
        "links", help="serve the short links of tracked links (its Deployment)",
        description="GET /CODE redirects a recipient's short link to its target and counts"
                    " the click (not a link preview's or crawler's); GET /healthz. Reads"
                    " everything from Redis (HERALD_REDIS_URL, HERALD_REDIS_PASSWORD);"
                    " runs until SIGTERM.")
    links.add_argument("--host", default="0.0.0.0", help="address to listen on")
    links.add_argument("--port", type=int,
                       help="port (default HERALD_LINKS_PORT, else 8080; 0: any free)")
    links.set_defaults(run=run_links)

    from herald.plugin.arguments import add_cluster_arguments
    from herald.plugin.export import add_arguments as add_export_arguments

    export = commands.add_parser(
        "export", help="a campaign's per-recipient results as CSV or Parquet",
        description="Every recipient of the campaign's run: variant, channel, state, error"
                    " code, segments, clicks; numbers masked unless --unmasked. To a file"
                    " or s3://BUCKET/KEY. The Campaign from the kubeconfig (KUBECONFIG), the"
                    " rows from Redis (--redis, else HERALD_REDIS_URL).")
    export.add_argument("name", metavar="CAMPAIGN", nargs="?")
    export.add_argument("--campaign", metavar="NAMESPACE/NAME",
                        help="the export Job's pod: spec.export's settings from its"
                             " environment, the result recorded for status.export")
    add_cluster_arguments(export)
    add_export_arguments(export, output_required=False)
    export.set_defaults(run=run_export)

    from herald.report.arguments import SUMMARY, add_arguments

    report = commands.add_parser("report", help=SUMMARY, description=SUMMARY + "; the"
                                 " Campaigns from the kubeconfig (KUBECONFIG, as kubectl),"
                                 " the rates over time from Herald's Redis")
    add_arguments(report)
    add_cluster_arguments(report)
    report.set_defaults(run=run_report)

    sim = commands.add_parser(
        "simulator", help="run the SMPP 3.4 simulator",
        description="An SMPP 3.4 server with binds, windowing, latency, throttling, outcome "
                    "rules, delivery receipts and MO injection. Flags override --config.")
    sim.add_argument("--port", type=int, help="SMPP port (default 2775; 0: any free port)")
    sim.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    sim.add_argument("--control-port", type=int,
                     help="HTTP control API port (default: none; 0: any free port)")
    sim.add_argument("--config", help="YAML or JSON file of SimulatorConfig fields")
    sim.add_argument("--system-id", help="an account's system_id (with --password)")
    sim.add_argument("--password", help="that account's password (8 characters at most)")
    sim.add_argument("--message-id-format", choices=["hex", "decimal"])
    sim.add_argument("--latency-ms", type=int, help="delay before each submit_sm_resp")
    sim.add_argument("--receipt-delay-ms", type=int, help="delay before each receipt")
    sim.add_argument("--window", type=int, help="unanswered submits allowed per bind (0: any)")
    sim.add_argument("--seed", type=int, help="seed of outcome draws and message ids")
    sim.add_argument("--tls-cert", metavar="FILE", help="serve TLS with this PEM certificate")
    sim.add_argument("--tls-key", metavar="FILE", help="the PEM key of --tls-cert")
    sim.add_argument("--tls-client-ca", metavar="FILE",
                     help="require client certificates signed by this CA (mutual TLS)")
    sim.set_defaults(run=run_simulator)
    return root


LOG_LEVELS = {"operator": logging.INFO, "simulator": logging.INFO, "demo": logging.ERROR,
              "ingest": logging.INFO, "links": logging.INFO}
"""What each command logs; the pods' processes (send, import, receiver) log warnings and
errors: their figures go to stdout, their progress to Redis and status."""


def setup_logging(args: argparse.Namespace) -> None:
    """One logging setup for every command (herald.logs): JSON lines in pods, console
    output on a terminal, phone numbers masked and secrets dropped."""
    from herald.logs import configure_logging

    fmt = args.log_format
    if getattr(args, "operator_log_format", None):
        fmt = {"text": "console", "json": "json"}[args.operator_log_format]
    verbose = bool(getattr(args, "verbose", False))
    level = logging.DEBUG if verbose else LOG_LEVELS.get(args.command, logging.WARNING)
    configure_logging(fmt=fmt, level=level, verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(args)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
