"""Micro-batching: concurrent calls to one model within a short window become one batched call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Slot:
    item: Any
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class Batcher:
    """Groups items submitted by concurrent threads and runs ``function`` once per group.

    The first caller of a group waits up to ``window_s`` (or until ``max_batch`` items are
    queued), then runs the whole group; the others block until their result is ready. A single
    caller pays at most ``window_s`` of extra latency.
    """

    def __init__(
        self, function: Callable[[list[Any]], Sequence[Any]], max_batch: int = 8, window_s: float = 0.01
    ) -> None:
        self.function = function
        self.max_batch = max_batch
        self.window_s = window_s
        self._pending: list[_Slot] = []
        self._condition = threading.Condition()
        self._leader_active = False
        self.batch_sizes: list[int] = []

    def submit(self, item: Any) -> Any:
        """Run ``item`` as part of a batch and return its result (re-raising the batch's error)."""
        slot = _Slot(item)
        with self._condition:
            self._pending.append(slot)
            lead = not self._leader_active
            if lead:
                self._leader_active = True
            else:
                self._condition.notify_all()
        if lead:
            self._lead()
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result

    def _lead(self) -> None:
        deadline = time.perf_counter() + self.window_s
        with self._condition:
            while len(self._pending) < self.max_batch:
                remaining = deadline - time.perf_counter()
                if remaining <= 0:
                    break
                self._condition.wait(remaining)
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            # Items beyond this batch get a new leader among themselves.
            self._leader_active = False
            if self._pending:
                follower = self._pending[0]
                threading.Thread(target=self._lead_for, args=(follower,), daemon=True).start()
                self._leader_active = True
        self.batch_sizes.append(len(batch))
        try:
            results = list(self.function([slot.item for slot in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"batched call returned {len(results)} results for {len(batch)} items")
            for slot, result in zip(batch, results, strict=True):
                slot.result = result
        except BaseException as error:  # every waiting caller gets the batch's error
            for slot in batch:
                slot.error = error
        finally:
            for slot in batch:
                slot.done.set()

    def _lead_for(self, _slot: _Slot) -> None:
        self._lead()
