# One image for every role (api, bot, worker): ROLES chooses what a container runs (default: all three).
#
#   docker build -t tg-security-platform .
#   docker run --rm -p 3000:3000 -v tsp-data:/data \
#     -e MASTER_KEY -e JWT_SIGNING_KEYS -e REDIS_URL=redis://redis-host:6379 tg-security-platform
#
# NODE_ENV=production: MASTER_KEY and JWT_SIGNING_KEYS must be given (see .env.example), nothing is generated.
# The image has no redis-server, so REDIS_URL must point at a Redis (maxmemory-policy noeviction).
# Without DATABASE_URL the roles share embedded PGlite in /data, which serves one container only;
# docker-compose.yml runs split roles against PostgreSQL.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---------------------------------------------------------------- deps: every dependency, for building
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Uses the npm bundled with the base image (npm 10 for node 20); do not upgrade it here without checking
# that the newer npm accepts package-lock.json (`npm ci` fails when the lock is out of sync).
RUN npm ci --no-audit --no-fund

# ---------------------------------------------------------------- build: the Mini App into dist/webapp
FROM deps AS build
COPY . .
RUN npm run build

# ---------------------------------------------------------------- runtime
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data
WORKDIR /app
# Runtime dependencies only. tsx is one of them: the server runs its TypeScript directly.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
# The code stays owned by root (read-only to the process); only /data is writable by `node`.
COPY --from=build /app/tsconfig.json ./
COPY --from=build /app/shared ./shared
COPY --from=build /app/server ./server
COPY --from=build /app/bot ./bot
# The vulnerability scanner's shipped OSV advisory snapshot (SCANNER_ADVISORIES_PATH points elsewhere to refresh).
COPY --from=build /app/advisories ./advisories
COPY --from=build /app/dist/webapp ./dist/webapp
# Created and chowned before VOLUME so a fresh named volume inherits node:node ownership.
RUN mkdir -p /data && chown node:node /data
VOLUME ["/data"]
USER node
EXPOSE 3000
# node is PID 1 and server/main.ts installs SIGTERM/SIGINT handlers (graceful shutdown within
# SHUTDOWN_TIMEOUT_SECONDS, default 25 s), so no init is needed; give the container a stop timeout above
# that (docker stop -t 30, compose stop_grace_period: 30s). `docker run --init` works too.
STOPSIGNAL SIGTERM
# Liveness of the HTTP API: meaningful only for containers whose ROLES include api. Containers running
# only bot and/or worker listen on no port: disable it for them (docker run --no-healthcheck, or
# `healthcheck: { disable: true }` in compose, as docker-compose.yml does).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--import", "tsx", "server/main.ts"]
