#!/usr/bin/env bash
# Brings up RabbitMQ for the RabbitMQ dispatch tests (Debian/Ubuntu), idempotently:
#  - already answering AMQP on 127.0.0.1:5672: does nothing;
#  - installed but stopped: starts it through its init script (it runs as user rabbitmq);
#  - not installed: installs the distribution's rabbitmq-server package, then starts it.
# Then waits until it answers AMQP. The tests log in as guest/guest, which RabbitMQ allows
# from loopback only (its default). For development and CI machines.
set -euo pipefail

host=127.0.0.1
port=5672

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# True when something on host:port answers the AMQP 0-9-1 protocol header with a frame
# (Connection.Start begins with frame type 1).
answers() {
  local reply
  reply=$(timeout 5 bash -c "exec 3<>/dev/tcp/$host/$port && printf 'AMQP\x00\x00\x09\x01' >&3 && head -c 1 <&3 | od -An -tx1" 2>/dev/null) || return 1
  [ "$(echo "$reply" | tr -d ' ')" = "01" ]
}

wait_until_ready() {
  for _ in $(seq 1 60); do
    if answers; then return 0; fi
    sleep 1
  done
  echo "RabbitMQ did not answer on $host:$port within 60 s; see /var/log/rabbitmq/" >&2
  return 1
}

if answers; then
  echo "RabbitMQ is already answering on $host:$port"
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "RabbitMQ is not installed; installing it"
  as_root apt-get update
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=600 rabbitmq-server
fi

if ! answers; then
  echo "starting RabbitMQ"
  # The package may already be starting it: a failed start is judged by the wait below.
  if [ -x /etc/init.d/rabbitmq-server ]; then
    as_root /etc/init.d/rabbitmq-server start || echo "the init script's start failed; waiting in case RabbitMQ is already starting" >&2
  else
    as_root rabbitmq-server -detached || echo "rabbitmq-server -detached failed; waiting in case RabbitMQ is already starting" >&2
  fi
fi
wait_until_ready
echo "RabbitMQ is answering on $host:$port"
