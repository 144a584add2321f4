"""Cost beside gain of fusing the offline experts, on coco-val (val2017, never seen by the detectors).

    .venv/bin/python benchmarks/fusion.py [--data ../shared/data/coco-val] [--backend fused] [--save obs.json]

Prints, for the single-detector baseline (raw NanoDet-m, a box at score >= 0.25 means "yes", boxes at
>= 0.25 are the count: the issue's floors) and for the fused experts with the calibration fitted on
coco128 (EXISTS / HOW_MANY's rules):
- POPE-style existence (random / popular / adversarial, the harness's question sampler): accuracy, F1
  and yes-ratio; "uncertain" answers are scored as wrong in the strict figures (never as "no"), and
  their number and how often their lean (p >= 0.5) was right are printed beside;
- counting exact match and mean absolute error over every (image, present class) pair;
- per class where coco-val has at least 8 questions of it;
- seconds per 640x480 photo: each expert alone, the fused pass, the classifier check.

These are tool-level figures (the rules EXISTS and HOW_MANY apply), not agent runs: the planner LLM is
not in the loop, so the comparison with the single-detector floor is like for like.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from visorch.evaluation.pope_sampling import POPE_SETTINGS, build_pope_questions
from visorch.tools.catalog import default_backends
from visorch.tools.classification.efficientnet import classifier_views
from visorch.tools.fusion.calibration import default_calibration
from visorch.tools.fusion.fit_calibration import ImageObservation, observe
from visorch.tools.models.manager import ModelManager, default_weights_root
from visorch.tools.vocabulary import COCO_CLASSES

BASELINE_THRESHOLD = 0.25
POPE_FLOORS = {"random": 0.818, "popular": 0.762, "adversarial": 0.757}
"""The issue's floors: POPE accuracy per setting of raw NanoDet-m at 0.25 on similar val2017 photos."""
POPE_GOALS = {"random": 0.88, "popular": 0.83, "adversarial": 0.82}
COUNT_FLOOR, COUNT_GOAL = 0.31, 0.45
MIN_PER_CLASS = 8
BACKEND = ["fused"]
"""The fusion setting whose observations and calibration are read (set from --backend)."""


def _rates(pairs: list[tuple[str, str]]) -> dict[str, float]:
    """(predicted, truth) with predicted in yes/no/uncertain -> accuracy, F1, yes-ratio."""
    tp = sum(p == "yes" and t == "yes" for p, t in pairs)
    fp = sum(p == "yes" and t == "no" for p, t in pairs)
    fn = sum(p != "yes" and t == "yes" for p, t in pairs)
    correct = sum(p == t for p, t in pairs)
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return {"accuracy": correct / len(pairs), "f1": f1, "yes_ratio": sum(p == "yes" for p, _ in pairs) / len(pairs)}


def _fused_answer(obs: ImageObservation, name: str) -> tuple[str, float]:
    calibration = default_calibration(BACKEND[0])
    scores = [s for n, s, _ in obs.boxes if n == name]
    verdict = calibration.existence(name, scores, obs.classifier.get(name))
    answer = {"present": "yes", "absent": "no", "uncertain": "uncertain"}[verdict.verdict]
    return answer, verdict.probability


def pope(observations: list[ImageObservation]) -> None:
    """Existence figures per setting, before (NanoDet-m at 0.25) and after (fused + calibration)."""
    by_image = {o.image: o for o in observations}
    objects = {o.image: set(o.truth_counts) for o in observations}
    questions = build_pope_questions(objects, list(COCO_CLASSES))
    per_class: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    print(f"\nPOPE-style existence on {len(objects)} images ({len(questions)} questions)")
    print(f"{'setting':<12}{'answerer':<22}{'acc':>7}{'F1':>7}{'yes':>7}{'uncertain':>11}{'lean right':>12}")
    for setting in POPE_SETTINGS:
        chosen = [q for q in questions if q.setting == setting]
        base, fused, uncertain_right, uncertain = [], [], 0, 0
        for q in chosen:
            obs = by_image[q.image]
            single = any(n == q.object and s >= BASELINE_THRESHOLD for n, s in obs.nanodet)
            base.append(("yes" if single else "no", q.answer))
            answer, probability = _fused_answer(obs, q.object)
            fused.append((answer, q.answer))
            if answer == "uncertain":
                uncertain += 1
                uncertain_right += ("yes" if probability >= 0.5 else "no") == q.answer
            per_class[q.object].append((("yes" if single else "no") == q.answer, answer == q.answer))
        for label, pairs in (("nanodet-m >= 0.25", base), ("fused + calibrated", fused)):
            r = _rates(pairs)
            extra = f"{uncertain:>11}{uncertain_right:>12}" if label.startswith("fused") else ""
            print(f"{setting:<12}{label:<22}{r['accuracy']:>7.3f}{r['f1']:>7.3f}{r['yes_ratio']:>7.3f}{extra}")
    print("accuracy floors " + "/".join(f"{POPE_FLOORS[s]}" for s in POPE_SETTINGS) + ", goals "
          + "/".join(f"{POPE_GOALS[s]}" for s in POPE_SETTINGS) + " (random/popular/adversarial)")  # fmt: skip
    print("per class (>= 8 questions): class, questions, accuracy before -> after")
    for name, rows in sorted(per_class.items(), key=lambda item: -len(item[1])):
        if len(rows) >= MIN_PER_CLASS:
            before, after = np.mean([b for b, _ in rows]), np.mean([a for _, a in rows])
            print(f"  {name:<16}{len(rows):>4}  {before:.2f} -> {after:.2f}")


