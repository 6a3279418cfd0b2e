"""Face geometry on synthetic inputs: letterbox mapping, box maths, NMS, crops, the fallback."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from worker.faces import (
    FaceBox,
    Letterbox,
    box_iou,
    crop_faces,
    decode_detections,
    non_max_suppression,
    prepare_detector_input,
    square_around,
    whole_image_face,
)

SIZE = 384


def noise(height: int, width: int, seed: int = 0) -> NDArray[np.uint8]:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def with_white_rectangle(
    height: int, width: int, box: tuple[int, int, int, int]
) -> NDArray[np.uint8]:
    image = np.zeros((height, width, 3), np.uint8)
    x0, y0, x1, y1 = box
    image[y0:y1, x0:x1] = 255
    return image


def bright_bounds(tensor: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(x0, y0, x1, y1) of the pixels above half grey, as fractions of the square."""
    ys, xs = np.nonzero(tensor.mean(axis=-1) > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float32) / SIZE


@pytest.mark.parametrize(
    ("height", "width", "box"),
    [
        (200, 400, (100, 50, 180, 130)),  # landscape, upscaled
        (500, 250, (30, 300, 90, 360)),  # portrait, downscaled 1.3x (bilinear only)
        (3000, 1800, (900, 1200, 1500, 1800)),  # 7.8x: block means, then bilinear
        (97, 131, (10, 10, 60, 60)),  # odd sizes
    ],
)
def test_letterbox_maps_back_to_image_pixels(
    height: int, width: int, box: tuple[int, int, int, int]
) -> None:
    tensor, transform = prepare_detector_input(with_white_rectangle(height, width, box), SIZE)
    assert tensor.shape == (SIZE, SIZE, 3)
    assert tensor.dtype == np.uint8
    back = transform.to_image(bright_bounds(tensor)[None])[0]
    pixel = max(height, width) / SIZE  # one input pixel, in image pixels
    assert np.abs(back - np.array(box)).max() <= 1.5 * pixel


def test_letterbox_centres_the_image_on_black() -> None:
    tensor, transform = prepare_detector_input(np.full((100, 300, 3), 77, np.uint8), SIZE)
    assert (transform.pad_x, transform.pad_y) == (0, 128)
    assert (tensor[:128] == 0).all()
    assert (tensor[256:] == 0).all()
    assert (tensor[128:256] == 77).all()  # no drift from resampling a flat image


def test_letterbox_clips_boxes_to_the_image() -> None:
    transform = Letterbox(SIZE, 100, 200, scale_x=1.92, scale_y=1.92, pad_x=0, pad_y=96)
    outside = np.array([[-0.1, 0.0, 1.2, 1.0]], np.float32)
    assert transform.to_image(outside).tolist() == [[0, 0, 200, 100]]


def test_box_iou() -> None:
    box = np.array([0, 0, 10, 10], np.float32)
    others = np.array([[0, 0, 10, 10], [20, 20, 30, 30], [5, 0, 15, 10]], np.float32)
    assert box_iou(box, others) == pytest.approx([1.0, 0.0, 1 / 3])


def test_non_max_suppression_keeps_the_best_of_each_cluster() -> None:
    boxes = np.array(
        [[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9], [52, 50, 62, 60]],
        np.float32,
    )
    assert non_max_suppression(boxes, iou_threshold=0.3) == [0, 2]
    # Touching but barely overlapping boxes both stay (IoU 1/19 < 0.3).
    apart = np.array([[0, 0, 10, 10], [9, 0, 19, 10]], np.float32)
    assert non_max_suppression(apart, iou_threshold=0.3) == [0, 1]


def test_decode_thresholds_suppresses_and_maps_back() -> None:
    _, transform = prepare_detector_input(np.zeros((192, 384, 3), np.uint8), SIZE)
    # Image rows 0..192 lie at input rows 96..288: y fraction = (y_px + 96) / 384.
    boxes = np.array(
        [
            [0.10, 0.30, 0.20, 0.40],  # face A
            [0.11, 0.30, 0.21, 0.40],  # face A again, weaker: suppressed
            [0.60, 0.50, 0.80, 0.70],  # face B
            [0.40, 0.40, 0.50, 0.50],  # below the threshold
            [0.90, 0.00, 0.95, 0.20],  # entirely in the black bar: clipped to nothing
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.8, 0.95, 0.5, 0.99], np.float32)
    faces = decode_detections(boxes, scores, transform, score_threshold=0.6, iou_threshold=0.3)
    assert [f.score for f in faces] == pytest.approx([0.95, 0.9])
    face_b, face_a = faces
    assert (face_a.x0, face_a.y0, face_a.x1, face_a.y1) == pytest.approx(
        (38.4, 19.2, 76.8, 57.6), abs=1e-3
    )
    assert (face_b.x0, face_b.y0, face_b.x1, face_b.y1) == pytest.approx(
        (230.4, 96.0, 307.2, 172.8), abs=1e-3
    )


