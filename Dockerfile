# usersvc: build the single executable, then run it alone in a slim image.
#   docker build -t usersvc .
#   docker run -p 8000:8000 -v usersvc-data:/data usersvc        # embedded database in /data
#   docker run -p 8000:8000 -e DATABASE_URL=postgres://… usersvc  # PostgreSQL

# Build stage: Node + npm, not oven/bun. Bun is pinned as an npm devDependency and
# package-lock.json is the lockfile (there is no bun.lock), so `npm ci` installs
# exactly the locked tree, Bun 1.4.5 included, and `npm run build` runs
# scripts/build.ts with it. Bookworm here and in the runtime stage: same glibc.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Not --ignore-scripts: the bun package's postinstall links the platform binary.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY scripts ./scripts
COPY migrations ./migrations
COPY src ./src
RUN npm run build && ./dist/usersvc --version

# Runtime stage: the binary is dynamically linked against glibc (libc, libm,
# libpthread, libdl; `ldd dist/usersvc`) and dlopens libc.so.6 for flock(2) on
# the data directory and to lower the hashing threads' priority. Bun carries its
# own CA certificates, so none are installed.
FROM debian:bookworm-slim
# tini runs as PID 1: it forwards SIGTERM to usersvc and reaps orphans, such as
# the children of a script hook, which usersvc kills with the hook's process
# group but which are no longer its own children to wait for.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*
# Fixed ids, so a bind-mounted /data can be prepared with `chown 10001:10001`.
RUN groupadd --system --gid 10001 usersvc \
    && useradd --system --uid 10001 --gid usersvc --home-dir /nonexistent --shell /usr/sbin/nologin usersvc \
    && mkdir /data && chown usersvc:usersvc /data && chmod 700 /data
COPY --from=build /src/dist/usersvc /usr/local/bin/usersvc
ENV HOST=0.0.0.0 PORT=8000 USERSVC_DATA_DIR=/data
# The embedded database (and its control socket) live here; unused with DATABASE_URL.
VOLUME /data
USER usersvc
EXPOSE 8000
# The image has no curl or wget and usersvc has no HTTP client command; bash's
# /dev/tcp asks /readyz (database reachable and migrated) for its status line.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD bash -c 'exec 3<>/dev/tcp/127.0.0.1/"${PORT:-8000}" && printf "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3 && read -r -t 5 _ code _ <&3 && [ "$code" = 200 ]'
# serve applies pending migrations before it listens; SIGTERM drains requests and exits 0.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/usersvc"]
CMD ["serve"]
