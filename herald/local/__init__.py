"""Herald on one machine, for the demo and the tests: a local Kubernetes API, Redis, and
runners that play the Job and Deployment controllers with local processes.

Not in the image: it needs kmock (the `local` extra).
"""
