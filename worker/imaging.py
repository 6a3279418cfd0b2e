"""Decoding untrusted image bytes into the model's input: pure functions, no services."""

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from storage.errors import ErrorCode, PermanentError
from storage.imageformat import sniff_format
from worker.settings import ImageSettings

# What Pillow raises on bytes it cannot make sense of (truncated, corrupt, lying headers).
_DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError)


def check_image(content: bytes, settings: ImageSettings) -> tuple[str, int, int]:
    """Format and size from the signature and header alone, without decoding pixels."""
    detected = sniff_format(content[:16])
    if detected is None or detected.name not in settings.formats:
        raise PermanentError(
            ErrorCode.UNSUPPORTED_IMAGE_FORMAT,
            f"not an image in an accepted format ({', '.join(settings.formats)})",
        )
    with _open(content, settings) as image:
        width, height = image.size
    return detected.name, width, height


def decode_upright(
    content: bytes, settings: ImageSettings, *, at_least: int | None = None
) -> npt.NDArray[np.uint8]:
    """The image decoded once: RGB uint8 (height, width, 3), EXIF orientation applied.

    A photo taken sideways is judged upright. Images with a side above `max_side` are
    shrunk first (faces stay far larger than the detector's smallest). A caller that needs
    no more than `at_least` pixels a side gets a JPEG decoded at a reduced scale (1/2 to
    1/8, in the DCT: several times faster) that keeps both sides at or above it.
    """
    with _open(content, settings) as image:
        try:
            # Draft mode scales only while both sides stay >= the size asked for.
            wanted = min(at_least or settings.max_side, settings.max_side)
            image.draft(None, (wanted, wanted))
            image.load()
            upright = _eight_bit(ImageOps.exif_transpose(image)).convert("RGB")
            if max(upright.size) > settings.max_side:
                upright.thumbnail((settings.max_side, settings.max_side), Image.Resampling.BOX)
        except _DECODE_ERRORS as error:
            raise _decode_failed(error) from error
        return np.asarray(upright, dtype=np.uint8)


def resize_whole(rgb: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """The whole image at the model's input size (width, height).

    Nearest resampling matches how MesoNet's training data were loaded (Keras load_img).
    """
    resized = Image.fromarray(rgb).resize(size, Image.Resampling.NEAREST)
    return np.asarray(resized, dtype=np.uint8)


def decode_image(
    content: bytes, settings: ImageSettings, size: tuple[int, int]
) -> npt.NDArray[np.uint8]:
    """`decode_upright` then `resize_whole`: the image judged as one face."""
    return resize_whole(decode_upright(content, settings, at_least=max(size)), size)


@contextmanager
def _open(content: bytes, settings: ImageSettings) -> Iterator[Image.Image]:
    """`Image.open` restricted to our formats, with the pixel limit as a hard error."""
    Image.MAX_IMAGE_PIXELS = settings.max_pixels
    with warnings.catch_warnings():
        # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS: make that an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(content), formats=list(settings.formats))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise PermanentError(
                ErrorCode.IMAGE_TOO_MANY_PIXELS,
                f"the image has more than {settings.max_pixels} pixels",
            ) from error
        except _DECODE_ERRORS as error:
            raise _decode_failed(error) from error
        with image:
            yield image


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit greyscale (PNG) as 8-bit: Pillow's own conversion clips above 255, not scales."""
    if image.mode not in ("I", "I;16", "I;16B", "I;16L"):
        return image
    high_bytes = np.clip(np.asarray(image) >> 8, 0, 255).astype(np.uint8)
    return Image.fromarray(high_bytes, "L")


def _decode_failed(error: BaseException) -> PermanentError:
    return PermanentError(
        ErrorCode.IMAGE_DECODE_FAILED, f"the image could not be decoded ({type(error).__name__})"
    )
