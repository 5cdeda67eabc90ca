# syntax=docker/dockerfile:1
# chaperone's image: built with the Rust toolchain, run on distroless (glibc,
# CA certificates, no shell, no package manager) as the non-root user 65532.
#
#   docker build -t registry.example.com/chaperone:0.1.0 .
#
# The chart (helm/chaperone) runs it with a read-only root filesystem, every
# capability dropped and RuntimeDefault seccomp; chaperone writes no files.
# Pin both base images by digest in your own builds.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
# aws-lc-sys builds with the image's C compiler; build.rs compiles the protos
# with protox, so no protoc is needed.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin chaperone \
 && install -D -m 0755 target/release/chaperone /out/chaperone

# Debian 12 like the builder, so the glibc the binary links against is there.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="chaperone" \
      org.opencontainers.image.description="Envoy ext_authz and ext_proc service: decides, tokenizes and scrubs every hop" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/chaperone /usr/local/bin/chaperone
USER 65532:65532
# 9191 gRPC (ext_authz, ext_proc), 9192 admin HTTP, 9190 plaintext gRPC health.
EXPOSE 9190 9191 9192
ENTRYPOINT ["/usr/local/bin/chaperone"]
CMD ["serve"]
