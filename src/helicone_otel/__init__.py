"""helicone-otel: OpenTelemetry GenAI spans to Helicone log records through Kafka."""
