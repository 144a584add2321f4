"""``asr`` on the shared speech clips with a test double that returns the reference transcripts."""

from __future__ import annotations

from pathlib import Path

import pytest
from visorch.evaluation import run_evaluation
from visorch.evaluation.speech import load_speech

from tests.evaluation_doubles import ReferenceTranscriberForTest


def test_asr_reference_text_scores_zero_and_dropped_words_count(shared_data: Path, tmp_path: Path) -> None:
    speech = shared_data / "speech"
    transcriber = ReferenceTranscriberForTest(speech)
    exact = run_evaluation("asr", speech, tmp_path / "exact", predictor=transcriber, show_progress=False)
    assert exact.items == 10 and exact.errors == 0
    assert exact.metrics["wer"] == 0.0
    assert set(exact.per_type) == {"cards", "librivox"}
    assert set(transcriber.languages) == {"en"}
    dropped = run_evaluation(
        "asr", speech, tmp_path / "dropped", predictor=ReferenceTranscriberForTest(speech, True), show_progress=False
    )
    clips = load_speech(speech)
    assert dropped.metrics["wer"] == pytest.approx(len(clips) / sum(len(c.text.split()) for c in clips), abs=1e-4)


def test_asr_unreadable_audio_is_an_error_not_a_crash(shared_data: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    source = shared_data / "speech" / "cards"
    (corpus / "001.wav").symlink_to(source / "001.wav")
    (corpus / "002.wav").write_bytes(b"RIFF this is not audio")
    (corpus / "corpus.transcription").write_text("<s> ten of clubs </s> (001)\n<s> four queen of clubs </s> (002)\n")
    transcriber = ReferenceTranscriberForTest(source)
    transcriber.add(corpus / "001.wav", "ten of clubs")
    summary = run_evaluation("asr", corpus, tmp_path / "out", predictor=transcriber, show_progress=False)
    assert summary.errors == 1 and summary.error_types == {"AudioLoadError": 1}
    assert summary.metrics["wer"] == pytest.approx(4 / 7, abs=1e-4)  # the failed clip's four words count as deleted
