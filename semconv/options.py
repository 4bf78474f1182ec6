"""Mapping options: what to leave out or redact before a record leaves the process."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

REDACTED = "[REDACTED]"


@dataclass(frozen=True)
class MapOptions:
    """How spans become records.

    omit_request / omit_response: keep model, parameters and usage (Helicone needs them for cost) but
        drop all content, and send `Helicone-Omit-Request` / `Helicone-Omit-Response`.
    redact_patterns: regular expressions; every match in any string of the bodies and meta is replaced
        by `[REDACTED]`.
    redact_attributes: glob patterns of span attribute keys (`gen_ai.input.*`) removed before mapping.
    resource_properties: resource attribute keys (`service.name`) sent as `Helicone-Property-<key>`.
    """

    omit_request: bool = False
    omit_response: bool = False
    redact_patterns: tuple[str, ...] = ()
    redact_attributes: tuple[str, ...] = ()
    resource_properties: tuple[str, ...] = ()
    _compiled: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            compiled = tuple(re.compile(p) for p in self.redact_patterns)
        except re.error as exc:
            raise ValueError(f"redact_patterns: invalid regular expression: {exc}") from exc
        object.__setattr__(self, "_compiled", compiled)

    def drop_attributes(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not self.redact_attributes:
            return attrs
        return {k: v for k, v in attrs.items() if not any(fnmatch.fnmatchcase(k, p) for p in self.redact_attributes)}

    def redact(self, value: Any) -> Any:
        if not self._compiled:
            return value
        if isinstance(value, str):
            for pattern in self._compiled:
                value = pattern.sub(REDACTED, value)
            return value
        if isinstance(value, dict):
            return {k: self.redact(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact(v) for v in value]
        return value


_REQUEST_CONTENT = ("messages", "input", "prompt", "system", "instructions", "tools")
_RESPONSE_CONTENT = ("choices", "content", "output", "data")


def omit_content(body: dict[str, Any], request: bool) -> dict[str, Any]:
    keys = _REQUEST_CONTENT if request else _RESPONSE_CONTENT
    return {k: v for k, v in body.items() if k not in keys}
