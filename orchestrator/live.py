"""The agent's live objects that stay out of checkpoints: validated programs and traces (with pixels).

Kept per thread and bounded: the store holds the threads used most recently (LRU) and, in each,
the most recent programs and traces, so a long-lived agent answering many questions does not grow
without limit. A run resumed after its thread left the store validates its program again (that is
deterministic); its traces come back from the run journal when the agent keeps one (the checkpoint
database: :mod:`visorch.run_journal`), so a run resumed in a new process still draws and grounds them.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from visorch.programs.trace import Trace
from visorch.programs.validator import ValidatedProgram

if TYPE_CHECKING:
    from visorch.run_journal import RunJournal

DEFAULT_THREADS = 32
DEFAULT_PER_THREAD = 8

T = TypeVar("T")


@dataclass
class _ThreadEntries:
    validated: OrderedDict[str, ValidatedProgram] = field(default_factory=OrderedDict)
    """By program text."""
    traces: OrderedDict[str, Trace] = field(default_factory=OrderedDict)
    """By trace id."""


def _bounded_put(entries: OrderedDict[str, T], key: str, value: T, limit: int) -> None:
    entries[key] = value
    entries.move_to_end(key)
    while len(entries) > limit:
        entries.popitem(last=False)


class LiveStore:
    """Validated programs and traces of the agent's threads, least recently used threads dropped first."""

    def __init__(
        self,
        max_threads: int = DEFAULT_THREADS,
        per_thread: int = DEFAULT_PER_THREAD,
        journal: RunJournal | None = None,
    ) -> None:
        if max_threads < 1 or per_thread < 1:
            raise ValueError("a live store keeps at least one thread and one entry per thread")
        self.journal = journal
        """Where traces are also written (and read back from when they are not held here)."""
        self.max_threads = max_threads
        self.per_thread = per_thread
        self._threads: OrderedDict[str, _ThreadEntries] = OrderedDict()
        self._lock = threading.Lock()

    def _thread(self, thread_id: str) -> _ThreadEntries:
        """The thread's entries, marked most recently used (call with the lock held)."""
        entries = self._threads.get(thread_id)
        if entries is None:
            entries = self._threads[thread_id] = _ThreadEntries()
        self._threads.move_to_end(thread_id)
        while len(self._threads) > self.max_threads:
            self._threads.popitem(last=False)
        return entries

    def put_validated(self, thread_id: str, source: str, validated: ValidatedProgram) -> None:
        """Keep the validation of program ``source`` for the thread's execute step."""
        with self._lock:
            _bounded_put(self._thread(thread_id).validated, source, validated, self.per_thread)

    def validated(self, thread_id: str, source: str) -> ValidatedProgram | None:
        """The thread's validation of ``source``, if it is still held."""
        with self._lock:
            entries = self._threads.get(thread_id)
            return None if entries is None else entries.validated.get(source)

    def add_trace(self, thread_id: str, trace: Trace, trace_id: str | None = None) -> str:
        """Keep a run's trace (and journal it); returns its id (new and unique across threads unless given)."""
        trace_id = trace_id or uuid.uuid4().hex
        with self._lock:
            _bounded_put(self._thread(thread_id).traces, trace_id, trace, self.per_thread)
        if self.journal is not None:
            self.journal.put_trace(thread_id, trace_id, trace)
        return trace_id

    def trace(self, trace_id: str | None) -> Trace | None:
        """The trace with this id, if it is still held."""
        if not trace_id:
            return None
        with self._lock:
            for entries in self._threads.values():
                found = entries.traces.get(trace_id)
                if found is not None:
                    return found
        stored = self.journal.trace(trace_id) if self.journal is not None else None
        if stored is None:
            return None
        thread_id, trace = stored
        with self._lock:
            _bounded_put(self._thread(thread_id).traces, trace_id, trace, self.per_thread)
        return trace

    def threads(self) -> list[str]:
        """Held thread ids, least recently used first."""
        with self._lock:
            return list(self._threads)
