"""``detect``: COCO mAP through pycocotools with a test double that returns the annotations.

The double says nothing about any detector; figures are labelled with the COCO split (coco128 is
train2017, the offline detectors' training split, used here only to test the machinery).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from visorch.evaluation import EvaluationRuntime, run_evaluation
from visorch.evaluation.coco import open_coco
from visorch.evaluation.paths import COCO_TRAIN_SAMPLE, COCO_VAL

from tests.evaluation_doubles import AnnotationDetectorForTest


def test_detect_on_coco128_train_split_ground_truth_scores_one_and_shifted_boxes_lower(
    shared_data: Path, tmp_path: Path
) -> None:
    coco = open_coco(shared_data / COCO_TRAIN_SAMPLE)
    detector = AnnotationDetectorForTest(coco)
    exact = run_evaluation(
        "detect", shared_data / COCO_TRAIN_SAMPLE, tmp_path / "exact", workers=2, predictor=detector,
        show_progress=False,
    )  # fmt: skip
    assert exact.items == 128 and exact.errors == 0
    assert exact.metrics["map_50"] == pytest.approx(1.0)
    assert exact.metrics["map_50_95"] == pytest.approx(1.0)
    assert set(detector.queries_seen) == {None}  # a closed-vocabulary detector is asked for all its classes
    assert exact.split is not None and "train2017" in exact.split and "optimistic" in exact.split
    shifted = run_evaluation(
        "detect", shared_data / COCO_TRAIN_SAMPLE, tmp_path / "shifted", limit=32, workers=2,
        predictor=AnnotationDetectorForTest(coco, shift=0.15), show_progress=False,
    )  # fmt: skip
    assert isinstance(shifted.metrics["map_50_95"], float) and isinstance(shifted.metrics["map_50"], float)
    assert shifted.metrics["map_50_95"] < 0.8
    assert shifted.metrics["map_50_95"] < shifted.metrics["map_50"] <= 1.0
    for name in ("results.jsonl", "summary.json", "summary.md", "latency.png", "ap50_per_category.png", "run.json"):
        assert (tmp_path / "exact" / name).is_file(), name
    summary = json.loads((tmp_path / "exact" / "summary.json").read_text())
    assert summary["provenance"]["packages"]["pycocotools"]
    assert summary["predictor"]["class"].endswith("AnnotationDetectorForTest")
    assert "train2017" in (tmp_path / "exact" / "summary.md").read_text().splitlines()[0]


def test_detect_defaults_to_coco_val_from_the_settings_data_root(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VISORCH_DATA_ROOT", str(shared_data))
    summary = run_evaluation(
        "detect", None, tmp_path / "out", predictor=AnnotationDetectorForTest(open_coco(shared_data / COCO_VAL)),
        show_progress=False,
    )  # fmt: skip
    assert Path(summary.data_path) == (shared_data / COCO_VAL).resolve()
    assert summary.items == 27 and summary.metrics["objects"] == 253
    assert summary.metrics["map_50"] == pytest.approx(1.0)
    assert summary.split == "COCO val2017 (coco-val)"
    # An explicit data root in the runtime wins over the settings.
    monkeypatch.setenv("VISORCH_DATA_ROOT", str(tmp_path / "elsewhere"))
    again = run_evaluation(
        "detect", None, tmp_path / "again", runtime=EvaluationRuntime(data_root=shared_data),
        predictor=AnnotationDetectorForTest(open_coco(shared_data / COCO_VAL)), show_progress=False, limit=2,
    )  # fmt: skip
    assert Path(again.data_path) == (shared_data / COCO_VAL).resolve()
