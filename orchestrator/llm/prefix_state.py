"""The KV state of each role's fixed prompt prefix, saved to disk once, so a new process skips evaluating it.

Imported only by the llama.cpp backend. A role marks how many leading messages of its requests never
change (the system prompt with the tool cards; the refiner's worked examples too). The first time a
prefix is seen, its tokens are evaluated as usual and the KV cells of sequence 0 are written to one file
named by a hash of the model file and the tokens; a later process with the same model and prefix
restores that file instead of evaluating the prefix again, and llama.cpp then evaluates only the
question's own tokens. Only the KV cells are kept (about 28 KB per token for Qwen2.5-1.5B), not the
logits rows llama-cpp-python's own states carry (~300 MB), since the question's tokens follow anyway.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_cpp import Llama

logger = logging.getLogger(__name__)

SEQUENCE = 0
MAX_FILES = 16


@dataclass(frozen=True)
class PrefixOutcome:
    """What happened to one request's fixed prefix."""

    action: str
    """'in memory' (already in the KV cache), 'restored' (from disk), 'saved' (evaluated, then written)
    or 'none' (no fixed prefix, or too short to matter)."""
    tokens: int
    seconds: float


class PrefixStateStore:
    """Files of prefix KV states for one model, least recently used dropped beyond ``max_files``."""

    def __init__(self, folder: Path, model_path: Path, max_files: int = MAX_FILES, min_tokens: int = 32) -> None:
        self.folder = folder
        stat = model_path.stat()
        self._model_key = f"{model_path.resolve()}:{stat.st_size}:{int(stat.st_mtime)}"
        self.max_files = max_files
        self.min_tokens = min_tokens

    def _path(self, tokens: list[int]) -> Path:
        digest = hashlib.sha256(self._model_key.encode())
        digest.update(",".join(map(str, tokens)).encode())
        return self.folder / f"{digest.hexdigest()[:24]}.kv"

    def prepare(self, llama: Llama, prefix: list[int]) -> PrefixOutcome:
        """Make the KV cache start with ``prefix``: kept if it does, restored from disk, or evaluated and saved."""
        started = time.perf_counter()
        if len(prefix) < self.min_tokens:
            return PrefixOutcome("none", len(prefix), 0.0)
        held = _common_prefix(llama.input_ids[: llama.n_tokens].tolist(), prefix)
        if held >= len(prefix):
            return PrefixOutcome("in memory", len(prefix), 0.0)
        path = self._path(prefix)
        if path.is_file() and self._restore(llama, prefix, path):
            os.utime(path)
            return PrefixOutcome("restored", len(prefix), time.perf_counter() - started)
        _keep_only(llama, held)
        llama.eval(prefix[held:])
        self._save(llama, path)
        return PrefixOutcome("saved", len(prefix), time.perf_counter() - started)

    def _restore(self, llama: Llama, prefix: list[int], path: Path) -> bool:
        import llama_cpp

        data = path.read_bytes()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        _keep_only(llama, 0)
        if llama_cpp.llama_state_seq_set_data(llama.ctx, buffer, len(data), SEQUENCE) != len(data):
            logger.warning("prefix state %s did not load; evaluating the prefix instead", path)
            _keep_only(llama, 0)
            path.unlink(missing_ok=True)
            return False
        llama.input_ids[: len(prefix)] = prefix
        llama.n_tokens = len(prefix)
        return True

    def _save(self, llama: Llama, path: Path) -> None:
        import llama_cpp

        size = llama_cpp.llama_state_seq_get_size(llama.ctx, SEQUENCE)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llama.ctx, buffer, size, SEQUENCE)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".prefix-", suffix=".kv")
            with os.fdopen(handle, "wb") as file:
                file.write(bytes(buffer)[:written])
            os.replace(temporary, path)
            self._trim()
        except OSError as error:  # a read-only or full cache dir costs speed, never the answer
            logger.warning("could not save the prompt prefix state to %s: %s", self.folder, error)

    def _trim(self) -> None:
        files = sorted(self.folder.glob("*.kv"), key=lambda item: item.stat().st_mtime, reverse=True)
        for stale in files[self.max_files :]:
            stale.unlink(missing_ok=True)


def _keep_only(llama: Llama, tokens: int) -> None:
    """Drop the KV cells from position ``tokens`` on, so evaluation continues from there."""
    llama._ctx.kv_cache_seq_rm(-1, tokens, -1)
    llama.n_tokens = tokens


def _common_prefix(first: list[int], second: list[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length
