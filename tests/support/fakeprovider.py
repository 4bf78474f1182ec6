"""A local HTTP server that answers like the OpenAI and Anthropic APIs, for driving the real SDKs.

Answers are deterministic and every answer is kept in `served`, so tests compare the records the
pipeline builds with what the "provider" really returned. The model name picks the behaviour:
a model containing `error-<code>` answers that HTTP error; `tools` in the request answers a tool call.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from quiet_http import QuietHandler

OPENAI_TEXT = "The capital of France is Paris."
ANTHROPIC_TEXT = "Paris is the capital of France."


class FakeProvider:
    def __init__(self) -> None:
        self.served: list[dict[str, Any]] = []
        self._counter = 0
        self._lock = threading.Lock()
        provider = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                # as an HTTP proxy it is asked for absolute URLs (`http://api.together.xyz/v1/...`):
                # an SDK pointed at a real provider host is answered here, and nothing leaves the machine
                provider._handle(self, urlsplit(self.path).path, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeProvider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _next_id(self) -> int:
        with self._lock:
            self._counter += 1
            return self._counter

    # --- responses -------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any]) -> None:
        model = str(body.get("model", "")) or unquote(path)  # Bedrock and Gemini name the model in the path
        # `error-429` in the model name (or, for clients that check model names, in the prompt) answers 429
        error = re.search(r"error-(\d{3})", model) or re.search(r"error-(\d{3})", json.dumps(body.get("messages")))
        n = self._next_id()
        if error:
            status = int(error.group(1))
            if path.endswith("/messages"):
                payload: dict[str, Any] = {
                    "type": "error",
                    "error": {"type": "rate_limit_error", "message": "Slow down"},
                }
            elif path.startswith("/v1beta/models/"):
                payload = {"error": {"code": status, "message": "Resource has been exhausted (e.g. check quota).",
                                     "status": "RESOURCE_EXHAUSTED"}}  # fmt: skip
            elif path.startswith("/model/"):
                payload = {"message": "Too many requests, please wait before trying again."}
            else:
                payload = {
                    "error": {
                        "message": "Rate limit reached",
                        "type": "requests",
                        "param": None,
                        "code": None,
                    }
                }
            self._record(path, body, status, payload, stream=False)
            return _send_json(h, status, payload)
        if path in ("/v1/chat/completions", "/openai/v1/chat/completions") or re.fullmatch(
            r"/openai/deployments/[^/]+/chat/completions", path
        ):
            return self._openai_chat(h, path, body, n)  # OpenAI and compatible hosts, Azure's deployment path
        bedrock = re.fullmatch(r"/model/([^/]+)/(invoke|converse|invoke-with-response-stream|converse-stream)", path)
        if bedrock:
            return self._bedrock(h, path, body, n, unquote(bedrock.group(1)), bedrock.group(2))
        gemini = re.fullmatch(r"/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)", path)
        if gemini:
            return self._gemini(h, path, body, gemini.group(1), gemini.group(2) == "streamGenerateContent")
        if path == "/v1/embeddings":
            data = [
                {"object": "embedding", "index": i, "embedding": [0.1 * (i + 1), 0.2, -0.3]}
                for i, _ in enumerate(body["input"] if isinstance(body["input"], list) else [body["input"]])
            ]
            payload = {
                "object": "list",
                "data": data,
                "model": model,
                "usage": {"prompt_tokens": 5 * len(data), "total_tokens": 5 * len(data)},
            }
            self._record(path, body, 200, payload, stream=False)
            return _send_json(h, 200, payload)
        if path == "/v1/messages":
            return self._anthropic(h, path, body, n)
        if path == "/v2/chat":
            return self._cohere_chat(h, path, body, n)
        if path == "/v2/embed":
            texts = body.get("texts") or []
            payload = {
                "id": f"embed-{n}", "texts": texts, "response_type": "embeddings_by_type",
                "embeddings": {"float": [[0.1 * (i + 1), 0.2, -0.3] for i, _ in enumerate(texts)]},
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2 * len(texts)}},
            }  # fmt: skip
            self._record(path, body, 200, payload, stream=False)
            return _send_json(h, 200, payload)
        if path == "/v1/responses":
            resp: dict[str, Any] = {
                "id": f"resp_fake{n}",
                "object": "response",
                "created_at": int(time.time()),
                "status": "completed",
                "model": f"{model}-2024-07-18",
                "output": [
                    {
                        "type": "message",
                        "id": f"msg_out{n}",
                        "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": OPENAI_TEXT, "annotations": []}],
                    }
                ],
                "usage": {
                    "input_tokens": 24,
                    "input_tokens_details": {"cached_tokens": 16},
                    "output_tokens": 8,
                    "output_tokens_details": {"reasoning_tokens": 3},
                    "total_tokens": 32,
                },
                "parallel_tool_calls": True,
                "tool_choice": "auto",
                "tools": [],
            }
            self._record(path, body, 200, resp, stream=False)
            return _send_json(h, 200, resp)
        _send_json(h, 404, {"error": {"message": f"no route {path}"}})

    def _bedrock(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any], n: int, model: str,
                 api: str) -> None:  # fmt: skip
        """InvokeModel with a Claude body answers like Anthropic; Converse answers in Converse's shape; their
        streaming forms answer in AWS's binary event stream, as botocore expects."""
        if api.endswith("stream"):
            return self._bedrock_stream(h, path, body, n, model, api)
        if api == "invoke" and model.startswith("meta."):  # Llama's own body on InvokeModel
            payload: dict[str, Any] = {"generation": ANTHROPIC_TEXT, "prompt_token_count": 21,
                                       "generation_token_count": 9, "stop_reason": "stop"}  # fmt: skip
        elif api == "invoke" and model.startswith("amazon.titan"):  # Titan's
            payload = {"inputTextTokenCount": 21, "results": [{"tokenCount": 9, "outputText": ANTHROPIC_TEXT,
                                                               "completionReason": "FINISH"}]}  # fmt: skip
        elif api == "invoke":
            payload = {
                "id": f"msg_bdrk_{n}", "type": "message", "role": "assistant", "model": model,
                "content": [{"type": "text", "text": ANTHROPIC_TEXT}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": 21, "output_tokens": 9,
                                                 "cache_read_input_tokens": 12, "cache_creation_input_tokens": 0},
            }  # fmt: skip
        else:
            payload = {
                "output": {"message": {"role": "assistant", "content": [{"text": ANTHROPIC_TEXT}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 21, "outputTokens": 9, "totalTokens": 42, "cacheReadInputTokens": 12,
                          "cacheWriteInputTokens": 0},
                "metrics": {"latencyMs": 120},
            }  # fmt: skip
        self._record(path, {**body, "model": model}, 200, payload, stream=False)
        _send_json(h, 200, payload)

    def _bedrock_stream(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any], n: int, model: str,
                        api: str) -> None:  # fmt: skip
        usage = {"input_tokens": 21, "output_tokens": 9, "cache_read_input_tokens": 12,
                 "cache_creation_input_tokens": 0}  # fmt: skip
        events: list[tuple[str, dict[str, Any]]] = []
        if api == "invoke-with-response-stream":
            message: dict[str, Any] = {
                "id": f"msg_bdrk_{n}", "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": None, "usage": {**usage, "output_tokens": 1},
            }  # fmt: skip
            anthropic_events: list[dict[str, Any]] = [
                {"type": "message_start", "message": message},
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}
                  for piece in re.findall(r"\S+\s*", ANTHROPIC_TEXT)),
                {"type": "content_block_stop", "index": 0},
                {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                 "usage": {"output_tokens": 9}},
                {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"inputTokenCount": 21,
                 "outputTokenCount": 9, "invocationLatency": 120, "firstByteLatency": 40}},
            ]  # fmt: skip
            events = [("chunk", {"bytes": base64.b64encode(json.dumps(e).encode()).decode()}) for e in anthropic_events]
            served: dict[str, Any] = {**message, "content": [{"type": "text", "text": ANTHROPIC_TEXT}],
                                      "stop_reason": "end_turn", "usage": usage}  # fmt: skip
        else:
            converse_usage = {"inputTokens": 21, "outputTokens": 9, "totalTokens": 42, "cacheReadInputTokens": 12,
                              "cacheWriteInputTokens": 0}  # fmt: skip
            events = [("messageStart", {"role": "assistant"})]
            events += [("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
                       for piece in re.findall(r"\S+\s*", ANTHROPIC_TEXT)]  # fmt: skip
            events += [("contentBlockStop", {"contentBlockIndex": 0}), ("messageStop", {"stopReason": "end_turn"}),
                       ("metadata", {"usage": converse_usage, "metrics": {"latencyMs": 120}})]  # fmt: skip
            served = {"output": {"message": {"role": "assistant", "content": [{"text": ANTHROPIC_TEXT}]}},
                      "stopReason": "end_turn", "usage": converse_usage}  # fmt: skip
        self._record(path, {**body, "model": model}, 200, served, stream=True)
        h.send_response(200)
        h.send_header("content-type", "application/vnd.amazon.eventstream")
        h.send_header("transfer-encoding", "chunked")
        h.end_headers()
        for name, payload in events:
            frame = _event_stream_message(name, json.dumps(payload).encode())
            h.wfile.write(f"{len(frame):x}\r\n".encode() + frame + b"\r\n")
            h.wfile.flush()
            time.sleep(0.002)
        h.wfile.write(b"0\r\n\r\n")

    def _gemini(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any], model: str, stream: bool) -> None:
        words = OPENAI_TEXT.split(" ")
        usage = {"promptTokenCount": 24, "candidatesTokenCount": 8, "totalTokenCount": 35,
                 "cachedContentTokenCount": 16, "thoughtsTokenCount": 3}  # fmt: skip
        parts: list[dict[str, Any]] = [{"text": OPENAI_TEXT}]
        if body.get("tools"):
            parts = [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]
        full: dict[str, Any] = {
            "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP",
                            "index": 0}],
            "usageMetadata": usage, "modelVersion": f"{model}-001", "responseId": f"resp-gemini-{self._next_id()}",
        }  # fmt: skip
        self._record(path, {**body, "model": model}, 200, full, stream=stream)
        if not stream:
            return _send_json(h, 200, full)
        chunks: list[dict[str, Any]] = [
            {"candidates": [{"content": {"role": "model", "parts": [{"text": (" " if i else "") + word}]},
                             "index": 0}], "modelVersion": full["modelVersion"], "responseId": full["responseId"]}
            for i, word in enumerate(words)
        ]  # fmt: skip
        chunks[-1]["candidates"][0]["finishReason"] = "STOP"
        chunks[-1]["usageMetadata"] = usage
        _send_sse(h, [(None, c) for c in chunks])

    def _cohere_chat(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any], n: int) -> None:
        usage = {"billed_units": {"input_tokens": 14, "output_tokens": 8}, "tokens": {"input_tokens": 80,
                                                                                    "output_tokens": 8}}  # fmt: skip
        message = {"role": "assistant", "content": [{"type": "text", "text": OPENAI_TEXT}]}
        full = {"id": f"cohere-{n}", "finish_reason": "COMPLETE", "message": message, "usage": usage}
        self._record(path, body, 200, full, stream=bool(body.get("stream")))
        if not body.get("stream"):
            return _send_json(h, 200, full)
        events: list[tuple[str | None, Any]] = [
            ("message-start", {"type": "message-start", "id": full["id"],
                               "delta": {"message": {"role": "assistant", "content": []}}}),
            ("content-start", {"type": "content-start", "index": 0,
                               "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        ]  # fmt: skip
        for i, word in enumerate(OPENAI_TEXT.split(" ")):
            text = (" " if i else "") + word
            events.append(("content-delta", {"type": "content-delta", "index": 0,
                                             "delta": {"message": {"content": {"text": text}}}}))  # fmt: skip
        events.append(("content-end", {"type": "content-end", "index": 0}))
        events.append(("message-end", {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage}}))
        _send_sse(h, events)

    def _record(self, path: str, request: dict[str, Any], status: int, response: Any, stream: bool) -> None:
        with self._lock:
            self.served.append(
                {"path": path, "request": request, "status": status, "response": response, "stream": stream}
            )

    def _openai_chat(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any], n: int) -> None:
        created = int(time.time())
        rid = f"chatcmpl-fake{n}"
        # Azure OpenAI names the model behind the deployment, never the deployment itself
        model = "gpt-4o-2024-08-06" if path.startswith("/openai/deployments/") else f"{body['model']}-2024-07-18"
        usage = {
            "prompt_tokens": 24,
            "completion_tokens": 8,
            "total_tokens": 32,
            "prompt_tokens_details": {"cached_tokens": 16, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 3, "audio_tokens": 0},
        }
        if body.get("tools"):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{n}",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            }
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": OPENAI_TEXT}
            finish = "stop"
        full = {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
            "system_fingerprint": "fp_fake",
        }
        if not body.get("stream"):
            self._record(path, body, 200, full, stream=False)
            return _send_json(h, 200, full)
        # Mistral's API ends every stream with usage; OpenAI's only when stream_options asks for it
        mistral = "mistral" in h.headers.get("user-agent", "")
        include_usage = mistral or bool((body.get("stream_options") or {}).get("include_usage"))
        self._record(path, body, 200, {**full, "usage": usage if include_usage else None}, stream=True)
        chunks: list[dict[str, Any]] = []
        base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model}
        if message.get("tool_calls"):
            call = message["tool_calls"][0]
            chunks.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "role": "assistant",
                                "tool_calls": [
                                    {
                                        "index": 0,
                                        "id": call["id"],
                                        "type": "function",
                                        "function": {"name": call["function"]["name"], "arguments": ""},
                                    }
                                ],
                            },
                        }
                    ],
                }
            )
            chunks.append(
                {
                    **base,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {
                                "tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]
                            },
                        }
                    ],
                }
            )
        else:
            words = OPENAI_TEXT.split(" ")
            for i, word in enumerate(words):
                delta: dict[str, Any] = {"content": word if i == 0 else " " + word}
                if i == 0:
                    delta["role"] = "assistant"
                chunks.append({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
        chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if include_usage:
            chunks.append({**base, "choices": [], "usage": usage})
        _send_sse(h, [(None, c) for c in chunks] + [(None, "[DONE]")])

    def _anthropic(self, h: BaseHTTPRequestHandler, path: str, body: dict[str, Any], n: int) -> None:
        rid = f"msg_fake{n}"
        usage = {
            "input_tokens": 21,
            "output_tokens": 9,
            "cache_read_input_tokens": 12,
            "cache_creation_input_tokens": 0,
        }
        if body.get("tools"):
            content: list[dict[str, Any]] = [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": f"toolu_{n}", "name": "get_weather", "input": {"city": "Paris"}},
            ]
            stop = "tool_use"
        else:
            content = [{"type": "text", "text": ANTHROPIC_TEXT}]
            stop = "end_turn"
        full = {
            "id": rid,
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage,
        }
        self._record(path, body, 200, full, stream=bool(body.get("stream")))
        if not body.get("stream"):
            return _send_json(h, 200, full)
        start_usage = {**usage, "output_tokens": 1}
        events: list[tuple[str | None, Any]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {**full, "content": [], "stop_reason": None, "usage": start_usage},
                },
            ),
        ]
        for i, block in enumerate(content):
            if block["type"] == "text":
                events.append(
                    (
                        "content_block_start",
                        {
                            "type": "content_block_start",
                            "index": i,
                            "content_block": {"type": "text", "text": ""},
                        },
                    )
                )
                for piece in re.findall(r"\S+\s*", block["text"]):
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": i,
                                "delta": {"type": "text_delta", "text": piece},
                            },
                        )
                    )
            else:
                events.append(
                    (
                        "content_block_start",
                        {"type": "content_block_start", "index": i, "content_block": {**block, "input": {}}},
                    )
                )
                events.append(
                    (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                        },
                    )
                )
            events.append(("content_block_stop", {"type": "content_block_stop", "index": i}))
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    "usage": {"output_tokens": usage["output_tokens"]},
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        _send_sse(h, events)


def _send_json(h: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    h.send_response(status)
    h.send_header("content-type", "application/json")
    h.send_header("content-length", str(len(data)))
    if status == 429:
        h.send_header("retry-after", "0")
    h.end_headers()
    h.wfile.write(data)


def _event_stream_message(event_type: str, payload: bytes) -> bytes:
    """One message of AWS's event stream encoding: prelude (lengths + CRC), string headers, payload, CRC."""
    headers = b""
    for name, value in ((":event-type", event_type), (":content-type", "application/json"), (":message-type", "event")):
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def _send_sse(h: BaseHTTPRequestHandler, events: list[tuple[str | None, Any]]) -> None:
    h.send_response(200)
    h.send_header("content-type", "text/event-stream")
    h.send_header("transfer-encoding", "chunked")
    h.end_headers()
    for name, data in events:
        text = data if isinstance(data, str) else json.dumps(data)
        frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
        raw = frame.encode()
        h.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
        h.wfile.flush()
        time.sleep(0.002)
    h.wfile.write(b"0\r\n\r\n")
