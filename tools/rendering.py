"""HTML pieces the value types share: embedded image thumbnails and escaped text blocks."""

from __future__ import annotations

import base64
import html
import io

from PIL import Image

THUMBNAIL_PIXELS = 640


def image_tag(image: Image.Image, alt: str) -> str:
    """An <img> with the image as an embedded JPEG thumbnail."""
    thumbnail = image.copy()
    thumbnail.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS))
    buffer = io.BytesIO()
    thumbnail.convert("RGB").save(buffer, format="JPEG", quality=85)
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/jpeg;base64,{data}">'


def text_block(text: str) -> str:
    """Text shown as-is (monospace, line breaks kept), escaped."""
    return f"<div class='text'>{html.escape(text)}</div>"


def meta_line(text: str) -> str:
    """A small grey line of facts (size, source, language), escaped."""
    return f"<div class='meta'>{html.escape(text)}</div>"
