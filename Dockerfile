# Multi-stage: oven/bun builds the single binary; a slim Debian runs it as a non-root user.
# With Docker Compose (compose.yaml, next to this file): `cp deploy/wxgate.env.example wxgate.env`, edit it,
# `docker compose up -d --build`. Without Compose:
#   docker build -t wxgate .
#   docker run -d -p 127.0.0.1:3000:3000 -v wxgate-data:/data --env-file /etc/wxgate/wxgate.env -e WXGATE_DB=/data/wxgate.db wxgate
# (an env file made from deploy/wxgate.env.example sets WXGATE_DB for systemd: -e puts it back to /data.
# Do not set WXGATE_HOST in it: the image listens on 0.0.0.0, 127.0.0.1 would be unreachable from outside.)
# CLI commands run in the container as the server's user (USER below), on its database:
#   docker compose exec wxgate wxgate apikey create --name crm --scopes send,bindcode,read
# Never with `-u root`: SQLite's -wal/-shm files would then belong to root and the server could not write.

# The Bun that builds the binary is the one the binary runs on: keep it at the version of package-lock.json
# (the "bun" devDependency), which the tests run with.
ARG BUN_VERSION=1.4.5
FROM oven/bun:${BUN_VERSION} AS build
WORKDIR /src
COPY package.json package-lock.json bunfig.toml tsconfig.json ./
# Bun reads package-lock.json (it migrates it in memory; no bun.lock is kept), and --frozen-lockfile stops
# the build when package.json and the lockfile disagree: the image gets the versions the tests ran with.
# --production: the build needs only the dependencies (the compiler is the image's Bun).
RUN bun install --frozen-lockfile --production --ignore-scripts
COPY src ./src
COPY migrations ./migrations
# No .env autoload in the binary: wxgate reads .env itself, literally (SPEC §2).
RUN bun build src/main.ts --compile --no-compile-autoload-dotenv --outfile dist/wxgate && ./dist/wxgate --version

FROM debian:bookworm-slim
# ca-certificates for HTTPS to api.weixin.qq.com; tzdata for readable local times. The binary needs only glibc.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin wxgate \
 && mkdir -p /data && chown wxgate:wxgate /data && chmod 0750 /data
COPY --from=build /src/dist/wxgate /usr/local/bin/wxgate
USER wxgate
WORKDIR /data
ENV WXGATE_HOST=0.0.0.0 \
    WXGATE_PORT=3000 \
    WXGATE_DB=/data/wxgate.db
VOLUME ["/data"]
EXPOSE 3000
# No curl or wget in this image, and the binary has no HTTP client command: bash (part of every Debian
# image) asks /readyz over /dev/tcp. 200 when the server answers and its database does; Docker's
# --timeout ends a probe that hangs. No --start-period: the first probe runs 30 s after the start, and the
# server is up within a second or two (dockerfilelint 1.8 also misreads "--start-period" as "--start").
# compose.yaml runs the same probe (start_period there).
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${WXGATE_PORT:-3000} && printf 'GET /readyz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r proto status rest <&3 && [ \"$status\" = 200 ]"]
# SIGTERM (docker stop) drains requests in flight and exits 0 within 10 s, docker's default grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/wxgate"]
CMD ["serve"]
