"""`helicone-otel compare`: the records of a mapping in shadow against the current one's, before a
switch. Run the new mapping stage beside the current one, in its own `group_id`, exporting to a
shadow topic; both map the same retained spans, and record ids are deterministic, so the two topics
hold the same ids. This reads both topics up to their current ends and reports the ids only one of them
has and the records that differ, with the JSON paths where they differ. Exit status: 0 the same,
1 they differ, 2 a topic could not be read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

MAX_PATHS = 5  # per differing record
CLIENT_ID = "helicone-otel-compare"


@dataclass
class Report:
    current: int = 0
    shadow: int = 0
    only_current: list[str] = field(default_factory=list)
    only_shadow: list[str] = field(default_factory=list)
    differing: dict[str, list[str]] = field(default_factory=dict)  # id -> JSON paths

    @property
    def same(self) -> bool:
        return not (self.only_current or self.only_shadow or self.differing)


def differences(a: Any, b: Any, path: str = "$") -> list[str]:
    """The JSON paths where `a` and `b` differ (a type or value, a key one of them lacks)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for key in sorted(set(a) | set(b)):
            out += differences(a.get(key), b.get(key), f"{path}.{key}") if key in a and key in b else [f"{path}.{key}"]
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in differences(x, y, f"{path}[{i}]")]
    return [] if a == b and type(a) is type(b) else [path]


def compare(current: dict[str, Any], shadow: dict[str, Any]) -> Report:
    """Records by id, from the current mapping and from the shadow one."""
    report = Report(current=len(current), shadow=len(shadow))
    report.only_current = sorted(set(current) - set(shadow))
    report.only_shadow = sorted(set(shadow) - set(current))
    for record_id in sorted(set(current) & set(shadow)):
        paths = differences(current[record_id], shadow[record_id])
        if paths:
            report.differing[record_id] = paths[:MAX_PATHS]
    return report


async def read_records(brokers: str, topic: str) -> dict[str, Any]:
    """Every record of `topic` from its start to its end at the time of the call, by record id (the
    last one wins, as a replay would have it)."""
    from aiokafka import TopicPartition

    from helicone_otel.kafka.cluster import Cluster

    cluster = Cluster(tuple(brokers.split(",")))
    partitions = await cluster.partitions(topic, CLIENT_ID)
    consumer = cluster.consumer(CLIENT_ID, None)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        records: dict[str, Any] = {}

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in assigned])

        while await behind():
            batch = await consumer.getmany(*assigned, timeout_ms=1000)
            for messages in batch.values():
                for message in messages:
                    if message.offset < ends[TopicPartition(message.topic, message.partition)]:
                        value = json.loads(message.value or b"null")
                        records[value["id"] if isinstance(value, dict) and "id" in value else str(message.key)] = value
        return records
    finally:
        await consumer.stop()


def print_report(report: Report, out: TextIO) -> None:
    print(f"current: {report.current} records, shadow: {report.shadow} records", file=out)
    for label, ids in (("only in current", report.only_current), ("only in shadow", report.only_shadow)):
        if ids:
            print(f"{label}: {len(ids)} ({', '.join(ids[:10])}{', ...' if len(ids) > 10 else ''})", file=out)
    for record_id, paths in report.differing.items():
        print(f"differs {record_id}: {', '.join(paths)}", file=out)
    print("same" if report.same else f"{len(report.differing)} records differ", file=out)


def run(args: argparse.Namespace) -> int:
    try:
        import aiokafka  # noqa: F401
    except ImportError as exc:
        print(
            f"helicone-otel compare needs the kafka extra: pip install 'helicone-otel[kafka]' ({exc})", file=sys.stderr
        )
        return 2
    try:
        current, shadow = asyncio.run(_both(args.brokers, args.topic, args.shadow_topic))
    except Exception as exc:  # Kafka unreachable, a missing topic, a value that is not JSON
        print(f"helicone-otel compare: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    report = compare(current, shadow)
    print_report(report, sys.stdout)
    return 0 if report.same else 1


async def _both(brokers: str, topic: str, shadow_topic: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return await read_records(brokers, topic), await read_records(brokers, shadow_topic)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser("compare", help="compare a shadow mapping's records with the current one's")
    parser.add_argument("--brokers", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="helicone-llm-logs", help="the current mapping's records")
    parser.add_argument("--shadow-topic", required=True, help="the shadow mapping's records")
    parser.set_defaults(func=run)
