"""Vision-language backends and tools: the real loading code on tiny random-weight snapshots built here.

No pretrained captioner, VQA or CLIP-style model installs without the Hugging Face hub, so these
tests check code paths and result types only (random weights say nothing about accuracy).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError
from visorch.tools.context import ToolContext
from visorch.tools.detections import Detections
from visorch.tools.errors import MissingWeightsError, ToolArgumentError
from visorch.tools.images import ImageRef, ImageStore
from visorch.tools.models.manager import ModelManager
from visorch.tools.models.protocols import Captioner, ImageTextScorer, QuestionAnswerer
from visorch.tools.vision_language.backends import BACKENDS, HubModelSpec, hub_backend
from visorch.tools.vision_language.models import _new_tokens, softmax
from visorch.tools.vision_language.snapshots import snapshot_dir
from visorch.tools.vision_language.tools import TOOLS, caption, classify, match, visual_question

from tests.conftest import ultralytics_asset

WORDS = ["a", "photo", "of", "the", "cat", "dog", "bus", "person", "man", "red", "car", "what", "color", "is", "yes"]
TINY_TEXT = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37}
TINY_VISION = {**TINY_TEXT, "image_size": 32, "patch_size": 8}


def save_blip(directory: Path, model_class: str) -> None:
    """A BLIP snapshot with random weights: BERT word-piece tokenizer from an in-memory vocabulary."""
    import transformers

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]"]
    vocab = {token: index for index, token in enumerate([*specials, *WORDS, "?", "."])}
    tokenizer = transformers.BertTokenizer(vocab=vocab, bos_token="[DEC]")
    processor = transformers.BlipProcessor(
        image_processor=transformers.BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tokenizer
    )
    text = {**TINY_TEXT, "vocab_size": len(vocab), "bos_token_id": vocab["[DEC]"], "pad_token_id": 0, "sep_token_id": 3}
    config = transformers.BlipConfig(text_config=text, vision_config=TINY_VISION, projection_dim=16)
    getattr(transformers, model_class)(config).save_pretrained(directory)
    processor.save_pretrained(directory)


def save_clip(directory: Path) -> None:
    """A CLIP snapshot with random weights: a character-level BPE tokenizer (no merges)."""
    import transformers

    characters = sorted(set("".join(WORDS)))
    tokens = [*characters, *(c + "</w>" for c in characters), *(w + "</w>" for w in WORDS)]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    tokenizer = transformers.CLIPTokenizer(vocab=vocab, merges=[])
    image_processor = transformers.CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    ends = {"bos_token_id": vocab["<|startoftext|>"], "eos_token_id": vocab["<|endoftext|>"]}
    text = {**TINY_TEXT, **ends, "vocab_size": len(vocab), "max_position_embeddings": 77, "pad_token_id": 1}
    config = transformers.CLIPConfig(text_config=text, vision_config=TINY_VISION, projection_dim=16)
    transformers.CLIPModel(config).save_pretrained(directory)
    transformers.CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)


def save_siglip(directory: Path, scratch: Path) -> None:
    """A SigLIP snapshot with random weights: a SentencePiece model trained here on a few sentences."""
    import sentencepiece
    import transformers

    corpus = scratch / "corpus.txt"
    corpus.write_text("\n".join(" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))) * 5)
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(scratch / "spiece"),
        vocab_size=40,
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        minloglevel=2,
    )
    tokenizer = transformers.SiglipTokenizer(vocab_file=str(scratch / "spiece.model"), model_max_length=16)
    image_processor = transformers.SiglipImageProcessor(size={"height": 32, "width": 32})
    text: dict[str, int | None] = {**TINY_TEXT, "vocab_size": len(tokenizer), "max_position_embeddings": 16}
    text |= {"pad_token_id": 0, "eos_token_id": 1, "bos_token_id": None}
    config = transformers.SiglipConfig(text_config=text, vision_config=TINY_VISION)
    transformers.SiglipModel(config).save_pretrained(directory)
    transformers.SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights root holding random-weight snapshots under the default backends' names."""
    root = tmp_path_factory.mktemp("weights")
    save_blip(root / "blip-base", "BlipForConditionalGeneration")
    save_blip(root / "blip-vqa-base", "BlipForQuestionAnswering")
    save_clip(root / "clip-vit-b32")
    save_siglip(root / "siglip-base", tmp_path_factory.mktemp("spiece"))
    return root


