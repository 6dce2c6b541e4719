# syntax=docker/dockerfile:1
# Two stages: build and check with the official Deno image, run the compiled binary on distroless.
# Not built in this project's CI (no Docker engine there, and `deno compile` downloads its runtime
# from Deno's servers, which CI cannot reach); the same entry point with the same permissions is
# proven by `deno task bundle` and tests/delivery/bundle_test.ts instead.

FROM denoland/deno:2.9.6 AS build
WORKDIR /app
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
RUN deno task check && deno task compile && ./dist/octi-connectors --help >/dev/null \
  && mkdir -p /app/data

# glibc and libgcc, which the compiled binary needs; no shell, no package manager; uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build --chown=65532:65532 /app/dist/octi-connectors /app/octi-connectors
# The dead letters (SENTINEL_DEAD_LETTER_FILE, default data/sentinel-dead-letters.json): the only
# folder the binary may write (--allow-write=data); a volume keeps them across container restarts.
COPY --from=build --chown=65532:65532 /app/data /app/data
VOLUME ["/app/data"]
# Numeric, so Kubernetes runAsNonRoot can verify it (65532 = distroless "nonroot").
USER 65532:65532
ENV SERVER_HOST=0.0.0.0 SERVER_PORT=8080
EXPOSE 8080
# No curl in distroless: the binary probes its own /readyz on SERVER_PORT.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/app/octi-connectors", "--healthcheck"]
# Exec form: the binary is PID 1 and receives SIGTERM (it saves its state and exits 0).
ENTRYPOINT ["/app/octi-connectors"]
