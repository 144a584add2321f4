"""Reading order for text lines: rows by vertical overlap, rows top to bottom, left to right within a row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from visorch.tools.text import TextLine

ROW_OVERLAP = 0.5
"""Two lines share a row when their vertical overlap is at least this fraction of the shorter height."""


def quad_to_xyxy(
    points: Sequence[Sequence[float]] | np.ndarray, width: int, height: int
) -> tuple[float, float, float, float]:
    """The axis-aligned box (x1, y1, x2, y2) around a quadrilateral, clipped to the image."""
    corners = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    x1, y1 = corners.min(axis=0)
    x2, y2 = corners.max(axis=0)
    return (
        float(np.clip(x1, 0, width)),
        float(np.clip(y1, 0, height)),
        float(np.clip(x2, 0, width)),
        float(np.clip(y2, 0, height)),
    )


class _Row:
    """Lines that share a horizontal band; the band is the mean top and bottom of its lines."""

    def __init__(self, line: TextLine) -> None:
        self.lines = [line]

    @property
    def top(self) -> float:
        return sum(line.box[1] for line in self.lines) / len(self.lines)

    @property
    def bottom(self) -> float:
        return sum(line.box[3] for line in self.lines) / len(self.lines)

    def overlap_ratio(self, line: TextLine) -> float:
        overlap = min(self.bottom, line.box[3]) - max(self.top, line.box[1])
        shorter = min(self.bottom - self.top, line.box[3] - line.box[1])
        if shorter <= 0:  # a degenerate (zero-height) box joins the band its centre lies in
            centre = (line.box[1] + line.box[3]) / 2
            return 1.0 if self.top <= centre <= self.bottom else 0.0
        return overlap / shorter


def group_rows(lines: Iterable[TextLine], min_overlap: float = ROW_OVERLAP) -> list[list[TextLine]]:
    """Lines grouped into rows (top to bottom), each row sorted left to right."""
    rows: list[_Row] = []
    for line in sorted(lines, key=lambda item: ((item.box[1] + item.box[3]) / 2, item.box[0])):
        # Compare with every row's band, not only the last: a tall line can start a row that
        # shorter lines further right join after another row has begun.
        best = max(rows, key=lambda row: row.overlap_ratio(line), default=None)
        if best is not None and best.overlap_ratio(line) >= min_overlap:
            best.lines.append(line)
        else:
            rows.append(_Row(line))
    rows.sort(key=lambda row: (row.top + row.bottom) / 2)
    return [sorted(row.lines, key=lambda item: (item.box[0], item.box[1])) for row in rows]


def reading_order(lines: Iterable[TextLine], min_overlap: float = ROW_OVERLAP) -> list[TextLine]:
    """The lines in reading order: rows top to bottom, left to right within each row."""
    return [line for row in group_rows(lines, min_overlap) for line in row]


def ordered_lines(
    detections: Iterable[tuple[Sequence[Sequence[float]] | np.ndarray, str, float]], width: int, height: int
) -> list[TextLine]:
    """TextLines in reading order from (quadrilateral, text, confidence) triples; blank texts dropped."""
    lines = [
        TextLine(text=text.strip(), box=quad_to_xyxy(quad, width, height), confidence=round(float(score), 4))
        for quad, text, score in detections
        if text.strip()
    ]
    return reading_order(lines)
