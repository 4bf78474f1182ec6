"""The request handler base the local fake servers share: HTTP/1.1 keep-alive, no access log, and
TCP_NODELAY (headers and body go out in separate writes; with Nagle plus delayed ACK every answer
would wait ~40 ms)."""

from __future__ import annotations

import socket
from http.server import BaseHTTPRequestHandler
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass
