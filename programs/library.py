"""The library of ready-made ``.vp`` programs shipped in programs/library/."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visorch.tools.errors import InputError

LIBRARY_DIR = Path(__file__).parent / "library"


@dataclass(frozen=True)
class LibraryProgram:
    """A shipped program: its name, file, and the description from its leading comments."""

    name: str
    path: Path
    description: str

    @property
    def source(self) -> str:
        """The program text."""
        return self.path.read_text(encoding="utf-8")


def _description(path: Path) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(line for line in lines if line and not line.lower().startswith("run:"))


def library_programs() -> list[LibraryProgram]:
    """Every program in the library, by name."""
    return [LibraryProgram(path.stem, path, _description(path)) for path in sorted(LIBRARY_DIR.glob("*.vp"))]


def resolve_program(name_or_path: str) -> tuple[str, Path]:
    """(source, path) of a program file, or of a library program given by name."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path.read_text(encoding="utf-8"), path
    stem = name_or_path.removesuffix(".vp")
    candidate = LIBRARY_DIR / f"{stem}.vp"
    if candidate.is_file():
        return candidate.read_text(encoding="utf-8"), candidate
    names = ", ".join(program.name for program in library_programs())
    raise InputError(f"no program file {name_or_path!r} and no library program of that name (library: {names})")
