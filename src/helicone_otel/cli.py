"""The `helicone-otel` command: one entry point, one subcommand per component."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from helicone_otel import compare_command, logs, map_command, replay_command

T = TypeVar("T")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("helicone-otel")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "(not installed)"


def _has_extra(command: str, extra: str, modules: tuple[str, ...]) -> bool:
    try:
        for module in modules:
            importlib.import_module(module)
    except ImportError as exc:
        print(f"helicone-otel {command} needs the {extra} extra: pip install 'helicone-otel[{extra}]' ({exc})",
              file=sys.stderr)  # fmt: skip
        return False
    return True


def _config(command: str, load: Callable[[str], T], path: str) -> T | None:
    from helicone_otel.config_reader import ConfigError

    try:
        return load(path)
    except ConfigError as exc:
        print(f"helicone-otel {command}: invalid configuration: {exc}", file=sys.stderr)
        return None


def _as_a_service() -> None:
    """What start-up created (modules, configuration) is frozen out of every garbage collection: a
    long-running pipeline process should not walk it again on each full collection. (A higher
    collection threshold mapped large batches faster but let cyclic garbage holding request buffers
    pile up: twice the peak RSS with 50 KB spans; it was not kept.)"""
    gc.collect()
    gc.freeze()


def _collector(args: argparse.Namespace) -> int:
    if not _has_extra("collector", "collector", ("aiokafka", "uvicorn", "yaml")):
        return 2
    from helicone_otel.collector import load_config
    from helicone_otel.collector.app import GRACE, WorkerRole, serve
    from helicone_otel.collector.spool import SpoolCorrupt
    from helicone_otel.collector.workers import Supervisor, worker_count
    from helicone_otel.lifecycle import run_until_signal

    config = _config("collector", load_config, args.config)
    if config is None:
        return 2
    logs.configure(config.log_level or args.log_level, config.log_encoding, bodies=args.log_bodies)
    _as_a_service()
    try:
        if args.worker:
            index, count = (int(n) for n in args.worker.split("/"))
            asyncio.run(serve(config, role=WorkerRole(index, count, Path(args.admin_port_file))))
            return 0
        workers = worker_count(config.workers)
        if workers > 1:
            supervisor = Supervisor(args.config, config, workers)
            asyncio.run(run_until_signal(supervisor, GRACE + 10))
            return 0 if all(code == 0 for code in supervisor.exit_codes) else 1
        asyncio.run(serve(config))
    except (SpoolCorrupt, OSError) as exc:
        print(f"helicone-otel collector: {exc}", file=sys.stderr)
        return 1
    return 0


def _forward(args: argparse.Namespace) -> int:
    if not _has_extra("forward", "forwarder", ("aiohttp", "aiokafka", "yaml")):
        return 2
    from helicone_otel.forwarder import load, serve
    from helicone_otel.forwarder.dry_run import KafkaUnreachable, check_records

    config = _config("forward", load, args.config)
    if config is None:
        return 2
    if args.records is not None:
        if not args.dry_run:
            print("helicone-otel forward: --records is for a --dry-run", file=sys.stderr)
            return 2
        try:
            with sys.stdin if args.records == "-" else open(args.records, encoding="utf-8") as lines:
                return check_records(config, lines)
        except (OSError, UnicodeDecodeError) as exc:
            print(f"helicone-otel forward: cannot read {args.records}: {exc}", file=sys.stderr)
            return 2
    _as_a_service()
    try:
        asyncio.run(serve(config, dry_run=args.dry_run))
    except KafkaUnreachable as exc:
        print(f"helicone-otel forward: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helicone-otel", description=__doc__)
    parser.add_argument("--version", action="version", version=f"helicone-otel {_version()}")
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    parser.add_argument("--log-bodies", action="store_true", help="at DEBUG, log the records produced, bodies and all")
    sub = parser.add_subparsers(dest="command", required=True)
    collector = sub.add_parser("collector", help="run the OTLP gRPC + HTTP collector that produces to Kafka")
    collector.add_argument("--config", default="otel-config.yaml", help="path to otel-config.yaml")
    collector.add_argument("--worker", help=argparse.SUPPRESS)  # "i/n": set by the supervisor
    collector.add_argument("--admin-port-file", help=argparse.SUPPRESS)
    collector.set_defaults(func=_collector)
    forward = sub.add_parser("forward", help="consume the records topic and deliver each record to Helicone")
    forward.add_argument(
        "--config", default="otel-config.yaml", help="path to otel-config.yaml (its forwarder section)"
    )
    forward.add_argument("--dry-run", action="store_true", help="validate and print what would be sent; post nothing")
    forward.add_argument("--records", metavar="FILE", help="with --dry-run: check the record values in FILE (one per "
                         "line, as `helicone-otel map` prints them; - for stdin) without Kafka")  # fmt: skip
    forward.set_defaults(func=_forward)
    map_command.add_parser(sub)
    compare_command.add_parser(sub)
    replay_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level, bodies=args.log_bodies)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
