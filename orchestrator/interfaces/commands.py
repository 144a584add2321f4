"""The CLI commands of the interfaces: ``visorch app`` and ``visorch mcp``."""

from __future__ import annotations

from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    """Add ``app`` and ``mcp`` to the visorch CLI."""

    @app.command("app")
    def web_app(
        host: Annotated[str, typer.Option(help="Interface to listen on (loopback by default).")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 7860,
        mcp: Annotated[bool, typer.Option(help="Also serve the MCP server at /mcp (streamable HTTP).")] = True,
    ) -> None:
        """Start the web app (Ask and Program tabs, Gradio API on) and, at /mcp, the MCP server."""
        from visorch.interfaces.web_app import serve

        typer.echo(f"visorch app on http://{host}:{port}/" + (f"  (MCP at http://{host}:{port}/mcp/)" if mcp else ""))
        serve(host=host, port=port, mcp=mcp)

    @app.command("mcp")
    def mcp_stdio() -> None:
        """Serve visorch's tools, ask and run_program as an MCP server over stdio."""
        from visorch.interfaces.mcp_server import serve_stdio

        serve_stdio()
