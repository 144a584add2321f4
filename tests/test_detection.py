"""Detection: the offline NanoDet-m and CenterNet on real photos (bus.jpg, COCO128 mAP), the LOC/FIND tools,
class-name resolution, and the YOLO / OWLv2 loading code on locally built random weights (no hub).

COCO128 is the first 128 images of COCO *train2017*, which these detectors were trained on, so the
mAP figures are optimistic next to the published val2017 numbers; the floors guard against
regressions in pre- and post-processing (a half-cell shift of the NanoDet anchors costs 0.12 mAP).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from visorch.tools.context import ToolContext
from visorch.tools.detection.backends import BACKENDS, CENTERNET, NANODET, OWLV2, yolo_backend
from visorch.tools.detection.common import build_detections, class_filter, resize_to_square
from visorch.tools.detection.tools import TOOLS, find_objects, locate
from visorch.tools.detections import Detections
from visorch.tools.errors import UnknownClassError
from visorch.tools.images import ImageRef, ImageStore
from visorch.tools.models.manager import ModelManager, default_weights_root
from visorch.tools.offline_pack import INSTALL_COMMAND
from visorch.tools.vocabulary import COCO_CLASSES, resolve_class

NANODET_MAP50_FLOOR = 0.45  # measured 0.476 (mAP@0.5:0.95 0.337) on this machine
NANODET_MAP_FLOOR = 0.30
CENTERNET_MAP50_FLOOR = 0.50  # measured 0.537 (mAP@0.5:0.95 0.337)
CENTERNET_MAP_FLOOR = 0.30


def _context(tmp_path: Path, manager: ModelManager) -> ToolContext:
    return ToolContext(images=ImageStore(tmp_path / "images"), models=manager)


def _offline_manager(name: str) -> ModelManager:
    """A manager over the installed offline pack that prefers ``name``; skips when the pack is missing."""
    manager = ModelManager(BACKENDS, default_weights_root(), preferred={"detection": name})
    reason = manager.not_installed_reason(name)
    if reason is not None:
        pytest.skip(f"{name} is not installed ({reason}): run {INSTALL_COMMAND}")
    return manager


# --- no weights needed -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [("people", "person"), ("cars", "car"), ("a man", "person"), ("buses", "bus"), ("sofa", "couch"),
     ("TV", "tv"), ("cell phones", "cell phone"), ("unicorn", None)],
)  # fmt: skip
def test_queries_resolve_to_coco_class_names(query: str, expected: str | None) -> None:
    assert resolve_class(query, COCO_CLASSES) == expected


def test_class_filter_maps_class_names_to_ids() -> None:
    assert class_filter(None, COCO_CLASSES) is None
    wanted = class_filter(["person", "bus"], COCO_CLASSES)
    assert wanted is not None and wanted.tolist() == [0, 5]
    nothing = class_filter(["nothing"], COCO_CLASSES)
    assert nothing is not None and nothing.tolist() == []


def test_build_detections_suppresses_per_class_and_labels_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], dtype=np.float32)
    found = build_detections(boxes, np.array([0.9, 0.8, 0.7, 0.6]), np.array([0, 0, 5, 0]), COCO_CLASSES)
    # the second person box overlaps the first (IoU 0.81) and goes; the bus box on the same spot stays
    assert list(found.data["class_name"]) == ["person", "bus", "person"]
    assert list(found.confidence if found.confidence is not None else []) == pytest.approx([0.9, 0.7, 0.6])
    assert len(build_detections(np.zeros((0, 4)), np.zeros(0), np.zeros(0), COCO_CLASSES)) == 0


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(20, 900),
    height=st.integers(20, 900),
    keep_ratio=st.booleans(),
    corners=st.tuples(st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1)),
)
def test_resize_maps_model_boxes_back_to_original_pixels(
    width: int, height: int, keep_ratio: bool, corners: tuple[float, float, float, float]
) -> None:
    x1, x2 = sorted((corners[0] * width, corners[2] * width))
    y1, y2 = sorted((corners[1] * height, corners[3] * height))
    resized = resize_to_square(Image.new("RGB", (width, height)), 416, keep_ratio)
    assert resized.pixels.shape == (416, 416, 3)
    in_model = np.array([[x1 * resized.scale_x + resized.pad_x, y1 * resized.scale_y + resized.pad_y,
                          x2 * resized.scale_x + resized.pad_x, y2 * resized.scale_y + resized.pad_y]])  # fmt: skip
    back = resized.to_original(in_model, width, height)[0]
    assert back == pytest.approx([x1, y1, x2, y2], abs=1e-2)


def test_tools_are_declared_with_honest_limitations() -> None:
    assert [tool.name for tool in TOOLS] == ["LOC", "FIND"]
    assert "80 COCO classes" in locate.spec.limitations
    assert "small" in locate.spec.limitations
    assert locate.spec.capability == "detection"


def test_backends_prefer_yolo_then_the_offline_pack(tmp_path: Path) -> None:
    manager = ModelManager(BACKENDS, tmp_path / "empty")
    assert [backend.name for backend in manager.backends("detection")] == [
        "yolo",
        "nanodet-m",
        "centernet-mb3",
        "ssd-mobilenetv2-oidv4",
        "owlv2",
    ]
    assert NANODET.offline and CENTERNET.offline and NANODET.install_command == INSTALL_COMMAND
    assert manager.not_installed_reason("nanodet-m") == "missing weights"
    with pytest.raises(Exception, match="visorch models pull yolo"):
        manager.backend_for("detection")


# --- the real offline detectors (installed by the offline pack) ------------------------------


@pytest.mark.slow
def test_nanodet_loc_finds_the_people_and_the_bus(tmp_path: Path, bus_path: Path) -> None:
    ctx = _context(tmp_path, _offline_manager("nanodet-m"))
    image = ctx.images.load(bus_path)
    people = locate(ctx, image=image, object="people")
    bus = locate(ctx, image=image, object="bus")
    assert people.source == "nanodet-m"
    assert set(people.labels) == {"person"} and len(people) >= 3
    assert bus.labels == ["bus"]
    x1, y1, x2, y2 = bus.xyxy[0]
    assert x1 < 100 and x2 > 700 and 150 < y1 < 300 and 650 < y2 < 800  # the bus spans the photo's width
    men = locate(ctx, image=image, object="man")
    assert men.labels == people.labels  # a synonym resolves to the same class


@pytest.mark.slow
def test_nanodet_unknown_class_is_a_clear_error_not_an_empty_guess(tmp_path: Path, bus_path: Path) -> None:
    ctx = _context(tmp_path, _offline_manager("nanodet-m"))
    with pytest.raises(UnknownClassError, match=r"no class for .unicorn. in nanodet-m \(it knows the 80 COCO"):
        locate(ctx, image=ctx.images.load(bus_path), object="unicorn")


@pytest.mark.slow
def test_find_lists_every_object_with_labels(tmp_path: Path, zidane_path: Path) -> None:
    ctx = _context(tmp_path, _offline_manager("nanodet-m"))
    found = find_objects(ctx, image=ctx.images.load(zidane_path))
    assert found.labels.count("person") >= 2
    assert all(label in COCO_CLASSES for label in found.labels)
    assert all(score is not None and score >= 0.3 for score in found.scores)


@pytest.mark.slow
def test_centernet_loc_finds_people_and_cars(tmp_path: Path, bus_path: Path) -> None:
    ctx = _context(tmp_path, _offline_manager("centernet-mb3"))
    image = ctx.images.load(bus_path)
    people = locate(ctx, image=image, object="people")
    assert people.source == "centernet-mb3" and len(people) >= 3 and set(people.labels) == {"person"}
    assert all(box[2] <= image.width and box[3] <= image.height for box in people.xyxy)
    assert len(locate(ctx, image=image, object="cars")) == 0  # no car in the photo


def _coco_score(name: str, shared_data: Path, tmp_path: Path) -> tuple[float, float]:
    """mAP through the evaluation harness's detect task (pycocotools COCOeval), min score 0.05."""
    from visorch.evaluation.predictors import BackendDetector
    from visorch.evaluation.runner import run_evaluation

    predictor = BackendDetector(_offline_manager(name), name, min_score=0.05)
    summary = run_evaluation(
        "detect", shared_data / "coco128", tmp_path / name, predictor=predictor, show_progress=False
    )
    map_50, map_50_95 = summary.metrics["map_50"], summary.metrics["map_50_95"]
    print(f"\n{name} on COCO128: mAP@0.5 {map_50:.3f}, mAP@0.5:0.95 {map_50_95:.3f}, {summary.items} images")
    assert summary.items == 128 and summary.errors == 0
    return float(map_50), float(map_50_95)


