"""What a model tool receives: the backend its call runs on and typed, lazy access to the loaded model.

The registry resolves the backend once per call and hands the tool a :class:`ModelHandle` typed
by the capability's protocol (as smolagents' ``setup()`` gives a tool its model, but loaded by the
model manager, which owns every model). Nothing loads until the tool calls :meth:`ModelHandle.use`
or :meth:`ModelHandle.run_batched`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from visorch.tools.errors import ToolExecutionError
from visorch.tools.models.backend import Backend

if TYPE_CHECKING:
    from visorch.tools.models.manager import ModelManager

ModelT = TypeVar("ModelT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class ModelHandle(Generic[ModelT]):
    """The backend chosen for one tool call, and its model as the capability's protocol ``ModelT``."""

    manager: ModelManager
    backend: Backend
    protocol: type[ModelT]

    @property
    def name(self) -> str:
        """The backend's name (what results record as their source)."""
        return self.backend.name

    def installed(self) -> list[Backend]:
        """Every installed backend of this capability, the chosen one first (for fallbacks)."""
        others = [
            b
            for b in self.manager.backends(self.backend.capability)
            if b.name != self.backend.name and self.manager.not_installed_reason(b.name) is None
        ]
        return [self.backend, *others]

    def on(self, backend: Backend) -> ModelHandle[ModelT]:
        """The same capability on another backend (LOC's open-vocabulary fallback, SEG_POINT's SAM)."""
        if backend.capability != self.backend.capability:
            raise ToolExecutionError(f"backend {backend.name} does {backend.capability}, not {self.backend.capability}")
        return ModelHandle(self.manager, backend, self.protocol)

    def _checked(self, model: Any) -> ModelT:
        if not isinstance(model, self.protocol):
            raise ToolExecutionError(
                f"backend {self.backend.name} loaded a {type(model).__name__}, which lacks the methods of "
                f"{self.protocol.__name__}; fix the backend's loader"
            )
        return model

    @contextlib.contextmanager
    def use(self) -> Iterator[ModelT]:
        """Hold the loaded model (loading it on first use) while the block runs."""
        with self.manager.use(self.backend.name) as model:
            yield self._checked(model)

    def run_batched(self, operation: str, item: Any, run: Callable[[ModelT, list[Any]], Sequence[ResultT]]) -> ResultT:
        """``run(model, items)`` for ``item``, batched with concurrent calls of the same ``operation``."""
        result: ResultT = self.manager.run_batched(
            self.backend.name, operation, item, lambda model, items: run(self._checked(model), items)
        )
        return result
