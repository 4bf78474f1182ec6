#!/usr/bin/env bash
# Builds bench/peers/build/otelcol-kafka with the OpenTelemetry Collector builder (Go toolchain needed).
set -euo pipefail
cd "$(dirname "$0")"
BUILDER_VERSION=${BUILDER_VERSION:-v0.165.0}
[ -x build/otelcol-kafka ] && { echo "build/otelcol-kafka exists"; exit 0; }
GOFLAGS=-mod=mod go run "go.opentelemetry.io/collector/cmd/builder@${BUILDER_VERSION}" --config builder-config.yaml
