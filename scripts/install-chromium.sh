#!/usr/bin/env bash
# Installs Debian's Chromium for the browser test tier (playwright-core drives it), unless
# it is already there. Idempotent; needs root (or sudo) on a fresh machine.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium is installed: $(command -v chromium) ($(chromium --version 2>/dev/null || echo 'version unknown'))"
  exit 0
fi
if (( EUID != 0 )); then
  if command -v sudo >/dev/null 2>&1; then exec sudo -- "$0" "$@"; fi
  echo "install-chromium: run as root (apt-get install chromium)" >&2
  exit 1
fi
started=$SECONDS
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "installed $(chromium --version) in $((SECONDS - started)) s"
