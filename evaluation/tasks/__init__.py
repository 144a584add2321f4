"""The evaluation tasks by name. Adding one: a module implementing :class:`~visorch.evaluation.task.Task`
and one line below."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from visorch.evaluation.errors import UnknownTaskError
from visorch.evaluation.task import Task
from visorch.evaluation.tasks.asr import AsrTask
from visorch.evaluation.tasks.correct import CorrectTask
from visorch.evaluation.tasks.count import CountTask
from visorch.evaluation.tasks.detect import DetectTask
from visorch.evaluation.tasks.ocr import OcrTask
from visorch.evaluation.tasks.pope import PopeTask
from visorch.evaluation.tasks.qa import QaTask

TASKS: Mapping[str, Callable[[], Task[Any, Any]]] = MappingProxyType(
    {
        "detect": DetectTask,
        "ocr": OcrTask,
        "asr": AsrTask,
        "qa": QaTask,
        "pope": PopeTask,
        "count": CountTask,
        "correct": CorrectTask,
    }
)


def task_names() -> list[str]:
    """Every task name."""
    return list(TASKS)


def create_task(name: str) -> Task[Any, Any]:
    """A fresh instance of the task called ``name``."""
    if name not in TASKS:
        raise UnknownTaskError(f"no evaluation task named {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]()
