#!/usr/bin/env bash
# Brings up PostgreSQL for the pg test tier (Debian/Ubuntu), idempotently:
#  - already accepting connections on 127.0.0.1:5432: does nothing;
#  - installed but stopped: starts the newest Debian cluster (`main`);
#  - not installed: installs the distribution's postgresql package, then starts it.
# Then makes sure user postgres can connect over 127.0.0.1 without a password, as the
# tests' default DATABASE_URL (postgres://postgres@127.0.0.1:5432/postgres) expects; only
# when that fails is a loopback-only trust rule added to pg_hba.conf. For development and
# CI machines, not for a server holding real data.
set -euo pipefail

host=127.0.0.1
port=5432
cluster=main

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

is_ready() {
  command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h "$host" -p "$port"
}

newest_version() {
  ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

wait_until_ready() {
  for _ in $(seq 1 30); do
    if is_ready; then return 0; fi
    sleep 1
  done
  echo "PostgreSQL did not accept connections on $host:$port within 30 s" >&2
  return 1
}

ensure_password_less_loopback() {
  local version=$1 hba
  if psql -h "$host" -p "$port" -U postgres -w -d postgres -Atqc 'select 1' >/dev/null 2>&1; then return 0; fi
  hba=/etc/postgresql/$version/$cluster/pg_hba.conf
  echo "user postgres cannot connect over $host without a password; trusting loopback connections in $hba"
  # Rules are matched top down: put these first. Loopback only.
  as_root sed -i '1i host all postgres 127.0.0.1/32 trust\nhost all postgres ::1/128 trust' "$hba"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" reload
  sleep 1
  psql -h "$host" -p "$port" -U postgres -w -d postgres -Atqc 'select 1' >/dev/null
}

if is_ready; then
  echo "PostgreSQL is already accepting connections on $host:$port"
  exit 0
fi

version=$(newest_version)
if [ -z "$version" ] || ! command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "PostgreSQL is not installed; installing it"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 postgresql
  version=$(newest_version)
  if [ -z "$version" ]; then
    echo "the postgresql package installed no cluster under /etc/postgresql" >&2
    exit 1
  fi
fi

if ! is_ready; then
  echo "starting PostgreSQL $version/$cluster"
  # The package may already be starting it: a failed start is judged by the wait below.
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start ||
    echo "pg_ctlcluster start failed; waiting in case PostgreSQL is already starting" >&2
fi
wait_until_ready
ensure_password_less_loopback "$version"
echo "PostgreSQL $version is accepting connections on $host:$port"