def make_context(tmp_path: Path, weights_root: Path, preferred: dict[str, str] | None = None) -> ToolContext:
    """A CPU tool context over ``weights_root`` with the vision-language backends."""
    models = ModelManager(BACKENDS, weights_root=weights_root, device="cpu", preferred=preferred)
    return ToolContext(images=ImageStore(tmp_path / "images"), models=models)


def bus_image(ctx: ToolContext) -> ImageRef:
    """ultralytics' bus.jpg (810x1080), shipped inside the installed package."""
    return ctx.images.load(ultralytics_asset("bus.jpg"))


def bus_boxes(image: ImageRef) -> Detections:
    """Three hand-drawn boxes on bus.jpg, each with a mask so we can check masks are carried along."""
    xyxy = [[0, 220, 810, 760], [45, 395, 245, 910], [665, 380, 810, 880]]
    masks = np.zeros((3, image.height, image.width), dtype=bool)
    for mask, (x1, y1, x2, y2) in zip(masks, xyxy, strict=True):
        mask[y1:y2, x1:x2] = True
    return Detections.from_boxes(image, xyxy, ["object"] * 3, [0.9, 0.8, 0.7], source="test", masks=masks)


def test_default_backends_declare_hub_models_with_pull_commands() -> None:
    by_name = {backend.name: backend for backend in BACKENDS}
    assert set(by_name) == {"blip-base", "blip-vqa-base", "siglip-base", "clip-vit-b32"}
    assert {backend.capability for backend in BACKENDS} == {"caption", "vqa", "image_text"}
    assert by_name["blip-base"].version == "Salesforce/blip-image-captioning-base"
    assert by_name["siglip-base"].version == "google/siglip-base-patch16-224"
    for backend in BACKENDS:
        assert backend.pull is not None and not backend.offline
        assert backend.install_command == f"visorch models pull {backend.name}"
    assert [tool.name for tool in TOOLS] == ["CAPTION", "VQA", "CLASSIFY", "MATCH"]


def test_missing_weights_name_the_pull_command(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, tmp_path / "empty-weights")
    image = bus_image(ctx)
    with pytest.raises(MissingWeightsError, match=r"missing weights.*run visorch models pull blip-base"):
        caption(ctx, image=image)
    with pytest.raises(MissingWeightsError, match=r"run visorch models pull blip-vqa-base"):
        visual_question(ctx, image=image, question="What is this?")
    with pytest.raises(MissingWeightsError, match=r"run visorch models pull siglip-base; or visorch models pull clip"):
        classify(ctx, image=image, box=bus_boxes(image), categories=["bus", "person"])
    assert not TOOLS[3].is_available(ctx)


def test_incomplete_snapshot_is_not_located(tmp_path: Path) -> None:
    folder = tmp_path / "blip-base"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert snapshot_dir(tmp_path, "blip-base") is None
    (folder / "model.safetensors").write_bytes(b"x")
    assert snapshot_dir(tmp_path, "blip-base") is None  # no processor files yet
    (folder / "preprocessor_config.json").write_text("{}")
    assert snapshot_dir(tmp_path, "blip-base") == folder


def test_spec_validation_and_helpers() -> None:
    with pytest.raises(ValidationError):
        HubModelSpec(name="Bad Name", capability="caption", model_id="x/y")
    with pytest.raises(ValidationError):
        HubModelSpec(name="ok", capability="detection", model_id="x/y")  # type: ignore[arg-type]
    probabilities = softmax(np.array([[1.0, 2.0, 3.0], [1000.0, 0.0, 0.0]]), axis=1)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-6)
    assert probabilities[1, 0] == pytest.approx(1.0)
    import torch

    prompt = torch.tensor([[5, 6, 7]])
    assert _new_tokens(torch.tensor([[5, 6, 7, 8, 9]]), prompt).tolist() == [[8, 9]]
    assert _new_tokens(torch.tensor([[1, 8, 9, 4]]), prompt).tolist() == [[1, 8, 9, 4]]


