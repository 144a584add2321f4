"""``ocr``: line-level CER/WER and key-field accuracy on SROIE receipts.

Texts are compared case-insensitively with runs of whitespace collapsed.

- Line matching: predicted and reference lines are paired one-to-one, greedily by box IoU
  (highest first), for pairs with IoU >= ``MATCH_IOU``. A matched pair compares its two texts; an
  unmatched reference line counts as deleted (compared with ""), an unmatched predicted line as
  inserted. Line CER/WER pool the edits of all pairs over all receipts (jiwer).
- Matched-line CER is the CER of the matched pairs only: recognition quality without the
  segmentation differences that unmatched lines add (the standard IoU 0.5 is strict for thin
  line boxes, so line CER mixes both).
- Page CER/WER compare all lines of a receipt joined by spaces in reading order, which does not
  depend on how either side splits lines.
- Key fields in the text (SROIE's four), reported as ``FIELD_in_text_rate``: the share of receipts
  whose OCR text contains the field's value anywhere. ``total`` counts when the text mentions that
  number anywhere ("9.00" == "RM9.00"), even as a subtotal or a line price, so it measures whether
  OCR read the number, not whether the total can be extracted; ``date``, ``company`` and
  ``address`` count when they occur in the OCR text (lines joined in reading order) as whole words
  after normalisation (case, and punctuation as word breaks, so "25/12/2018" == "25-12-2018").
  Receipts without the field in their key file are skipped for it. Exact occurrence is strict for
  the long fields: one misread character, or an address split across lines in another order, means
  not found. Extraction accuracy (does the agent answer "what is the total?" right) is what ``qa``'s
  ``receipt_total``, ``receipt_date`` and ``receipt_company`` questions measure.

A receipt that fails is scored as an empty reading: all of its lines deleted, no field found. A
receipt whose box or key file is missing or malformed is a bad item: recorded as an error and left
out of every rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import supervision as sv
from visorch.evaluation.answers import contains_number, contains_phrase
from visorch.evaluation.errors import DatasetLayoutError
from visorch.evaluation.metrics import character_edits, pooled_rate, word_edits
from visorch.evaluation.plots import bar_chart
from visorch.evaluation.predictors import BackendTextReader, EvaluationRuntime
from visorch.evaluation.sroie import ReceiptLine, load_receipts
from visorch.evaluation.task import Aggregate, EvalItem, ItemContext, ItemResult, ItemScore, Prediction
from visorch.tools.models.protocols import TextReader

MATCH_IOU = 0.5
KEY_FIELDS = ("total", "date", "company", "address")


class ReceiptItem(EvalItem):
    """One receipt: image, reference lines and key fields."""

    image_path: Path
    lines: list[ReceiptLine]
    fields: dict[str, str]
    problem: str | None = None


def clean(text: str) -> str:
    """Lower case with whitespace collapsed: the form both sides are compared in."""
    return " ".join(text.lower().split())


def match_lines(
    references: Sequence[ReceiptLine], predictions: Sequence[dict[str, Any]], min_iou: float = MATCH_IOU
) -> list[tuple[str, str]]:
    """(reference text, predicted text) pairs: IoU-matched lines, then unmatched ones against ""."""
    pairs: list[tuple[str, str]] = []
    used_reference: set[int] = set()
    used_prediction: set[int] = set()
    if references and predictions:
        iou = sv.box_iou_batch(
            np.asarray([line.box for line in references], dtype=float),
            np.asarray([line["box"] for line in predictions], dtype=float),
        )
        order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None, kind="stable"), iou.shape))[0]
        for reference_index, prediction_index in order:
            if iou[reference_index, prediction_index] < min_iou:
                break
            if reference_index in used_reference or prediction_index in used_prediction:
                continue
            used_reference.add(int(reference_index))
            used_prediction.add(int(prediction_index))
            pairs.append((references[reference_index].text, predictions[prediction_index]["text"]))
    pairs += [(line.text, "") for index, line in enumerate(references) if index not in used_reference]
    pairs += [("", line["text"]) for index, line in enumerate(predictions) if index not in used_prediction]
    return [(clean(reference), clean(predicted)) for reference, predicted in pairs]


class OcrTask:
    """SROIE receipts: line CER/WER, page CER/WER and key fields found in the OCR text."""

    name = "ocr"
    summary = "OCR line CER/WER and key fields found in the text of SROIE receipts"

    def default_data(self, data_root: Path) -> Path:
        """The receipts in the shared data."""
        return data_root / "receipts"

    def load_items(self, data_path: Path, seed: int, data_root: Path) -> list[ReceiptItem]:
        """Every receipt, by id."""
        return [
            ReceiptItem(
                id=receipt.receipt_id,
                type="receipt",
                image_path=receipt.image_path,
                lines=receipt.lines,
                fields=receipt.fields,
                problem=receipt.problem,
            )
            for receipt in load_receipts(data_path)
        ]

    def build_predictor(self, runtime: EvaluationRuntime, backend: str | None) -> TextReader:
        """The named (or best installed) OCR backend."""
        return BackendTextReader(runtime.require_models(self.name), backend)

    def predict(self, item: ReceiptItem, predictor: TextReader, context: ItemContext) -> Prediction:
        """The lines the reader finds."""
        if item.problem is not None:
            raise DatasetLayoutError(item.problem)
        lines = predictor.read(context.images.load(item.image_path).pil())
        return Prediction(
            value={
                "lines": [{"text": line.text, "box": list(line.box), "confidence": line.confidence} for line in lines]
            }
        )

    def score(self, item: ReceiptItem, prediction: dict[str, Any] | None) -> ItemScore:
        """Edit counts (line and page, words and characters) and whether each key field was found."""
        if item.problem is not None:
            return ItemScore()  # annotations unusable: nothing to score against
        predicted = [] if prediction is None else prediction["lines"]
        pairs = match_lines(item.lines, predicted)
        references = [reference for reference, _ in pairs]
        hypotheses = [hypothesis for _, hypothesis in pairs]
        matched = [(reference, hypothesis) for reference, hypothesis in pairs if reference and hypothesis]
        page_reference = clean(" ".join(line.text for line in item.lines))
        page_hypothesis = clean(" ".join(line["text"] for line in predicted))
        scores = {
            **character_edits(references, hypotheses).as_scores("line_char"),
            **word_edits(references, hypotheses).as_scores("line_word"),
            **character_edits([r for r, _ in matched], [h for _, h in matched]).as_scores("matched_char"),
            **character_edits([page_reference], [page_hypothesis]).as_scores("page_char"),
            **word_edits([page_reference], [page_hypothesis]).as_scores("page_word"),
            "lines_matched": float(len(matched)),
            "reference_lines": float(len(item.lines)),
        }
        text = "\n".join(line["text"] for line in predicted)
        for field in KEY_FIELDS:
            value = item.fields.get(field, "").strip()
            if value:
                found = contains_number(text, value) if field == "total" else contains_phrase(text, value)
                scores[f"{field}_in_text"] = float(found)
        return ItemScore(scores=scores)

    def aggregate(self, pairs: Sequence[tuple[ReceiptItem, ItemResult]]) -> Aggregate:
        """Pooled error rates, line recall and the share of receipts whose text holds each key field."""
        results = [result for _, result in pairs]
        metrics: dict[str, float | int | str | None] = {}
        rates = {
            "line_cer": "line_char",
            "line_wer": "line_word",
            "matched_line_cer": "matched_char",
            "page_cer": "page_char",
            "page_wer": "page_word",
        }
        for name, prefix in rates.items():
            metrics[name] = pooled_rate([result.scores for result in results], prefix)
        reference_lines = sum(result.scores.get("reference_lines", 0.0) for result in results)
        matched = sum(result.scores.get("lines_matched", 0.0) for result in results)
        metrics["line_recall"] = round(matched / reference_lines, 4) if reference_lines else None
        per_type: dict[str, dict[str, float | int | str | None]] = {}
        for field in KEY_FIELDS:
            found = [result.scores[f"{field}_in_text"] for result in results if f"{field}_in_text" in result.scores]
            rate = round(sum(found) / len(found), 4) if found else None
            metrics[f"{field}_in_text_rate"] = rate
            per_type[field] = {"in_text_rate": rate, "items": len(found)}
        metrics["receipts"] = len(results)
        metrics["errors"] = sum(1 for result in results if result.status == "error")
        return Aggregate(
            metrics=metrics,
            per_type=per_type,
            breakdown="key field in the OCR text",
            notes=[
                "FIELD_in_text_rate: the value occurs anywhere in the OCR text (the total as any mention of that "
                "number); for extraction accuracy run 'visorch eval qa' (receipt_total, receipt_date, "
                "receipt_company questions)"
            ],
        )

    def plots(self, pairs: Sequence[tuple[ReceiptItem, ItemResult]], aggregate: Aggregate, out_dir: Path) -> list[Path]:
        """Key-field accuracy and error rates."""
        values = {
            name: float(value)
            for name, value in aggregate.metrics.items()
            if name.endswith(("_rate", "_cer", "_wer", "_recall")) and isinstance(value, float | int)
        }
        if not values:
            return []
        return [bar_chart(values, out_dir / "ocr_metrics.png", "OCR on receipts", "rate", ylim=None)]
