"""The protocol every evaluation task implements, and the records the harness keeps per item.

A task turns a data path into items, predicts one item with its predictor, scores one item,
aggregates scored items into metrics and draws its plots. The runner does everything else
(resume, threads, progress, errors, reports), so a new task is one small module.
"""

from __future__ import annotations

import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field
from visorch.evaluation.predictors import EvaluationRuntime
from visorch.tools.images import ImageStore

MetricValue = float | int | str | None


class EvalItem(BaseModel):
    """One unit of evaluation: a stable id (the resume key) and a type for per-type breakdowns."""

    id: str
    type: str


class Prediction(BaseModel):
    """What a predictor produced for one item, as JSON, with an optional trace file (relative path)."""

    value: dict[str, Any]
    trace: str | None = None


class ItemScore(BaseModel):
    """One item's score: ``correct`` for accuracy tasks (None elsewhere) and named numbers."""

    correct: bool | None = None
    scores: dict[str, float] = Field(default_factory=dict)


class ErrorInfo(BaseModel):
    """Why an item has no usable prediction."""

    type: str
    message: str
    stage: Literal["predict", "score"] = "predict"
    where: str | None = None

    @classmethod
    def from_exception(cls, error: BaseException, stage: Literal["predict", "score"] = "predict") -> ErrorInfo:
        """The exception's class name, message (first 2,000 characters) and innermost frame."""
        frames = traceback.extract_tb(error.__traceback__)
        where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else None
        return cls(type=type(error).__name__, message=str(error)[:2000], stage=stage, where=where)


class ItemResult(BaseModel):
    """One line of results.jsonl: the item, its prediction or error, score, latency and trace."""

    id: str
    type: str
    status: Literal["ok", "error"]
    item: dict[str, Any]
    prediction: dict[str, Any] | None = None
    correct: bool | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    error: ErrorInfo | None = None
    latency_s: float
    trace: str | None = None
    finished_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class Aggregate(BaseModel):
    """A task's metrics over all items, per item type, and task-specific details."""

    metrics: dict[str, MetricValue]
    per_type: dict[str, dict[str, MetricValue]] = Field(default_factory=dict)
    breakdown: str = "type"
    """What the keys of ``per_type`` are (question type, category, corpus, setting)."""
    details: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    split: str | None = None
    """The data split the figures were measured on ('COCO val2017 (coco-val)'), where it matters."""


@dataclass(frozen=True)
class ItemContext:
    """What ``predict`` may use besides the item: the image store and the traces folder."""

    images: ImageStore
    traces_dir: Path

    def trace_path(self, item_id: str) -> Path:
        """Where the trace of ``item_id`` goes (the folder is created)."""
        self.traces_dir.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in item_id)
        return self.traces_dir / f"{safe}.json"


ItemT = TypeVar("ItemT", bound=EvalItem)
PredictorT = TypeVar("PredictorT")


class Task(Protocol[ItemT, PredictorT]):
    """An evaluation task: items, one prediction and score per item, metrics over all, plots."""

    name: str
    summary: str

    def default_data(self, data_root: Path) -> Path:
        """The data path used when none is given, under the shared ``data_root``."""
        ...

    def load_items(self, data_path: Path, seed: int, data_root: Path) -> list[ItemT]:
        """Every item of the data set at ``data_path``, in a fixed order (ids unique).

        ``data_root`` is the shared data root, for data files whose paths are relative to it
        (the question set).
        """
        ...

    def build_predictor(self, runtime: EvaluationRuntime, backend: str | None) -> PredictorT:
        """The real predictor from the runtime (a model backend or the agent)."""
        ...

    def predict(self, item: ItemT, predictor: PredictorT, context: ItemContext) -> Prediction:
        """Run the predictor on one item; raise on bad input (the runner records the error)."""
        ...

    def score(self, item: ItemT, prediction: dict[str, Any] | None) -> ItemScore:
        """Score one prediction; ``None`` means the item failed and must not raise or count as correct."""
        ...

    def aggregate(self, pairs: Sequence[tuple[ItemT, ItemResult]]) -> Aggregate:
        """Metrics over every finished item (errors included, scored as failures)."""
        ...

    def plots(self, pairs: Sequence[tuple[ItemT, ItemResult]], aggregate: Aggregate, out_dir: Path) -> list[Path]:
        """Task-specific PNG plots written under ``out_dir``."""
        ...


def accuracy_by_type(results: Sequence[ItemResult]) -> dict[str, dict[str, MetricValue]]:
    """Accuracy, item count and error count per item type (errors count as wrong)."""
    table: dict[str, dict[str, MetricValue]] = {}
    for kind in sorted({result.type for result in results}):
        of_kind = [result for result in results if result.type == kind]
        table[kind] = {
            "accuracy": sum(1 for result in of_kind if result.correct) / len(of_kind),
            "items": len(of_kind),
            "errors": sum(1 for result in of_kind if result.status == "error"),
        }
    return table
