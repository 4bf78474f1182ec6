"""`helicone-otel replay`: put chosen dead letters back on the records topic, for the forwarder to
deliver once what kept them from Helicone is fixed (a key restored, a limit raised, a bug fixed).

It reads the forwarder's dead-letter topic (the `forwarder` section of the configuration) from its
start to its end at the time of the call and selects dead letters by every criterion given: `--reason`
(a substring of the `error` header, any case), `--tenant` (the record carries the key `api_keys` maps
to that name in `helicone-auth`, or has that value in the `api_keys` property, default
`Helicone-Property-Tenant`), `--property NAME=VALUE` (a Helicone property of the record), and
`--since` / `--until` (when it was dead-lettered: an ISO 8601 time, or a duration ago such as 90m,
2h, 1d). Each selected one is produced to the records topic as it was before it was dead-lettered:
same key, value and headers (`helicone-auth` included), without the dead-letter headers, plus
`replayed-from: <dead-letter topic>[partition]@offset`. A dead letter that is not an async-log body,
or whose value was cut to a prefix or dropped to fit the dead-letter topic, is listed and skipped.

The dead-letter topic is left as it is (nothing is deleted or committed): running the same replay
twice puts the records back twice, and the forwarder drops the second copy only while its
`dedupe_window` still holds the id. `--dry-run` lists what would be replayed. Exit status: 0 every
selected dead letter that can be replayed was; 1 Kafka refused some; 2 bad arguments or configuration,
or the topic could not be read.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

CLIENT_ID = "helicone-otel-replay"
REPLAYED_FROM = "replayed-from"  # on a replayed record: the dead letter it came from
_AGO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def when(text: str, now: float | None = None) -> float:
    """Epoch seconds of `text`: an ISO 8601 time (UTC unless it says otherwise) or a duration ago."""
    ago = _AGO.match(text)
    if ago:
        return (time.time() if now is None else now) - float(ago.group(1)) * _UNITS[ago.group(2)]
    try:
        moment = datetime.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"expected an ISO 8601 time or a duration such as 90m, got {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay: those that meet every criterion set."""

    reason: str | None = None  # a substring of the `error` header, any case
    keys: frozenset[str] = frozenset()  # tenant: one of these in `helicone-auth` ...
    tenant_property: tuple[str, str] | None = None  # ... or this property (lower-case name, value)
    properties: dict[str, str] = field(default_factory=dict)  # lower-case name -> value: all of them
    since: float | None = None  # epoch seconds of the dead-lettering, inclusive
    until: float | None = None  # exclusive

    def matches(self, headers: dict[str, bytes], body: Any, timestamp_ms: int) -> bool:
        seconds = timestamp_ms / 1000
        if (self.since is not None and seconds < self.since) or (self.until is not None and seconds >= self.until):
            return False
        error = headers.get("error", b"").decode(errors="replace")
        if self.reason is not None and self.reason.lower() not in error.lower():
            return False
        props = _properties(body)
        if self.keys or self.tenant_property:
            key = headers.get("helicone-auth", b"").decode(errors="replace")
            by_property = (
                self.tenant_property is not None and props.get(self.tenant_property[0]) == self.tenant_property[1]
            )
            if key not in self.keys and not by_property:
                return False
        return all(props.get(name) == value for name, value in self.properties.items())


def _properties(body: Any) -> dict[str, str]:
    """A record's Helicone properties: lower-case name (after `helicone-property-`) -> value."""
    request = body.get("providerRequest") if isinstance(body, dict) else None
    meta = request.get("meta") if isinstance(request, dict) else None
    prefix = "helicone-property-"
    items = meta.items() if isinstance(meta, dict) else ()
    return {str(k).lower()[len(prefix) :]: str(v) for k, v in items if str(k).lower().startswith(prefix)}


def not_replayable(headers: dict[str, bytes], value: bytes) -> str | None:
    """Why a dead letter cannot go back as it is (None: it can)."""
    from helicone_otel.contract import VALUE_CUT
    from helicone_otel.errors import Permanent
    from helicone_otel.forwarder.routing import validate

    cut = headers.get(VALUE_CUT, b"").decode()
    if cut and cut != "strings":
        return f"its value was cut ({cut}) to fit the dead-letter topic"
    try:
        validate(value)
    except Permanent as exc:
        return f"not an async-log body: {exc}"
    return None


def replayed_headers(headers: Iterable[tuple[str, bytes]], source: str) -> list[tuple[str, bytes]]:
    """The record's headers as they were before it was dead-lettered, and where it was replayed from."""
    from helicone_otel.contract import without_dead_letter_headers

    own = [(k, v) for k, v in without_dead_letter_headers(headers) if k != REPLAYED_FROM]
    return [*own, (REPLAYED_FROM, source.encode())]


@dataclass
class Outcome:
    read: int = 0
    selected: int = 0
    replayed: int = 0
    skipped: int = 0
    failed: int = 0


