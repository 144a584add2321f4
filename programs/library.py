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


def read_program(path: Path) -> str:
    """The text of a ``.vp`` file (a UTF-8 byte order mark dropped); :class:`InputError` if unreadable."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the program file {path}: {error.strerror or error}") from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(
            f"the program file {path} is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line} cannot be "
            "decoded); save it as UTF-8"
        ) from error


def resolve_program(name_or_path: str) -> tuple[str, Path]:
    """(source, path) of a program file, or of a library program given by name."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return read_program(path), path
    if path.is_dir():
        raise InputError(f"{path} is a folder; give a .vp program file or a library program name")
    stem = name_or_path.removesuffix(".vp")
    candidate = LIBRARY_DIR / f"{stem}.vp"
    if candidate.is_file():
        return read_program(candidate), candidate
    names = ", ".join(program.name for program in library_programs())
    raise InputError(f"no program file {name_or_path!r} and no library program of that name (library: {names})")
