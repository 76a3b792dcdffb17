#!/usr/bin/env bash
# Writes the secrets deploy/compose.yaml reads, one file each, into FOLDER (default
# deploy/secrets; made 0700): postgres_password, rabbitmq_password, database_url, rabbitmq_url,
# platform_key (32 random bytes, base64: encrypts stored SSH credentials; keep it, or they
# cannot be read again) and admin_token (the platform operator's token). A file that exists is
# kept, so running it again changes nothing. The files are 0644 inside the 0700 folder: the
# containers' users (Drover runs as uid 10001) must read them through their bind mounts.
#
# Where Drover's containers reach PostgreSQL and RabbitMQ (the compose network's names):
#   DROVER_POSTGRES_ADDRESS=postgres:5432  DROVER_RABBITMQ_ADDRESS=rabbitmq:5672
set -euo pipefail

folder=${1:-"$(dirname "$0")/secrets"}
postgres_address=${DROVER_POSTGRES_ADDRESS:-postgres:5432}
rabbitmq_address=${DROVER_RABBITMQ_ADDRESS:-rabbitmq:5672}

mkdir -p "$folder"
chmod 700 "$folder"
umask 022

random() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
# A URL-safe random word (hex), for passwords that go into URLs.
random_hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
write() {
  local name=$1 value=$2
  if [[ -e "$folder/$name" ]]; then return; fi
  printf '%s\n' "$value" > "$folder/$name"
  chmod 644 "$folder/$name"
  echo "wrote $folder/$name"
}

write postgres_password "$(random_hex 24)"
write rabbitmq_password "$(random_hex 24)"
write database_url "postgres://drover:$(< "$folder/postgres_password")@$postgres_address/drover"
write rabbitmq_url "amqp://drover:$(< "$folder/rabbitmq_password")@$rabbitmq_address"
write platform_key "$(random 32)"
write admin_token "$(random_hex 24)"
