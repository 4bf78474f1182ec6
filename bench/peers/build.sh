#!/usr/bin/env bash
# Builds bench/peers/build/otelcol-kafka with the OpenTelemetry Collector builder (Go toolchain needed),
# again whenever builder-config.yaml changes.
set -euo pipefail
cd "$(dirname "$0")"
BUILDER_VERSION=${BUILDER_VERSION:-v0.165.0}
stamp=$(sha256sum builder-config.yaml | cut -d' ' -f1)
if [ -x build/otelcol-kafka ] && [ "$(cat build/.config-sha256 2>/dev/null)" = "$stamp" ]; then
    echo "build/otelcol-kafka is up to date"
    exit 0
fi
GOFLAGS=-mod=mod go run "go.opentelemetry.io/collector/cmd/builder@${BUILDER_VERSION}" --config builder-config.yaml
echo "$stamp" > build/.config-sha256
