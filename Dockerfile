# The Seam gateway. Configuration comes from SEAM_* environment variables
# (docs/configuration.md); point SEAM_PULSAR_URL and SEAM_PULSAR_ADMIN_URL at the cluster. The
# gRPC port needs a certificate (SEAM_TLS_CERT, SEAM_TLS_KEY, mounted) or SEAM_PLAINTEXT=true.
#   docker build -t seam . && docker run -p 50051:50051 -p 9464:9464 -v /etc/seam/tls:/tls:ro \
#     -e SEAM_TLS_CERT=/tls/server.pem -e SEAM_TLS_KEY=/tls/server.key \
#     -e SEAM_PULSAR_URL=pulsar://broker:6650 -e SEAM_PULSAR_ADMIN_URL=http://broker:8080 seam
# Memory: streams draw from SEAM_MEMORY_BUDGET_BYTES (64 MiB by default); `seam serve` sets V8's
# young generation (--max-semi-space-size=32) and the old generation's growing factor
# (--heap-growing-percent=300), replacing itself in place (same PID 1), and leaves the old
# space at V8's limit, which Node sizes from the container's memory limit. A hard cap:
# -e NODE_OPTIONS=--max-old-space-size=N, at a CPU cost (docs/operations.md, Memory).

# Production dependencies only; no install scripts (the native codecs ship prebuilt in
# per-platform npm packages).
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
COPY clients/ts/package.json clients/ts/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Node 24 runs the TypeScript sources directly (type stripping): nothing to compile.
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    SEAM_HOST=0.0.0.0 \
    SEAM_PORT=50051 \
    SEAM_METRICS_HOST=0.0.0.0 \
    SEAM_METRICS_PORT=9464 \
    SEAM_PULSAR_URL=pulsar://pulsar:6650 \
    SEAM_PULSAR_ADMIN_URL=http://pulsar:8080
WORKDIR /app
COPY --from=dependencies /app/node_modules node_modules
COPY package.json ./
COPY proto proto
COPY server server
COPY clients/ts/package.json clients/ts/
COPY clients/ts/src clients/ts/src
# The SDK (behind `seam read`) loads its own copy of the API, made by scripts/gen.sh outside.
COPY proto/seam clients/ts/proto/seam
# The base image's unprivileged `node` user, by id so runAsNonRoot policies can verify it.
USER 1000:1000
EXPOSE 50051 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["node", "server/healthcheck.ts"]
ENTRYPOINT ["node", "server/cli.ts"]
CMD ["serve"]
