"""The evaluation tasks by name. Adding one: a module implementing :class:`~orchestrator.evaluation.task.Task`
and one line below."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from orchestrator.evaluation.errors import UnknownTaskError
from orchestrator.evaluation.task import Task
from orchestrator.evaluation.tasks.asr import AsrTask
from orchestrator.evaluation.tasks.detect import DetectTask
from orchestrator.evaluation.tasks.ocr import OcrTask
from orchestrator.evaluation.tasks.pope import PopeTask
from orchestrator.evaluation.tasks.qa import QaTask

TASKS: Mapping[str, Callable[[], Task[Any, Any]]] = MappingProxyType(
    {
        "detect": DetectTask,
        "ocr": OcrTask,
        "asr": AsrTask,
        "qa": QaTask,
        "pope": PopeTask,
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
