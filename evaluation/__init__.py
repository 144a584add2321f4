"""The evaluation harness: tasks (detect, ocr, asr, qa, pope), the question set, metrics and reports.

Run one with :func:`run_evaluation`; the CLI mounts :func:`visorch.evaluation.cli.make_eval_command`.
The names below are imported on first use, so that the agent can use :mod:`visorch.evaluation.answers`
(answer normalisation, standard library only) without loading the tasks and their extras.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from visorch.evaluation.predictors import Answerer, EvaluationRuntime
    from visorch.evaluation.questions import Question, load_questions
    from visorch.evaluation.runner import build_predictor, run_evaluation
    from visorch.evaluation.summary import Summary
    from visorch.evaluation.tasks import create_task, task_names

_HOMES = {
    "Answerer": "predictors", "EvaluationRuntime": "predictors", "Question": "questions",
    "load_questions": "questions", "build_predictor": "runner", "run_evaluation": "runner", "Summary": "summary",
    "create_task": "tasks", "task_names": "tasks",
}  # fmt: skip

__all__ = [
    "Answerer",
    "EvaluationRuntime",
    "Question",
    "Summary",
    "build_predictor",
    "create_task",
    "load_questions",
    "run_evaluation",
    "task_names",
]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'visorch.evaluation' has no attribute {name!r}")
    return getattr(import_module(f"visorch.evaluation.{_HOMES[name]}"), name)
