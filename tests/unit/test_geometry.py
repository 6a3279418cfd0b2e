"""Every preprocessing step over a grid of image geometries: the right shapes, no exception.

1 x 1, 1 x N and N x 1 up to the largest side a decoded image keeps (ImageSettings.max_side),
odd sizes, against the input size of every served model (MesoNet, the Hugging Face
classifiers, a non-square input the detector contract allows) and of the face detector.
The face detector's outputs are the hostile part: boxes outside the image, in the black
bars, degenerate after clipping, NaN.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from model_repository.faces import input_size as face_detector_input_size
from worker.faces import (
    FaceBox,
    crop_faces,
    decode_detections,
    prepare_detector_input,
    square_around,
    whole_image_face,
)
from worker.imaging import resize_whole
from worker.settings import ImageSettings

MAX_SIDE = ImageSettings().max_side
# (height, width): both extreme ratios at the largest side, thin strips, odd and tiny sizes.
GEOMETRIES = [
    (1, 1),
    (1, 2),
    (2, 1),
    (2, 2),
    (3, 5),
    (7, 1),
    (97, 131),
    (1, MAX_SIDE),
    (MAX_SIDE, 1),
    (2, MAX_SIDE),
    (MAX_SIDE, 3),
    (31, MAX_SIDE),
    (MAX_SIDE, 33),
    (MAX_SIDE - 1, MAX_SIDE),
    (MAX_SIDE, MAX_SIDE),
]
# The face detector's input as served, and its short-range pass's native size.
DETECTOR_SIZES = [face_detector_input_size(), 128]
# (width, height) of model inputs: MesoNet, ViT-base, the tests' tiny ViT, and a non-square
# input the detector contract (storage.contract) allows.
MODEL_INPUTS = [(256, 256), (224, 224), (32, 32), (256, 192)]


def picture(height: int, width: int) -> NDArray[np.uint8]:
    """A cheap image, never black, whose pixels all differ from their neighbours."""
    y = np.arange(height, dtype=np.uint32)[:, None]
    x = np.arange(width, dtype=np.uint32)[None, :]
    grey = ((x * 7 + y * 13) % 255 + 1).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def hostile_detections(count: int = 64) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Boxes as fractions of the detector's square, every one above the score threshold."""
    rng = np.random.default_rng(7)
    corners = np.sort(rng.uniform(-0.2, 1.2, (count, 2, 2)), axis=1).reshape(count, 4)
    special = np.array(
        [
            [0.0, 0.0, 1.0, 1.0],  # the whole square
            [0.0, 0.0, 0.0, 0.0],  # a point
            [0.5, 0.5, 0.5, 0.5],  # a point in the middle
            [0.999, 0.999, 1.0, 1.0],  # the last corner
            [0.0, 0.0, 0.001, 1.0],  # a sliver at the left edge
            [0.0, 0.999, 1.0, 1.0],  # a sliver at the bottom
            [-5.0, -5.0, 5.0, 5.0],  # far outside on every side
            [1.0, 0.2, 0.0, 0.8],  # inverted
            [np.nan, 0.1, 0.5, 0.5],
            [0.1, 0.1, np.inf, 0.5],
        ],
        np.float64,
    )
    boxes = np.concatenate([special, corners]).astype(np.float32)
    return boxes, np.full(len(boxes), 0.99, np.float32)


def edge_faces(height: int, width: int) -> list[FaceBox]:
    """Faces as decode_detections could return them, and some it filters out."""
    return [
        FaceBox(0, 0, width, height, 0.9),  # the whole image
        FaceBox(width, height, width, height, 0.9),  # zero size at the far corner
        FaceBox(0, 0, 0, 0, 0.9),  # zero size at the origin
        FaceBox(width - 0.5, 0, width, height, 0.9),  # half a pixel wide, full height
        FaceBox(0, height / 2, width, height / 2 + 0.25, 0.9),  # a quarter pixel high
        FaceBox(width * 0.9, height * 0.9, width, height, 0.9),  # the bottom-right corner
    ]


