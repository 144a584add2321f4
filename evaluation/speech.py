"""Read-speech corpora in the CMU Sphinx layout: ``*transcription`` lines ``<s> text </s> (file-id)``
next to ``file-id.wav`` files."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel
from visorch.evaluation.errors import DatasetLayoutError

LAYOUT_HELP = (
    "give a folder holding a '*transcription' file with lines '<s> text </s> (file-id)' and the "
    "file-id.wav clips, or a folder of such folders"
)
_LINE = re.compile(r"^\s*(?:<s>)?\s*(?P<text>.*?)\s*(?:</s>)?\s*\((?P<file_id>[^()]+)\)\s*$")
_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".raw")


class Utterance(BaseModel):
    """One clip and its reference transcript; ``corpus`` is the folder name."""

    utterance_id: str
    corpus: str
    audio_path: Path
    text: str


def parse_transcription_line(line: str) -> tuple[str, str] | None:
    """(file id, text) from ``<s> text </s> (file-id)``; None for lines that are not of that form."""
    match = _LINE.match(line)
    if match is None:
        return None
    return match.group("file_id").strip(), " ".join(match.group("text").split())


def _audio_for(folder: Path, file_id: str) -> Path:
    for suffix in _AUDIO_SUFFIXES:
        candidate = folder / f"{file_id}{suffix}"
        if candidate.exists():
            return candidate
    return folder / f"{file_id}.wav"  # missing: the item records the error when it runs


def _corpus(folder: Path, transcription: Path) -> list[Utterance]:
    utterances = []
    for line in transcription.read_text(encoding="utf-8").splitlines():
        parsed = parse_transcription_line(line)
        if parsed is None:
            continue
        file_id, text = parsed
        utterances.append(
            Utterance(
                utterance_id=f"{folder.name}/{file_id}",
                corpus=folder.name,
                audio_path=_audio_for(folder, file_id),
                text=text,
            )
        )
    return utterances


def load_speech(path: Path) -> list[Utterance]:
    """Every utterance in ``path`` (one corpus folder) or in its sub-folders, sorted by folder."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DatasetLayoutError(f"no speech folder at {path}; {LAYOUT_HELP}")
    folders = [path] if any(path.glob("*transcription")) else sorted(p for p in path.iterdir() if p.is_dir())
    utterances = []
    for folder in folders:
        for transcription in sorted(folder.glob("*transcription")):
            utterances.extend(_corpus(folder, transcription))
    if not utterances:
        raise DatasetLayoutError(f"no transcribed clips found under {path}; {LAYOUT_HELP}")
    return utterances
