"""The operator's decisions, as pure functions over what was observed.

Each module here takes models and observations and returns what to do: the phase
machine and its status (campaign_plan, channel_plan), the run config (campaign_run),
the Job, Deployment and pod specs (campaign_jobs, receiver_deployment, pod_spec), the
template review (template_review), the send window (campaign_window), the status
folding (campaign_stats, status), reasons and Events. No kopf, Kubernetes client or
Redis: import-linter holds every module of this package to that, so tests build the
observations by hand. The handlers beside this package do the I/O.
"""
