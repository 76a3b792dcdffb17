#!/usr/bin/env bash
# Prepares this machine to build and run Drover's containers with Debian's podman, offline:
# no Docker engine runs here and no container registry is reachable (see the README's
# "Deploying with containers"). Idempotent; needs root. Used by the container test tier.
#
#  1. installs podman, podman-compose, runc, debootstrap, netavark and aardvark-dns when missing (apt-get);
#  2. writes a private podman configuration, ${CACHE}/containers.conf, that the caller passes
#     as CONTAINERS_CONF: runc (crun refuses this kernel's hybrid cgroups), ulimits within
#     the hard limits root has here (no CAP_SYS_RESOURCE, so podman's defaults fail setrlimit)
#     and the netavark network backend (podman keeps CNI where it has been used before);
#  3. builds local stand-ins for the base images Dockerfile and deploy/compose.yaml name,
#     tagged with the upstream names so that both work unchanged:
#       docker.io/library/debian:bookworm-slim   debootstrap --variant=minbase from apt's mirror
#       docker.io/library/node:20-bookworm-slim  that, with this machine's node and npm, and its
#                                                CA bundle as NODE_EXTRA_CA_CERTS (npm ci in a build)
#       docker.io/library/postgres:15            Debian's postgresql-15 with an entrypoint that
#                                                honours POSTGRES_USER/PASSWORD(_FILE)/DB
#       docker.io/library/rabbitmq:3             Debian's rabbitmq-server with an entrypoint that
#                                                honours RABBITMQ_DEFAULT_USER/PASS(_FILE)
#     Each is kept in ${CACHE}/images/<name>-<recipe hash>.tar (podman save) and loaded from
#     there on the next run; a change to this script or to the node version builds them anew.
#
# Prints the containers.conf path on its last line. Run as: bash scripts/build-base-images.sh
set -euo pipefail

readonly CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/drover/containers"
# netavark and aardvark-dns: the network backend whose DNS lets compose services find each other by
# name; without them podman 4.3 falls back to CNI, which has no DNS here (ENOTFOUND postgres).
readonly PACKAGES=(podman podman-compose runc debootstrap netavark aardvark-dns)

log() { printf '[base-images %ss] %s\n' "$SECONDS" "$*" >&2; }
die() {
  printf 'build-base-images: %s\n' "$*" >&2
  exit 1
}

(( EUID == 0 )) || die "run as root: podman here runs rootful (apt-get, debootstrap, podman import)"

missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if (( ${#missing[@]} > 0 )); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
    die "apt-get install ${missing[*]} failed"
fi

mkdir -p "$CACHE/images"
readonly CONF="$CACHE/containers.conf"
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
if [[ "$nproc" == unlimited ]] || (( nproc > 32768 )); then nproc=32768; fi
cat > "$CONF.new" <<EOF
# Written by scripts/build-base-images.sh; podman reads it through CONTAINERS_CONF.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"
EOF
mv "$CONF.new" "$CONF"
export CONTAINERS_CONF="$CONF"
# CNI, used here before netavark was, leaves its bridge with the same address as netavark's
# (10.88.0.1/16): with both up, containers cannot reach the network. Remove it when nothing
# is attached to it.
if ip link show cni-podman0 >/dev/null 2>&1 && [[ -z "$(ip link show master cni-podman0)" ]]; then
  log "removing the unused CNI bridge cni-podman0 (netavark's podman0 takes its address)"
  ip link delete cni-podman0
fi

node_binary=$(command -v node) || die "no node on PATH: the node stand-in copies this machine's"
node_binary=$(readlink -f "$node_binary")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
[[ -f "$npm_dir/package.json" ]] || die "cannot find npm's folder (looked at $npm_dir)"
ca_bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
[[ -f "$ca_bundle" ]] || die "no CA bundle at $ca_bundle (SSL_CERT_FILE)"
recipe=$( { cat "$0"; "$node_binary" --version; } | sha256sum | cut -c1-12)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Loads an image from the cache, or builds it with the named function and caches it.
ensure_image() {
  local tag=$1 builder=$2 name archive
  name=${tag##*/}
  archive="$CACHE/images/${name//:/-}-$recipe.tar"
  if [[ -f "$archive" ]] && podman image exists "$tag" &&
    [[ "$(podman image inspect --format '{{index .Labels "org.drover.recipe"}}' "$tag" 2>/dev/null)" == "$recipe" ]]; then
    log "$tag: present"
    return
  fi
  if [[ -f "$archive" ]]; then
    podman load --quiet --input "$archive" >/dev/null || die "podman load $archive failed"
    log "$tag: loaded from $archive"
    return
  fi
  log "$tag: building"
  "$builder" "$tag"
  rm -f "$CACHE/images/${name//:/-}-"*.tar
  podman save --quiet --output "$archive.new" "$tag" && mv "$archive.new" "$archive"
  log "$tag: built and cached in $archive"
}

build_debian() {
  local mirror root="$work/rootfs"
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n "$mirror" ]] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list 2>/dev/null || true)
  [[ -n "$mirror" ]] || die "cannot find apt's Debian mirror"
  debootstrap --variant=minbase bookworm "$root" "$mirror" > "$work/debootstrap.log" 2>&1 ||
    { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap from $mirror failed"; }
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar --numeric-owner -C "$root" -c . |
    podman import --quiet --change 'CMD ["bash"]' --change "LABEL org.drover.recipe=$recipe" - "$1" >/dev/null
  rm -rf "$root"
}

build_node() {
  local context="$work/node"
  mkdir -p "$context"
  cp "$node_binary" "$context/node"
  cp -a "$npm_dir" "$context/npm"
  cp "$ca_bundle" "$context/ca-certificates.crt"
  cat > "$context/Containerfile" <<EOF
FROM docker.io/library/debian:bookworm-slim
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /usr/local/share/drover-build-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --create-home --shell /bin/bash node
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/drover-build-ca.crt
LABEL org.drover.recipe=$recipe
CMD ["node"]
EOF
  podman build --quiet --tag "$1" "$context" >/dev/null
}

build_postgres() {
  local context="$work/postgres"
  mkdir -p "$context"
  cat > "$context/docker-entrypoint.sh" <<'EOF'
#!/usr/bin/env bash
# Stand-in for the official image's entrypoint: the variables it documents, first start only.
set -euo pipefail
for name in POSTGRES_PASSWORD POSTGRES_USER POSTGRES_DB; do
  file_var="${name}_FILE"
  if [[ -n "${!file_var:-}" ]]; then export "$name=$(< "${!file_var}")"; fi
done
if [[ "${1:-}" != postgres ]]; then exec "$@"; fi
shift
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
as_postgres() { setpriv --reuid postgres --regid postgres --init-groups "$@"; }
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  [[ -n "${POSTGRES_PASSWORD:-}" ]] || { echo "POSTGRES_PASSWORD (or _FILE) is required" >&2; exit 1; }
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
  chown postgres "$password_file"
  as_postgres initdb --username="$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$password_file"
  printf 'host all all all scram-sha-256\n' >> "$PGDATA/pg_hba.conf"
  printf "listen_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
  as_postgres pg_ctl --silent --wait --options="-c listen_addresses=''" start
  if [[ "$database" != postgres ]]; then as_postgres createdb --username="$user" "$database"; fi
  as_postgres pg_ctl --silent --wait --mode=fast stop
  echo "initialised $PGDATA (user $user, database $database)"
fi
exec setpriv --reuid postgres --regid postgres --init-groups postgres "$@"
EOF
  cat > "$context/Containerfile" <<EOF
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/15
COPY --chmod=755 docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH PGDATA=/var/lib/postgresql/data
LABEL org.drover.recipe=$recipe
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
EOF
  podman build --quiet --tag "$1" "$context" >/dev/null
}

build_rabbitmq() {
  local context="$work/rabbitmq"
  mkdir -p "$context"
  cat > "$context/docker-entrypoint.sh" <<'EOF'
#!/usr/bin/env bash
# Stand-in for the official image's entrypoint: the default user and password from the
# environment (or _FILE), guest refused, listening on every address of the container.
set -euo pipefail
for name in RABBITMQ_DEFAULT_USER RABBITMQ_DEFAULT_PASS; do
  file_var="${name}_FILE"
  if [[ -n "${!file_var:-}" ]]; then export "$name=$(< "${!file_var}")"; fi
done
if [[ "${1:-}" != rabbitmq-server ]]; then exec "$@"; fi
mkdir -p /etc/rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
{
  echo "loopback_users = none"
  echo "listeners.tcp.default = ${RABBITMQ_NODE_PORT:-5672}"
  echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
  echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
} > /etc/rabbitmq/rabbitmq.conf
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq /var/log/rabbitmq
export HOME=/var/lib/rabbitmq RABBITMQ_LOGS=-
exec setpriv --reuid rabbitmq --regid rabbitmq --init-groups /usr/lib/rabbitmq/bin/rabbitmq-server
EOF
  cat > "$context/Containerfile" <<EOF
FROM docker.io/library/debian:bookworm-slim
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null \\
 && rm -rf /var/lib/apt/lists/* /var/lib/rabbitmq/mnesia
COPY --chmod=755 docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
LABEL org.drover.recipe=$recipe
EXPOSE 5672
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["rabbitmq-server"]
EOF
  podman build --quiet --tag "$1" "$context" >/dev/null
}

ensure_image docker.io/library/debian:bookworm-slim build_debian
ensure_image docker.io/library/node:20-bookworm-slim build_node
ensure_image docker.io/library/postgres:15 build_postgres
ensure_image docker.io/library/rabbitmq:3 build_rabbitmq
log "base images ready"
echo "$CONF"
