"""The run journal: the finished steps and the traces of the agent's runs, beside its LangGraph checkpoints.

LangGraph checkpoints the graph state at node boundaries, and the execute node runs a whole program:
a process killed in the middle of a program would lose the steps that had finished, and a run
resumed in a new process would have no trace to draw, ground its boxes on or judge by rule. The
journal closes both gaps. Each step is written the moment it finishes (its record as exact JSON,
images by reference: :mod:`visorch.programs.value_codec`), keyed by thread and by run (its start
time, inputs, round and program text, which a resumed execute node sees again unchanged); a resumed
execute node takes those steps as they are instead of calling their tools again. This, not the
result cache, is what keeps finished tool calls from running twice: it holds with
``models.cache_results`` on or off and for the tools the cache never keeps (CROP, COUNT, EVAL, ...).
Each finished trace is written too. One gap remains by nature: a step whose tool returned but whose
record was not yet committed (well under a millisecond) runs again; the result cache, when on,
still answers it for the cacheable tools (it stores the value before the executor sees it).

The journal lives in the checkpoint database (tables ``visorch_steps`` and ``visorch_traces``) and
shares the checkpointer's connection and lock. :func:`open_checkpoint_database` opens that file and,
when it is corrupt or locked by another process, says so and falls back to an in-memory database:
the question is still answered, it just cannot be resumed from another process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from visorch.programs.trace import StepRecord, StepStatus, Trace, step_from_stored, step_to_stored
from visorch.programs.value_codec import UnencodableValue

logger = logging.getLogger(__name__)

LOCK_WAIT_S = 3.0
"""How long opening the checkpoint database waits for another process's lock before working without it."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS visorch_steps (
    thread_id TEXT NOT NULL, run_key TEXT NOT NULL, target TEXT NOT NULL, record TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (thread_id, run_key, target)
);
CREATE TABLE IF NOT EXISTS visorch_traces (
    trace_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, trace TEXT NOT NULL, created REAL NOT NULL
);
"""


def run_key(state: Mapping[str, Any], program: str) -> str:
    """The key of one execution in a thread, from what a resumed node sees again unchanged: the run's start
    time (a new question on the same thread is a new run), its inputs' contents, the round and the program."""
    inputs = {name: getattr(value, "sha256", value) for name, value in state.get("inputs", {}).items()}
    run = [state.get("started_at"), state.get("round"), inputs, program.strip()]
    return hashlib.sha256(json.dumps(run, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _probe(connection: sqlite3.Connection) -> None:
    """Raise sqlite3.DatabaseError unless the database reads whole and takes a write lock."""
    problems = [row[0] for row in connection.execute("PRAGMA quick_check(5)").fetchall()]
    if problems != ["ok"]:
        raise sqlite3.DatabaseError("; ".join(str(problem) for problem in problems))
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("ROLLBACK")


def open_checkpoint_database(path: Path, lock_wait_s: float = LOCK_WAIT_S) -> tuple[sqlite3.Connection, bool]:
    """(connection, persistent): the SQLite file at ``path``, or an in-memory database (with a warning naming
    the file and what to do) when the file is corrupt, truncated, not a database or locked by another process."""
    connection: sqlite3.Connection | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(str(path), check_same_thread=False, timeout=lock_wait_s)
        _probe(connection)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection, True
    except (sqlite3.Error, OSError) as error:
        if connection is not None:
            connection.close()
        locked = "locked" in str(error) or "busy" in str(error)
        advice = (
            "another process holds it: wait for it to finish, or give this run its own file "
            "(VISORCH_AGENT__CHECKPOINT_PATH)"
            if locked
            else "move it aside or delete it (its runs cannot be resumed), or set VISORCH_AGENT__CHECKPOINT_PATH"
        )
        logger.warning(
            "checkpoint database %s is %s (%s); %s. This run is checkpointed in memory only and cannot be "
            "resumed from another process.", path, "locked" if locked else "unusable", error, advice,
        )  # fmt: skip
        return sqlite3.connect(":memory:", check_same_thread=False), False


class RunJournal:
    """Finished steps and traces by thread, in the checkpoint database (exact JSON, images by reference).

    A write that fails (a full disk, a lock held too long) is reported once and the journal goes on
    without the disk: answers never depend on it, only resuming does.
    """

    def __init__(self, connection: sqlite3.Connection, lock: threading.Lock | None = None, where: str = "") -> None:
        self._connection = connection
        self._lock = lock or threading.Lock()
        self.where = where or "the checkpoint database"
        self._working = True
        try:
            with self._lock:
                self._connection.executescript(_SCHEMA)
                self._connection.commit()
        except sqlite3.Error as error:
            self._failed("create its tables", error)

    def _failed(self, doing: str, error: Exception) -> None:
        if self._working:
            logger.warning(
                "the run journal in %s could not %s (%s); finished steps are no longer journaled, so a run "
                "resumed after a crash repeats them", self.where, doing, error,
            )  # fmt: skip
        self._working = False

    def _write(self, doing: str, sql: str, parameters: tuple[object, ...]) -> None:
        if not self._working:
            return
        try:
            with self._lock:
                self._connection.execute(sql, parameters)
                self._connection.commit()
        except sqlite3.Error as error:
            self._failed(doing, error)

    def _read(self, sql: str, parameters: tuple[object, ...]) -> list[tuple[str, ...]]:
        if not self._working:
            return []
        try:
            with self._lock:
                return list(self._connection.execute(sql, parameters).fetchall())
        except sqlite3.Error as error:
            self._failed("read", error)
            return []

    # --- steps ---------------------------------------------------------------------------------------

    def record_step(self, thread_id: str, key: str, record: StepRecord) -> None:
        """Keep a step that finished (ok or failed) in run ``key`` of the thread; restored ones are kept already."""
        if record.restored or record.status not in (StepStatus.OK, StepStatus.FAILED):
            return
        try:
            text = json.dumps(step_to_stored(record))
        except UnencodableValue as error:
            logger.warning("step %s is not journaled (%s); a resumed run would run it again", record.target, error)
            return
        self._write(
            "record a step",
            "INSERT OR REPLACE INTO visorch_steps (thread_id, run_key, target, record, created) VALUES (?, ?, ?, ?, ?)",
            (thread_id, key, record.target, text, time.time()),
        )

    def finished_steps(self, thread_id: str, key: str) -> dict[str, StepRecord]:
        """The steps of run ``key`` that finished before the run was interrupted, by target."""
        rows = self._read(
            "SELECT target, record FROM visorch_steps WHERE thread_id = ? AND run_key = ?", (thread_id, key)
        )
        steps = {}
        for target, text in rows:
            try:
                steps[target] = step_from_stored(json.loads(text))
            except (ValueError, TypeError, KeyError) as error:  # a row this version cannot read: run it again
                logger.warning("journaled step %s of thread %s is unreadable (%s); it runs again", target, thread_id,
                               error)  # fmt: skip
        return steps

    # --- traces --------------------------------------------------------------------------------------

    def put_trace(self, thread_id: str, trace_id: str, trace: Trace) -> None:
        """Keep a finished run's trace (no pixels) under ``trace_id``."""
        try:
            text = trace.to_stored_json()
        except UnencodableValue as error:
            logger.warning("trace %s is not journaled (%s); a resumed run cannot draw it", trace_id, error)
            return
        self._write(
            "record a trace",
            "INSERT OR REPLACE INTO visorch_traces (trace_id, thread_id, trace, created) VALUES (?, ?, ?, ?)",
            (trace_id, thread_id, text, time.time()),
        )

    def trace(self, trace_id: str) -> tuple[str, Trace] | None:
        """(thread id, trace) for ``trace_id``, or None when it was never journaled or cannot be read."""
        rows = self._read("SELECT thread_id, trace FROM visorch_traces WHERE trace_id = ?", (trace_id,))
        if not rows:
            return None
        thread_id, text = rows[0]
        try:
            return thread_id, Trace.from_stored_json(text)
        except (ValueError, TypeError, KeyError) as error:
            logger.warning("journaled trace %s is unreadable (%s)", trace_id, error)
            return None