@pytest.mark.slow
def test_nanodet_map_on_coco128(shared_data: Path, tmp_path: Path) -> None:
    map_50, map_50_95 = _coco_score("nanodet-m", shared_data, tmp_path)
    assert map_50 >= NANODET_MAP50_FLOOR
    assert map_50_95 >= NANODET_MAP_FLOOR


@pytest.mark.slow
def test_centernet_map_on_coco128(shared_data: Path, tmp_path: Path) -> None:
    map_50, map_50_95 = _coco_score("centernet-mb3", shared_data, tmp_path)
    assert map_50 >= CENTERNET_MAP50_FLOOR
    assert map_50_95 >= CENTERNET_MAP_FLOOR


# --- hub-only backends: their real loading code on random weights built here ------------------


def _random_yolo_weights(folder: Path) -> Path:
    from ultralytics import YOLO

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "yolov8n.pt"
    model = YOLO("yolov8n.yaml")  # random weights, no download; the yaml names its classes '0'..'79'
    model.model.names = dict(enumerate(COCO_CLASSES))  # type: ignore[union-attr]  # as in a real COCO checkpoint
    model.save(str(path))
    return path


def _random_owlv2(folder: Path) -> None:
    """A tiny OWLv2 with random weights and a 54-token tokenizer, saved like ``pull_owl`` saves the real one."""
    import torch
    from transformers import CLIPTokenizer, Owlv2Config, Owlv2ForObjectDetection, Owlv2ImageProcessor, Owlv2Processor

    folder.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    # OWL masks out queries whose first token id is 0, so the start token must not be id 0 (as in CLIP)
    start, end = len(vocab), len(vocab) + 1
    vocab["<|startoftext|>"] = start
    vocab["<|endoftext|>"] = end
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), pad_token="<|endoftext|>")
    config = Owlv2Config(
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "max_position_embeddings": 32, "bos_token_id": start,
                     "eos_token_id": end, "pad_token_id": end},
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 64, "patch_size": 16},
        projection_dim=32,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Owlv2ForObjectDetection(config).eval()
    with torch.no_grad():  # push the random logits positive so some boxes pass a threshold
        model.class_head.logit_shift.weight.zero_()
        model.class_head.logit_shift.bias.fill_(3.0)
    processor = Owlv2Processor(
        image_processor=Owlv2ImageProcessor(size={"height": 64, "width": 64}), tokenizer=tokenizer
    )
    model.save_pretrained(folder)
    processor.save_pretrained(folder)


