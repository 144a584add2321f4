"""The caller's side of a remote expert: connect to its Serve application and call it, with bounded retries.

Ray is imported on first use only. A dead, missing or unreachable deployment raises
:class:`~visorch.tools.remote.target.RemoteExpertError` after ``retries`` more attempts, each bounded by
``timeout_s``; it never hangs.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from visorch.tools.errors import ToolExecutionError
from visorch.tools.remote.calls import ExpertInfo, RemoteCall, RemoteFailure
from visorch.tools.remote.target import RemoteExpert, RemoteExpertError, default_app_name

T = TypeVar("T")


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a 'host:port' or 'ray://host:port' address; None for 'auto' or a bare name."""
    bare = address.removeprefix("ray://")
    host, _, port = bare.rpartition(":")
    if not host or not port.isdigit():
        return None
    return host, int(port)


def probe(address: str, timeout_s: float) -> None:
    """Fail fast (a typed error) when nothing listens at ``address``, instead of letting Ray retry for minutes."""
    host_port = _host_port(address)
    if host_port is None:
        return
    try:
        with socket.create_connection(host_port, timeout=timeout_s):
            pass
    except OSError as error:
        raise RemoteExpertError(
            f"no Ray cluster answers at {address} ({error}); start one (ray start --head) or fix models.remote's "
            f"address"
        ) from error


class RemoteExpertClient:
    """Calls one backend's Serve deployment; the handle and the deployment's identity are fetched once."""

    def __init__(self, backend: str, target: RemoteExpert) -> None:
        self.backend = backend
        self.target = target
        self.app = target.app or default_app_name(backend)
        self._lock = threading.Lock()
        self._handle: Any = None
        self._info: ExpertInfo | None = None

    @property
    def where(self) -> str:
        """'Serve app X on Y', for messages."""
        return f"Serve app {self.app!r} on {self.target.address or 'the connected Ray cluster'}"

    def _connect(self) -> Any:
        with self._lock:
            if self._handle is not None:
                return self._handle
            import ray
            from ray import serve

            if self.target.address and self.target.address != "auto":
                probe(self.target.address, self.target.timeout_s)
            if not ray.is_initialized():
                ray.init(address=self.target.address or "auto", logging_level=logging.ERROR, log_to_driver=False)
            self._handle = serve.get_app_handle(self.app)
            return self._handle

    def _attempt(self, run: Callable[[Any], T]) -> T:
        """``run(handle)``, retried ``retries`` times (fresh handle, short back-off) on connection failures."""
        last: BaseException | None = None
        for attempt in range(self.target.retries + 1):
            if attempt:
                time.sleep(min(0.5 * 2 ** (attempt - 1), 2.0))
            try:
                return run(self._connect())
            except RemoteExpertError as error:  # nothing listens at the address: retrying the probe is cheap
                last = error
            except Exception as error:  # timeouts, a dead replica, a missing application, a lost connection
                last = error
                with self._lock:
                    self._handle = None
        raise RemoteExpertError(
            f"remote expert {self.backend} ({self.where}) failed {self.target.retries + 1} times, each within "
            f"{self.target.timeout_s:g} s (last: {type(last).__name__}: {last}); start it with "
            f"'visorch serve-experts {self.backend}', or drop it from models.remote to run it locally"
        ) from last

    def info(self) -> ExpertInfo:
        """The deployment's identity and counters, cached after the first success (see :meth:`fresh_info`)."""
        if self._info is None:
            self._info = self.fresh_info()
        return self._info

    def fresh_info(self) -> ExpertInfo:
        """The deployment's identity and counters, asked now (from whichever replica answers)."""
        info: ExpertInfo = self._attempt(lambda handle: handle.info.remote().result(timeout_s=self.target.timeout_s))
        return info

    def call_many(self, method: str, items: Sequence[Any], *args: Any) -> list[Any]:
        """``model.<method>(item, *args)`` for every item, sent together so the deployment batches them."""

        def run(handle: Any) -> list[Any]:
            deadline = time.monotonic() + self.target.timeout_s  # one bound for the whole attempt
            responses = [handle.call.remote(RemoteCall(method, item, args)) for item in items]
            return [response.result(timeout_s=max(deadline - time.monotonic(), 0.001)) for response in responses]

        outcomes = self._attempt(run)
        for outcome in outcomes:
            if isinstance(outcome, RemoteFailure):
                raise ToolExecutionError(f"remote expert {self.backend} raised {outcome.error_type}: {outcome.message}")
        return outcomes

    def call(self, method: str, item: Any, *args: Any) -> Any:
        """``model.<method>(item, *args)`` once."""
        return self.call_many(method, [item], *args)[0]
