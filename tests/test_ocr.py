"""OCR: reading order, and RapidOCR / EasyOCR on real receipts (SROIE) and ultralytics' bus.jpg.

Character error rate (CER) method: a receipt's reference lines (``data/box/NNN.csv``) and the
predicted lines are each put in reading order by the same function (rows by vertical overlap,
top to bottom, left to right) and joined with spaces; both strings are lower-cased, runs of
dots (the leader dots of "TOTAL ......... RM") shortened to one and runs of whitespace collapsed
to one space, and CER = character edits / reference characters, summed over the slice (jiwer).
Splitting or merging lines within a row therefore costs at most a space, while misread, missed
or invented text and rows read out of order all count. The SROIE annotations have their own
quirks (a few duplicated lines, typos), which count as errors too: the figure is a pessimistic one.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path

import jiwer
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image
from visorch.tools.context import ToolContext
from visorch.tools.images import ImageStore
from visorch.tools.models.manager import ModelManager
from visorch.tools.ocr.backends import BACKENDS
from visorch.tools.ocr.reading_order import group_rows, quad_to_xyxy, reading_order
from visorch.tools.ocr.tools import read_text
from visorch.tools.text import OCRText, TextLine

# Measured here (2-core x86_64 CPU): rapidocr 0.0620 on this slice, 0.0789 on all 40 receipts;
# easyocr 0.1301 on its slice, 0.1773 on the rapidocr slice.
RAPIDOCR_RECEIPTS = ("000", "001", "002", "005", "007", "019")
"""Six of the 40 receipts, small scans, so the test stays near 30 s on two CPU cores."""

RAPIDOCR_CER_CEILING = 0.08

EASYOCR_RECEIPTS = ("005", "007")
"""The two shortest receipts: EasyOCR takes several times as long as RapidOCR per image."""

EASYOCR_CER_CEILING = 0.17


def line(text: str, x1: float, y1: float, x2: float, y2: float) -> TextLine:
    """A text line with full confidence."""
    return TextLine(text=text, box=(x1, y1, x2, y2), confidence=1.0)


def reference_lines(csv_path: Path, crop_bottom: float | None = None) -> list[TextLine]:
    """The receipt's transcribed line boxes (``x1,y1,...,x4,y4,text``), optionally only those above a y."""
    lines = []
    with csv_path.open(newline="", encoding="utf-8", errors="replace") as handle:
        for row in csv.reader(handle):
            if len(row) < 9:
                continue
            coordinates = [float(value) for value in row[:8]]
            text = ",".join(row[8:]).strip()
            box = quad_to_xyxy(list(zip(coordinates[0::2], coordinates[1::2], strict=True)), 10**6, 10**6)
            if text and (crop_bottom is None or box[3] <= crop_bottom):
                lines.append(TextLine(text=text, box=box, confidence=1.0))
    return lines


def reading_text(lines: Sequence[TextLine]) -> str:
    """Lines in reading order joined with spaces, lower-cased, dot runs and whitespace collapsed."""
    joined = " ".join(item.text for item in reading_order(lines)).lower()
    return " ".join(re.sub(r"\.{2,}", ".", joined).split())


