"""A local stand-in for Helicone's async log API (the one part of the pipeline that cannot run here).

It checks every body against the async-log schema and the Authorization header, keeps what it
accepted (and when), and can be told to answer 429 (with Retry-After), 500, 401, 400, to hang, or to
take `delay` seconds over every answer (`script`); to be down for a while (`down_until`, answering
`down_status` with `down_headers`); to accept only some keys (`keys`: revoke one by removing it); to
refuse bodies over `max_body` bytes (413) and records by id (`refuse_ids`: id -> status).
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

from helicone_rules import PRICED
from quiet_http import QuietHandler, QuietServer

ROUTES = {"/oai/v1/log", "/anthropic/v1/log", "/custom/v1/log", "/googleapis/v1/log", "/v1/trace/custom/log"}
# jawn's custom trace route takes the provider from the body; only the upper-case names of Helicone's
# cost tables are priced there
PRICED_CUSTOM_TRACE_PROVIDERS = PRICED - {"OPENAI", "ANTHROPIC", "GOOGLE"}


def schema_errors(body: Any) -> list[str]:
    """What makes `body` not an async-log body (empty when it is one)."""
    errors: list[str] = []
    if not isinstance(body, dict):
        return ["body is not an object"]
    request, response, timing = body.get("providerRequest"), body.get("providerResponse"), body.get("timing")
    if not isinstance(request, dict) or not isinstance(request.get("url"), str):
        errors.append("providerRequest.url missing")
    elif not isinstance(request.get("json"), dict) or not isinstance(request.get("meta"), dict):
        errors.append("providerRequest.json / meta must be objects")
    if not isinstance(response, dict) or not isinstance(response.get("status"), int):
        errors.append("providerResponse.status missing")
    elif not isinstance(response.get("json"), dict) and not isinstance(response.get("textBody"), str):
        errors.append("providerResponse needs json or textBody")
    if not isinstance(timing, dict):
        return [*errors, "timing missing"]
    points = []
    for key in ("startTime", "endTime"):
        t = timing.get(key)
        if not (isinstance(t, dict) and isinstance(t.get("seconds"), int) and isinstance(t.get("milliseconds"), int)):
            errors.append(f"timing.{key} must be {{seconds, milliseconds}}")
        else:
            points.append(t["seconds"] * 1000 + t["milliseconds"])
    if len(points) == 2 and points[0] > points[1]:
        errors.append("timing.startTime is after endTime")
    return errors


class FakeHelicone:
    def __init__(self, api_key: str = "sk-helicone-test") -> None:
        self.api_key = api_key
        self.accepted: list[tuple[str, dict[str, Any]]] = []
        self.accepted_at: list[float] = []  # time.monotonic() of each acceptance, as `accepted`
        self.scores: list[tuple[str, dict[str, Any]]] = []  # (request id, scores) the score API took
        self.attempts = 0
        self.attempt_times: list[float] = []  # time.monotonic() of each request's arrival
        self.script: list[str] = []  # answers to give first, in order: "429", "500", "401", "400", "hang"
        self.delay = 0.0
        self.keys = {api_key}  # the keys it takes
        self.down_until = 0.0  # time.monotonic() until which it answers every request `down_status`
        self.down_status = 503
        self.down_headers: dict[str, str] = {}
        self.max_body: int | None = None  # bytes; a larger body is refused with 413
        self.refuse_ids: dict[str, int] = {}  # record id -> the status its posts are answered
        self.lock = threading.Lock()
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                data = self.rfile.read(int(self.headers.get("content-length", 0)))
                with fake.lock:
                    fake.attempts += 1
                    fake.attempt_times.append(time.monotonic())
                    action = fake.script.pop(0) if fake.script else "ok"
                if action == "hang":
                    time.sleep(30)
                    return
                time.sleep(fake.delay)
                if action == "ok" and time.monotonic() < fake.down_until:
                    return self._reply(fake.down_status, {"error": "down"}, fake.down_headers)
                if action in ("429", "500"):
                    return self._reply(
                        int(action), {"error": "try later"}, {"Retry-After": "1"} if action == "429" else {}
                    )
                if action == "401" or self.headers.get("authorization") not in {f"Bearer {k}" for k in fake.keys}:
                    return self._reply(401, {"error": "bad key"})
                if fake.max_body is not None and len(data) > fake.max_body:
                    return self._reply(413, {"error": f"body of {len(data)} bytes is over {fake.max_body}"})
                score = re.fullmatch(r"/v1/request/([0-9a-f-]{36})/score", self.path)
                if score:
                    return self._score(score.group(1), data)
                if self.path not in ROUTES:
                    return self._reply(404, {"error": f"no route {self.path}"})
                try:
                    body = json.loads(data)
                except ValueError:
                    return self._reply(400, {"error": "not JSON"})
                refused = fake.refuse_ids.get(str(body.get("id"))) if isinstance(body, dict) else None
                if refused is not None:
                    return self._reply(refused, {"error": f"record refused with {refused}"})
                errors = schema_errors(body) + (["scripted 400"] if action == "400" else [])
                if self.path == "/v1/trace/custom/log" and body.get("provider") not in PRICED_CUSTOM_TRACE_PROVIDERS:
                    errors.append(f"provider {body.get('provider')!r} is not priced on the custom trace route")
                if errors:
                    return self._reply(400, {"error": errors})
                with fake.lock:
                    fake.accepted.append((self.path, body))
                    fake.accepted_at.append(time.monotonic())
                self._reply(200, {"ok": True})

            def _score(self, request_id: str, data: bytes) -> None:
                """jawn's ScoreManager.mapScores: integers and booleans only; a float is refused."""
                try:
                    scores = json.loads(data)["scores"]
                except (ValueError, KeyError, TypeError):
                    return self._reply(400, {"error": "body must be {scores: {...}}"})
                bad = (
                    [k for k, v in scores.items() if not isinstance(v, (bool, int))] if isinstance(scores, dict) else 0
                )
                if not isinstance(scores, dict) or bad:
                    return self._reply(400, {"error": f"Score values must be integers or booleans: {bad}"})
                with fake.lock:
                    fake.scores.append((request_id, scores))
                self._reply(201, {"data": None, "error": None})

            def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
