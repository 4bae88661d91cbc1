#!/usr/bin/env bash
# Make sure a headless Chromium is on PATH: the report tests render `herald report`'s page
# in it and read back its DOM and a screenshot.
# Installs Debian's package when missing and we are root; otherwise says how.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium package" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  exit 0
fi
echo "chromium is required by the report tests: install it with 'sudo apt-get install chromium'" >&2
echo "(or put a Chromium binary on PATH as chromium), then run this again." >&2
exit 1
