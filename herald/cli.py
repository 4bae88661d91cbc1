"""The `herald` command: one entry point for every process Herald runs.

    herald operator   run the operator (kopf) against the cluster in KUBECONFIG or in-pod
    herald approve    approve a Manual-review template's current content
    herald crds       write the CRD YAML from the API models
    herald demo       run the main job locally on embedded defaults
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def run_operator(args: argparse.Namespace) -> int:
    import kopf

    import controllers.operator  # noqa: F401  (registers every handler)

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
    from herald.demo import main

    return main(output=str(args.output))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="herald", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    op = commands.add_parser("operator", help="run the operator")
    op.add_argument("--namespace", action="append", default=[],
                    help="watch only this namespace (repeatable); default: all namespaces")
    op.add_argument("--liveness", default="http://0.0.0.0:8080/healthz",
                    help="liveness endpoint URL for the kubelet's probe")
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
    demo.set_defaults(run=run_demo)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
