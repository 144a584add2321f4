"""``Corrector(...).correct(image, text) -> Correction`` and the one-call ``correct(image, text)``."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import cast

from visorch.correction.config import CorrectionConfig
from visorch.correction.graph import CorrectionServices, CorrectionState, build_correction_graph
from visorch.correction.result import Correction
from visorch.correction.types import StageRecord
from visorch.correction.vocabulary import looks_english
from visorch.llm import LLMBackend, LLMSettings, create_backend
from visorch.llm.llama_cpp_backend import default_gguf_path
from visorch.runtime import Runtime
from visorch.tools.images import ImageRef


def bound_text(text: str, max_words: int) -> tuple[str, str]:
    """(the part checked, the part beyond ``max_words`` words, returned unchecked)."""
    words = text.split()
    if len(words) <= max_words:
        return text.strip(), ""
    checked = " ".join(words[:max_words])
    cut = max(checked.rfind(". "), checked.rfind("! "), checked.rfind("? "))
    if cut > len(checked) // 2:
        checked = checked[: cut + 1]
    rest = " ".join(words)[len(checked) :].strip()
    return checked, rest


class Corrector:
    """Checks texts against images with the installed tools and rewrites them (Woodpecker-style)."""

    def __init__(
        self,
        runtime: Runtime | None = None,
        llm: LLMBackend | None = None,
        config: CorrectionConfig | None = None,
    ) -> None:
        self._owns_runtime = runtime is None
        self.runtime = runtime or Runtime.create()
        self.config = config or CorrectionConfig()
        self._owns_llm = llm is None
        if llm is None and (self.config.concepts != "lexical" or self.config.rewrite != "rules"):
            settings = LLMSettings()
            if settings.backend == "llama-cpp" and not settings.model:
                settings = settings.model_copy(
                    update={"model": str(default_gguf_path(self.runtime.settings.weights_root))}
                )
            if settings.prefix_states and settings.prefix_state_dir is None:  # as the agent keeps them
                settings = settings.model_copy(
                    update={"prefix_state_dir": self.runtime.settings.home / "llm-prefix-states"}
                )
            llm = create_backend(settings)
        self.llm = llm
        self.graph = build_correction_graph(CorrectionServices(self.runtime, self.llm, self.config))
        """The compiled five-stage LangGraph subgraph."""

    def correct(self, image: str | Path | ImageRef, text: str) -> Correction:
        """Check every claim of ``text`` against ``image`` and return the corrected text with verdicts."""
        started = time.perf_counter()
        picture = image if isinstance(image, ImageRef) else self.runtime.context.images.load(image)
        original = text or ""
        checked, unchecked = bound_text(original, self.config.max_words)
        notes = []
        if unchecked:
            notes.append(
                f"the text is longer than {self.config.max_words} words: only the first part was checked; "
                f"the remaining {len(unchecked.split())} words are returned unchanged in 'unchecked'"
            )
        early = self._early_result(picture, original, checked, unchecked, notes, started)
        if early is not None:
            return early
        start: CorrectionState = {"text": checked, "image": picture, "notes": notes, "stages": []}
        state = cast(CorrectionState, self.graph.invoke(start))
        rewrite = state["rewrite"]
        claims = state["claims"]
        all_notes = list(state.get("notes", []))
        if not state["concepts"]:
            all_notes.append("the text names no object the tools can look for: nothing to check, the text is unchanged")
        stages = state.get("stages", [])
        return Correction(
            original=original,
            corrected=rewrite.text,
            corrected_plain=rewrite.plain,
            claims=claims,
            concepts=state["concepts"],
            knowledge=state.get("knowledge", []),
            program=state["plan"].source,
            rewrite=rewrite.method,  # type: ignore[arg-type]
            rewrite_problems=rewrite.problems,
            stages=stages,
            notes=all_notes,
            unchecked=unchecked,
            image=picture,
            llm_calls=sum(stage.llm_calls for stage in stages),
            seconds=time.perf_counter() - started,
            trace=state.get("trace"),
        )

    def _early_result(
        self, image: ImageRef, original: str, checked: str, unchecked: str, notes: list[str], started: float
    ) -> Correction | None:
        """The clear result for texts there is nothing to check in (empty, not English)."""
        if checked.strip() and looks_english(checked):
            return None
        if not checked.strip():
            notes.append("the text is empty: there is nothing to check")
        else:
            notes.append(
                "the text does not look like English: its objects cannot be matched to the detector's "
                "classes, so nothing was checked and the text is unchanged"
            )
        stage = StageRecord(name="input", seconds=time.perf_counter() - started, summary=notes[-1])
        return Correction(
            original=original,
            corrected=checked,
            corrected_plain=checked,
            claims=[],
            concepts=[],
            knowledge=[],
            program="",
            rewrite="none",
            stages=[stage],
            notes=notes,
            unchecked=unchecked,
            image=image,
            llm_calls=0,
            seconds=time.perf_counter() - started,
        )

    def close(self) -> None:
        """Release what this corrector created (its runtime's models, its LLM)."""
        if self._owns_llm and self.llm is not None:
            self.llm.close()
        if self._owns_runtime:
            self.runtime.close()

    def __enter__(self) -> Corrector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def correct(image: str | Path | ImageRef, text: str, config: CorrectionConfig | None = None) -> Correction:
    """Correct one text against one image with the default runtime and LLM (loads them for this call)."""
    with Corrector(config=config) as corrector:
        return corrector.correct(image, text)
