# Multi-stage: oven/bun builds the single binary; a slim Debian runs it as a non-root user.
FROM oven/bun:1.3 AS build
WORKDIR /src
COPY package.json package-lock.json bunfig.toml tsconfig.json ./
RUN bun install --frozen-lockfile --ignore-scripts || bun install --ignore-scripts
COPY src ./src
COPY migrations ./migrations
RUN bun build src/main.ts --compile --outfile dist/wxgate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /data wxgate && mkdir -p /data && chown wxgate /data
COPY --from=build /src/dist/wxgate /usr/local/bin/wxgate
USER wxgate
WORKDIR /data
ENV WXGATE_HOST=0.0.0.0 \
    WXGATE_PORT=3000 \
    WXGATE_DB=/data/wxgate.db
VOLUME ["/data"]
EXPOSE 3000
ENTRYPOINT ["/usr/local/bin/wxgate"]
CMD ["serve"]
