"""The hostile image corpus through check_image and decode_upright, as the worker runs them."""

import functools

import numpy as np
import numpy.typing as npt
import pytest

from storage.errors import ServiceError
from tests.hostile.images import CASES_BY_NAME, IMAGE_CASES, MAX_PIXELS, ImageCase
from worker.imaging import check_image, decode_upright
from worker.settings import ImageSettings

SETTINGS = ImageSettings(max_pixels=MAX_PIXELS)


@functools.cache
def _content(name: str) -> bytes:
    return CASES_BY_NAME[name].make()


def _decode(name: str) -> npt.NDArray[np.uint8]:
    content = _content(name)
    check_image(content, SETTINGS)
    return decode_upright(content, SETTINGS)


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda case: case.name)
def test_hostile_image(case: ImageCase) -> None:
    if case.code is not None:
        with pytest.raises(ServiceError) as caught:
            _decode(case.name)
        assert (caught.value.code, caught.value.transient) == (case.code, False)
        return
    pixels = _decode(case.name)
    assert pixels.dtype == np.uint8
    assert (pixels.ndim, pixels.shape[2]) == (3, 3)
    assert pixels.shape[:2] == case.shape


def test_the_corpus_is_broad() -> None:
    refused = [case for case in IMAGE_CASES if case.code is not None]
    assert len(refused) >= 15
    assert len(IMAGE_CASES) - len(refused) >= 15


def test_sixteen_bit_grey_is_scaled_not_clipped() -> None:
    row = _decode("png-16bit-gray")[0, :, 0].astype(int)
    expected = np.linspace(0, 65535, 64).astype(np.uint16) >> 8
    assert np.abs(row - expected).max() <= 1
    assert 120 < row[32] < 136  # mid-grey, where a clipping conversion gives 255


def test_sixteen_bit_rgb_keeps_its_channels() -> None:
    pixels = _decode("png-16bit-rgb").astype(int)
    assert pixels[0, 0].tolist() == [0, 0, 156]
    assert pixels[0, -1].tolist() == [255, 0, 156]
    assert 120 < pixels[0, 32, 0] < 136


def test_cmyk_becomes_the_same_colours_in_rgb() -> None:
    pixels = _decode("cmyk-jpeg").astype(int)
    assert np.abs(pixels[24, 8] - [0, 255, 255]).max() <= 8  # cyan
    assert np.abs(pixels[24, 56] - [255, 255, 255]).max() <= 8  # white


def test_only_the_first_frame_of_an_animation_counts() -> None:
    first = _decode("gif-3000-frames")[:, :, 0]
    assert first[0, 0] == 255  # the first frame's only white pixel
    assert int(first.sum()) == 255


def test_transparent_palette_entries_keep_their_colour() -> None:
    pixels = _decode("png-palette-transparency")
    assert (pixels == [200, 30, 30]).all()


def test_a_polyglot_decodes_to_its_image_only() -> None:
    pixels = _decode("jpeg-zip").astype(int)
    assert pixels[0, 0].max() < 16  # the gradient's dark corner
    assert pixels[-1, -1].min() > 230  # and its light one
