"""``asr``: word error rate on read speech (CMU Sphinx layout: ``<s> text </s> (file-id)``).

Both texts are normalised the same way before jiwer counts edits: lower case, punctuation as
word breaks, number words as digits ("ten" == "10"), articles kept. WER and CER pool edits over
all clips, overall and per corpus (folder). A clip that fails counts as an empty transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visorch.evaluation.answers import normalise_text
from visorch.evaluation.metrics import character_edits, pooled_rate, word_edits
from visorch.evaluation.plots import bar_chart
from visorch.evaluation.predictors import BackendSpeechRecognizer, EvaluationRuntime
from visorch.evaluation.speech import load_speech
from visorch.evaluation.task import Aggregate, EvalItem, ItemContext, ItemResult, ItemScore, Prediction
from visorch.tools.audio import load_audio
from visorch.tools.models.protocols import SpeechRecognizer

LANGUAGE = "en"
"""Both corpora are English read speech: no language detection."""


class ClipItem(EvalItem):
    """One clip; ``type`` is its corpus."""

    audio_path: Path
    reference: str


def normalise_transcript(text: str) -> str:
    """The form both sides are compared in."""
    return normalise_text(text, drop_articles=False)


class AsrTask:
    """Speech recognition: WER and CER against reference transcripts."""

    name = "asr"
    summary = "speech recognition WER on read speech"

    def default_data(self, data_root: Path) -> Path:
        """Every corpus under speech/ in the shared data."""
        return data_root / "speech"

    def load_items(self, data_path: Path, seed: int, data_root: Path) -> list[ClipItem]:
        """Every transcribed clip, by corpus then file order."""
        return [
            ClipItem(id=clip.utterance_id, type=clip.corpus, audio_path=clip.audio_path, reference=clip.text)
            for clip in load_speech(data_path)
        ]

    def build_predictor(self, runtime: EvaluationRuntime, backend: str | None) -> SpeechRecognizer:
        """The named (or best installed) speech recognition backend."""
        return BackendSpeechRecognizer(runtime.require_models(self.name), backend)

    def predict(self, item: ClipItem, predictor: SpeechRecognizer, context: ItemContext) -> Prediction:
        """The transcript (the clip is decoded to 16 kHz mono first, so unreadable audio fails here)."""
        text, _language, _words = predictor.transcribe(load_audio(item.audio_path).samples(), LANGUAGE)
        return Prediction(value={"text": text})

    def score(self, item: ClipItem, prediction: dict[str, Any] | None) -> ItemScore:
        """Word and character edit counts and this clip's WER."""
        reference = normalise_transcript(item.reference)
        hypothesis = normalise_transcript("" if prediction is None else prediction["text"])
        words = word_edits([reference], [hypothesis])
        characters = character_edits([reference], [hypothesis])
        scores = words.as_scores("word") | characters.as_scores("char")
        if words.rate is not None:
            scores["wer"] = words.rate
        return ItemScore(scores=scores)

    def aggregate(self, pairs: Sequence[tuple[ClipItem, ItemResult]]) -> Aggregate:
        """Pooled WER/CER overall and per corpus."""
        results = [result for _, result in pairs]
        per_type: dict[str, dict[str, float | int | str | None]] = {}
        for corpus in sorted({result.type for result in results}):
            of_corpus = [result for result in results if result.type == corpus]
            per_type[corpus] = {
                "wer": pooled_rate([r.scores for r in of_corpus], "word"),
                "cer": pooled_rate([r.scores for r in of_corpus], "char"),
                "items": len(of_corpus),
                "errors": sum(1 for result in of_corpus if result.status == "error"),
            }
        return Aggregate(
            metrics={
                "wer": pooled_rate([r.scores for r in results], "word"),
                "cer": pooled_rate([r.scores for r in results], "char"),
                "clips": len(results),
                "errors": sum(1 for result in results if result.status == "error"),
            },
            per_type=per_type,
            breakdown="corpus",
        )

    def plots(self, pairs: Sequence[tuple[ClipItem, ItemResult]], aggregate: Aggregate, out_dir: Path) -> list[Path]:
        """WER per corpus."""
        values = {name: float(row["wer"]) for name, row in aggregate.per_type.items() if isinstance(row["wer"], float)}
        counts = {name: int(row["items"] or 0) for name, row in aggregate.per_type.items()}
        if not values:
            return []
        return [bar_chart(values, out_dir / "wer_per_corpus.png", "WER per corpus", "WER", ylim=None, counts=counts)]
