"""Occlusion sensitivity's arithmetic: the grid one request allows, the copies, the map."""

import io

import numpy as np
import pytest
from PIL import Image

from worker.occlusion import FILL, grid_for, occluded_copies, overlay_png, sensitivity


def test_the_grid_is_as_fine_as_one_request_allows() -> None:
    grid = grid_for(256, 256, 64)
    assert grid is not None
    method = grid.method()
    # 7 x 7 squares and the crop itself: 50 inputs within a batch of 64.
    assert (method.grid, method.patch, method.stride) == ((7, 7), (64, 64), (32, 32))
    assert grid.squares[-1] == (192, 192)  # the last square meets the edges
    smaller = grid_for(256, 256, 10)
    assert smaller is not None
    assert smaller.k == 3
    assert len(smaller.squares) + 1 <= 10
    # Larger batches do not make it finer than the bound: the cost stays fixed.
    assert grid_for(256, 256, 1024) == grid
    # A model that takes fewer than five inputs per request cannot be explained in one.
    assert grid_for(256, 256, 4) is None
    assert grid_for(256, 256, 1) is None


def test_each_copy_covers_one_square_with_grey() -> None:
    grid = grid_for(64, 32, 10)
    assert grid is not None
    crop = np.full((32, 64, 3), 7, np.uint8)
    copies = occluded_copies(crop, grid)
    assert copies.shape == (1 + len(grid.squares), 32, 64, 3)
    assert (copies[0] == 7).all()
    for copy, (x, y) in zip(copies[1:], grid.squares, strict=True):
        grey = (copy == FILL).all(axis=-1)
        assert grey[y : y + grid.patch_h, x : x + grid.patch_w].all()
        assert grey.sum() == grid.patch_h * grid.patch_w


def test_the_map_is_brightest_where_covering_lowered_the_score() -> None:
    grid = grid_for(256, 256, 64)
    assert grid is not None
    probabilities = np.full(1 + len(grid.squares), 0.9, np.float32)
    probabilities[0] = 0.9
    centre = grid.squares.index((96, 96))
    probabilities[1 + centre] = 0.1  # covering the centre makes it look real
    probabilities[1] = 0.99  # a rise is not evidence for fake: ignored
    values = sensitivity(probabilities, grid)
    assert values.max() == pytest.approx(1.0)
    assert values[128, 128] == pytest.approx(1.0)
    assert values[10, 10] == 0.0
    assert values[96:160, 96:160].min() > 0
    assert (values[:96] == 0).all()


def test_a_score_no_square_lowers_gives_an_empty_map() -> None:
    grid = grid_for(256, 256, 64)
    assert grid is not None
    values = sensitivity(np.full(1 + len(grid.squares), 0.2, np.float32), grid)
    assert (values == 0).all()


def test_the_overlay_is_a_png_of_the_crop_size() -> None:
    crop = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    values = np.zeros((256, 256), np.float32)
    values[100:150, 100:150] = 1.0
    with Image.open(io.BytesIO(overlay_png(crop, values))) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (256, 256), "RGB")
        pixels = np.asarray(image)
    # The hot area is light (white at the peak), the rest is the crop, dimmed a little.
    assert pixels[125, 125].min() > 150
    assert np.allclose(pixels[10, 10], crop[10, 10] * 0.85, atol=1)
