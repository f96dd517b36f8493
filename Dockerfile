# syntax=docker/dockerfile:1
# One image recipe for every service:
#
#	docker build --build-arg SERVICE=gateway -t vpnbot/gateway .
#
# Each service module builds alone (GOWORK=off) from its own tree plus pkg/
# and proto/, which its go.mod replaces with ../../pkg and ../../proto. The
# binary is static (CGO_ENABLED=0) and runs as uid 65532 on distroless, with
# /healthcheck (tools/cmd/healthcheck) beside it for docker-compose, as the
# image has no shell or curl.
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
ARG SERVICE
# The build the binary reports (SERVICE_START, vpnbot_build_info): pass
# --build-arg VERSION=$(git describe --always --dirty) --build-arg
# REVISION=$(git rev-parse HEAD); the build context has no .git to read
# them from, so unset they are "dev".
ARG VERSION=""
ARG REVISION=""
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=<a folder of services/>"; exit 1; }
ENV CGO_ENABLED=0 GOWORK=off GOFLAGS=-trimpath
WORKDIR /src

# The modules' requirements first: this layer is rebuilt only when they change.
COPY pkg/go.mod pkg/go.sum pkg/
COPY proto/go.mod proto/go.sum proto/
COPY services/${SERVICE}/go.mod services/${SERVICE}/go.sum services/${SERVICE}/
RUN --mount=type=cache,target=/go/pkg/mod \
    cd services/${SERVICE} && go mod download

COPY pkg/ pkg/
COPY proto/ proto/
COPY services/${SERVICE}/ services/${SERVICE}/
# healthcheck imports only the standard library: no download for it.
COPY tools/go.mod tools/
COPY tools/cmd/healthcheck/ tools/cmd/healthcheck/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd services/${SERVICE} && go build -o /out/service \
        -ldflags="-s -w -X github.com/vpnbot/vpnbot/pkg/buildinfo.version=${VERSION} -X github.com/vpnbot/vpnbot/pkg/buildinfo.revision=${REVISION}" . && \
    cd /src/tools && go build -ldflags="-s -w" -o /out/healthcheck ./cmd/healthcheck

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/service /service
COPY --from=build /out/healthcheck /healthcheck
# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/service"]
