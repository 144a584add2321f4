"""The runtime: settings turned into a tool registry, a model manager, an image store and a cache.

The CLI, the agent and the evaluation harness all start from one :class:`Runtime`, so a program
runs the same way whichever of them launched it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from visorch.config import VisorchSettings
from visorch.programs.executor import ExecutorOptions, StepEvent, execute_program
from visorch.programs.parser import parse_program
from visorch.programs.registry import program_registry
from visorch.programs.trace import StepRecord, Trace
from visorch.programs.validator import ValidatedProgram, validate_program
from visorch.tools.audio import load_audio
from visorch.tools.catalog import builtin_tools, default_backends, model_tools
from visorch.tools.context import ToolContext
from visorch.tools.file_access import FileAccess
from visorch.tools.images import ImageStore
from visorch.tools.models.backend import Backend
from visorch.tools.models.cache import ResultCache
from visorch.tools.models.manager import ModelManager
from visorch.tools.registry import Tool, ToolRegistry


@dataclass
class Runtime:
    """Everything needed to check and run programs in this process."""

    settings: VisorchSettings
    registry: ToolRegistry
    context: ToolContext

    @classmethod
    def create(
        cls,
        settings: VisorchSettings | None = None,
        tools: Iterable[Tool] | None = None,
        backends: Iterable[Backend] | None = None,
    ) -> Runtime:
        """Build the runtime from settings (default: environment and config file)."""
        settings = settings or VisorchSettings()
        declared = backends if backends is not None else default_backends()
        if settings.models.remote:
            from visorch.tools.remote.backend import with_remote

            declared = with_remote(declared, settings.models.remote)
        models = ModelManager(
            declared,
            weights_root=settings.weights_root,
            device=settings.models.device,
            device_overrides=settings.models.device_overrides,
            memory_budget_mb=settings.models.memory_budget_mb,
            vram_budget_mb=settings.models.vram_budget_mb,
            preferred=settings.models.preferred,
        )
        results = ResultCache(settings.results_path) if settings.models.cache_results else None
        context = ToolContext(
            images=ImageStore(settings.images_dir, max_pixels=settings.max_image_pixels),
            models=models,
            results=results,
            files=FileAccess(settings.allowed_roots),
        )
        registry = program_registry(tools if tools is not None else [*builtin_tools(), *model_tools()])
        return cls(settings=settings, registry=registry, context=context)

    @property
    def executor_options(self) -> ExecutorOptions:
        """Executor limits from the settings."""
        return ExecutorOptions(
            max_workers=self.settings.executor.max_workers, step_timeout_s=self.settings.executor.step_timeout_s
        )

    def load_inputs(
        self,
        images: dict[str, str | Path] | None = None,
        audio: dict[str, str | Path] | None = None,
        question: str | None = None,
    ) -> dict[str, Any]:
        """Load and validate input files into program values (typed errors on bad files)."""
        values: dict[str, Any] = {}
        for name, path in (images or {}).items():
            values[name] = self.context.images.load(path)
            self.context.files.allow(path)  # a program may LOAD what it was given, and nothing else
        for name, path in (audio or {}).items():
            values[name] = load_audio(path)
        if question is not None:
            values["QUESTION"] = question
        return values

    def check(self, source: str, inputs: dict[str, Any] | None = None) -> ValidatedProgram:
        """Parse and validate program text (raises ProgramSyntaxError / ProgramValidationError)."""
        return validate_program(parse_program(source), self.registry, inputs)

    def execute(
        self,
        validated: ValidatedProgram,
        inputs: dict[str, Any],
        on_event: Callable[[StepEvent], None] | None = None,
        restored: Mapping[str, StepRecord] | None = None,
    ) -> Trace:
        """Run a program :meth:`check` validated on loaded inputs; step errors land in the trace.

        ``restored``: records of steps that finished in an interrupted run of the same program (not run again).
        """
        return execute_program(validated, inputs, self.context, self.executor_options, on_event, restored)

    def run_program(
        self,
        source: str,
        inputs: dict[str, Any],
        on_event: Callable[[StepEvent], None] | None = None,
    ) -> Trace:
        """Parse and validate program text once, then :meth:`execute` it (a convenience)."""
        return self.execute(self.check(source, inputs), inputs, on_event)

    def close(self) -> None:
        """Release the result cache and loaded models."""
        if self.context.results is not None:
            self.context.results.close()
        self.context.models.unload()
