import io

import numpy as np
import pytest
from PIL import Image

from storage.errors import ErrorCode, PermanentError
from storage.imageformat import sniff_format
from worker.imaging import check_image, decode_image
from worker.settings import ImageSettings


def encode(image: Image.Image, format: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **params)
    return buffer.getvalue()


def solid(size: tuple[int, int], color: tuple[int, int, int] = (200, 30, 30)) -> Image.Image:
    return Image.new("RGB", size, color)


@pytest.mark.parametrize("format", ["JPEG", "PNG", "GIF", "WEBP", "BMP"])
def test_every_accepted_format_decodes_to_model_input(format: str) -> None:
    content = encode(solid((300, 200)), format)
    assert sniff_format(content[:16]) is not None
    pixels = decode_image(content, ImageSettings(), (256, 256))
    assert pixels.shape == (256, 256, 3)
    assert pixels.dtype == np.uint8


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"hello world",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"%PDF-1.7\n",
        b"\x00" * 64,
    ],
)
def test_non_images_are_refused(content: bytes) -> None:
    with pytest.raises(PermanentError) as caught:
        check_image(content, ImageSettings())
    assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT


def test_a_format_left_out_of_settings_is_refused() -> None:
    content = encode(solid((10, 10)), "BMP")
    with pytest.raises(PermanentError) as caught:
        check_image(content, ImageSettings(formats=("JPEG", "PNG")))
    assert caught.value.code is ErrorCode.UNSUPPORTED_IMAGE_FORMAT


def test_too_many_pixels_is_refused_from_the_header() -> None:
    content = encode(Image.new("L", (3000, 3000)), "PNG")
    settings = ImageSettings(max_pixels=1_000_000)
    with pytest.raises(PermanentError) as caught:
        check_image(content, settings)
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS
    with pytest.raises(PermanentError) as caught:
        decode_image(content, settings, (256, 256))
    assert caught.value.code is ErrorCode.IMAGE_TOO_MANY_PIXELS


def test_just_below_the_pixel_limit_passes() -> None:
    content = encode(Image.new("L", (1000, 1000)), "PNG")
    assert check_image(content, ImageSettings(max_pixels=1_000_000)) == ("PNG", 1000, 1000)


def test_truncated_image_fails_to_decode() -> None:
    content = encode(solid((512, 512)), "PNG")[:300]
    with pytest.raises(PermanentError) as caught:
        decode_image(content, ImageSettings(), (256, 256))
    assert caught.value.code is ErrorCode.IMAGE_DECODE_FAILED


def test_exif_orientation_is_applied() -> None:
    # Left half red, right half blue; orientation 6 means "rotate 90 degrees clockwise".
    image = Image.new("RGB", (200, 100), (255, 0, 0))
    image.paste((0, 0, 255), (100, 0, 200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6
    content = encode(image, "JPEG", exif=exif.tobytes(), quality=95)
    pixels = decode_image(content, ImageSettings(), (256, 256))
    top, bottom = pixels[10, 128], pixels[245, 128]
    assert top[0] > 200
    assert top[2] < 60
    assert bottom[2] > 200
    assert bottom[0] < 60


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16"])
def test_other_colour_modes_become_rgb(mode: str) -> None:
    image = Image.new(mode, (64, 48))
    format = "JPEG" if mode == "CMYK" else "PNG"
    pixels = decode_image(encode(image, format), ImageSettings(), (256, 256))
    assert pixels.shape == (256, 256, 3)


def test_only_the_first_frame_of_an_animation_is_decoded() -> None:
    frames = [solid((32, 32), (i, i, i)) for i in range(0, 250, 5)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    pixels = decode_image(buffer.getvalue(), ImageSettings(), (256, 256))
    assert pixels.shape == (256, 256, 3)
