"""Image references and the store that owns image pixels.

Program values and agent state hold :class:`ImageRef` objects (content hash, path, size); the
pixels are decoded on demand and derived images (crops, renderings) are written once into a
content-addressed folder, so a reference stays valid after serialisation.
"""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, PrivateAttr
from visorch.tools.errors import ImageLoadError, ImageTooLargeError, VisorchError
from visorch.tools.kinds import ValueKind
from visorch.tools.rendering import image_tag, meta_line

DEFAULT_MAX_IMAGE_PIXELS = 89_478_485  # PIL's own warning threshold (about 9459 x 9459)


class ImageRef(BaseModel):
    """A reference to an image: content hash, file path and size; pixels load on demand."""

    model_config = ConfigDict(frozen=True)
    value_kind: ClassVar[ValueKind] = ValueKind.IMAGE
    widens_to: ClassVar[frozenset[ValueKind]] = frozenset()

    sha256: str
    path: str
    width: int
    height: int
    parent: ImageRef | None = None
    offset: tuple[int, int] = (0, 0)
    """Top-left corner of this image inside ``parent`` (crops), in parent pixels."""

    _pixels: Image.Image | None = PrivateAttr(default=None)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels, after EXIF orientation."""
        return (self.width, self.height)

    @property
    def short_id(self) -> str:
        """The first 12 hex digits of the content hash."""
        return self.sha256[:12]

    def pil(self) -> Image.Image:
        """The pixels as an RGB PIL image (EXIF orientation applied); decoded once per reference."""
        # Two threads may both decode on a first call; that costs time, never correctness.
        if self._pixels is None:
            self._pixels = decode_image_file(Path(self.path))
        return self._pixels

    def pil_if_readable(self) -> Image.Image | None:
        """The pixels, or None when the file can no longer be read (a trace shown after its files went)."""
        try:
            return self.pil()
        except VisorchError:
            return None

    def array(self) -> np.ndarray:
        """The pixels as an (H, W, 3) uint8 RGB array."""
        return np.asarray(self.pil())

    def root(self) -> ImageRef:
        """The original image this one was cropped from (itself when it is not a crop)."""
        return self if self.parent is None else self.parent.root()

    def offset_in_root(self) -> tuple[int, int]:
        """This image's top-left corner in the coordinates of :meth:`root`."""
        if self.parent is None:
            return (0, 0)
        px, py = self.parent.offset_in_root()
        return (px + self.offset[0], py + self.offset[1])

    def attach_pixels(self, pixels: Image.Image) -> None:
        """Keep already-decoded pixels with this reference (used by the store)."""
        self._pixels = pixels

    def describe(self) -> str:
        """``image 640x480``."""
        return f"image {self.width}x{self.height}"

    def to_json_data(self) -> dict[str, Any]:
        """The reference as JSON data (no pixels)."""
        return {"kind": self.value_kind.value, **self.model_dump(mode="json")}

    def to_html(self) -> str:
        """A thumbnail (when the file is still readable) and the size and short hash."""
        pixels = self.pil_if_readable()
        shown = image_tag(pixels, repr(self)) if pixels is not None else ""
        return shown + meta_line(f"{self.width}x{self.height}, {self.short_id}")

    def as_kind(self, expected: ValueKind) -> ImageRef:
        """Itself: an image stands in for no other kind."""
        return self

    def _repr_html_(self) -> str:
        return self.to_html()

    def __getstate__(self) -> dict[Any, Any]:
        # Pickles (checkpoints, caches) carry the reference, never the pixels.
        state = super().__getstate__()
        state["__pydantic_private__"] = {"_pixels": None}
        return state

    def __repr__(self) -> str:
        return f"ImageRef({self.short_id}, {self.width}x{self.height}, {Path(self.path).name})"


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL mode (grey, 16-bit, CMYK, palette, alpha) to 8-bit RGB."""
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
        if image.mode == "I" and values.max() <= 65535:
            top = 65535.0 if values.max() > 255 else 255.0
        grey = np.clip(values / top * 255.0, 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image_file(path: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode an image file fully into RGB, raising :class:`ImageLoadError` on any problem."""
    if not path.exists():
        raise ImageLoadError(f"image file not found: {path}")
    if not path.is_file():
        raise ImageLoadError(f"not a file: {path}")
    if path.stat().st_size == 0:
        raise ImageLoadError(f"image file is empty (0 bytes): {path}")
    return decode_image_bytes(path.read_bytes(), name=str(path), max_pixels=max_pixels)