async def replay(config: Any, selection: Selection, dry_run: bool, out: TextIO) -> Outcome:
    """Read the dead-letter topic of forwarder `config` to its current end; replay what `selection`
    chooses to the records topic (or only list it: `dry_run`)."""
    from aiokafka import TopicPartition
    from aiokafka.errors import KafkaError

    cluster, dlq = config.cluster, config.dead_letter_topic
    partitions = await cluster.partitions(dlq, CLIENT_ID)
    consumer = cluster.consumer(CLIENT_ID, None, max_partition_fetch_bytes=16 * 1024 * 1024)
    producer = None if dry_run else cluster.producer(CLIENT_ID, max_request_size=64 * 1024 * 1024)
    await consumer.start()
    if producer is not None:
        await producer.start()
    outcome, sent = Outcome(), []
    try:
        assigned = [TopicPartition(dlq, p) for p in partitions]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        while any([await consumer.position(tp) < ends[tp] for tp in assigned]):
            batch = await consumer.getmany(*assigned, timeout_ms=1000)
            for tp, messages in batch.items():
                for message in (m for m in messages if m.offset < ends[tp]):
                    outcome.read += 1
                    headers = dict(message.headers)
                    value = message.value or b""
                    try:
                        body = json.loads(value)
                    except ValueError:
                        body = None
                    if not selection.matches(headers, body, message.timestamp):
                        continue
                    outcome.selected += 1
                    source = f"{dlq}[{message.partition}]@{message.offset}"
                    line = {"id": body.get("id") if isinstance(body, dict) else None, "from": source,
                            "error": headers.get("error", b"").decode(errors="replace")[:200]}  # fmt: skip
                    why = not_replayable(headers, value)
                    if why is not None:
                        outcome.skipped += 1
                        print(json.dumps({"skipped": why, **line}), file=out, flush=True)
                        continue
                    print(json.dumps({"would replay" if dry_run else "replaying": config.topic, **line}), file=out,
                          flush=True)  # fmt: skip
                    if producer is not None:
                        headers_out = replayed_headers(message.headers, source)
                        sent.append(await producer.send(config.topic, value, key=message.key, headers=headers_out))
        for future in sent:
            try:
                await future
                outcome.replayed += 1
            except KafkaError as exc:
                outcome.failed += 1
                print(json.dumps({"failed": repr(exc)}), file=out, flush=True)
    finally:
        await consumer.stop()
        if producer is not None:
            await producer.stop()
    return outcome


def selection(args: argparse.Namespace, config: Any) -> Selection:
    """The selection the arguments ask for (ValueError naming a bad one)."""
    properties = {}
    for item in args.property or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--property: expected NAME=VALUE, got {item!r}")
        properties[name.lower().removeprefix("helicone-property-")] = value
    keys: frozenset[str] = frozenset()
    tenant_property = None
    if args.tenant is not None:
        key = config.api_keys.get(args.tenant)
        keys = frozenset({key} if key else ())
        tenant_property = (config.api_key_property or "tenant", args.tenant)
    return Selection(
        reason=args.reason,
        keys=keys,
        tenant_property=tenant_property,
        properties=properties,
        since=when(args.since) if args.since else None,
        until=when(args.until) if args.until else None,
    )


def run(args: argparse.Namespace) -> int:
    try:
        from helicone_otel.config_reader import ConfigError
        from helicone_otel.forwarder import load
    except ImportError as exc:
        print(f"helicone-otel replay needs the forwarder extra: pip install 'helicone-otel[forwarder]' ({exc})",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        config = load(args.config)
        chosen = selection(args, config)
    except (ConfigError, ValueError) as exc:
        print(f"helicone-otel replay: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = asyncio.run(replay(config, chosen, args.dry_run, sys.stdout))
    except Exception as exc:  # Kafka unreachable, the topic missing
        print(f"helicone-otel replay: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    verb = "would replay" if args.dry_run else "replayed"
    count = outcome.selected - outcome.skipped if args.dry_run else outcome.replayed
    print(f"{verb} {count} of {outcome.read} dead letters in {config.dead_letter_topic} to {config.topic}"
          f" ({outcome.selected} selected, {outcome.skipped} not replayable, {outcome.failed} refused)",
          file=sys.stderr)  # fmt: skip
    return 1 if outcome.failed else 0


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("replay", help="put chosen dead letters back on the records topic")
    parser.add_argument("--config", default="otel-config.yaml", help="path to otel-config.yaml (its forwarder section)")
    parser.add_argument("--reason", help="a substring of the dead letter's error, any case (e.g. 'HTTP 401')")
    parser.add_argument("--tenant", help="a tenant: its key in api_keys, or its value of the api_keys property")
    parser.add_argument("--property", action="append", metavar="NAME=VALUE", help="a Helicone property (repeatable)")
    parser.add_argument("--since", help="dead-lettered at or after: ISO 8601 time, or a duration ago (90m, 2h, 1d)")
    parser.add_argument("--until", help="dead-lettered before: ISO 8601 time, or a duration ago")
    parser.add_argument("--dry-run", action="store_true", help="list what would be replayed; produce nothing")
    parser.set_defaults(func=run)