@pytest.mark.slow
def test_yolo_pt_loader_random_weights_flows_through_loc_and_find(tmp_path: Path, bus_path: Path) -> None:
    weights_root = tmp_path / "weights"
    _random_yolo_weights(weights_root / "yolo")
    manager = ModelManager(BACKENDS, weights_root)
    assert manager.backend_for("detection").name == "yolo"  # highest priority once its weights exist
    ctx = _context(tmp_path, manager)
    image = ctx.images.load(bus_path)
    # random weights score every box highest for class 0 (person), so that is the class that flows through
    people = locate(ctx, image=image, object="people", min_score=0.0)
    assert people.source == "yolo" and isinstance(people.detections, sv.Detections) and not people.notes
    assert len(people) > 0 and set(people.labels) == {"person"}
    everything = find_objects(ctx, image=image, min_score=0.0)
    assert set(everything.labels) <= set(COCO_CLASSES)
    assert all(
        0 <= box[0] <= box[2] <= image.width and 0 <= box[1] <= box[3] <= image.height for box in everything.xyxy
    )
    with pytest.raises(UnknownClassError, match=r"no class for 'unicorn' in yolo \(it knows the 80 COCO classes\)"):
        locate(ctx, image=image, object="unicorn")


@pytest.mark.slow
def test_yolo_random_weights_flow_through_the_runtime_executor_and_cache(tmp_path: Path, bus_path: Path) -> None:
    from visorch.config import VisorchSettings
    from visorch.runtime import Runtime

    settings = VisorchSettings(home=tmp_path / "home")
    _random_yolo_weights(settings.weights_root / "yolo")
    runtime = Runtime.create(settings, backends=BACKENDS)
    program = (
        "BOX0=LOC(image=IMAGE, object='people', min_score=0.0)\nIMAGE0=CROP(image=IMAGE, box=BOX0)\n"
        "ANSWER0=COUNT(box=BOX0)\nFINAL=RESULT(var=ANSWER0)"
    )
    inputs = runtime.load_inputs(images={"IMAGE": bus_path})
    trace = runtime.run_program(program, inputs)
    assert trace.ok, trace.error
    boxes = trace.step("BOX0").output
    assert isinstance(boxes, Detections) and boxes.source == "yolo" and set(boxes.labels) == {"person"}
    assert isinstance(trace.result, int) and trace.result == len(boxes) > 0
    assert isinstance(trace.step("IMAGE0").output, ImageRef)
    again = runtime.run_program(program, inputs)
    assert again.result == trace.result and again.step("BOX0").cached  # the result cache answered LOC


