#!/bin/sh
# The image's entrypoint: `drover <command>` with the configuration from the environment.
# A variable named <NAME>_FILE (DATABASE_URL_FILE, DROVER_PLATFORM_KEY_FILE,
# DROVER_ADMIN_TOKEN_FILE, DROVER_RABBITMQ_URL_FILE, ...) sets <NAME> to that file's content
# without its trailing newline: secrets come from files (compose secrets, /run/secrets/...)
# and never appear in the container's configuration. Then node replaces this shell (PID 1),
# so SIGTERM from `stop` reaches Drover, which drains and exits.
set -eu
for assignment in $(env | sed -n 's/^\(DATABASE_URL_FILE\|DROVER_[A-Z0-9_]*_FILE\)=.*/\1/p'); do
  name=${assignment%_FILE}
  eval "file=\${$assignment}"
  if [ ! -r "$file" ]; then
    echo "drover: $assignment names $file, which cannot be read" >&2
    exit 1
  fi
  eval "$name=\$(cat \"\$file\")"
  export "$name"
  unset "$assignment"
done
exec node /app/bin/drover.js "$@"
