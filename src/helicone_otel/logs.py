"""Process-wide logging: console lines for people, or JSON lines (`encoding: json`) for log pipelines.

Even at DEBUG no record body reaches the log unless asked for (`--log-bodies`): aiokafka's producer logs every
record it sends, prompts, completions and all, at DEBUG."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _NoBodies(logging.Filter):
    """Drops the log lines that carry a whole record (aiokafka's `Sending (key=... value=...)`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("aiokafka.producer") and str(record.msg).startswith("Sending ("))


class _CoordinatorRetries(logging.Filter):
    """aiokafka's consumer (its group coordinator and its fetcher) logs each failed request as a WARNING or an
    ERROR, several a second while a broker is down; the services here say once that Kafka is unreachable (and
    `/ready` says it), and log their own commit failures. Those lines are kept at DEBUG (a traceback still shows
    as it came)."""

    def filter(self, record: logging.LogRecord) -> bool:
        consumer = record.name in ("aiokafka.consumer.group_coordinator", "aiokafka.consumer.fetcher")
        if consumer and record.levelno >= logging.WARNING and not record.exc_info:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure(level: str = "INFO", encoding: str = "console", bodies: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if not bodies:
        handler.addFilter(_NoBodies())
    handler.addFilter(_CoordinatorRetries())
    if encoding == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
