"""Image formats recognised from their first bytes (magic numbers), never from names."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageFormat:
    name: str  # Pillow's format name, as passed to `Image.open(formats=...)`
    media_type: str


JPEG = ImageFormat("JPEG", "image/jpeg")
PNG = ImageFormat("PNG", "image/png")
GIF = ImageFormat("GIF", "image/gif")
WEBP = ImageFormat("WEBP", "image/webp")
BMP = ImageFormat("BMP", "image/bmp")

SUPPORTED = (JPEG, PNG, GIF, WEBP, BMP)
BY_NAME = {image_format.name: image_format for image_format in SUPPORTED}


def sniff_format(head: bytes) -> ImageFormat | None:
    """The format whose signature starts `head` (16 bytes are enough), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return WEBP
    if head.startswith(b"BM") and len(head) >= 14:
        return BMP
    return None
