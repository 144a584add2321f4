"""Terminal output for the CLI: step progress, errors as one clear line, tool cards."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.status import Status
from rich.table import Table
from visorch.programs.errors import shorten_quotes
from visorch.programs.executor import StepEvent
from visorch.programs.trace import StepStatus
from visorch.tools.registry import ToolRegistry

stderr = Console(stderr=True, highlight=False, soft_wrap=True)
# Tables need a width; when output goes to a file or pipe, rich would assume 80 columns.
stdout = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


class StepProgress:
    """Shows which steps are running (spinner) and prints one line per finished step."""

    def __init__(self, console: Console, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.running: dict[str, float] = {}
        self.lock = threading.Lock()
        self.status: Status | None = None

    def __call__(self, event: StepEvent) -> None:
        record = event.record
        with self.lock:
            if event.kind == "started":
                self.running[record.target] = time.perf_counter()
            else:
                self.running.pop(record.target, None)
                if not self.quiet:
                    self.console.print(
                        self._line(record.status, record.text, record.duration_s, record.cached, record.error)
                    )
            self._refresh()

    def message(self, text: str) -> None:
        """Show a free-form progress message (model loading, planning, ...)."""
        if self.status is not None:
            self.status.update(text)

    def _line(self, status: StepStatus, text: str, seconds: float | None, cached: bool, error: str | None) -> str:
        timing = "" if seconds is None else f" [dim]{seconds:.2f}s{' cached' if cached else ''}[/dim]"
        if status == StepStatus.OK:
            return f"[green]✓[/green] {_escape(text)}{timing}"
        if status == StepStatus.SKIPPED:
            return f"[yellow]-[/yellow] {_escape(text)} [dim]skipped[/dim]"
        return f"[red]✗[/red] {_escape(text)}{timing}\n    [red]{_escape(error or '')}[/red]"

    def _refresh(self) -> None:
        if self.status is None:
            return
        if self.running:
            names = ", ".join(self.running)
            longest = time.perf_counter() - min(self.running.values())
            self.status.update(f"running {names} ({longest:.0f}s)")
        else:
            self.status.update("working")

    @contextmanager
    def active(self) -> Iterator[StepProgress]:
        """Show a spinner while the block runs (only on a terminal)."""
        if self.quiet or not self.console.is_terminal:
            yield self
            return
        with self.console.status("starting") as status:
            self.status = status
            try:
                yield self
            finally:
                self.status = None


def _escape(text: str) -> str:
    return shorten_quotes(text).replace("[", "\\[")


def tools_table(
    registry: ToolRegistry, availability: dict[str, str], backend_notes: dict[str, str] | None = None
) -> Table:
    """The ``visorch tools`` listing: one row per tool, rendered from the registry.

    ``backend_notes``: per tool, the notes of the backend it runs on here (its accuracy, speed, vocabulary).
    """
    table = Table(title="visorch tools", show_lines=True)
    table.add_column("tool", style="bold cyan", no_wrap=True)
    table.add_column("signature / description")
    table.add_column("status", no_wrap=True)
    for item in registry:
        spec = item.spec
        text = f"{_escape(spec.signature())}\n{_escape(spec.summary)}"
        if spec.limitations:
            text += f"\n[dim]Limits: {_escape(spec.limitations)}[/dim]"
        if backend_notes and spec.name in backend_notes:
            text += f"\n[dim]Backend: {_escape(backend_notes[spec.name])}[/dim]"
        text += f"\n[dim]e.g. {_escape(spec.example)}[/dim]"
        table.add_row(spec.name, text, availability.get(spec.name, "ready"))
    return table
