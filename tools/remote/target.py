"""Where a remote backend is served (settings) and the error a dead or unreachable one raises.

Plain pydantic, no Ray: the settings module imports this.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from visorch.tools.errors import ToolError

DEFAULT_APP_PREFIX = "visorch-"


def default_app_name(backend: str) -> str:
    """The Serve application ``visorch serve-experts`` deploys backend ``backend`` as."""
    return f"{DEFAULT_APP_PREFIX}{backend}"


class RemoteExpert(BaseModel):
    """One backend served by Ray Serve: which application, on which cluster, and how long to wait."""

    app: str | None = None
    """The Serve application name (default: ``visorch-<backend>``, what ``visorch serve-experts`` deploys)."""
    address: str | None = None
    """The Ray cluster: 'host:port' (GCS), 'ray://host:port' (Ray Client) or 'auto'; None: the cluster this
    process is already connected to, else 'auto'."""
    timeout_s: float = Field(default=30.0, gt=0)
    """Longest wait for one call (and for connecting), per attempt."""
    retries: int = Field(default=2, ge=0)
    """Further attempts after a failed connection or call, before the call fails."""


class RemoteExpertError(ToolError):
    """A remote expert (a Ray Serve deployment) is unreachable, missing or died, after the bounded retries."""
