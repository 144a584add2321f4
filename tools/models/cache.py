"""A content-addressed cache of tool results, in memory and on disk (SQLite).

Key: (tool, backend, backend version, code revision, arguments) where images, audio and detections
enter by content hash. A repeated or re-planned run skips the tool calls it already made; a new model
version changes the key, and so does any change to the code or data files of visorch's tools and
programs (an upgrade, a refitted calibration, an edited checkout): old entries are never reused. A cache
file that is corrupt, truncated, not a database or locked by another process is reported (a warning
naming the file and what to do) and the cache goes on in memory only: it never stops a run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import pickle
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from visorch.tools.audio import AudioRef
from visorch.tools.detections import Detections
from visorch.tools.images import ImageRef
from visorch.tools.text import OCRText, Transcript

_MISSING = object()
logger = logging.getLogger(__name__)

LOCK_WAIT_S = 5.0
"""How long a read or write waits for another process's lock on the file before going on in memory only."""


def _argument_key(value: Any) -> Any:
    if isinstance(value, ImageRef):
        return {"image": value.sha256}
    if isinstance(value, AudioRef):
        return {"audio": value.sha256}
    if isinstance(value, Detections):
        return {"detections": value.content_key()}
    if isinstance(value, OCRText | Transcript):
        return {"text": value.text}
    if isinstance(value, list | tuple):
        return [_argument_key(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"no cache key for {type(value).__name__}")


REVISION_SUFFIXES = (".py", ".json", ".vp")
"""The files of a package whose content is part of :func:`code_revision` (code, shipped calibrations, programs)."""


def files_revision(roots: Iterable[Path]) -> str:
    """A hash of the names and contents of the code and data files under ``roots``."""
    digest = hashlib.sha256()
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.suffix in REVISION_SUFFIXES and p.is_file()):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


@cache
def code_revision() -> str:
    """The revision of the tools' and programs' code in this process, read once (a few ms)."""
    import visorch.programs
    import visorch.tools

    files = (visorch.tools.__file__, visorch.programs.__file__)
    return files_revision(Path(file).parent for file in files if file is not None)


def result_key(tool: str, backend: str, version: str, arguments: dict[str, Any], revision: str | None = None) -> str:
    """The cache key of one tool call; ``revision`` defaults to this process's :func:`code_revision`."""
    payload = {
        "tool": tool,
        "backend": backend,
        "version": version,
        "revision": code_revision() if revision is None else revision,
        "arguments": {name: _argument_key(value) for name, value in sorted(arguments.items())},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class ResultCache:
    """Tool results by content key: an in-memory LRU in front of an optional SQLite file."""

    def __init__(self, path: Path | None, memory_items: int = 512, lock_wait_s: float = LOCK_WAIT_S) -> None:
        self.path = path
        self.memory_items = memory_items
        self._memory: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self.hits = 0
        self.misses = 0
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._connection = sqlite3.connect(str(path), check_same_thread=False, timeout=lock_wait_s)
                self._connection.execute("PRAGMA journal_mode=WAL")
                self._connection.execute(
                    "CREATE TABLE IF NOT EXISTS results "
                    "(key TEXT PRIMARY KEY, value BLOB NOT NULL, created REAL NOT NULL)"
                )
                self._connection.commit()
            except (sqlite3.Error, OSError) as error:
                self._without_disk("open", error)

    def _without_disk(self, doing: str, error: Exception) -> None:
        """Report a file that cannot be used and go on in memory only (call with the lock held, or in __init__)."""
        locked = "locked" in str(error) or "busy" in str(error)
        advice = (
            "another process holds it; results are kept in memory until this process ends"
            if locked
            else "move it aside or delete it (it is only a cache), or set VISORCH_MODELS__CACHE_RESULTS=false"
        )
        logger.warning(
            "the result cache %s could not %s (%s); %s. Tool results are cached in memory only.",
            self.path, doing, error, advice,
        )  # fmt: skip
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
        self._connection = None

    def get(self, key: str) -> Any:
        """The cached value, or the module's ``_MISSING`` sentinel (see :meth:`lookup`)."""
        with self._lock:
            if key in self._memory:
                self._memory.move_to_end(key)
                self.hits += 1
                return self._memory[key]
            if self._connection is not None:
                try:
                    found = self._disk_get(self._connection, key)
                except sqlite3.Error as error:
                    self._without_disk("be read", error)
                    found = _MISSING
                if found is not _MISSING:
                    self._remember(key, found)
                    self.hits += 1
                    return found
            self.misses += 1
            return _MISSING

    @staticmethod
    def _disk_get(connection: sqlite3.Connection, key: str) -> Any:
        row = connection.execute("SELECT value FROM results WHERE key = ?", (key,)).fetchone()
        if row is None:
            return _MISSING
        try:
            return pickle.loads(row[0])
        except Exception:  # an entry written by an incompatible version: treat as absent
            connection.execute("DELETE FROM results WHERE key = ?", (key,))
            connection.commit()
            return _MISSING

    def lookup(self, key: str) -> tuple[bool, Any]:
        """(found, value)."""
        value = self.get(key)
        return (value is not _MISSING, None if value is _MISSING else value)

    def put(self, key: str, value: Any) -> None:
        """Store a result (values that cannot be pickled stay in memory only)."""
        with self._lock:
            self._remember(key, value)
            if self._connection is None:
                return
            try:
                blob = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception:  # e.g. a value holding an open handle: memory only
                return
            try:
                self._connection.execute(
                    "INSERT OR REPLACE INTO results (key, value, created) VALUES (?, ?, ?)", (key, blob, time.time())
                )
                self._connection.commit()
            except sqlite3.Error as error:
                self._without_disk("be written", error)

    def _remember(self, key: str, value: Any) -> None:
        self._memory[key] = value
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_items:
            self._memory.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry, in memory and on disk."""
        with self._lock:
            self._memory.clear()
            if self._connection is not None:
                try:
                    self._connection.execute("DELETE FROM results")
                    self._connection.commit()
                except sqlite3.Error as error:
                    self._without_disk("be cleared", error)

    def close(self) -> None:
        """Close the SQLite file."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