def test_decode_with_nothing_above_threshold() -> None:
    _, transform = prepare_detector_input(np.zeros((64, 64, 3), np.uint8), SIZE)
    boxes = np.random.default_rng(1).uniform(0, 1, (100, 4)).astype(np.float32)
    assert decode_detections(boxes, np.zeros(100, np.float32), transform) == []


def pil_nearest(region: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    resized = Image.fromarray(region).resize((size, size), Image.Resampling.NEAREST)
    return np.asarray(resized)


def test_crop_adds_the_margin_and_matches_pil_nearest() -> None:
    image = noise(600, 800)
    face = FaceBox(300, 200, 400, 300, score=0.9)
    x0, y0, side = square_around(face, margin=0.25, height=600, width=800)
    assert (x0, y0, side) == (275, 175, 150)
    (crop,) = crop_faces(image, [face], margin=0.25, size=256)
    np.testing.assert_array_equal(crop, pil_nearest(image[175:325, 275:425], 256))


def test_crop_of_a_non_square_box_is_square_on_its_longer_side() -> None:
    face = FaceBox(100, 100, 140, 200, score=0.9)  # 40 x 100
    assert square_around(face, margin=0.0, height=400, width=400) == (70, 100, 100)


def test_crop_moves_inside_the_image_at_borders() -> None:
    image = noise(400, 400)
    face = FaceBox(0, 350, 40, 400, score=0.9)  # bottom-left corner
    x0, y0, side = square_around(face, margin=0.5, height=400, width=400)
    assert (x0, y0, side) == (0, 300, 100)
    (crop,) = crop_faces(image, [face], margin=0.5, size=100)
    np.testing.assert_array_equal(crop, image[300:400, 0:100])


@pytest.mark.parametrize("size", [208, 256, 342])
def test_tight_face_crop_is_cropped_whole(size: int) -> None:
    """A crop already framing a face stays itself: the square stops at the image."""
    image = noise(size, size, seed=size)
    face = FaceBox(0.15 * size, 0.1 * size, 0.85 * size, 0.8 * size, score=0.9)  # 70%
    assert square_around(face, margin=0.25, height=size, width=size) == (0, 0, size)
    (crop,) = crop_faces(image, [face], margin=0.25, size=256)
    np.testing.assert_array_equal(crop, pil_nearest(image, 256))


def test_crop_pads_with_black_only_when_the_face_exceeds_the_image() -> None:
    image = noise(100, 300)
    face = FaceBox(0, 0, 300, 100, score=0.9)  # wider than the image is tall
    assert square_around(face, margin=0.1, height=100, width=300) == (0, -100, 300)
    (crop,) = crop_faces(image, [face], margin=0.1, size=300)
    assert (crop[:100] == 0).all()
    assert (crop[200:] == 0).all()
    np.testing.assert_array_equal(crop[100:200], image)


def test_crop_of_no_faces_is_empty() -> None:
    crops = crop_faces(noise(50, 50), [], margin=0.25, size=256)
    assert crops.shape == (0, 256, 256, 3)
    assert crops.dtype == np.uint8


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (256, 256, True),
        (300, 240, True),  # aspect 1.25
        (300, 200, False),  # aspect 1.5: a portrait photo, not a face crop
        (800, 800, False),  # too large to be a crop
    ],
)
def test_whole_image_fallback_only_for_small_square_images(
    height: int, width: int, expected: bool
) -> None:
    face = whole_image_face(height, width, max_side=512, max_aspect=1.25)
    assert (face is not None) is expected
    if face is not None:
        assert (face.x0, face.y0, face.x1, face.y1, face.score) == (0, 0, width, height, 0)