@pytest.mark.slow
def test_yolo_backend_with_a_pinned_file_random_weights(tmp_path: Path, bus_path: Path) -> None:
    path = _random_yolo_weights(tmp_path / "anywhere")
    backend = yolo_backend(weights_file=path, name="yolo-custom")
    manager = ModelManager([backend], tmp_path / "weights")
    assert manager.not_installed_reason("yolo-custom") is None
    ctx = _context(tmp_path, manager)
    found = locate(ctx, image=ctx.images.load(bus_path), object="person", min_score=0.0)
    assert found.source == "yolo-custom" and len(found) > 0 and set(found.labels) == {"person"}


@pytest.mark.slow
def test_owlv2_loader_random_weights_takes_free_phrases(tmp_path: Path, bus_path: Path) -> None:
    weights_root = tmp_path / "weights"
    _random_owlv2(weights_root / "owlv2")
    ctx = _context(tmp_path, ModelManager([OWLV2], weights_root))
    image: ImageRef = ctx.images.load(bus_path)
    found = locate(ctx, image=image, object="red umbrella", min_score=0.01)
    assert found.source == "owlv2" and len(found) > 0
    assert set(found.labels) == {"red umbrella"}
    assert found.xyxy[:, 2].max() <= image.width and found.xyxy[:, 3].max() <= image.height


@pytest.mark.slow
def test_unknown_class_falls_back_to_open_vocabulary_random_weights(tmp_path: Path, bus_path: Path) -> None:
    weights_root = tmp_path / "weights"
    _random_yolo_weights(weights_root / "yolo")
    _random_owlv2(weights_root / "owlv2")
    ctx = _context(tmp_path, ModelManager(BACKENDS, weights_root))
    image = ctx.images.load(bus_path)
    unicorns: Detections = locate(ctx, image=image, object="unicorn", min_score=0.01)
    assert unicorns.source == "owlv2" and not unicorns.notes
    assert len(unicorns) > 0 and set(unicorns.labels) == {"unicorn"}
    assert locate(ctx, image=image, object="bus", min_score=0.0).source == "yolo"  # COCO classes stay on YOLO
