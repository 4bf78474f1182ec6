"""`helicone-otel forward --dry-run`: what the forwarder would do with records, posting nothing.

With `--records FILE` (`-`: stdin) it needs neither Kafka nor Helicone: each line of FILE is one record
value as the records topic holds it (what `helicone-otel map` prints), validated and routed as the
forwarder validates and routes a record (`routing.py`). Without it, the dry run reads the records topic
(committing nothing); when Kafka does not answer within KAFKA_WAIT seconds it stops (`KafkaUnreachable`)
instead of waiting as the forwarder does. Either prints one JSON line per record: where it would be
posted and where its key comes from (never the key), or why it would be dead-lettered (`invalid`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import IO, Any

from helicone_otel.errors import Permanent

from .config import ForwarderConfig
from .routing import Destination, destination, validate

KAFKA_WAIT = 10.0  # seconds a dry run waits for Kafka


class KafkaUnreachable(Exception):
    def __init__(self, brokers: Sequence[str], why: str | None) -> None:
        waited = f"Kafka at {','.join(brokers)} did not answer within {KAFKA_WAIT:.0f}s ({why or 'no answer'})"
        super().__init__(f"{waited}; --dry-run --records FILE checks records without Kafka")


def line(to: Destination, record_id: str, **where: Any) -> dict[str, Any]:
    """A dry run's line for a record that would be posted; `where`: its offset or its line in the file."""
    return {"route": to.route, "url": to.url, "id": record_id, "key_from": to.key_from, **where}


def check_records(config: ForwarderConfig, lines: Iterable[str], out: IO[str] = sys.stdout) -> int:
    """Check each non-blank line as a record value; 0 when every one would be posted, 1 otherwise."""
    invalid = 0
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            body = validate(text.encode())
            reply = line(destination(config, {}, body), str(body.get("id") or ""), line=number)
        except Permanent as exc:
            invalid += 1
            reply = {"invalid": str(exc), "line": number}
        out.write(json.dumps(reply) + "\n")
    return 1 if invalid else 0
