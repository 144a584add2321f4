"""Typed errors of the evaluation harness (all subclass :class:`tools.errors.VisorchError`)."""

from __future__ import annotations

from visorch.tools.errors import ConfigError, InputError, VisorchError


class EvaluationError(VisorchError):
    """An evaluation run cannot start or continue."""


class UnknownTaskError(EvaluationError):
    """No evaluation task has the requested name."""


class DatasetLayoutError(InputError):
    """A data path does not have the layout a task expects; the message says which layout."""


class ResumeMismatchError(EvaluationError):
    """The output folder holds results of a different run (task, data, seed or predictor)."""


class PredictorUnavailableError(ConfigError):
    """A task's predictor cannot be built from what the runtime offers."""
