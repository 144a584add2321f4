"""``ocr`` on SROIE receipts with a test double that returns the reference transcripts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from visorch.evaluation import run_evaluation
from visorch.evaluation.sroie import ReceiptLine, load_receipts
from visorch.evaluation.tasks.ocr import match_lines

from tests.evaluation_doubles import ReferenceReaderForTest


def test_line_matching_pairs_by_iou() -> None:
    references = [ReceiptLine(text="TOTAL 9.00", box=(0, 0, 100, 20)), ReceiptLine(text="CASH", box=(0, 30, 50, 50))]
    predictions = [
        {"text": "total 9.00", "box": [1, 1, 99, 21]},  # IoU ~0.9 with the first line
        {"text": "noise", "box": [200, 200, 210, 210]},  # matches nothing
    ]
    assert match_lines(references, predictions) == [("total 9.00", "total 9.00"), ("cash", ""), ("", "noise")]


def test_ocr_reference_text_scores_zero_error(shared_data: Path, tmp_path: Path) -> None:
    receipts = shared_data / "receipts"
    exact = run_evaluation(
        "ocr", receipts, tmp_path / "exact", limit=5, predictor=ReferenceReaderForTest(receipts), show_progress=False
    )
    assert exact.metrics["line_cer"] == 0.0 and exact.metrics["page_wer"] == 0.0
    assert exact.metrics["line_recall"] == 1.0 and exact.metrics["matched_line_cer"] == 0.0
    assert exact.metrics["total_in_text_rate"] == 1.0  # these five receipts print their total
    corrupted = run_evaluation(
        "ocr", receipts, tmp_path / "corrupted", limit=5,
        predictor=ReferenceReaderForTest(receipts, drop_last_word=True), show_progress=False,
    )  # fmt: skip
    assert isinstance(corrupted.metrics["line_wer"], float) and isinstance(corrupted.metrics["line_cer"], float)
    # Dropping the last word of each line deletes one word per line (lines of one word become empty).
    items = load_receipts(receipts)[:5]
    lines = [line.text for receipt in items for line in receipt.lines]
    assert corrupted.metrics["line_wer"] == pytest.approx(
        sum(1 for text in lines if text.split()) / sum(len(text.split()) for text in lines), abs=1e-4
    )
    assert 0 < corrupted.metrics["line_cer"] < corrupted.metrics["line_wer"]


def test_total_in_text_rate_counts_any_mention_of_the_number_not_extraction(shared_data: Path, tmp_path: Path) -> None:
    """The metric's name says what it measures: a total printed only as a line price still counts."""
    receipts = shared_data / "receipts"
    receipt = load_receipts(receipts)[0]
    total = receipt.fields["total"]
    reader = ReferenceReaderForTest(receipts)
    key = next(iter(reader.lines))
    # Only one line, which is not the total line: "1 X ITEM <total>".
    reader.lines[key] = [ReceiptLine(text=f"1 X ITEM {total}", box=(0, 0, 10, 10))]
    summary = run_evaluation("ocr", receipts, tmp_path / "out", limit=1, predictor=reader, show_progress=False)
    assert "total_accuracy" not in summary.metrics
    assert summary.metrics["total_in_text_rate"] == 1.0
    assert any("visorch eval qa" in note for note in summary.notes)


def test_ocr_receipts_with_missing_or_malformed_annotations_are_bad_items(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "receipts" / "data"
    copy = tmp_path / "receipts"
    for folder in ("img", "box", "key"):
        (copy / folder).mkdir(parents=True)
    ids = sorted(path.stem for path in (source / "img").glob("*.jpg"))[:4]
    for receipt_id in ids:
        shutil.copy(source / "img" / f"{receipt_id}.jpg", copy / "img")
        shutil.copy(source / "box" / f"{receipt_id}.csv", copy / "box")
        shutil.copy(source / "key" / f"{receipt_id}.json", copy / "key")
    reader = ReferenceReaderForTest(copy)
    (copy / "box" / f"{ids[1]}.csv").unlink()
    (copy / "key" / f"{ids[2]}.json").write_text("{not json")
    with (copy / "box" / f"{ids[3]}.csv").open("a") as rows:
        rows.write("12,oops\n")
    summary = run_evaluation("ocr", copy, tmp_path / "report", predictor=reader, show_progress=False)
    assert summary.items == 4 and summary.errors == 3
    errors = {json.loads(line)["id"]: json.loads(line) for line in (tmp_path / "report" / "results.jsonl").open()}
    assert errors[ids[0]]["status"] == "ok"
    assert "box.csv" not in str(errors[ids[1]]) and f"box/{ids[1]}.csv is missing" in str(errors[ids[1]])
    assert f"key/{ids[2]}.json is not valid JSON" in str(errors[ids[2]])
    assert f"box/{ids[3]}.csv line" in str(errors[ids[3]]) and "malformed" in str(errors[ids[3]])
    assert summary.metrics["total_in_text_rate"] == 1.0  # only the good receipt counts, and its total is printed
