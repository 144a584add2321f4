"""The SROIE receipt layout: ``img/NNN.jpg``, ``box/NNN.csv`` (line quads + text), ``key/NNN.json``."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from orchestrator.evaluation.errors import DatasetLayoutError

LAYOUT_HELP = "give the folder holding img/, box/ and key/ (SROIE layout), or its parent"


class ReceiptLine(BaseModel):
    """One annotated text line: its axis-aligned box (from the quadrilateral) and transcript."""

    text: str
    box: tuple[float, float, float, float]


class Receipt(BaseModel):
    """One receipt: image, reference lines in file order (top to bottom) and key fields."""

    receipt_id: str
    image_path: Path
    lines: list[ReceiptLine]
    fields: dict[str, str]


def parse_box_line(row: str) -> ReceiptLine | None:
    """``x1,y1,...,x4,y4,text`` -> a line (the text may itself hold commas); None for blank rows."""
    parts = row.rstrip("\r\n").split(",", 8)
    if len(parts) < 9:
        return None
    xs = [float(value) for value in parts[0:8:2]]
    ys = [float(value) for value in parts[1:8:2]]
    return ReceiptLine(text=parts[8].strip(), box=(min(xs), min(ys), max(xs), max(ys)))


def receipts_root(path: Path) -> Path:
    """The folder holding img/, box/ and key/ (``path`` or ``path/data``)."""
    for candidate in (path, path / "data"):
        if all((candidate / name).is_dir() for name in ("img", "box", "key")):
            return candidate
    raise DatasetLayoutError(f"{path} is not a SROIE receipts folder; {LAYOUT_HELP}")


def load_receipts(path: Path) -> list[Receipt]:
    """Every receipt under ``path`` that has an image, sorted by id (missing box/key files read as empty)."""
    root = receipts_root(Path(path).expanduser())
    receipts = []
    for image_path in sorted((root / "img").glob("*.jpg")):
        receipt_id = image_path.stem
        box_file = root / "box" / f"{receipt_id}.csv"
        key_file = root / "key" / f"{receipt_id}.json"
        rows = box_file.read_text(encoding="utf-8", errors="replace").splitlines() if box_file.is_file() else []
        lines = [line for line in (parse_box_line(row) for row in rows) if line is not None]
        fields = json.loads(key_file.read_text(encoding="utf-8")) if key_file.is_file() else {}
        receipts.append(
            Receipt(
                receipt_id=receipt_id,
                image_path=image_path,
                lines=lines,
                fields={str(k): str(v) for k, v in fields.items()},
            )
        )
    return receipts
