"""The agent's live store: validated programs and traces per thread, bounded (LRU)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from visorch.live import LiveStore
from visorch.programs.trace import Trace


def _trace(source: str) -> Trace:
    return Trace(
        source=source, inputs={}, steps=[], result_target="FINAL", started_at=datetime.now(UTC), duration_s=0.0
    )


def test_traces_are_kept_per_thread_and_the_least_recent_thread_goes_first() -> None:
    store = LiveStore(max_threads=2, per_thread=2)
    first = store.add_trace("a", _trace("a1"))
    store.add_trace("b", _trace("b1"))
    assert store.trace(first) is not None and store.trace(first).source == "a1"  # type: ignore[union-attr]
    store.add_trace("a", _trace("a2"))  # a is now more recent than b
    store.add_trace("c", _trace("c1"))
    assert store.threads() == ["a", "c"]
    assert store.trace(first) is not None and store.trace(None) is None


def test_each_thread_keeps_only_its_most_recent_entries() -> None:
    store = LiveStore(max_threads=4, per_thread=2)
    ids = [store.add_trace("t", _trace(f"p{n}")) for n in range(3)]
    assert store.trace(ids[0]) is None and [store.trace(i).source for i in ids[1:]] == ["p1", "p2"]  # type: ignore[union-attr]
    assert store.validated("t", "p0") is None and store.validated("unknown", "p0") is None


def test_a_store_keeps_something() -> None:
    with pytest.raises(ValueError):
        LiveStore(max_threads=0)
