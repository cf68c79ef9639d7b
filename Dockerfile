# Build a static binary, then ship it on a minimal base as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/promptgate ./cmd/promptgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/promptgate /usr/local/bin/promptgate
ENV PROMPTGATE_ADDR=:8080 PROMPTGATE_DATA_DIR=/home/nonroot/promptgate
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/promptgate"]
CMD ["serve"]
