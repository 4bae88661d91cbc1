#!/usr/bin/env bash
# Make sure a real redis-server (and redis-cli, which builds the tests' Redis Cluster) is
# on PATH: the tests and the demo start their own.
# Installs Debian's package when missing and we are root; otherwise says how.
set -euo pipefail
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing Debian's redis-server package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
  # Debian's package starts a system service; Herald starts its own servers.
  (systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1) || true
  exit 0
fi
echo "redis-server is required: install it with 'sudo apt-get install redis-server'" >&2
echo "(or any Redis >= 6.2 on PATH as redis-server), then run this again." >&2
exit 1
