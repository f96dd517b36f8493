# One image recipe for every service: docker build --build-arg SERVICE=gateway .
# Each service module builds alone (GOWORK=off) from its own tree plus pkg/ and proto/.
FROM golang:1.26 AS build
ARG SERVICE
WORKDIR /src
COPY pkg/ pkg/
COPY proto/ proto/
COPY services/${SERVICE}/ services/${SERVICE}/
WORKDIR /src/services/${SERVICE}
ENV CGO_ENABLED=0 GOWORK=off
RUN go build -trimpath -ldflags="-s -w" -o /out/service .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/service /service
USER nonroot:nonroot
ENTRYPOINT ["/service"]
