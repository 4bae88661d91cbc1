"""`kubectl herald`: a kubectl plugin for people running campaigns.

Installed with the package as the `kubectl-herald` command, which kubectl finds on
PATH (`kubectl herald status NAME`). It reads and patches Herald's resources through
the Kubernetes API with the caller's own kubeconfig and RBAC, as kubectl does: views in
herald.plugin.views (pure), API calls in herald.plugin.kube, commands in
herald.plugin.cli.
"""
