"""A face cut out for a reviewer: upright whatever the EXIF orientation, scaled from the
frame the worker judged, clipped at the edges, never larger than 512 px, from any format."""

import io

import numpy as np
import pytest
from PIL import Image

from gateway.face_crops import crop_face

MAX_PIXELS = 40_000_000


def _upright(width: int = 400, height: int = 240) -> Image.Image:
    """A gradient with a red square at (100, 60)-(180, 140): where the face is."""
    xs = np.linspace(0, 255, width, dtype=np.uint8)
    pixels = np.stack([np.tile(xs, (height, 1))] * 3, axis=-1)
    pixels[60:140, 100:180] = (255, 0, 0)
    return Image.fromarray(pixels)


def _stored(upright: Image.Image, orientation: int, fmt: str = "PNG") -> bytes:
    """`upright` stored so that applying EXIF `orientation` shows it upright."""
    transpose = Image.Transpose
    inverse = {
        2: transpose.FLIP_LEFT_RIGHT,
        3: transpose.ROTATE_180,
        4: transpose.FLIP_TOP_BOTTOM,
        5: transpose.TRANSPOSE,
        6: transpose.ROTATE_90,
        7: transpose.TRANSVERSE,
        8: transpose.ROTATE_270,
    }
    stored = upright if orientation == 1 else upright.transpose(inverse[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, format=fmt, exif=exif)
    return buffer.getvalue()


def _red_share(png: bytes) -> float:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)
    red = (pixels[..., 0] > 200) & (pixels[..., 1] < 60) & (pixels[..., 2] < 60)
    return float(red.mean())


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_crop_is_of_the_upright_image_whatever_the_orientation(orientation: int) -> None:
    png = crop_face(_stored(_upright(), orientation), (100, 60, 180, 140), None, MAX_PIXELS)
    crop = Image.open(io.BytesIO(png))
    assert crop.format == "PNG"
    # The box with a quarter of its size around it: 120 x 120, the red square in the middle.
    assert crop.size == (120, 120)
    assert _red_share(png) == pytest.approx((80 * 80) / (120 * 120), abs=0.02)


def test_boxes_of_a_shrunk_frame_are_scaled_to_the_stored_image() -> None:
    big = _upright().resize((1600, 960), Image.Resampling.NEAREST)
    png = crop_face(_stored(big, 1), (100, 60, 180, 140), (400, 240), MAX_PIXELS)
    assert Image.open(io.BytesIO(png)).size == (480, 480)
    assert _red_share(png) == pytest.approx(0.44, abs=0.02)


@pytest.mark.parametrize(
    "box",
    [(0, 0, 10, 10), (390, 230, 400, 240), (-50, -50, 500, 500), (200, 100, 200, 100)],
)
def test_boxes_at_or_past_the_edges_are_clipped_or_give_the_whole_image(
    box: tuple[int, int, int, int],
) -> None:
    png = crop_face(_stored(_upright(), 1), box, None, MAX_PIXELS)
    width, height = Image.open(io.BytesIO(png)).size
    assert 0 < width <= 400
    assert 0 < height <= 240


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_every_stored_format_gives_a_png(fmt: str) -> None:
    buffer = io.BytesIO()
    _upright().save(buffer, format=fmt)
    png = crop_face(buffer.getvalue(), (100, 60, 180, 140), None, MAX_PIXELS)
    assert Image.open(io.BytesIO(png)).format == "PNG"


def test_a_large_face_of_a_large_jpeg_is_decoded_reduced_and_comes_back_512() -> None:
    big = _upright().resize((4000, 2400), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    big.save(buffer, format="JPEG", quality=90)
    png = crop_face(buffer.getvalue(), (1000, 600, 1800, 1400), None, MAX_PIXELS)
    assert max(Image.open(io.BytesIO(png)).size) == 512
    assert _red_share(png) == pytest.approx(0.44, abs=0.03)
