# The opsmesh image: one binary (controller, runtime, MCP servers, GPU node agent, gateway) at
# /usr/local/bin/opsmesh. Build with `make image` (docker or podman).
#
# The build stage's RUN lines are also run as ordinary commands on the host by
# `make image-build-check` (hack/image-build-check.sh, part of `make test`): keep each one a plain
# shell command that works from the repository root, writing only under /out.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# cgo: go-nvml loads libnvidia-ml.so.1 with dlopen at run time. Its header marks many NVML calls
# deprecated; these flags (as in the Makefile) silence warnings about calls opsmesh never makes.
ENV CGO_ENABLED=1
ENV CGO_CFLAGS="-O2 -g -Wno-deprecated-declarations"
ARG VERSION=dev
ARG COMMIT=unknown
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/opsmesh ./cmd/opsmesh
RUN /out/opsmesh version

# glibc (NVML is a glibc shared library) and coreutils' cp, which the ToolServer reconciler's
# stdio-bridge init container runs to copy this binary into a container image that lacks it.
FROM debian:bookworm-slim
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/opsmesh /usr/local/bin/opsmesh
# Non-root, and nothing written to the root filesystem: HOME is /tmp (the chart mounts an
# emptyDir there) and the embedded NATS server's data directory is a volume (--nats-data-dir).
ENV HOME=/tmp
USER 65532:65532
EXPOSE 8080 8081 9095 4222
ENTRYPOINT ["/usr/local/bin/opsmesh"]
CMD ["--help"]