def counting(observations: list[ImageObservation]) -> None:
    """Exact match and MAE over every (image, present class), before and after."""
    calibration = default_calibration(BACKEND[0])
    base_err, fused_err, unsure, unsure_right = [], [], 0, 0
    per_class: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for obs in observations:
        for name, truth in obs.truth_counts.items():
            single = sum(1 for n, s in obs.nanodet if n == name and s >= BASELINE_THRESHOLD)
            estimate = calibration.count(name, [s for n, s, _ in obs.boxes if n == name], obs.classifier.get(name))
            base_err.append(abs(single - truth))
            fused_err.append(abs(estimate.count - truth))
            if not estimate.confident:
                unsure += 1
                unsure_right += estimate.count == truth
            per_class[name].append((abs(single - truth), abs(estimate.count - truth)))
    n = len(base_err)
    print(f"\nCounting over {n} (image, present class) pairs")
    print(f"  nanodet-m >= 0.25   exact {np.mean(np.array(base_err) == 0):.3f}  MAE {np.mean(base_err):.2f}")
    print(f"  fused + calibrated  exact {np.mean(np.array(fused_err) == 0):.3f}  MAE {np.mean(fused_err):.2f}"
          f"  ('probably' answers: {unsure}, exactly right: {unsure_right})")  # fmt: skip
    print(f"  floor {COUNT_FLOOR}, goal {COUNT_GOAL}")
    for name, rows in sorted(per_class.items(), key=lambda item: -len(item[1])):
        if len(rows) >= 4:
            before = np.mean([b == 0 for b, _ in rows])
            after = np.mean([a == 0 for _, a in rows])
            print(f"  {name:<16}{len(rows):>4}  exact {before:.2f} -> {after:.2f}")


def speed(data: Path, backend: str) -> None:
    """Seconds per 640x480 photo for each expert, the fused pass and the classifier (median of 5, warm)."""
    paths = [p for p in sorted(data.rglob("*.jpg")) if Image.open(p).size == (640, 480)][:5]
    images = [Image.open(p).convert("RGB") for p in paths]
    models = ModelManager(default_backends(), default_weights_root())
    print(f"\nSeconds per 640x480 photo (median of {len(images)}, warm; CPU time beside; shared 2-core machine)")
    for name in ("nanodet-m", "centernet-mb3", "ssd-mobilenetv2-oidv4", backend, "efficientnet-lite0"):
        if models.not_installed_reason(name) is not None:
            continue
        with models.use(name) as model:
            run = (lambda im, m=model: m.evidence(classifier_views(im))) if name == "efficientnet-lite0" else (
                lambda im, m=model: m.detect([im], None, 0.05))  # fmt: skip
            run(images[0])
            walls, cpus = [], []
            for image in images:
                wall, cpu = time.perf_counter(), time.process_time()
                run(image)
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
        print(f"  {name:<24}{np.median(walls):>7.3f} s wall {np.median(cpus):>7.3f} s CPU")


def main() -> int:
    """Observe (or load saved observations), then print every figure."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/coco-val"
    )
    parser.add_argument("--backend", default="fused", choices=["fused", "fused-tiles"])
    parser.add_argument("--save", type=Path, help="save (or reuse, when it exists) the observations here")
    parser.add_argument("--no-speed", action="store_true")
    args = parser.parse_args()
    BACKEND[0] = args.backend
    if args.save and args.save.exists():
        observations = [ImageObservation(**row) for row in json.loads(args.save.read_text())]
    else:
        observations = observe(args.data, args.backend)
        if args.save:
            args.save.write_text(json.dumps([o.__dict__ for o in observations]))
    print(f"{args.data.name}: {len(observations)} images; backend {args.backend}; calibration fitted on "
          f"{default_calibration(args.backend).fitted_on}")  # fmt: skip
    pope(observations)
    counting(observations)
    if not args.no_speed:
        speed(args.data, args.backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
