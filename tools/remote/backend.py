"""The *remote* backend kind: a declared backend whose model runs in a Ray Serve deployment.

It keeps the local backend's name, version and tool-facing metadata and reports the deployment's weights
fingerprint, so result-cache keys equal the local ones; loading builds a stand-in that forwards calls.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path

from visorch.tools.errors import ConfigError, UnknownBackendError
from visorch.tools.models.backend import Backend, LoadRequest
from visorch.tools.remote.target import RemoteExpert

REMOTE = "remote"
"""``Backend.extra`` key: the :class:`RemoteExpert` a remote backend is served at."""


def remote_backend(backend: Backend, target: RemoteExpert) -> Backend:
    """``backend`` served at ``target``: same name, version and metadata; the model lives in the deployment."""
    from visorch.tools.remote.proxies import PROXIES

    if backend.capability not in PROXIES:
        served = ", ".join(sorted(PROXIES))
        raise ConfigError(
            f"backend {backend.name} does {backend.capability}, which cannot be served remotely yet (only {served}); "
            f"remove it from models.remote"
        )
    from visorch.tools.remote.client import RemoteExpertClient

    client = RemoteExpertClient(backend.name, target)

    def load(request: LoadRequest) -> object:
        from visorch.tools.remote.proxies import remote_model

        return remote_model(client)

    def locate(weights_root: Path) -> Path | None:
        return weights_root  # the weights are the deployment's

    return dataclasses.replace(
        backend,
        title=f"{backend.title} [remote: {client.where}]",
        load=load,
        locate=locate,
        fingerprint=lambda weights_root: client.info().fingerprint,
        python_modules=("ray",),
        memory_mb=0.0,
        devices=("cpu",),
        pull=None,
        install_command="pip install 'visorch[ray]'",
        extra={**backend.extra, REMOTE: target, "client": client},
    )


def with_remote(backends: Iterable[Backend], remote: Mapping[str, RemoteExpert]) -> list[Backend]:
    """``backends`` with the ones named in ``remote`` replaced by their remote kind."""
    declared = list(backends)
    names = {backend.name for backend in declared}
    for name in remote:
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=2, cutoff=0.5)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise UnknownBackendError(f"models.remote names {name!r}, which is not a declared backend{hint}")
    return [remote_backend(b, remote[b.name]) if b.name in remote else b for b in declared]
