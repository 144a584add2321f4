"""Asking the agent one question and keeping what it returns: the answer, stop reason, timings, trace.

The agent returns its public :class:`visorch.agent.Answer`; the harness reads its fields directly.
Per item, ``traces/ID.json`` keeps the whole answer record (programs, verdicts, evidence, boxes,
timings) and the live trace of the program the answer rests on, when there is one.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visorch.evaluation.predictors import Answerer
from visorch.evaluation.task import ItemContext, Prediction
from visorch.tools.audio import load_audio

if TYPE_CHECKING:
    from visorch.agent import Answer


def answer_record(answer: Answer) -> dict[str, Any]:
    """The answer (its JSON form, trace excluded) and its trace as JSON (None when nothing ran)."""
    trace = None if answer.trace is None else json.loads(answer.trace.to_json())
    return {"answer": answer.model_dump(mode="json"), "trace": trace}


def ask(
    answerer: Answerer,
    item_id: str,
    image_path: Path,
    question: str,
    audio_path: Path | None,
    context: ItemContext,
) -> Prediction:
    """Check the inputs (typed errors for missing or corrupt files), ask, and save the answer record."""
    context.images.load(image_path)
    if audio_path is not None:
        load_audio(audio_path)
    answer = answerer.ask(
        image=str(image_path), question=question, audio=None if audio_path is None else str(audio_path)
    )
    record_path = context.trace_path(item_id)
    record_path.write_text(json.dumps(answer_record(answer), indent=2, default=str), encoding="utf-8")
    value: dict[str, Any] = {
        "answer": answer.text,
        "stop_reason": answer.stop_reason,
        "timings": answer.timings.model_dump(mode="json"),
    }
    return Prediction(value=value, trace=f"{context.traces_dir.name}/{record_path.name}")


def mean_agent_timings(predictions: Sequence[dict[str, Any] | None]) -> dict[str, float]:
    """Each number of the agent's ``Timings`` averaged over the answered items (seconds, calls)."""
    timed = [prediction["timings"] for prediction in predictions if prediction and prediction.get("timings")]
    names = [name for name, value in (timed[0].items() if timed else []) if isinstance(value, int | float)]
    return {name: round(statistics.fmean(float(t.get(name, 0.0)) for t in timed), 3) for name in names}
