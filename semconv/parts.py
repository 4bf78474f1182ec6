"""Reading message content of every shape into OTel GenAI parts.

Spans carry content as GenAI parts, as OpenAI content lists, as Anthropic content blocks, as Vercel AI
SDK parts or as plain strings; `to_parts` accepts them all, and `to_message` accepts a message in any
of those dialects. Unknown part types pass through untouched rather than being dropped.
"""

from __future__ import annotations

import json
from typing import Any

from .model import Message, Part
from .span import obj


def text_part(text: str) -> Part:
    return {"type": "text", "content": text}


def _data_url(url: str) -> Part:
    """`data:image/png;base64,AAA` -> a blob part; any other URL -> a uri part."""
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return {"type": "blob", "modality": head.split("/")[0] or "image", "mime_type": head, "content": data}
    return {"type": "uri", "modality": "image", "uri": url}


def to_part(item: Any) -> Part | None:
    if isinstance(item, str):
        return text_part(item)
    if not isinstance(item, dict):
        return None
    kind = item.get("type")
    if kind == "text":
        text = item.get("content", item.get("text"))
        if text is None:
            return None  # a null text part says nothing (it is not the text "null")
        return text_part(text if isinstance(text, str) else json.dumps(text))
    if kind == "image_url":  # OpenAI
        image = item.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return _data_url(url) if isinstance(url, str) else None
    if kind == "image" and isinstance(item.get("source"), dict):  # Anthropic
        source = item["source"]
        if source.get("type") == "base64":
            return {
                "type": "blob",
                "modality": "image",
                "mime_type": source.get("media_type"),
                "content": source.get("data"),
            }
        if isinstance(source.get("url"), str):
            return {"type": "uri", "modality": "image", "uri": source["url"]}
    if kind == "image" and isinstance(item.get("image"), str):  # Vercel AI SDK
        image = item["image"]
        if image.startswith(("http://", "https://", "data:")):
            return _data_url(image)
        return {
            "type": "blob",
            "modality": "image",
            "mime_type": item.get("mimeType") or item.get("mediaType"),
            "content": image,
        }
    if kind in ("tool_use", "tool-call"):  # Anthropic, Vercel
        return {
            "type": "tool_call",
            "id": item.get("id", item.get("toolCallId")),
            "name": item.get("name", item.get("toolName")),
            "arguments": item.get("input", item.get("args")),
        }
    if kind in ("tool_result", "tool-result"):
        response = item.get("content", item.get("output", item.get("result")))
        return {
            "type": "tool_call_response",
            "id": item.get("tool_use_id", item.get("toolCallId")),
            "response": response,
        }
    if kind in ("thinking", "reasoning"):
        return {"type": "reasoning", "content": item.get("thinking", item.get("content", item.get("text")))}
    if kind == "tool_call_response" and "response" not in item and "result" in item:
        return {**item, "response": item["result"]}
    if isinstance(kind, str):
        return item
    return None


def to_parts(content: Any) -> list[Part]:
    """Any content value (string, JSON string of a list, list of parts/blocks) as GenAI parts."""
    if content is None:
        return []
    if isinstance(content, str):
        stripped = content.lstrip()
        if stripped.startswith("[") and stripped.rstrip().endswith("]"):
            try:
                decoded = json.loads(content)
            except ValueError:
                decoded = None
            if isinstance(decoded, list) and all(isinstance(i, dict) and "type" in i for i in decoded):
                return to_parts(decoded)
        return [text_part(content)]
    if isinstance(content, dict):
        part = to_part(content)
        return [part] if part else []
    if isinstance(content, list):
        return [p for i in content if (p := to_part(i)) is not None]
    return [text_part(json.dumps(content))]


def to_message(item: Any) -> Message | None:
    """A message in GenAI, OpenAI, Anthropic or Vercel shape as a GenAI message; None if unusable."""
    if not isinstance(item, dict):
        return None
    role = item.get("role")
    role = role if isinstance(role, str) and role else "user"
    if isinstance(item.get("parts"), list):
        parts = to_parts(item["parts"])
    else:
        parts = to_parts(item.get("content"))
        for call in item.get("tool_calls") or []:  # OpenAI
            if isinstance(call, dict):
                fn = obj(call.get("function")) or call
                parts.append(
                    {
                        "type": "tool_call",
                        "id": call.get("id"),
                        "name": fn.get("name"),
                        "arguments": fn.get("arguments"),
                    }
                )
        if role == "tool" and item.get("tool_call_id"):
            text = "".join(p.get("content", "") for p in parts if p.get("type") == "text")
            parts = [{"type": "tool_call_response", "id": item["tool_call_id"], "response": text}]
    message: Message = {"role": role, "parts": parts}
    finish = item.get("finish_reason")
    if isinstance(finish, str) and finish:
        message["finish_reason"] = finish
    return message


def to_messages(value: Any) -> list[Message]:
    if not isinstance(value, list):
        return []
    return [m for i in value if (m := to_message(i)) is not None]


def text_of(parts: list[Part]) -> str:
    return "".join(text for p in parts if p.get("type") == "text" and isinstance(text := p.get("content"), str))


def arguments_object(arguments: Any) -> Any:
    """Tool-call arguments as an object when they are a JSON object string; as given otherwise."""
    if isinstance(arguments, str):
        try:
            decoded = json.loads(arguments)
        except ValueError:
            return arguments
        return decoded if isinstance(decoded, dict) else arguments
    return arguments


def arguments_string(arguments: Any) -> str:
    if arguments is None:
        return "{}"
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


_SCHEMA_KEYS = ("parameters", "input_schema", "inputSchema", "parameters_json_schema", "parametersJsonSchema")


def normalize_tools(tools: Any) -> list[dict[str, Any]]:
    """Tool definitions in any dialect; a Gemini tool holds several (`function_declarations`)."""
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else []:
        if isinstance(tool, dict) and ("function_declarations" in tool or "functionDeclarations" in tool):
            group = tool.get("function_declarations", tool.get("functionDeclarations"))
            out.extend(normalize_tools(group))
        elif (one := normalize_tool(tool)) is not None:
            out.append(one)
    return out


def normalize_tool(tool: Any) -> dict[str, Any] | None:
    """A tool definition in any dialect as `{"name", "description"?, "parameters"?}`."""
    if isinstance(tool, str):
        try:
            tool = json.loads(tool)
        except ValueError:
            return None
    if not isinstance(tool, dict):
        return None
    fn = obj(tool.get("function")) or tool
    name = fn.get("name")
    if not isinstance(name, str) or not name:
        return None
    out: dict[str, Any] = {"name": name}
    if isinstance(fn.get("description"), str):
        out["description"] = fn["description"]
    params = next((fn[k] for k in _SCHEMA_KEYS if fn.get(k) is not None), None)
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = None
    if isinstance(params, dict):
        out["parameters"] = params
    return out
