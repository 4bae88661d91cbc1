"""Local stand-ins for the Job and Deployment controllers: pods as processes."""
