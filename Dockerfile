# syntax=docker/dockerfile:1
# introspectd container image: built with the locked dependency set, run as a non-root user on a
# distroless base (glibc, no shell, no package manager, no curl).
#
#   docker build -t introspectd .
#   docker run -p 8080:8080 -v "$PWD/my.toml:/etc/introspectd/introspectd.toml:ro" introspectd
#
# Configuration: mount a TOML file at /etc/introspectd/introspectd.toml (or point
# INTROSPECTD_CONFIG elsewhere) and override single keys with INTROSPECTD__SECTION__KEY variables.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source changes reuse the cached dependency layer.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src
COPY config ./config
COPY src ./src
# Make sure cargo sees the real sources as newer than the placeholder build.
RUN touch src/main.rs src/lib.rs \
    && cargo build --release --locked

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/introspectd /usr/local/bin/introspectd
ENV INTROSPECTD_CONFIG=/etc/introspectd/introspectd.toml \
    INTROSPECTD__SERVER__LISTEN=0.0.0.0:8080 \
    INTROSPECTD__LOG__FORMAT=json
# distroless "nonroot": uid/gid 65532.
USER 65532:65532
EXPOSE 8080
# Liveness only: readiness (/readyz) is for orchestrators that route traffic.
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/introspectd", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/introspectd"]
