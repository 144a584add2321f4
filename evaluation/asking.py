"""Asking the agent one question and keeping what it returns: the answer, stop reason, timings, trace."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from visorch.evaluation.predictors import Answerer
from visorch.evaluation.task import ItemContext, Prediction
from visorch.tools.audio import load_audio


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from pydantic models, dataclasses, mappings and the like (str() as a last resort)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json.loads(json.dumps(dataclasses.asdict(value), default=str))
    return json.loads(json.dumps(value, default=str))


def save_trace(trace: Any, path: Path) -> bool:
    """Write the agent's trace as JSON (``save_json``, ``to_json`` or pydantic); False when there is none."""
    if trace is None:
        return False
    if callable(getattr(trace, "save_json", None)):
        trace.save_json(path)
    elif callable(getattr(trace, "to_json", None)):
        path.write_text(str(trace.to_json()), encoding="utf-8")
    else:
        path.write_text(json.dumps(to_jsonable(trace), indent=2), encoding="utf-8")
    return True


def ask(
    answerer: Answerer,
    item_id: str,
    image_path: Path,
    question: str,
    audio_path: Path | None,
    context: ItemContext,
) -> Prediction:
    """Check the inputs (typed errors for missing or corrupt files), ask, and save the trace."""
    context.images.load(image_path)
    if audio_path is not None:
        load_audio(audio_path)
    answer = answerer.ask(
        image=str(image_path), question=question, audio=None if audio_path is None else str(audio_path)
    )
    value: dict[str, Any] = {"answer": str(answer.text)}
    for name in ("stop_reason", "timings"):
        found = getattr(answer, name, None)
        if found is not None:
            value[name] = str(getattr(found, "value", found)) if name == "stop_reason" else to_jsonable(found)
    trace_path = context.trace_path(item_id)
    saved = save_trace(getattr(answer, "trace", None), trace_path)
    return Prediction(value=value, trace=f"{context.traces_dir.name}/{trace_path.name}" if saved else None)
