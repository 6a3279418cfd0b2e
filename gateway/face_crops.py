"""One face of a judged image, cut out for a reviewer's screen (`?face=N` on the image)."""

import io
import warnings

from PIL import Image, ImageOps

# Around the box, as a share of its size: a reviewer sees the face's edges and some context.
_MARGIN = 0.25
_MAX_SIDE = 512


def crop_face(
    content: bytes,
    box: tuple[int, int, int, int],
    frame: tuple[int, int] | None,
    max_pixels: int,
) -> bytes:
    """The face's region of the upright image as a PNG, at most 512 px a side.

    `box` is in pixels of `frame` (width, height): the upright image as the worker saw it,
    which may have been shrunk from the stored one; None means the stored size.
    """
    Image.MAX_IMAGE_PIXELS = max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(content)) as image:
            upright = ImageOps.exif_transpose(image).convert("RGB")
    width, height = upright.size
    scale_x, scale_y = (1.0, 1.0) if frame is None else (width / frame[0], height / frame[1])
    x0, y0, x1, y1 = box[0] * scale_x, box[1] * scale_y, box[2] * scale_x, box[3] * scale_y
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
