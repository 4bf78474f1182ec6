"""Keeps capture processes on this machine: name lookups of anything but loopback fail at once.

Instrumented libraries reach out on their own (LiteLLM's and OpenLIT's price tables, tiktoken's
encodings, an SDK's default host): refused here before any DNS query leaves, and said on stderr,
so a capture that needs the network fails loudly instead of quietly depending on it."""

from __future__ import annotations

import socket
import sys
from typing import Any

_LOCAL = ("localhost", "127.", "::1")


def loopback_only() -> None:
    lookup = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host or "localhost")
        if not name.startswith(_LOCAL):
            print(f"offline: refused a lookup of {name!r}", file=sys.stderr)
            raise socket.gaierror(socket.EAI_NONAME, f"offline capture: {name} is not on this machine")
        return lookup(host, *args, **kwargs)

    socket.getaddrinfo = guarded
