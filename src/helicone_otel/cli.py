"""The `helicone-otel` command: one entry point, one subcommand per component."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from helicone_otel import logs, map_command


def _extra(command: str, extra: str) -> str:
    return f"helicone-otel {command} needs the {extra} extra: pip install 'helicone-otel[{extra}]'"


def _collector(args: argparse.Namespace) -> int:
    try:
        import aiokafka  # noqa: F401
        import uvicorn  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as exc:
        print(f"{_extra('collector', 'collector')} ({exc})", file=sys.stderr)
        return 2
    from helicone_otel.collector import ConfigError, load_config
    from helicone_otel.collector.app import WorkerRole, serve
    from helicone_otel.collector.spool import SpoolCorrupt
    from helicone_otel.collector.workers import Supervisor, worker_count

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"helicone-otel collector: invalid configuration: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_level or args.log_level, config.log_encoding)
    try:
        if args.worker:
            index, count = (int(n) for n in args.worker.split("/"))
            asyncio.run(serve(config, role=WorkerRole(index, count, Path(args.admin_port_file))))
            return 0
        workers = worker_count(config.workers)
        if workers > 1:
            return asyncio.run(Supervisor(args.config, config, workers).run())
        asyncio.run(serve(config))
    except (SpoolCorrupt, OSError) as exc:
        print(f"helicone-otel collector: {exc}", file=sys.stderr)
        return 1
    return 0


def _forward(args: argparse.Namespace) -> int:
    try:
        import aiohttp  # noqa: F401
        import aiokafka  # noqa: F401
        import yaml  # noqa: F401
    except ImportError as exc:
        print(f"{_extra('forward', 'forwarder')} ({exc})", file=sys.stderr)
        return 2
    from helicone_otel.config_reader import ConfigError
    from helicone_otel.forwarder import load, serve

    try:
        config = load(args.config)
    except ConfigError as exc:
        print(f"helicone-otel forward: invalid configuration: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(config, dry_run=args.dry_run))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="helicone-otel", description=__doc__)
    parser.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
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
    forward.set_defaults(func=_forward)
    map_command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
