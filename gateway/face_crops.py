"""One face of a judged image, cut out for a reviewer's screen (`?face=N` on the image)."""

import io
import threading
import warnings

from PIL import Image, ImageOps

# Around the box, as a share of its size: a reviewer sees the face's edges and some context.
_MARGIN = 0.25
_MAX_SIDE = 512
_DECODING = threading.BoundedSemaphore(2)


def crop_face(
    content: bytes,
    box: tuple[int, int, int, int],
    frame: tuple[int, int] | None,
    max_pixels: int,
) -> bytes:
    """The face's region of the upright image as a PNG, at most 512 px a side.

    `box` is in pixels of `frame` (width, height): the upright image as the worker saw it,
    which may have been shrunk from the stored one; None means the stored size.
    A zero-width box or one wholly outside the image gives the whole image.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    # A few decodes at a time: a 40-megapixel photo takes 120 MB as RGB.
    with _DECODING, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(content)) as image:
            # The longer side, whichever way the image is turned: what the box is measured on.
            judged = max(frame) if frame is not None else max(image.size)
            _draft(image, box, judged)
            upright = ImageOps.exif_transpose(image).convert("RGB")
    width, height = upright.size
    # The frame, the stored image and a reduced decode all keep the aspect ratio.
    scale = max(width, height) / judged
    x0, y0, x1, y1 = (coordinate * scale for coordinate in box)
    margin_x, margin_y = (x1 - x0) * _MARGIN, (y1 - y0) * _MARGIN
    region = (
        max(0, round(x0 - margin_x)),
        max(0, round(y0 - margin_y)),
        min(width, round(x1 + margin_x)),
        min(height, round(y1 + margin_y)),
    )
    if region[2] <= region[0] or region[3] <= region[1]:
        region = (0, 0, width, height)
    face = upright.crop(region)
    face.thumbnail((_MAX_SIDE, _MAX_SIDE), Image.Resampling.LANCZOS)
    output = io.BytesIO()
    face.save(output, format="PNG")
    return output.getvalue()


def _draft(image: Image.Image, box: tuple[int, int, int, int], judged: int) -> None:
    """A JPEG decoded at 1/2 to 1/8 scale (in the DCT, several times cheaper) when the face
    would still be at least 512 px a side: a large face needs no full-size decode."""
    if image.format != "JPEG":
        return
    face = max(box[2] - box[0], box[3] - box[1]) * (1 + 2 * _MARGIN) * max(image.size) / judged
    scale = min(1.0, _MAX_SIDE / max(face, 1.0))
    width, height = image.size
    image.draft("RGB", (max(1, round(width * scale)), max(1, round(height * scale))))
