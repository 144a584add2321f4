"""The run summary (summary.json) and its human-readable rendering (summary.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from visorch.evaluation.provenance import Provenance
from visorch.evaluation.task import ErrorInfo, MetricValue

SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"


class RunClock(BaseModel):
    """Wall-clock facts of the whole run (not of one question: that is the agent's ``Timings``).

    Latency statistics are over every finished item.
    """

    started_at: str
    finished_at: str
    wall_s: float
    predicted_now: int
    """Items predicted in this invocation (the others came from an earlier, resumed run)."""
    items_per_s: float | None
    latency_mean_s: float | None
    latency_median_s: float | None
    latency_p95_s: float | None


class ItemError(BaseModel):
    """One failed item, for the error list."""

    id: str
    error: ErrorInfo


class Summary(BaseModel):
    """Everything a report states and everything a rerun needs to reproduce it."""

    task: str
    data_path: str
    out_dir: str
    items: int
    finished: int
    errors: int
    error_types: dict[str, int]
    resumed: int
    """Items whose results were read back from an earlier run."""
    split: str | None = None
    """The data split the figures were measured on, where it matters (COCO val2017 vs train2017)."""
    metrics: dict[str, MetricValue]
    per_type: dict[str, dict[str, MetricValue]]
    breakdown: str = "type"
    """What the keys of ``per_type`` are."""
    details: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    failed_items: list[ItemError] = Field(default_factory=list)
    predictor: dict[str, Any]
    config: dict[str, Any]
    seed: int
    limit: int | None
    workers: int
    command: str
    """A command line that reruns this evaluation."""
    provenance: Provenance
    run_clock: RunClock
    plots: list[str]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "–" if value is None else str(value)


def _table(rows: dict[str, dict[str, MetricValue]], label: str) -> list[str]:
    columns: list[str] = []
    for row in rows.values():
        columns.extend(name for name in row if name not in columns)
    lines = [f"| {label} | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(_cell(row.get(column)) for column in columns) + " |")
    return lines


def render_markdown(summary: Summary) -> str:
    """summary.md: metrics, per-type table, errors, plots and what a rerun needs."""
    timings = summary.run_clock
    lines = [
        f"# Evaluation: {summary.task}" + (f" ({summary.split})" if summary.split else ""),
        "",
        f"- data: `{summary.data_path}`" + (f" (split: {summary.split})" if summary.split else ""),
        f"- items: {summary.items} (finished {summary.finished}, errors {summary.errors}, resumed {summary.resumed})",
        f"- seed {summary.seed}, limit {summary.limit}, workers {summary.workers}",
        f"- started {timings.started_at}, finished {timings.finished_at}, wall {timings.wall_s:.1f} s, "
        f"latency median {_cell(timings.latency_median_s)} s, p95 {_cell(timings.latency_p95_s)} s",
        f"- rerun: `{summary.command}`",
        "",
        "## Metrics",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {name} | {_cell(value)} |" for name, value in summary.metrics.items()),
        "",
    ]
    if summary.per_type:
        lines += [f"## Per {summary.breakdown}", "", *_table(summary.per_type, summary.breakdown), ""]
    if summary.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in summary.notes), ""]
    if summary.errors:
        lines += ["## Errors", "", "Errors count as wrong in accuracy and as empty predictions in error rates.", ""]
        lines += [f"- {name}: {count}" for name, count in summary.error_types.items()]
        lines += ["", *(f"- `{e.id}`: {e.error.type}: {e.error.message[:300]}" for e in summary.failed_items), ""]
    if summary.plots:
        lines += ["## Plots", "", *(f"![{Path(plot).stem}]({plot})" for plot in summary.plots), ""]
    for name, value in summary.details.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=2)
        lines += [f"## {name}", "", "```", text.rstrip(), "```", ""]
    lines += [
        "## Reproduce",
        "",
        f"- git commit: `{summary.provenance.git_commit}` (uncommitted changes: {summary.provenance.git_dirty})",
        f"- python {summary.provenance.python} on {summary.provenance.platform}",
        "- packages: " + ", ".join(f"{name} {version}" for name, version in summary.provenance.packages.items()),
        "",
        "Predictor:",
        "",
        "```json",
        json.dumps(summary.predictor, indent=2, default=str),
        "```",
        "",
        "Config:",
        "",
        "```json",
        json.dumps(summary.config, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_reports(summary: Summary, out_dir: Path) -> None:
    """Write summary.json and summary.md into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SUMMARY_JSON).write_text(summary.model_dump_json(indent=2) + "\n", encoding="utf-8")
    (out_dir / SUMMARY_MD).write_text(render_markdown(summary), encoding="utf-8")
