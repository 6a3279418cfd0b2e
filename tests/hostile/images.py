"""Hostile image files, made by code at test time, each with the outcome the worker must reach.

Bombs are built from their formats' headers and compressed rows, never by allocating the
pixels they claim. `code` is None where the file must decode (odd but legitimate images).
"""

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from storage.errors import ErrorCode

UNSUPPORTED = ErrorCode.UNSUPPORTED_IMAGE_FORMAT
TOO_MANY_PIXELS = ErrorCode.IMAGE_TOO_MANY_PIXELS
DECODE_FAILED = ErrorCode.IMAGE_DECODE_FAILED

# The default pixel limit (worker.settings.ImageSettings): the corpus is sized against it.
MAX_PIXELS = 40_000_000


def encode(image: Image.Image, format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def _gradient(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A photo-like RGB image: every pixel differs, so encoders cannot cheat."""
    width, height = size
    x = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    rgb = np.stack(np.broadcast_arrays(x + 0 * y, y + 0 * x, (x + y) / 2), axis=-1)
    return Image.fromarray(rgb.astype(np.uint8), "RGB")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, bit_depth: int, colour_type: int, idat: bytes | None) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    data = _png_chunk(b"IDAT", idat) if idat is not None else b""
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + data + _png_chunk(b"IEND", b"")


def _black_rows(row_bytes: int, rows: int) -> bytes:
    """`rows` filtered scanlines of zeros, deflated one by one: never all in memory."""
    row = b"\x00" * (1 + row_bytes)  # the filter byte, then the pixels
    compressor = zlib.compressobj(1)
    return b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()


def _png_bomb(side: int) -> bytes:
    """A black 1-bit square: `side`**2 pixels in a few hundred KB."""
    return _png(side, side, 1, 0, _black_rows((side + 7) // 8, side))


def _png_16bit_gray_bomb(side: int) -> bytes:
    """Black 16-bit grey: the most bytes per pixel a single-channel PNG decodes to."""
    return _png(side, side, 16, 0, _black_rows(2 * side, side))


def _png_16bit_rgb() -> bytes:
    width, height = 64, 48
    pixels = np.zeros((height, width, 3), dtype=">u2")
    pixels[..., 0] = np.linspace(0, 65535, width, dtype=np.uint16)[None, :]
    pixels[..., 2] = 40000
    rows = b"".join(b"\x00" + pixels[y].tobytes() for y in range(height))
    return _png(width, height, 16, 2, zlib.compress(rows))


def _gray16() -> Image.Image:
    ramp = np.linspace(0, 65535, 64, dtype=np.uint16)
    return Image.fromarray(np.tile(ramp, (48, 1)))  # mode I;16


def _jpeg_header_only(width: int, height: int) -> bytes:
    """SOI, then a baseline SOF0 declaring the size, then nothing."""
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


def _gif_huge_screen(width: int, height: int) -> bytes:
    """A 1x1 frame on a logical screen of `width` x `height`."""
    tiny = encode(Image.new("P", (1, 1)), "GIF")
    return tiny[:6] + struct.pack("<HH", width, height) + tiny[10:]


def _bmp_header_only(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 0, 0, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(info), 0, 0, 14 + len(info)) + info


def _webp_canvas(width: int, height: int) -> bytes:
    """An extended WebP (VP8X) declaring a huge canvas, and no image data."""
    vp8x = b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _animated_gif(frames: int) -> bytes:
    # One pixel moves from frame to frame, so the encoder keeps every frame.
    images = []
    for index in range(frames):
        image = Image.new("L", (16, 16))
        image.putpixel((index % 16, index // 16 % 16), 255)
        images.append(image)
    return encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=10)


def _animated_webp(frames: int) -> bytes:
    images = [Image.new("RGB", (16, 16), (index % 256, index // 256, 0)) for index in range(frames)]
    return encode(images[0], "WEBP", save_all=True, append_images=images[1:], lossless=True)


def _corrupt_after_header(content: bytes, keep: int) -> bytes:
    noise = random.Random(1234).randbytes(len(content) - keep)
    return content[:keep] + noise


def _png_bad_crc() -> bytes:
    content = bytearray(encode(_gradient(), "PNG"))
    idat = content.index(b"IDAT")
    content[idat + 8] ^= 0xFF  # a data byte: the chunk's CRC no longer matches
    return bytes(content)


def _gif_js_polyglot() -> bytes:
    """GIF whose header is also JavaScript: `GIF89a/*` ... `*/=alert(1);`."""
    image = encode(Image.new("P", (8, 8), 3), "GIF")
    # Logical screen width "/*" = 10799 px, height 1: a comment opener in JavaScript.
    return b"GIF89a/*\x01\x00" + image[10:] + b"*/=alert(document.domain);"


def _jpeg_zip_polyglot() -> bytes:
    import zipfile

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("payload.html", "<script>alert(1)</script>")
    return encode(_gradient(), "JPEG") + archive.getvalue()


def _exif_jpeg(orientation: int, padding: int = 0) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    if padding:
        exif[0x010E] = "x" * padding  # ImageDescription: a bulky tag next to the orientation
    return encode(_gradient(), "JPEG", exif=exif.tobytes())


def _exif_loop_jpeg() -> bytes:
    """An EXIF block whose IFD chain points back at itself."""
    ifd = struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 8)
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    return encode(_gradient(), "JPEG", exif=b"Exif\x00\x00" + tiff)


def _png_text_bomb() -> bytes:
    """A valid PNG whose zTXt chunk inflates to 64 MiB."""
    image = encode(_gradient(), "PNG")
    text = b"Comment\x00\x00" + zlib.compress(b"\x00" * (64 * 1024 * 1024), 9)
    return image[:33] + _png_chunk(b"zTXt", text) + image[33:]


def _cmyk() -> Image.Image:
    image = Image.new("CMYK", (64, 48), (0, 0, 0, 0))  # white
    image.paste((255, 0, 0, 0), (0, 0, 32, 48))  # cyan on the left
    return image


def _palette_transparency() -> bytes:
    image = Image.new("P", (64, 48), 1)
    image.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    return encode(image, "PNG", transparency=0)


def _strip(mode: str, width: int, height: int) -> Image.Image:
    """A `width` x `height` ramp in `mode`, never black: there is something to see."""
    ramp = np.linspace(1, 255, max(width, height), dtype=np.uint8)
    grey = Image.fromarray(np.resize(ramp, (height, width)), "L")
    if mode == "I;16":
        return Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    return grey.convert(mode)


def _png_ramp_row(width: int, height: int) -> bytes:
    """A `width` x `height` grey PNG of identical rows (a few tens of MB at most in memory)."""
    row = b"\x00" + np.resize(np.arange(1, 256, dtype=np.uint8), width).tobytes()
    return _png(width, height, 8, 0, zlib.compress(row * height, 9))


def _exif_strip(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(_strip("RGB", 20_000, 8), "JPEG", exif=exif.tobytes())


def _animated_strip() -> bytes:
    frames = [_strip("L", 4_000, 2), Image.new("L", (4_000, 2), 255)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)


@dataclass(frozen=True)
class ImageCase:
    name: str
    make: Callable[[], bytes]
    what: str
    code: ErrorCode | None = None  # None: decodes to RGB of `shape`
    shape: tuple[int, int] | None = None  # (height, width) once upright and shrunk


def _refused(name: str, make: Callable[[], bytes], code: ErrorCode, what: str) -> ImageCase:
    return ImageCase(name, make, what, code=code)


def _decoded(name: str, make: Callable[[], bytes], shape: tuple[int, int], what: str) -> ImageCase:
    return ImageCase(name, make, what, shape=shape)


IMAGE_CASES = [
    # Not images, or formats we do not accept, whatever their name or content type says.
    _refused("zero-bytes", lambda: b"", UNSUPPORTED, "an empty file"),
    _refused("svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
             UNSUPPORTED, "SVG with a script, named .png"),
    _refused("html", lambda: b"<!doctype html><script>alert(1)</script>", UNSUPPORTED,
             "HTML named .jpg"),
    _refused("tiff-16bit", lambda: encode(_gray16(), "TIFF"), UNSUPPORTED, "16-bit TIFF"),
    _refused("ico", lambda: encode(_gradient((32, 32)), "ICO"), UNSUPPORTED, "an icon"),
    _refused("signature-only", lambda: b"\x89PNG\r\n\x1a\n", DECODE_FAILED,
             "a PNG signature and nothing else"),
    # Decompression bombs and lying headers: refused from the header, before decoding.
    _refused("png-bomb", lambda: _png_bomb(30_000), TOO_MANY_PIXELS,
             "30000x30000 1-bit PNG: 900 Mpx in ~0.5 MB"),
    _refused("png-bomb-just-over", lambda: _png_bomb(6_400), TOO_MANY_PIXELS,
             "41 Mpx: between 1x and 2x the limit, where Pillow only warns"),
    _refused("png-huge-header", lambda: _png(65_535, 65_535, 8, 2, None), TOO_MANY_PIXELS,
             "an IHDR declaring 65535x65535 and no data"),
    _refused("jpeg-huge-header", lambda: _jpeg_header_only(65_500, 65_500), TOO_MANY_PIXELS,
             "a SOF0 declaring 65500x65500"),
    _refused("gif-huge-screen", lambda: _gif_huge_screen(65_535, 65_535), TOO_MANY_PIXELS,
             "a 1x1 frame on a 65535x65535 logical screen"),
    _refused("bmp-huge-header", lambda: _bmp_header_only(100_000, -100_000), TOO_MANY_PIXELS,
             "a top-down BMP declaring 100000x100000"),
    _refused("webp-huge-canvas", lambda: _webp_canvas(16_384, 16_384), TOO_MANY_PIXELS,
             "a VP8X canvas of 16384x16384"),
    _refused("png-text-bomb", _png_text_bomb, DECODE_FAILED, "a zTXt chunk inflating to 64 MiB"),
    # Allowed sizes at the limit, in ~100 KB: they decode (and shrink) within the budget.
    _decoded("png-bomb-just-under", lambda: _png_bomb(6_320), (4096, 4096),
             "39.9 Mpx of 1-bit black"),
    _decoded("png-16bit-bomb-just-under", lambda: _png_16bit_gray_bomb(6_320), (4096, 4096),
             "39.9 Mpx of 16-bit grey: the widest pixels PNG allows"),
    # Truncated and corrupt files.
    _refused("png-truncated", lambda: encode(_gradient(), "PNG")[:200], DECODE_FAILED,
             "a PNG cut inside its pixel data"),
    _refused("jpeg-truncated", lambda: encode(_gradient(), "JPEG")[:400], DECODE_FAILED,
             "a JPEG cut inside its scan"),
    _refused("png-bad-crc", _png_bad_crc, DECODE_FAILED, "an IDAT whose CRC does not match"),
    _refused("png-corrupt", lambda: _corrupt_after_header(encode(_gradient(), "PNG"), 41),
             DECODE_FAILED, "random bytes after a valid IHDR"),
    _refused("gif-corrupt", lambda: _corrupt_after_header(encode(_gradient(), "GIF"), 13),
             DECODE_FAILED, "random bytes after a valid GIF screen descriptor"),
    # Polyglots: valid images that are also something else; only the pixels are used.
    _decoded("jpeg-zip", _jpeg_zip_polyglot, (64, 96), "a JPEG with a ZIP archive appended"),
    _decoded("gif-js", _gif_js_polyglot, (3, 4096), "a GIF that is also JavaScript"),
    # Animations: only the first frame is decoded.
    _decoded("gif-3000-frames", lambda: _animated_gif(3_000), (16, 16), "3000-frame GIF"),
    _decoded("webp-1000-frames", lambda: _animated_webp(1_000), (16, 16), "1000-frame WebP"),
    # Odd but legitimate colour modes, depths and metadata.
    _decoded("cmyk-jpeg", lambda: encode(_cmyk(), "JPEG"), (48, 64), "a CMYK JPEG"),
    _decoded("png-16bit-gray", lambda: encode(_gray16(), "PNG"), (48, 64), "16-bit grey"),
    _decoded("png-16bit-rgb", _png_16bit_rgb, (48, 64), "16-bit RGB"),
    _decoded("png-palette-transparency", _palette_transparency, (48, 64), "palette and tRNS"),
    _decoded("png-1bit", lambda: encode(_gradient().convert("1"), "PNG"), (64, 96), "1-bit"),
    _decoded("webp-lossy", lambda: encode(_gradient(), "WEBP", quality=50), (64, 96), "WebP"),
    _decoded("bmp-32bit", lambda: encode(_gradient().convert("RGBA"), "BMP"), (64, 96),
             "32-bit BMP"),
    _decoded("exif-bad-orientation", lambda: _exif_jpeg(65_535), (64, 96),
             "an orientation tag outside 1-8: left as it is"),
    _decoded("exif-bulky", lambda: _exif_jpeg(6, padding=60_000), (96, 64),
             "a 60 KB EXIF block around orientation 6"),
    _decoded("exif-ifd-loop", _exif_loop_jpeg, (96, 64), "an EXIF IFD chain that loops"),
    _decoded("sliver", lambda: encode(Image.new("L", (1, 30_000), 128), "PNG"), (4096, 1),
             "1x30000: a legal pixel count, an absurd shape"),
]  # fmt: skip

# Legitimate images of extreme geometry: every one decodes, and is judged in either mode.
# Sizes stay under the e2e stack's lowered limits (4 Mpx, 1 MiB) unless said otherwise.
GEOMETRY_CASES = [
    _decoded("geometry-1x1", lambda: encode(_strip("RGB", 1, 1), "PNG"), (1, 1), "one pixel"),
    _decoded("geometry-2x2", lambda: encode(_strip("RGB", 2, 2), "JPEG"), (2, 2), "2x2 JPEG"),
    _decoded("geometry-odd", lambda: encode(_strip("RGB", 131, 97), "PNG"), (97, 131),
             "131x97: odd sides"),
    _decoded("row-at-max-side", lambda: encode(_strip("RGB", 4096, 1), "PNG"), (1, 4096),
             "4096x1: the longest side kept, 4096:1"),
    _decoded("column-at-max-side", lambda: encode(_strip("RGB", 1, 4096), "PNG"), (4096, 1),
             "1x4096: 1:4096"),
    _decoded("row-4-mpx", lambda: _png_ramp_row(3_999_000, 1), (1, 4096),
             "3999000x1, shrunk to 4096x1"),
    _decoded("column-4-mpx", lambda: _png_ramp_row(1, 3_999_000), (4096, 1),
             "1x3999000, shrunk to 1x4096"),
    _decoded("row-at-pixel-limit", lambda: _png_ramp_row(MAX_PIXELS - 1, 1), (1, 4096),
             "39999999x1: the default pixel limit in one row (over the e2e stack's)"),
    _decoded("jpeg-strip-exif-5", lambda: _exif_strip(5), (4096, 2),
             "20000x8 JPEG, orientation 5 (transpose): a column once upright"),
    _decoded("jpeg-strip-exif-6", lambda: _exif_strip(6), (4096, 2), "orientation 6"),
    _decoded("jpeg-strip-exif-7", lambda: _exif_strip(7), (4096, 2), "orientation 7"),
    _decoded("jpeg-strip-exif-8", lambda: _exif_strip(8), (4096, 2), "orientation 8"),
    _decoded("gif-animated-strip", _animated_strip, (2, 4000), "two 4000x2 frames"),
    _decoded("png-palette-strip", lambda: encode(_strip("P", 5_000, 2), "PNG"), (2, 4096),
             "5000x2 palette"),
    _decoded("png-la-strip", lambda: encode(_strip("LA", 1, 3_000), "PNG"), (3000, 1),
             "1x3000 grey and alpha"),
    _decoded("png-16bit-strip", lambda: encode(_strip("I;16", 3_000, 1), "PNG"), (1, 3000),
             "3000x1 16-bit grey"),
    _decoded("cmyk-jpeg-strip", lambda: encode(_strip("CMYK", 4_000, 3), "JPEG"), (3, 4000),
             "4000x3 CMYK JPEG"),
    _decoded("bmp-strip", lambda: encode(_strip("RGB", 1, 4_097), "BMP"), (4096, 1),
             "1x4097 BMP: one pixel over the side kept"),
    _decoded("webp-strip", lambda: encode(_strip("RGB", 16_383, 1), "WEBP"), (1, 4096),
             "16383x1: WebP's longest side"),
    _refused("png-strip-header-only", lambda: _png(3_999_000, 1, 8, 2, None), DECODE_FAILED,
             "an IHDR declaring a 3999000x1 strip and no data"),
]  # fmt: skip
IMAGE_CASES += GEOMETRY_CASES

CASES_BY_NAME = {case.name: case for case in IMAGE_CASES}
