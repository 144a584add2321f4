"""The result of a correction: original and corrected text, claims with verdicts, stages, and the HTML trace."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import supervision as sv
from pydantic import BaseModel, ConfigDict, Field
from visorch.correction.types import Claim, Concept, NormalisedBox, RewriteMethod, StageRecord
from visorch.programs.trace import Trace
from visorch.programs.trace_html import render_trace_html
from visorch.tools.images import ImageRef
from visorch.tools.rendering import image_tag

VERDICT_COLOURS = {"supported": "#2e7d32", "corrected": "#ef6c00", "removed": "#c62828", "unverified": "#757575"}


class Correction(BaseModel):
    """A text checked against an image: what it said, what it says now, and why."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    original: str
    corrected: str
    """The corrected text, each present object grounded inline as ``name([x1, y1, x2, y2])`` (0-1)."""
    corrected_plain: str
    """The corrected text without boxes."""
    claims: list[Claim]
    concepts: list[Concept]
    knowledge: list[str]
    """The visual knowledge base the rewrite was made against."""
    program: str
    """The visual program that checked the claims (empty when there was nothing to check)."""
    rewrite: RewriteMethod
    rewrite_problems: list[str] = Field(default_factory=list)
    """Why the LLM's rewrite was rejected for claim-by-claim editing (empty when kept or not tried)."""
    stages: list[StageRecord]
    notes: list[str] = Field(default_factory=list)
    """Caveats: a cut text, another language, nothing checkable, an LLM failure."""
    unchecked: str = ""
    """The part of a long text beyond the bound, returned as it was and not checked."""
    image: ImageRef
    llm_calls: int
    seconds: float
    trace: Trace | None = Field(default=None, exclude=True)
    """The validation program's live trace (None when nothing ran)."""

    def verdicts(self) -> dict[str, int]:
        """How many claims got each verdict."""
        counts = {"supported": 0, "corrected": 0, "removed": 0, "unverified": 0}
        for claim in self.claims:
            counts[claim.verdict] += 1
        return counts

    def to_text(self) -> str:
        """The corrected text, then one line per claim."""
        lines = [self.corrected or "(nothing left)", ""]
        lines += [f"{c.id} {c.verdict:<10} {c.statement}: {c.finding}" + (f" -> {c.fix}" if c.fix else "")
                  for c in self.claims]  # fmt: skip
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)

    def _boxes_html(self) -> str:
        shown: list[tuple[NormalisedBox, str, str]] = []
        seen: set[tuple[float, ...]] = set()
        for claim in self.claims:
            for box in claim.boxes:
                key = (*box.pixels, hash(claim.verdict))
                if key not in seen:
                    seen.add(key)
                    shown.append((box, claim.verdict, f"{claim.id} {box.label} {claim.verdict}"))
        try:
            pixels = self.image.pil()
        except Exception:  # the pixels may be gone (a JSON result read back); the page still renders
            return ""
        if not shown:
            return image_tag(pixels, "the image")
        order = list(VERDICT_COLOURS)
        detections = sv.Detections(
            xyxy=np.array([box.pixels for box, _, _ in shown], dtype=np.float32),
            class_id=np.array([order.index(verdict) for _, verdict, _ in shown], dtype=int),
        )
        palette = sv.ColorPalette([sv.Color.from_hex(VERDICT_COLOURS[v]) for v in order])
        scene = np.ascontiguousarray(np.array(pixels.convert("RGB"))[:, :, ::-1])  # supervision draws on BGR
        thickness = max(1, round(max(pixels.size) / 320))
        scene = sv.BoxAnnotator(color=palette, thickness=thickness).annotate(scene, detections)
        scene = sv.LabelAnnotator(color=palette, text_scale=max(0.35, max(pixels.size) / 1600)).annotate(
            scene, detections, labels=[label for _, _, label in shown]
        )
        from PIL import Image

        return image_tag(
            Image.fromarray(np.ascontiguousarray(scene[:, :, ::-1])), "claims with boxes, coloured by verdict"
        )

    def _heading_html(self) -> str:
        rows = "".join(
            f"<tr><td>{c.id}</td><td style='color:{VERDICT_COLOURS[c.verdict]};font-weight:600'>{c.verdict}</td>"
            f"<td>{html.escape(c.statement)}</td><td>{html.escape(c.finding)}</td><td>{html.escape(c.fix or '')}</td>"
            f"<td>{html.escape(c.cross_check or '')}</td><td>{html.escape(', '.join(c.steps))}</td></tr>"
            for c in self.claims
        )
        stages = "".join(
            f"<tr><td>{html.escape(s.name)}</td><td>{s.seconds:.2f} s</td><td>{s.llm_calls}</td>"
            f"<td>{html.escape(s.summary)}</td></tr>"
            for s in self.stages
        )
        knowledge = "".join(f"<li>{html.escape(line)}</li>" for line in self.knowledge)
        notes = "".join(f"<li>{html.escape(note)}</li>" for note in self.notes)
        return (
            f"<div class='answer'><b>Original:</b> {html.escape(self.original)}<br>"
            f"<b>Corrected</b> ({html.escape(self.rewrite)}): {html.escape(self.corrected)}"
            f"<div class='meta'>{self.seconds:.1f} s · {self.llm_calls} LLM call(s)</div></div>"
            f"<div class='step'><div class='value'>{self._boxes_html()}</div>"
            f"<table class='boxes'><tr><th>claim</th><th>verdict</th><th>the text says</th><th>the tools found</th>"
            f"<th>fix</th><th>cross-check</th><th>steps</th></tr>{rows}</table></div>"
            f"<div class='step'><h2>Knowledge base</h2><ul>{knowledge}</ul>"
            + (f"<h2>Notes</h2><ul>{notes}</ul>" if notes else "")
            + f"<h2>Stages</h2><table class='boxes'><tr><th>stage</th><th>time</th><th>LLM calls</th>"
            f"<th>summary</th></tr>{stages}</table></div>"
        )

    def to_html(self) -> str:
        """A standalone page: texts, the image with claim boxes coloured by verdict, claims, stages, program."""
        heading = self._heading_html()
        if self.trace is not None:
            return render_trace_html(self.trace, title="visorch correction", heading=heading)
        return (
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>visorch correction</title></head>"
            f"<body><h1>visorch correction</h1>{heading}</body></html>"
        )

    def save_html(self, path: str | Path) -> Path:
        """Write :meth:`to_html` to ``path``."""
        target = Path(path)
        target.write_text(self.to_html(), encoding="utf-8")
        return target

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.corrected