def corpus_cer(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Character edits over reference characters, summed over the pairs."""
    return float(jiwer.cer(list(references), list(predictions)))


def context_for(tmp_path: Path, backend: str) -> ToolContext:
    """A tool context whose OCR backend is ``backend``."""
    models = ModelManager(BACKENDS, weights_root=tmp_path / "weights", preferred={"ocr": backend})
    return ToolContext(images=ImageStore(tmp_path / "images"), models=models)


def receipt_path(shared_data: Path, kind: str, number: str) -> Path:
    """``receipts/data/<kind>/<number>.<ext>``."""
    return shared_data / "receipts" / "data" / kind / f"{number}.{'jpg' if kind == 'img' else 'csv'}"


# --- reading order (no model) ------------------------------------------------------------------


def test_reading_order_rows_top_to_bottom_then_left_to_right() -> None:
    lines = [
        line("total", 10, 52, 60, 70),
        line("31.00", 200, 50, 260, 68),
        line("date", 10, 10, 50, 30),
        line(":", 60, 12, 65, 28),
        line("09/01/2019", 80, 8, 180, 31),
    ]
    assert [item.text for item in reading_order(lines)] == ["date", ":", "09/01/2019", "total", "31.00"]


def test_reading_order_keeps_a_slightly_skewed_row_together() -> None:
    # A scan tilted by a few pixels across the page: the right-hand line sits lower than the left.
    lines = [line("amount", 300, 109, 380, 131), line("price", 10, 100, 80, 122), line("next", 10, 140, 80, 162)]
    assert [[item.text for item in row] for row in group_rows(lines)] == [["price", "amount"], ["next"]]


def test_reading_order_of_nothing_is_nothing() -> None:
    assert reading_order([]) == []


boxes = st.tuples(st.floats(0, 1000), st.floats(0, 1000), st.floats(0, 300), st.floats(0, 80)).map(
    lambda v: (v[0], v[1], v[0] + v[2], v[1] + v[3])
)


@given(st.lists(boxes, max_size=25))
def test_reading_order_is_a_permutation_with_rows_in_order(raw: list[tuple[float, float, float, float]]) -> None:
    lines = [line(str(index), *box) for index, box in enumerate(raw)]
    rows = group_rows(lines)
    ordered = [item for row in rows for item in row]
    assert sorted(item.text for item in ordered) == sorted(item.text for item in lines)
    for row in rows:
        assert [item.box[0] for item in row] == sorted(item.box[0] for item in row)
    middles = [(sum(item.box[1] for item in row) + sum(item.box[3] for item in row)) / (2 * len(row)) for row in rows]
    assert middles == sorted(middles)


def test_quadrilateral_becomes_clipped_axis_aligned_box() -> None:
    assert quad_to_xyxy([[37, 333], [150, 321], [154, 363], [42, 374]], 800, 1000) == (37, 321, 154, 374)
    assert quad_to_xyxy([[-5, -2], [20, -2], [20, 9], [-5, 9]], 10, 10) == (0, 0, 10, 9)


def test_ocr_tool_is_described_once() -> None:
    assert read_text.spec.capability == "ocr"
    assert read_text.spec.output.value == "ocr_text"
    assert {backend.name for backend in BACKENDS} == {"rapidocr", "easyocr"}
    assert all(backend.offline for backend in BACKENDS)


# --- RapidOCR (the offline default) ------------------------------------------------------------


@pytest.fixture(scope="module")
def rapidocr_context(tmp_path_factory: pytest.TempPathFactory) -> ToolContext:
    return context_for(tmp_path_factory.mktemp("rapidocr"), "rapidocr")


@pytest.mark.slow
def test_rapidocr_character_error_rate_on_receipts(rapidocr_context: ToolContext, shared_data: Path) -> None:
    references, predictions = [], []
    for number in RAPIDOCR_RECEIPTS:
        image = rapidocr_context.images.load(receipt_path(shared_data, "img", number))
        result = read_text(rapidocr_context, image=image)
        assert isinstance(result, OCRText) and result.source == "rapidocr"
        references.append(reading_text(reference_lines(receipt_path(shared_data, "box", number))))
        predictions.append(reading_text(result.lines))
    cer = corpus_cer(references, predictions)
    print(f"\nrapidocr CER on receipts {', '.join(RAPIDOCR_RECEIPTS)}: {cer:.4f}")
    assert cer < RAPIDOCR_CER_CEILING


@pytest.mark.slow
def test_rapidocr_reads_cero_emisiones_on_the_bus(rapidocr_context: ToolContext, bus_path: Path) -> None:
    result = read_text(rapidocr_context, image=rapidocr_context.images.load(bus_path))
    words = result.text.lower().split()
    assert "cero" in words and "emisiones" in words
    cero = next(item for item in result.lines if item.text.lower() == "cero")
    x1, y1, x2, y2 = cero.box
    # The slogan is painted on the bus side, right of centre, in the lower half of the photo.
    assert 500 < x1 < x2 < 700 and 500 < y1 < y2 < 650
    assert 0.5 < cero.confidence <= 1.0
    detections = result.to_detections()
    assert len(detections) == len(result.lines) and detections.texts == [item.text for item in result.lines]


@pytest.mark.slow
def test_rapidocr_blank_image_gives_no_lines(rapidocr_context: ToolContext) -> None:
    blank = rapidocr_context.images.put(Image.new("RGB", (640, 480), "white"))
    result = read_text(rapidocr_context, image=blank)
    assert result.lines == [] and result.text == ""


@pytest.mark.slow
def test_rapidocr_reads_a_crop_in_crop_coordinates(rapidocr_context: ToolContext, shared_data: Path) -> None:
    receipt = rapidocr_context.images.load(receipt_path(shared_data, "img", "005"))
    header = rapidocr_context.images.put(receipt.pil().crop((0, 0, receipt.width, 205)), parent=receipt)
    result = read_text(rapidocr_context, image=header)
    assert "abc ho trading" in result.text.lower()
    assert all(0 <= item.box[1] <= item.box[3] <= 205 for item in result.lines)


# --- EasyOCR (slower: a smaller slice) ---------------------------------------------------------


@pytest.mark.slow
def test_easyocr_character_error_rate_on_receipts(tmp_path: Path, shared_data: Path) -> None:
    context = context_for(tmp_path, "easyocr")
    references, predictions = [], []
    for number in EASYOCR_RECEIPTS:
        result = read_text(context, image=context.images.load(receipt_path(shared_data, "img", number)))
        assert result.source == "easyocr"
        references.append(reading_text(reference_lines(receipt_path(shared_data, "box", number))))
        predictions.append(reading_text(result.lines))
    cer = corpus_cer(references, predictions)
    print(f"\neasyocr CER on receipts {', '.join(EASYOCR_RECEIPTS)}: {cer:.4f}")
    assert cer < EASYOCR_CER_CEILING
    blank = read_text(context, image=context.images.put(Image.new("RGB", (320, 200), "white")))
    assert blank.lines == []
