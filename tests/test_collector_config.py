"""Configuration: the shipped file is valid, substitution works, and every bad file under
testdata/ is refused with an error that names the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from helicone_otel.collector import ConfigError, load_config

TESTDATA = Path(__file__).parent / "testdata"
BAD = {
    "bad-protocol-typo.yaml": "receivers.otlp.protocols.grcp: unknown key",
    "bad-endpoint.yaml": "receivers.otlp.protocols.http.endpoint: expected host:port",
    "bad-encoding.yaml": "exporters.kafka.encoding: 'avro' is not one of",
    "bad-size.yaml": "extensions.file_storage.max_bytes: expected a size",
    "bad-pipeline-exporter.yaml": "'kafka/missing' is not defined under exporters",
    "bad-redact-pattern.yaml": "processors.helicone.redact_patterns",
    "bad-env.yaml": "HELICONE_OTEL_UNSET_VAR is not set",
    "bad-tls-file.yaml": "receivers.otlp.protocols.http.tls.cert_file: no such file",
    "bad-yaml.yaml": "not valid YAML",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_config_names_the_key(name: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(TESTDATA / name, environ={})
    assert BAD[name] in str(err.value)


def test_every_bad_file_is_covered() -> None:
    assert sorted(p.name for p in TESTDATA.glob("bad-*.yaml")) == sorted(BAD)


def test_the_command_refuses_a_bad_config_with_exit_2() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "helicone_otel.cli", "collector", "--config", str(TESTDATA / "bad-encoding.yaml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "exporters.kafka.encoding" in proc.stderr


def test_shipped_config_is_valid_with_its_defaults() -> None:
    config = load_config(ROOT / "otel-config.yaml", environ={})
    assert (config.receiver.grpc_endpoint, config.receiver.http_endpoint) == ("127.0.0.1:4317", "127.0.0.1:4318")
    [exporter] = config.exporters
    assert (exporter.topic, exporter.encoding, exporter.dead_letter_topic) == (
        "helicone-llm-logs", "helicone_json", "helicone-llm-logs-dlq",
    )  # fmt: skip
    assert exporter.max_message_bytes == 1_000_000 and exporter.pass_api_keys
    assert config.spool is not None and config.spool.fsync == "always" and config.spool.max_bytes == 1024**3
    assert config.pipelines[0].options.resource_properties == ("service.name",)
    assert (config.health_endpoint, config.metrics_endpoint) == ("127.0.0.1:13133", "127.0.0.1:8888")
    assert config.workers == 0  # auto: one per core
    assert load_config(ROOT / "otel-config.yaml", environ={"COLLECTOR_WORKERS": "3"}).workers == 3


def test_env_substitution_sizes_durations_and_two_exporters(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        """
receivers: {otlp: {protocols: {grpc: {endpoint: '${env:G:-127.0.0.1:1234}'}}, max_request_bytes: 8MiB}}
exporters:
  kafka: {brokers: '${env:B}', topic: '${env:T:-logs}', producer: {request_timeout: 1500ms}}
  kafka/raw: {brokers: [a:1], topic: spans, encoding: otlp_proto, partition_by: trace_id}
service:
  pipelines:
    traces: {receivers: [otlp], exporters: [kafka, kafka/raw]}