@pytest.mark.slow
def test_blip_caption_and_vqa_loaders_random_weights_flow_through_tools(tmp_path: Path, tiny_weights: Path) -> None:
    ctx = make_context(tmp_path, tiny_weights)
    image = bus_image(ctx)
    text = caption(ctx, image=image)
    assert isinstance(text, str)
    with ctx.models.use("blip-base") as captioner:
        assert isinstance(captioner, Captioner)
    answer = visual_question(ctx, image=image, question="What color is the bus?")
    assert isinstance(answer, str)
    with ctx.models.use("blip-vqa-base") as answerer:
        assert isinstance(answerer, QuestionAnswerer)
    assert ctx.models.load_counts["blip-base"] == 1 and ctx.models.load_counts["blip-vqa-base"] == 1
    with pytest.raises(ToolArgumentError):
        visual_question(ctx, image=image, question="  ")


@pytest.mark.slow
@pytest.mark.parametrize("backend_name", ["clip-vit-b32", "siglip-base"])
def test_image_text_loader_random_weights_flows_through_classify_and_match(
    tmp_path: Path, tiny_weights: Path, backend_name: str
) -> None:
    ctx = make_context(tmp_path, tiny_weights, preferred={"image_text": backend_name})
    image = bus_image(ctx)
    boxes = bus_boxes(image)
    crops = [Image.new("RGB", (40, 30), colour) for colour in ("red", "blue")]
    with ctx.models.use(backend_name) as scorer:
        assert isinstance(scorer, ImageTextScorer)
        scores = scorer.score(crops, ["a red car", "a dog", "the bus"])
        assert scores.shape == (2, 3)
        np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
        assert scorer.similarity(crops, ["a red car"]).shape == (2, 1)

    labelled = classify(ctx, image=image, box=boxes, categories=["bus", "person", " ", "bus"])
    assert labelled.source == backend_name and len(labelled) == 3
    assert set(labelled.labels) <= {"bus", "person"}
    assert all(score is not None and 0.5 <= score <= 1.0 for score in labelled.scores)  # best of two
    np.testing.assert_array_equal(labelled.xyxy, boxes.xyxy)
    assert labelled.masks is not None and labelled.masks.shape == boxes.masks.shape  # type: ignore[union-attr]

    chosen = match(ctx, image=image, box=boxes, query="the man on the left")
    assert len(chosen) == 1 and chosen.source == backend_name
    assert any(np.array_equal(chosen.xyxy[0], row) for row in boxes.xyxy)
    assert chosen.scores[0] is not None and 0.0 < chosen.scores[0] <= 1.0
    assert chosen.masks is not None and chosen.masks.shape == (1, image.height, image.width)

    # Boxes found on a crop are cut from the right pixels of the full image, and keep their own image.
    crop = ctx.images.put(image.pil().crop((0, 200, 810, 1080)), parent=image, offset=(0, 200))
    on_crop = Detections.from_boxes(crop, [[45, 195, 245, 710]], ["object"], source="test")
    assert classify(ctx, image=image, box=on_crop, categories=["person", "bus"]).image == crop

    assert len(match(ctx, image=image, box=Detections.empty(image, "test"), query="a dog")) == 0
    with pytest.raises(ToolArgumentError):
        classify(ctx, image=image, box=boxes, categories=[" "])


@pytest.mark.slow
def test_a_model_declared_by_configuration_loads_from_its_own_folder(tmp_path: Path, tiny_weights: Path) -> None:
    spec = HubModelSpec(
        name="my-captioner", capability="caption", model_id="someone/blip-variant", prompt="a picture of", priority=1
    )
    weights = tmp_path / "weights"
    shutil.copytree(tiny_weights / "blip-base", weights / "my-captioner")
    models = ModelManager([hub_backend(spec)], weights_root=weights, device="cpu")
    ctx = ToolContext(images=ImageStore(tmp_path / "images"), models=models)
    assert isinstance(caption(ctx, image=bus_image(ctx)), str)
    assert models.backend("my-captioner").extra["model_id"] == "someone/blip-variant"
