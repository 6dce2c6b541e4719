# syntax=docker/dockerfile:1
# Two stages: build and check with the official Deno image, run one static-ish binary on distroless.
# Not built in this project's CI (no Docker engine there); the same entry point is proven by
# `deno task bundle` and the bundle smoke test instead.

FROM denoland/deno:2.9.6 AS build
WORKDIR /app
COPY deno.json deno.lock ./
RUN deno install --frozen
COPY . .
RUN deno task check && deno task compile

FROM gcr.io/distroless/cc-debian12:nonroot
WORKDIR /app
COPY --from=build --chown=nonroot:nonroot /app/dist/octi-connectors /app/octi-connectors
USER nonroot
ENV SERVER_HOST=0.0.0.0 SERVER_PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/app/octi-connectors", "--healthcheck"]
ENTRYPOINT ["/app/octi-connectors"]
