"""Kafka client construction, in one place for every component: which brokers, with which SASL and TLS,
and the settings every producer here needs (idempotent, acks=all); plus starting a client while Kafka
may still be down, topic creation, and a stop that does not hang when Kafka is gone."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, for_code
from aiokafka.helpers import create_ssl_context

from helicone_otel.config_reader import SaslConfig, TlsConfig
from helicone_otel.errors import Unavailable
from helicone_otel.retry import Backoff, OnRetry, retry

log = logging.getLogger(__name__)
_TOPIC_EXISTS = 36
_MAX_MESSAGE_BYTES = "max.message.bytes"


def security_args(sasl: SaslConfig | None, tls: TlsConfig | None) -> dict[str, Any]:
    """aiokafka client arguments for SASL and TLS."""
    ssl_context = None
    if tls is not None:
        ssl_context = create_ssl_context(cafile=tls.ca_file, certfile=tls.cert_file, keyfile=tls.key_file)
    protocol = {(False, False): "PLAINTEXT", (False, True): "SSL", (True, False): "SASL_PLAINTEXT"}.get(
        (sasl is not None, tls is not None), "SASL_SSL"
    )
    return {
        "security_protocol": protocol,
        "ssl_context": ssl_context,
        "sasl_mechanism": sasl.mechanism if sasl else "PLAIN",
        "sasl_plain_username": sasl.username if sasl else None,
        "sasl_plain_password": sasl.password if sasl else None,
    }


@dataclass(frozen=True)
class Cluster:
    """Where a component's Kafka is and how to reach it (the `brokers`, `sasl` and `tls` keys of its
    config section); every Kafka client here is made by one of these methods."""

    brokers: tuple[str, ...]
    sasl: SaslConfig | None = None
    tls: TlsConfig | None = None

    def _args(self, client_id: str) -> dict[str, Any]:
        return {"bootstrap_servers": list(self.brokers), "client_id": client_id, **security_args(self.sasl, self.tls)}

    def producer(self, client_id: str, **settings: Any) -> AIOKafkaProducer:
        """An idempotent producer waiting for every in-sync replica: a retried send never duplicates
        within a session and an acknowledged record survives a broker's loss."""
        return AIOKafkaProducer(enable_idempotence=True, acks="all", **self._args(client_id), **settings)

    def consumer(self, client_id: str, group_id: str | None, **settings: Any) -> AIOKafkaConsumer:
        """A group consumer that commits only what its caller says is done, from the earliest offset
        when the group is new (unless `settings` say otherwise); without a group, one that reads the
        partitions it is assigned."""
        defaults: dict[str, Any] = {"enable_auto_commit": False, "auto_offset_reset": "earliest"}
        return AIOKafkaConsumer(group_id=group_id, **self._args(client_id), **{**defaults, **settings})

    def admin(self, client_id: str) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self._args(client_id))

    async def ensure_topic(self, topic: str, client_id: str, partitions: int = 1,
                           configs: dict[str, str] | None = None) -> bool:  # fmt: skip
        """Create `topic` when it does not exist (as Kafka Connect does for its dead-letter queue), with
        up to three replicas, `partitions` and topic `configs` (such as `max.message.bytes`). Return
        False, saying why in the log, when it neither exists nor can be created (no permission, Kafka
        down)."""
        admin = self.admin(client_id)
        try:
            await admin.start()
            if topic in await admin.list_topics():
                return True
            brokers = len((await admin.describe_cluster())["brokers"])
            new = NewTopic(topic, num_partitions=partitions, replication_factor=min(3, brokers), topic_configs=configs)
            response = await admin.create_topics([new])
            codes = [error[1] for error in response.topic_errors if error[1] not in (0, _TOPIC_EXISTS)]
            if codes:
                raise for_code(codes[0])()
            log.info("created the topic %s", topic)
            return True
        except (KafkaError, OSError) as exc:
            log.warning("topic %s does not exist and could not be created: %r", topic, exc)
            return False
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()

    async def partitions(self, topic: str, client_id: str) -> list[int]:
        """The partitions of `topic`, in order; ValueError when it does not exist."""
        admin = self.admin(client_id)
        await admin.start()
        try:
            [described] = await admin.describe_topics([topic])
        finally:
            await admin.close()
        partitions = sorted(p["partition"] for p in described.get("partitions") or [])
        if described.get("error_code") or not partitions:
            raise ValueError(f"topic {topic!r} does not exist")
        return partitions

    async def max_message_bytes(self, topic: str, client_id: str) -> int | None:
        """The largest record `topic` takes (its `max.message.bytes`, else the broker's), or None when
        it cannot be read (no such topic, no permission, Kafka down)."""
        admin = self.admin(client_id)
        try:
            await admin.start()
            wanted = ConfigResource(ConfigResourceType.TOPIC, topic, {_MAX_MESSAGE_BYTES: None})
            for response in await admin.describe_configs([wanted]):
                for error, _, _, name, entries in response.resources:
                    values = {entry[0]: entry[1] for entry in entries}
                    if name == topic and not error and values.get(_MAX_MESSAGE_BYTES, "").isdigit():
                        return int(values[_MAX_MESSAGE_BYTES])
            return None
        except (KafkaError, OSError) as exc:
            log.warning("cannot read the %s of topic %s: %r", _MAX_MESSAGE_BYTES, topic, exc)
            return None
        finally:
            with contextlib.suppress(KafkaError, OSError):
                await admin.close()


class _Client(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


Client = TypeVar("Client", bound=_Client)


async def connect(make: Callable[[], Client], brokers: Sequence[str], stop: asyncio.Event,
                  on_retry: OnRetry | None = None) -> Client:  # fmt: skip
    """Start a client made by `make`, again and again with backoff while the brokers cannot be reached:
    a service may start before Kafka. `on_retry` sees each failure (to say why in `/ready`); raises
    `Interrupted` when `stop` is set first."""

    async def attempt() -> Client:
        client = make()
        try:
            await client.start()
        except KafkaError as exc:
            await client.stop()
            raise Unavailable(f"cannot connect to {','.join(brokers)}: {exc}") from exc
        return client

    return await retry(attempt, Backoff(1.0), stop=stop, on_retry=on_retry)


async def stop_quietly(client: _Client, timeout: float = 5.0) -> None:
    """Stop a producer or consumer without hanging when Kafka is gone (a producer flushes first)."""
    try:
        await asyncio.wait_for(client.stop(), timeout)
    except (TimeoutError, KafkaError, OSError) as exc:
        log.warning("Kafka client did not stop cleanly within %ss: %r", timeout, exc)
