"""The question set: questions with answers derived from annotations, and its loader.

Each JSON line holds a :class:`Question`; image and audio paths are relative to the shared data
root (the settings' ``data_root``, ``$VISORCH_DATA_ROOT``; unset: ``../shared/data`` beside a source
checkout).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, ValidationError
from visorch.evaluation.answers import AnswerType
from visorch.evaluation.errors import DatasetLayoutError
from visorch.evaluation.paths import QUESTIONS_PATH, default_data_root


class Question(BaseModel):
    """One question about an image (and optionally a speech clip) with its reference answer."""

    id: str
    type: str
    image: str
    """Image path relative to the data root."""
    audio: str | None = None
    """Audio path relative to the data root, for image + speech questions."""
    question: str
    answer: str
    answer_type: AnswerType
    sources: list[str]
    """Where the answer comes from, e.g. 'coco-val:annotation:1774' or 'receipts:key/000.json#total'."""
    image_path: Path | None = Field(default=None, exclude=True)
    """The image resolved against the data root (set by :func:`load_questions`)."""
    audio_path: Path | None = Field(default=None, exclude=True)
    """The audio resolved against the data root (set by :func:`load_questions`)."""


def load_questions(path: Path | None = None, data_root: Path | None = None) -> list[Question]:
    """Questions from ``path`` (default: the bundled set) with paths resolved against ``data_root``."""
    path = Path(path) if path is not None else QUESTIONS_PATH
    root = default_data_root(data_root)
    if not path.is_file():
        raise DatasetLayoutError(
            f"no question file at {path}; regenerate the bundled one with "
            "'python -m visorch.evaluation.build_questions'"
        )
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            question = Question.model_validate_json(line)
        except ValidationError as error:
            raise DatasetLayoutError(f"{path}:{number} is not a valid question: {error}") from error
        question.image_path = root / question.image
        question.audio_path = None if question.audio is None else root / question.audio
        questions.append(question)
    return questions