def _pil_open(data: io.BytesIO) -> Image.Image:
    """PIL's own Image.open, also after ultralytics has patched it (its patch tries to pip-install a
    HEIF plugin whenever a file is not an image, which must never happen offline or at run time)."""
    opener = Image.open
    if getattr(opener, "__module__", "").startswith("ultralytics"):
        from ultralytics.utils import patches

        opener = patches._image_open
    return opener(data)


def decode_image_bytes(data: bytes, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode image bytes into RGB with EXIF orientation applied; typed errors on bad input."""
    if not data:
        raise ImageLoadError(f"image is empty (0 bytes): {name}")
    try:
        with _pil_open(io.BytesIO(data)) as opened:
            width, height = opened.size
            if width * height > max_pixels:
                raise ImageTooLargeError(
                    f"image {name} is {width}x{height} = {width * height:,} pixels, over the limit of "
                    f"{max_pixels:,}; resize it first or raise VISORCH_MAX_IMAGE_PIXELS if you trust it"
                )
            opened.load()
            oriented = ImageOps.exif_transpose(opened)
            return _to_rgb(oriented if oriented is not None else opened).copy()
    except ImageTooLargeError:
        raise
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(f"image {name} looks like a decompression bomb: {error}") from error
    except UnidentifiedImageError as error:
        raise ImageLoadError(f"not an image file PIL can read: {name}") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageLoadError(f"image {name} is corrupt or truncated: {error}") from error


def _pixel_hash(image: Image.Image) -> str:
    digest = hashlib.sha256()
    digest.update(f"{image.mode}:{image.width}x{image.height}:".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


class ImageStore:
    """Loads input images and keeps derived images in a content-addressed folder."""

    def __init__(self, root: Path, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        self.root = Path(root)
        self.max_pixels = max_pixels

    def load(self, path: str | Path) -> ImageRef:
        """Open and fully validate an image file, returning its reference (pixels kept)."""
        file_path = Path(path).expanduser()
        if not file_path.exists():
            raise ImageLoadError(f"image file not found: {file_path}")
        if not file_path.is_file():
            raise ImageLoadError(f"not a file: {file_path}")
        data = file_path.read_bytes()
        pixels = decode_image_bytes(data, name=str(file_path), max_pixels=self.max_pixels)
        ref = ImageRef(
            sha256=hashlib.sha256(data).hexdigest(),
            path=str(file_path.resolve()),
            width=pixels.width,
            height=pixels.height,
        )
        ref.attach_pixels(pixels)
        return ref

    def put(self, pixels: Image.Image, parent: ImageRef | None = None, offset: tuple[int, int] = (0, 0)) -> ImageRef:
        """Store a derived image (a crop, a rendering) and return its reference."""
        rgb = _to_rgb(pixels)
        sha = _pixel_hash(rgb)
        target = self.root / sha[:2] / f"{sha}.png"
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(f".{threading.get_ident()}.tmp")
            rgb.save(temporary, format="PNG", compress_level=1)
            temporary.replace(target)
        ref = ImageRef(sha256=sha, path=str(target), width=rgb.width, height=rgb.height, parent=parent, offset=offset)
        ref.attach_pixels(rgb)
        return ref

    def __repr__(self) -> str:
        return f"ImageStore({self.root})"
