"""A real single-node Apache Kafka (KRaft, broker+controller) for development and tests.

The broker jars come from Maven Central through `mvn` (cached in ~/.m2; the resolved classpath is
cached beside it), storage is formatted in a temp dir, and the broker listens on loopback only.
Nothing here needs the project installed: `python3 tools/kafka/localkafka.py` runs it by hand.

The Kafka version is one variable: `KAFKA_VERSION` (default below), so the suite can also run on 3.9.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

DEFAULT_KAFKA_VERSION = "4.1.1"
HERE = Path(__file__).resolve().parent
CACHE_DIR = Path(os.environ.get("HELICONE_OTEL_CACHE", Path.home() / ".cache" / "helicone-otel"))


class KafkaStartError(RuntimeError):
    """The broker could not be resolved, formatted or started; the message says which step and why."""


def kafka_version() -> str:
    return os.environ.get("KAFKA_VERSION", DEFAULT_KAFKA_VERSION)


def resolve_classpath(version: str) -> str:
    """Return the broker's runtime classpath, resolving it with mvn the first time."""
    # The pom's hash is part of the name: a changed pom resolves again.
    digest = hashlib.sha256((HERE / "pom.xml").read_bytes()).hexdigest()[:12]
    cached = CACHE_DIR / f"kafka-{version}-{digest}.classpath"
    if cached.exists():
        classpath = cached.read_text().strip()
        if classpath and all(Path(jar).exists() for jar in classpath.split(os.pathsep)):
            return classpath
    if shutil.which("mvn") is None:
        raise KafkaStartError("mvn is not on PATH: it is needed once to fetch the Kafka broker jars")
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    out = cached.with_suffix(".tmp")
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(HERE / "pom.xml"),
        "dependency:build-classpath",
        f"-Dkafka.version={version}",
        f"-Dmdep.outputFile={out}",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        output = proc.stdout[-3000:] + proc.stderr[-3000:]
        raise KafkaStartError(f"mvn could not resolve org.apache.kafka:kafka_2.13:{version}:\n{output}")
    out.replace(cached)
    return cached.read_text().strip()


_HANDED_OUT: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range. A port bound to 0 comes from that range, where any
    outgoing connection (a Kafka client's, say) may take it before the server that was handed it binds it."""
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(10000, low) if low > 11000 else 0
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            found: int = s.getsockname()[1]
        _HANDED_OUT.add(found)
        return found
    raise OSError("no free loopback port below the ephemeral range")


def _cluster_id() -> str:
    # Kafka's Uuid.toString(): URL-safe base64 of 16 bytes without padding. Like Kafka's own
    # Uuid.randomUuid(), never one starting with "-", which the command line would take for an option.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def broker_count(host: str, port: int, timeout: float = 2.0) -> int:
    """Ask a broker for cluster metadata (Metadata v12, no topics); return how many brokers it lists.

    Hand-rolled so that waiting for the broker needs no Kafka client library.
    """
    client_id = b"localkafka"
    header = struct.pack(">hhih", 3, 12, 1, len(client_id)) + client_id + b"\x00"
    body = b"\x01" + b"\x00" + b"\x00" + b"\x00"  # topics=[], auto_create=false, authorized_ops=false, tags
    request = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size_bytes = _recv_exact(sock, 4)
        data = _recv_exact(sock, struct.unpack(">i", size_bytes)[0])
    pos = 4  # correlation id
    _, pos = _uvarint(data, pos)  # response header tagged fields
    pos += 4  # throttle_time_ms
    brokers_plus_one, _ = _uvarint(data, pos)
    return max(brokers_plus_one - 1, 0)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return buf


_LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = {level}
rootLogger.appenderRef.file.ref = file
"""


class LocalKafka:
    """One KRaft broker+controller on loopback. Use as a context manager, or start()/stop()."""

    def __init__(
        self,
        *,
        version: str | None = None,
        port: int = 0,
        controller_port: int = 0,
        workdir: Path | None = None,
        auto_create_topics: bool = False,
        heap: str = "768m",
    ) -> None:
        self.version = version or kafka_version()
        self.port = port or free_port()
        self.controller_port = controller_port or free_port()
        self.host = "127.0.0.1"
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="helicone-otel-kafka-"))
        self.auto_create_topics = auto_create_topics
        self.heap = heap
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    def _write_config(self) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.workdir / "data"),
            "num.partitions": "1",
            "auto.create.topics.enable": str(self.auto_create_topics).lower(),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "message.max.bytes": str(8 * 1024 * 1024),
        }
        path = self.workdir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.workdir / "log4j2.properties").write_text(
            _LOG4J2.format(log=self.log_path, level=os.environ.get("KAFKA_LOG_LEVEL", "INFO"))
        )
        return path

    def _java(self, classpath: str, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise KafkaStartError("java is not on PATH: the Kafka broker needs Java 17+")
        return [
            java,
            "-Xms128m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.workdir}",
            "-cp",
            classpath,
            *args,
        ]

    def start(self, timeout: float = 90.0) -> LocalKafka:
        classpath = resolve_classpath(self.version)
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self._write_config()
        if (self.workdir / "data" / "meta.properties").exists():  # a restart keeps its data
            return self._launch(classpath, config, timeout)
        fmt = subprocess.run(
            self._java(classpath, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(config)),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            raise KafkaStartError(f"formatting KRaft storage failed:\n{fmt.stdout}{fmt.stderr}")
        return self._launch(classpath, config, timeout)

    def _launch(self, classpath: str, config: Path, timeout: float) -> LocalKafka:
        out = open(self.workdir / "stdout.log", "wb")  # noqa: SIM115 - owned by the child process
        self.proc = subprocess.Popen(
            self._java(classpath, "kafka.Kafka", str(config)),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise KafkaStartError(f"broker exited with {self.proc.returncode}:\n{self.tail_logs()}")
            try:
                if broker_count(self.host, self.port) >= 1:
                    return self
            except (OSError, IndexError, struct.error):
                pass
            time.sleep(0.2)
        self.stop()
        raise KafkaStartError(f"broker did not answer metadata within {timeout:.0f}s:\n{self.tail_logs()}")

    def tail_logs(self, lines: int = 40) -> str:
        text = ""
        for name in ("stdout.log", "server.log"):
            p = self.workdir / name
            if p.exists():
                text += "".join(p.read_text(errors="replace").splitlines(keepends=True)[-lines:])
        return text

    def stop(self, timeout: float = 30.0, keep_data: bool = False) -> None:
        """Controlled shutdown (SIGTERM), SIGKILL after `timeout`; a temp workdir is removed unless
        `keep_data` (then `start()` brings the same broker back with its topics and records)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self._own_workdir and not keep_data:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalKafka:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a local single-node Kafka until Ctrl-C.")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--version", default=None, help=f"Kafka version (default {kafka_version()})")
    parser.add_argument("--resolve-only", action="store_true", help="fetch the jars and print the classpath")
    args = parser.parse_args(argv)
    if args.resolve_only:
        print(resolve_classpath(args.version or kafka_version()))
        return 0
    with LocalKafka(version=args.version, port=args.port, auto_create_topics=True) as kafka:
        print(f"kafka {kafka.version} ready on {kafka.bootstrap_servers}", flush=True)
        signals = {signal.SIGINT, signal.SIGTERM}
        signal.pthread_sigmask(signal.SIG_BLOCK, signals)  # after the broker started: it must not inherit
        signal.sigwait(signals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
