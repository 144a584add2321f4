"""Environment defaults for the libraries visorch loads, applied when visorch itself is imported.

So the Python API, the CLI and every interface run third-party libraries the same way. Each is a
default only: a variable the user has set is left as it is.
"""

from __future__ import annotations

import os

LIBRARY_DEFAULTS: dict[str, str] = {
    "YOLO_OFFLINE": "1",  # ultralytics probes the network at import otherwise
    "YOLO_AUTOINSTALL": "false",  # and pip-installs missing extras at run time
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def apply_library_defaults() -> None:
    """Set each of :data:`LIBRARY_DEFAULTS` that the environment does not set already."""
    for name, value in LIBRARY_DEFAULTS.items():
        os.environ.setdefault(name, value)
