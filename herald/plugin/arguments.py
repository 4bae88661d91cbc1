"""The arguments every command that reads the cluster takes, as kubectl's. Light: the
`herald` command's parser imports it, and a sender pod must not pay for the
Kubernetes client at start."""

from __future__ import annotations

import argparse


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", help="the namespace (default: the context's)")
    parser.add_argument("--kubeconfig", help="the kubeconfig file (default: KUBECONFIG,"
                                             " else ~/.kube/config)")
    parser.add_argument("--context", help="the kubeconfig context to use")
