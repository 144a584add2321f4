"""results.jsonl (one line per finished item, appended as items finish) and run.json (what the run is)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from visorch.evaluation.task import ItemResult

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "run.json"


class RunManifest(BaseModel):
    """What makes two runs the same run: results of one may only be resumed by the other."""

    task: str
    data_path: str
    seed: int
    predictor: dict[str, Any]


class ResultsLog:
    """The append-only results file; on reading, the last line of an item wins."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> tuple[dict[str, ItemResult], int]:
        """Finished items by id, and how many lines could not be read (a write cut off by a crash)."""
        if not self.path.is_file():
            return {}, 0
        results: dict[str, ItemResult] = {}
        unreadable = 0
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                result = ItemResult.model_validate_json(line)
            except ValidationError:
                unreadable += 1
                continue
            results[result.id] = result
        return results, unreadable

    def rewrite(self, results: Iterable[ItemResult]) -> None:
        """Replace the file with exactly ``results``, one line each (atomically)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".jsonl.tmp")
        temporary.write_text("".join(result.model_dump_json() + "\n" for result in results), encoding="utf-8")
        temporary.replace(self.path)

    def reset(self) -> None:
        """Start an empty file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("", encoding="utf-8")

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[ItemResult], None]]:
        """A function that appends one result and flushes it, so an interruption loses nothing finished."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:

            def write(result: ItemResult) -> None:
                handle.write(result.model_dump_json() + "\n")
                handle.flush()

            yield write
