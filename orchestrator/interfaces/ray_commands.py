"""The CLI command of the Ray integration: ``visorch serve-experts`` (Ray is imported only when it runs)."""

from __future__ import annotations

import importlib.util
import time
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``serve-experts`` to the visorch CLI."""
    from visorch.cli import handle_errors  # cli.py calls this at its end, once handle_errors is defined

    @app.command("serve-experts")
    @handle_errors
    def serve_experts_command(
        backends: Annotated[
            list[str] | None, typer.Argument(help="Backends to serve (default: the best installed detector).")
        ] = None,
        address: Annotated[
            str | None,
            typer.Option(help="Existing Ray cluster ('auto', 'host:6379', 'ray://host:10001'); default: start one."),
        ] = None,
        replicas: Annotated[int, typer.Option(min=1, help="Replicas per backend.")] = 1,
        gpus: Annotated[float, typer.Option(min=0, help="GPU fraction per replica (e.g. 0.25: four per GPU).")] = 0.0,
        cpus: Annotated[float, typer.Option(min=0, help="CPUs per replica.")] = 1.0,
        device: Annotated[str | None, typer.Option(help="Force the replicas' device (cpu, cuda, mps).")] = None,
        max_batch_size: Annotated[int, typer.Option(min=1, help="Largest batch @serve.batch forms.")] = 10,
        batch_wait_timeout_s: Annotated[
            float, typer.Option(min=0, help="How long a batch waits to fill, in seconds.")
        ] = 0.01,
        num_cpus: Annotated[int | None, typer.Option(help="CPUs of the local cluster (default: all).")] = None,
        debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks on errors.")] = False,
    ) -> None:
        """Serve model backends as Ray Serve deployments and print the config that points visorch at them.

        With --address the deployments stay up on that cluster after this command returns; without it a
        local cluster (loopback only) is started and served until Ctrl-C.
        """
        from visorch.config import VisorchSettings
        from visorch.tools.catalog import default_backends
        from visorch.tools.errors import ToolNotInstalledError
        from visorch.tools.models.manager import ModelManager

        if importlib.util.find_spec("ray") is None:
            raise ToolNotInstalledError("serve-experts needs Ray: run pip install 'visorch[ray]'")
        from visorch.tools.remote.serving import config_lines, connect_cluster, serve_experts

        settings = VisorchSettings()
        models = ModelManager(default_backends(), settings.weights_root, preferred=settings.models.preferred)
        names = [models.backend(name).name for name in backends] if backends else [models.backend_for("detection").name]
        connect_cluster(address, num_cpus=num_cpus)
        import ray

        cluster = address or ray.get_runtime_context().gcs_address
        typer.echo(f"serving {', '.join(names)} on the Ray cluster at {cluster} ...", err=True)
        served = serve_experts(
            names,
            settings.weights_root,
            address=cluster,
            replicas=replicas,
            gpus=gpus,
            cpus=cpus,
            device=device,
            max_batch_size=max_batch_size,
            batch_wait_timeout_s=batch_wait_timeout_s,
        )
        for line in config_lines(served):
            typer.echo(line)
        if address is not None:
            return
        typer.echo("serving on this local cluster until Ctrl-C", err=True)
        try:
            while True:
                time.sleep(3600)
        finally:  # Ctrl-C: the deployments go with the local cluster
            from ray import serve

            serve.shutdown()
            ray.shutdown()