"""
    )
    config = load_config(path, environ={"B": "a:1,b:2"})
    assert config.receiver.grpc_endpoint == "127.0.0.1:1234" and config.receiver.http_endpoint is None
    assert config.receiver.max_request_bytes == 8 * 1024 * 1024
    main, raw = config.exporters
    assert (main.brokers, main.topic, main.dead_letter_topic) == (("a:1", "b:2"), "logs", "logs-dlq")
    assert main.producer.request_timeout == 1.5
    assert (raw.name, raw.encoding, raw.partition_by) == ("kafka/raw", "otlp_proto", "trace_id")
    assert config.spool is None  # no file_storage: acknowledged once Kafka acknowledged


def test_bare_dollar_brace_variables_expand_as_the_collector_expands_them(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("exporters: {kafka: {brokers: '${KAFKA_BROKERS}', topic: '${KAFKA_TOPIC:-logs}'}}\n")
    (main,) = load_config(path, environ={"KAFKA_BROKERS": "k1:9092,k2:9092"}).exporters
    assert (main.brokers, main.topic) == (("k1:9092", "k2:9092"), "logs")
    with pytest.raises(ConfigError, match="KAFKA_BROKERS is not set"):
        load_config(path, environ={})


def test_an_empty_file_gives_the_dataclass_defaults(tmp_path: Path) -> None:
    from helicone_otel.collector import CollectorConfig
    from helicone_otel.forwarder import ForwarderConfig
    from helicone_otel.forwarder.config import load

    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty, environ={}) == CollectorConfig()
    assert load(empty) == ForwarderConfig()


def test_sections_allow_exactly_their_fields_and_closed_sets_name_their_choices(tmp_path: Path) -> None:
    """Allowed keys, defaults and closed sets come from the dataclass fields: a field's key is read, a key
    that is no field is refused, and a Literal lists its choices in the error."""
    from helicone_otel.config_reader import section_keys
    from helicone_otel.kafka.output import ExporterConfig, ProducerConfig

    assert section_keys(ExporterConfig) == {
        "brokers", "topic", "encoding", "dead_letter_topic", "partition_by", "max_message_bytes", "pass_api_keys",
        "join_topic", "join_wait", "producer", "sasl", "tls",
    }  # fmt: skip
    cases = {
        "exporters: {kafka: {partition_by: span}}": "exporters.kafka.partition_by: 'span' is not one of record_id, "
        "trace_id",
        "exporters: {kafka: {producer: {compression: brotli}}}": "exporters.kafka.producer.compression: 'brotli' is "
        "not one of none, gzip, snappy, lz4, zstd",
        "exporters: {kafka: {producer: {linger: 5}}}": "exporters.kafka.producer.linger: unknown key",
        "extensions: {file_storage: {fsync: sometimes}}": "extensions.file_storage.fsync: 'sometimes' is not one of",
        "forwarder: {concurrency: 0}": "forwarder.concurrency: expected an integer >= 1",
        "forwarder: {admin_address: nowhere}": "forwarder.admin_address: expected host:port",
    }
    from helicone_otel.forwarder.config import load as load_forwarder

    for text, message in cases.items():
        path = tmp_path / "c.yaml"
        path.write_text(text)
        with pytest.raises(ConfigError) as err:
            load_forwarder(path) if text.startswith("forwarder") else load_config(path, environ={})
        assert message in str(err.value), text
    path = tmp_path / "ok.yaml"
    path.write_text("exporters: {kafka: {partition_by: trace_id, producer: {max_batch_bytes: 2MiB, linger_ms: 0}}}\n"
                    "forwarder: {admin_address: ''}")  # fmt: skip
    [exporter] = load_config(path, environ={}).exporters
    assert exporter.partition_by == "trace_id"
    assert exporter.producer == ProducerConfig(max_batch_bytes=2 * 1024 * 1024, linger_ms=0)
    assert load_forwarder(path).admin_address is None


def test_the_two_stage_examples_are_valid() -> None:
    ingest = load_config(ROOT / "examples" / "two-stage" / "ingest.yaml", environ={})
    mapping = load_config(ROOT / "examples" / "two-stage" / "mapping.yaml", environ={})
    assert ingest.kafka_receiver is None and ingest.receiver.http_endpoint == "127.0.0.1:4318"
    [spans] = ingest.exporters
    assert (spans.topic, spans.encoding, spans.pass_api_keys) == ("helicone-otel-spans", "otlp_proto", True)
    assert mapping.kafka_receiver is not None and mapping.kafka_receiver.topic == spans.topic
    assert (mapping.receiver.grpc_endpoint, mapping.receiver.http_endpoint, mapping.spool) == (None, None, None)
    [records] = mapping.exporters
    assert (records.topic, records.encoding) == ("helicone-llm-logs", "helicone_json")
    bad = {"receivers": {"kafka": {}}, "service": {"pipelines": {"traces": {"receivers": ["otlp"]}}}}
    from helicone_otel.collector.config import parse_config

    with pytest.raises(ConfigError, match=r"service.pipelines.traces.receivers: every pipeline takes all"):
        parse_config(bad)
