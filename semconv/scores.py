"""`gen_ai.evaluation.result` span events as Helicone scores for the evaluated call's record.

Helicone's score API (`POST /v1/request/{id}/score`, jawn `ScoreManager.mapScores`) takes only
integers and booleans and refuses a float. So: an integral value stays as it is; a fractional one
(the usual 0..1 evaluation score) is sent as hundredths under `<name>_x100` (0.87 -> 87), never
rounded silently under its own name; a value-less event with a pass/fail-like label is a boolean."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .span import Event, SpanView, to_float

EVENT = "gen_ai.evaluation.result"
Score = int | bool
_TRUE = {"pass", "passed", "true", "yes", "correct", "good"}
_FALSE = {"fail", "failed", "false", "no", "incorrect", "bad"}
_NAME_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True)
class Evaluation:
    span: SpanView  # the span the event was on
    response_id: str | None  # the evaluated completion, when the event names it
    name: str
    value: Score


def _score(event: Event) -> tuple[str, Score] | None:
    attrs = event.attrs
    name = _NAME_SAFE.sub("_", str(attrs.get("gen_ai.evaluation.name") or "evaluation"))
    value = to_float(attrs.get("gen_ai.evaluation.score.value"))
    if value is not None and math.isfinite(value):
        return (name, int(value)) if value.is_integer() else (f"{name}_x100", round(value * 100))
    label = str(attrs.get("gen_ai.evaluation.score.label") or "").strip().lower()
    if label in _TRUE or label in _FALSE:
        return name, label in _TRUE
    return None


def evaluations(span: SpanView) -> list[Evaluation]:
    out = []
    for event in span.events:
        if event.name == EVENT and (score := _score(event)) is not None:
            response_id = event.attrs.get("gen_ai.response.id")
            out.append(Evaluation(span, response_id if isinstance(response_id, str) else None, *score))
    return out