@pytest.mark.parametrize(("height", "width"), GEOMETRIES, ids=str)
def test_the_detector_input_of_any_geometry(height: int, width: int) -> None:
    rgb = picture(height, width)
    boxes, scores = hostile_detections()
    for size in DETECTOR_SIZES:
        tensor, letterbox = prepare_detector_input(rgb, size)
        assert tensor.shape == (size, size, 3)
        assert tensor.dtype == np.uint8
        # The image fills the square along its longer side, keeps its aspect, and the
        # rest is black.
        fit = size / max(height, width)
        new_h, new_w = max(1, round(height * fit)), max(1, round(width * fit))
        inside = np.zeros((size, size), bool)
        inside[
            letterbox.pad_y : letterbox.pad_y + new_h, letterbox.pad_x : letterbox.pad_x + new_w
        ] = True
        np.testing.assert_array_equal(tensor.any(axis=-1), inside)
        # The whole square maps back to the whole image, less the few last rows or columns
        # that block averaging leaves out (under one input pixel).
        square = np.array([[0, 0, 1, 1]], np.float32)
        pixel = max(height, width) / size
        back = letterbox.to_image(square)[0].tolist()
        assert back == pytest.approx([0, 0, width, height], abs=pixel)
        faces = decode_detections(boxes, scores, letterbox)
        for face in faces:
            assert 0 <= face.x0 < face.x1 <= width
            assert 0 <= face.y0 < face.y1 <= height
            assert face.width >= 1
            assert face.height >= 1


@pytest.mark.parametrize(("height", "width"), GEOMETRIES, ids=str)
def test_crops_and_whole_images_of_any_geometry(height: int, width: int) -> None:
    rgb = picture(height, width)
    fallback = whole_image_face(height, width, max_side=512, max_aspect=1.25)
    faces = edge_faces(height, width) + ([] if fallback is None else [fallback])
    for face in faces:
        x0, y0, side = square_around(face, 0.3, height, width)
        assert side >= 1
        # The square overlaps the image: a crop is never all padding.
        assert x0 < width
        assert y0 < height
        assert x0 + side > 0
        assert y0 + side > 0
    for model_width, model_height in MODEL_INPUTS:
        crops = crop_faces(rgb, faces, 0.3, (model_width, model_height))
        assert crops.shape == (len(faces), model_height, model_width, 3)
        assert crops.dtype == np.uint8
        assert all(crop.any() for crop in crops)  # each shows some of the image
        whole = resize_whole(rgb, (model_width, model_height))
        assert whole.shape == (model_height, model_width, 3)
        assert whole.dtype == np.uint8
    square = crop_faces(rgb, faces, 0.3, 256)
    assert square.shape == (len(faces), 256, 256, 3)


def test_a_strip_keeps_its_content_in_the_detector_input() -> None:
    # A bright middle third of a 2 x 4096 strip lands in the middle third of the one row
    # left of it, and maps back there: the strip is averaged across, not dropped.
    rgb = np.zeros((2, MAX_SIDE, 3), np.uint8)
    rgb[:, MAX_SIDE // 3 : 2 * MAX_SIDE // 3] = 255
    for size in DETECTOR_SIZES:
        tensor, letterbox = prepare_detector_input(rgb, size)
        row = tensor[letterbox.pad_y, :, 0]
        lit = np.flatnonzero(row > 127)
        assert lit.size == pytest.approx(size / 3, abs=2)
        box = np.array([[lit[0], 0, lit[-1] + 1, size]], np.float32) / size
        x0, _, x1, _ = letterbox.to_image(box)[0]
        assert x0 == pytest.approx(MAX_SIDE / 3, abs=MAX_SIDE / size * 1.5)
        assert x1 == pytest.approx(2 * MAX_SIDE / 3, abs=MAX_SIDE / size * 1.5)


def test_a_non_square_model_input_stretches_the_square_crop() -> None:
    rgb = picture(300, 300)
    face = FaceBox(100, 100, 200, 200, 0.9)
    (crop,) = crop_faces(rgb, [face], 0.0, (50, 100))
    assert crop.shape == (100, 50, 3)
    # Rows sample the square at 1 px per row, columns at 2 px per column.
    np.testing.assert_array_equal(crop, rgb[100:200:1, 101:200:2])


def test_the_grid_reaches_both_extreme_ratios_at_the_largest_side() -> None:
    ratios = [max(h, w) / min(h, w) for h, w in GEOMETRIES]
    assert max(ratios) == MAX_SIDE
    assert {(1, MAX_SIDE), (MAX_SIDE, 1)} <= set(GEOMETRIES)
