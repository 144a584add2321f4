"""The SROIE receipt layout: ``img/NNN.jpg``, ``box/NNN.csv`` (line quads + text), ``key/NNN.json``."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel
from visorch.evaluation.errors import DatasetLayoutError

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
    problem: str | None = None
    """Why the receipt's annotations cannot be used (missing or malformed box/key file), if so."""


def parse_box_line(row: str) -> ReceiptLine | None:
    """``x1,y1,...,x4,y4,text`` -> a line (the text may itself hold commas); None for blank rows.

    Raises ValueError for a row that is not blank and not in that form.
    """
    if not row.strip():
        return None
    parts = row.rstrip("\r\n").split(",", 8)
    if len(parts) < 9:
        raise ValueError(f"expected x1,y1,...,x4,y4,text, got {row[:60]!r}")
    xs = [float(value) for value in parts[0:8:2]]
    ys = [float(value) for value in parts[1:8:2]]
    return ReceiptLine(text=parts[8].strip(), box=(min(xs), min(ys), max(xs), max(ys)))


def receipts_root(path: Path) -> Path:
    """The folder holding img/, box/ and key/ (``path`` or ``path/data``)."""
    for candidate in (path, path / "data"):
        if all((candidate / name).is_dir() for name in ("img", "box", "key")):
            return candidate
    raise DatasetLayoutError(f"{path} is not a SROIE receipts folder; {LAYOUT_HELP}")


def _read_lines(box_file: Path) -> list[ReceiptLine]:
    if not box_file.is_file():
        raise ValueError(f"its transcript file {box_file.parent.name}/{box_file.name} is missing")
    lines = []
    for number, row in enumerate(box_file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        try:
            line = parse_box_line(row)
        except ValueError as error:
            raise ValueError(f"{box_file.parent.name}/{box_file.name} line {number} is malformed: {error}") from None
        if line is not None:
            lines.append(line)
    return lines


def _read_fields(key_file: Path) -> dict[str, str]:
    if not key_file.is_file():
        raise ValueError(f"its key-field file {key_file.parent.name}/{key_file.name} is missing")
    try:
        fields = json.loads(key_file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{key_file.parent.name}/{key_file.name} is not valid JSON: {error}") from None
    if not isinstance(fields, dict):
        raise ValueError(f"{key_file.parent.name}/{key_file.name} is not a JSON object")
    return {str(k): str(v) for k, v in fields.items()}


def load_receipts(path: Path) -> list[Receipt]:
    """Every receipt under ``path`` that has an image, sorted by id.

    A receipt whose box or key file is missing or malformed is kept with its ``problem`` set, so
    an evaluation records it as a bad item instead of scoring it against empty annotations.
    """
    root = receipts_root(Path(path).expanduser())
    receipts = []
    for image_path in sorted((root / "img").glob("*.jpg")):
        receipt_id = image_path.stem
        lines: list[ReceiptLine] = []
        fields: dict[str, str] = {}
        problem = None
        try:
            lines = _read_lines(root / "box" / f"{receipt_id}.csv")
            fields = _read_fields(root / "key" / f"{receipt_id}.json")
        except ValueError as error:
            problem = f"receipt {receipt_id}: {error}"
        receipts.append(
            Receipt(receipt_id=receipt_id, image_path=image_path, lines=lines, fields=fields, problem=problem)
        )
    return receipts
