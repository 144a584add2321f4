"""PNG plots for reports: bar charts, the latency histogram and yes/no confusion matrices.

Figures are built with matplotlib's object API (no pyplot state), so plotting never touches a
global figure manager or needs a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure
from visorch.evaluation.metrics import BinaryMetrics

HORIZONTAL_ABOVE = 12
BAR_COLOUR = "#4C72B0"


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def bar_chart(
    values: Mapping[str, float],
    path: Path,
    title: str,
    ylabel: str,
    ylim: tuple[float, float] | None = (0.0, 1.0),
    counts: Mapping[str, int] | None = None,
) -> Path:
    """One bar per key, labelled with its value (and item count when given); horizontal when there are many."""
    labels = list(values)
    horizontal = len(labels) > HORIZONTAL_ABOVE
    size = (7.0, 0.25 * len(labels) + 1.5) if horizontal else (max(4.0, 0.8 * len(labels) + 2), 3.6)
    figure = Figure(figsize=size)
    axes = figure.add_subplot()
    heights = [values[label] for label in labels]
    texts = [
        f"{values[label]:.2f}" + (f" (n={counts[label]})" if counts and label in counts else "") for label in labels
    ]
    if horizontal:
        bars = axes.barh(range(len(labels)), heights, color=BAR_COLOUR)
        axes.set_yticks(range(len(labels)), labels, fontsize=8)
        axes.invert_yaxis()
        axes.bar_label(bars, texts, fontsize=7, padding=2)
        if ylim is not None:
            axes.set_xlim(ylim[0], ylim[1] * 1.2)
        axes.set_xlabel(ylabel)
    else:
        bars = axes.bar(range(len(labels)), heights, color=BAR_COLOUR)
        axes.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0, ha="right")
        axes.bar_label(bars, texts, fontsize=8, padding=2)
        if ylim is not None:
            axes.set_ylim(ylim[0], ylim[1] * 1.15)
        axes.set_ylabel(ylabel)
    axes.set_title(title)
    return _save(figure, path)


def latency_histogram(latencies: Sequence[float], path: Path, title: str = "Latency per item") -> Path:
    """Histogram of per-item seconds, with the median and 95th percentile marked."""
    figure = Figure(figsize=(5.5, 3.6))
    axes = figure.add_subplot()
    if latencies:
        ordered = sorted(latencies)
        axes.hist(ordered, bins=min(30, max(5, len(ordered) // 3)), color="#55A868")
        for share, style in ((0.5, "--"), (0.95, ":")):
            value = ordered[min(len(ordered) - 1, int(share * len(ordered)))]
            axes.axvline(value, color="black", linestyle=style, label=f"p{int(share * 100)} {value:.3g} s")
        axes.legend()
    axes.set_xlabel("seconds")
    axes.set_ylabel("items")
    axes.set_title(title)
    return _save(figure, path)


def confusion_matrices(matrices: Mapping[str, BinaryMetrics], path: Path, title: str = "Confusion") -> Path:
    """One 2x2 yes/no matrix per setting (rows: truth, columns: answer), unanswered noted below."""
    names = list(matrices)
    figure = Figure(figsize=(3.4 * max(1, len(names)), 3.6))
    for index, name in enumerate(names, start=1):
        metrics = matrices[name]
        cells = [
            [metrics.true_positives, metrics.false_negatives],
            [metrics.false_positives, metrics.true_negatives],
        ]
        axes = figure.add_subplot(1, max(1, len(names)), index)
        axes.imshow(cells, cmap="Blues", vmin=0)
        top = max(max(row) for row in cells) or 1
        for row in range(2):
            for column in range(2):
                colour = "white" if cells[row][column] > top / 2 else "black"
                axes.text(column, row, str(cells[row][column]), ha="center", va="center", color=colour)
        axes.set_xticks([0, 1], ["yes", "no"])
        axes.set_yticks([0, 1], ["yes", "no"])
        axes.set_xlabel(f"answer (unanswered: {metrics.unanswered})")
        axes.set_ylabel("truth")
        f1 = "–" if metrics.f1 is None else f"{metrics.f1:.2f}"
        axes.set_title(f"{name}\nacc {metrics.accuracy:.2f}, F1 {f1}")
    figure.suptitle(title)
    return _save(figure, path)
