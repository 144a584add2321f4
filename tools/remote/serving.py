"""Start expert deployments on a Ray cluster and say how to point visorch at them (imports Ray on use)."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from visorch.tools.remote.target import default_app_name


@dataclass(frozen=True)
class ServedExpert:
    """One backend now served: its Serve application and the cluster it runs on."""

    backend: str
    app: str
    address: str | None


def connect_cluster(address: str | None, num_cpus: int | None = None, timeout_s: float = 30.0) -> None:
    """Join the cluster at ``address`` ('auto', 'host:port', 'ray://...'), or start a local single-node one.

    A local cluster talks over loopback only: its node address is 127.0.0.1, so none of its traffic goes
    to the machine's network address. (Ray picks the network address on Linux unless told it is a
    single-machine cluster, which is what ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` says; Ray reads it
    at import, so the constant is set here too for a process that imported Ray already.) Its ports are
    still bound on every interface, so on a shared host firewall them.
    """
    import ray
    from visorch.tools.remote.client import probe

    if ray.is_initialized():
        return
    if address is None:
        from ray._private import ray_constants

        os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"  # for the processes Ray starts
        ray_constants.ENABLE_RAY_CLUSTER = False
        ray.init(
            num_cpus=num_cpus,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
        return
    if address != "auto":
        probe(address, timeout_s)
    ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)


def serve_experts(
    backends: list[str],
    weights_root: Path,
    address: str | None = None,
    replicas: int = 1,
    gpus: float = 0.0,
    cpus: float = 1.0,
    device: str | None = None,
    max_batch_size: int = 10,
    batch_wait_timeout_s: float = 0.01,
) -> list[ServedExpert]:
    """Deploy each backend as Serve application ``visorch-<backend>`` (no HTTP proxy: handles only)."""
    from ray import serve
    from visorch.tools.remote.deployment import expert_app

    connect_cluster(address)
    serve.start(proxy_location="Disabled")
    served = []
    for backend in backends:
        app = default_app_name(backend)
        application = expert_app(
            backend,
            weights_root,
            device=device,
            replicas=replicas,
            gpus=gpus,
            cpus=cpus,
            max_batch_size=max_batch_size,
            batch_wait_timeout_s=batch_wait_timeout_s,
        )
        serve.run(application, name=app, route_prefix=None)
        served.append(ServedExpert(backend, app, address))
    return served


def config_lines(served: list[ServedExpert]) -> list[str]:
    """The config.toml section and the environment variable that make visorch call these deployments."""
    remote = {
        s.backend: {"app": s.app, **({"address": s.address} if s.address and s.address != "auto" else {})}
        for s in served
    }
    lines = ["# ~/.config/visorch/config.toml"]
    for s in served:
        lines += [f'[models.remote."{s.backend}"]', f'app = "{s.app}"']
        if s.address and s.address != "auto":
            lines.append(f'address = "{s.address}"')
    lines.append("# or, in the environment:")
    lines.append(f"export VISORCH_MODELS__REMOTE='{json.dumps(remote)}'")
    return lines
