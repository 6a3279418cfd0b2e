"""Face detection around the Triton `face_detector`: pure NumPy, no services.

`prepare_detector_input` letterboxes an image into the detector's square input and keeps the
mapping back; `decode_detections` turns the model's per-anchor boxes and scores into faces in
image pixels (threshold, non-maximum suppression); `crop_faces` cuts the square crops that
the detector judges. The anchors are decoded inside the graph (model_repository/faces.py), so
nothing here depends on the detector's anchor layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]  # (height, width, 3) RGB
FloatArray = npt.NDArray[np.float32]

SCORE_THRESHOLD = 0.6  # MediaPipe uses 0.5; 0.6 drops a cat's face the short-range pass takes
IOU_THRESHOLD = 0.3  # MediaPipe's min_suppression_threshold
MAX_CANDIDATES = 512  # bounds the suppression loop on pathological inputs
# Crop = the box's longer side x (1 + 2 * margin) = 1.6x: the framing of MesoNet's sample
# crops (1.61-1.63x the BlazeFace box for the deepfakes). MesoNet is sensitive to it: at 1.5x
# one deepfake sample drops from 0.999 to 0.38; at 1.6x it stays at 0.995.
CROP_MARGIN = 0.3


@dataclass(frozen=True)
class FaceBox:
    """A face in image pixels (x1, y1 exclusive), with the detector's P(face)."""

    x0: float
    y0: float
    x1: float
    y1: float
    score: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass(frozen=True)
class Letterbox:
    """Where the image lies in the detector input: input = image * scale + pad, per axis."""

    size: int
    height: int
    width: int
    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_image(self, boxes: FloatArray) -> FloatArray:
        """[K, 4] boxes as fractions of the input square -> image pixels, clipped to the image."""
        scale = np.array([self.scale_x, self.scale_y] * 2, np.float32)
        pad = np.array([self.pad_x, self.pad_y] * 2, np.float32)
        pixels = (boxes * self.size - pad) / scale
        limits = np.array([self.width, self.height] * 2, np.float32)
        clipped: FloatArray = np.clip(pixels, 0, limits)
        return clipped


def prepare_detector_input(rgb: Image, size: int) -> tuple[Image, Letterbox]:
    """(size, size, 3) uint8: the image scaled to fit, aspect kept, centred on black.

    Large images are first averaged over k x k blocks (k = the whole part of the scale
    factor), then resampled bilinearly, so downscaling does not alias small faces away.
    Any geometry works, down to 1 x 1 and 1 x max_side: a block never spans more rows or
    columns than the image has. Stack the results to batch several images.
    """
    height, width = rgb.shape[:2]
    if height < 1 or width < 1 or size < 1:
        raise ValueError(f"cannot letterbox a {width}x{height} image into {size}x{size}")
    fit = size / max(height, width)
    new_h, new_w = max(1, round(height * fit)), max(1, round(width * fit))
    block = max(1, int(1 / fit))
    # A strip thinner than a block (1 x 4096 into 128: k = 32) is averaged whole across.
    block_y, block_x = min(block, height), min(block, width)
    if block > 1:
        # The last (side % block) rows and columns are dropped; the scales below account for it.
        rows, cols = height // block_y, width // block_x
        blocks = rgb[: rows * block_y, : cols * block_x].reshape(rows, block_y, cols, block_x, 3)
        # Summing whole rows first is ~8x faster than a mean over both axes at once.
        sums = blocks.sum(axis=1, dtype=np.uint32).sum(axis=2)
        source = sums.astype(np.float32) / np.float32(block_y * block_x)
    else:
        source = rgb.astype(np.float32)
    resized = _bilinear(source, new_h, new_w)
    canvas = np.zeros((size, size, 3), np.uint8)
    pad_y, pad_x = (size - new_h) // 2, (size - new_w) // 2
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = np.clip(np.rint(resized), 0, 255)
    transform = Letterbox(
        size=size,
        height=height,
        width=width,
        scale_x=new_w / (source.shape[1] * block_x),
        scale_y=new_h / (source.shape[0] * block_y),
        pad_x=pad_x,
        pad_y=pad_y,
    )
    return canvas, transform


def _bilinear(image: FloatArray, height: int, width: int) -> FloatArray:
    """Bilinear resampling with pixel centres at +0.5 (edges clamped), one axis at a time."""
    for axis, target in ((0, height), (1, width)):
        length = image.shape[axis]
        centres = (np.arange(target, dtype=np.float64) + 0.5) * (length / target) - 0.5
        centres = np.clip(centres, 0, length - 1)
        low = np.floor(centres).astype(np.intp)
        high = np.minimum(low + 1, length - 1)
        shape = [1, 1, 1]
        shape[axis] = target
        weight = (centres - low).astype(np.float32).reshape(shape)
        image = np.take(image, low, axis=axis) * (1 - weight) + np.take(image, high, axis) * weight
    return image


def decode_detections(
    boxes: FloatArray,
    scores: FloatArray,
    transform: Letterbox,
    score_threshold: float = SCORE_THRESHOLD,
    iou_threshold: float = IOU_THRESHOLD,
) -> list[FaceBox]:
    """One image's model outputs (boxes [A, 4], scores [A]) -> faces, best first."""
    candidates = np.flatnonzero(scores >= score_threshold)
    candidates = candidates[np.argsort(-scores[candidates], kind="stable")][:MAX_CANDIDATES]
    pixels = transform.to_image(boxes[candidates].astype(np.float32))
    valid = (pixels[:, 2] - pixels[:, 0] >= 1) & (pixels[:, 3] - pixels[:, 1] >= 1)
    pixels, kept_scores = pixels[valid], scores[candidates][valid]
    keep = non_max_suppression(pixels, iou_threshold)
    return [_face(pixels[i], float(kept_scores[i])) for i in keep]


def _face(box: FloatArray, score: float) -> FaceBox:
    x0, y0, x1, y1 = (float(v) for v in box)
    return FaceBox(x0, y0, x1, y1, score)


def non_max_suppression(boxes: FloatArray, iou_threshold: float) -> list[int]:
    """Indices of the boxes kept, for boxes already sorted best first."""
    keep: list[int] = []
    remaining = np.arange(len(boxes))
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        keep.append(int(best))
        remaining = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return keep


def box_iou(box: FloatArray, others: FloatArray) -> FloatArray:
    """IoU of one (x0, y0, x1, y1) box with each of [K, 4] boxes."""
    low = np.maximum(box[:2], others[:, :2])
    high = np.minimum(box[2:], others[:, 2:])
    inter = np.prod(np.clip(high - low, 0, None), axis=1)
    area = np.prod(box[2:] - box[:2])
    areas = np.prod(others[:, 2:] - others[:, :2], axis=1)
    iou: FloatArray = inter / np.maximum(area + areas - inter, np.float32(1e-9))
    return iou


def square_around(box: FaceBox, margin: float, height: int, width: int) -> tuple[int, int, int]:
    """(x0, y0, side) of the square crop for `box`, in image pixels.

    The square is the box's longer side plus `margin` of it on each side, but no larger than
    the image's shorter side unless the face itself is; it is then moved to lie inside the
    image where it can. So a tight face crop keeps (nearly) all of itself, with no padding.
    """
    face = max(box.width, box.height)
    side = max(min(face * (1 + 2 * margin), min(height, width)), face)
    side_px = max(1, round(side))
    centre_x, centre_y = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    x0 = _place(centre_x - side_px / 2, side_px, width)
    y0 = _place(centre_y - side_px / 2, side_px, height)
    return x0, y0, side_px


def _place(start: float, side: int, limit: int) -> int:
    if side >= limit:
        return round((limit - side) / 2)  # centred, padded on both sides
    return min(max(round(start), 0), limit - side)


def crop_faces(
    rgb: Image, boxes: list[FaceBox], margin: float, size: int | tuple[int, int]
) -> Image:
    """[N, height, width, 3] uint8 crops, black where a crop leaves the image.

    `size` is the side of a square model input, or its (width, height): the square around
    each face is then stretched to it, as `resize_whole` stretches a whole image. Nearest
    resampling, as PIL's NEAREST (source = floor((i + 0.5) * side / size)), the way
    MesoNet's training crops were loaded.
    """
    out_w, out_h = (size, size) if isinstance(size, int) else size
    height, width = rgb.shape[:2]
    crops = np.zeros((len(boxes), out_h, out_w, 3), np.uint8)
    for index, box in enumerate(boxes):
        x0, y0, side = square_around(box, margin, height, width)
        ys, xs = _samples(y0, side, out_h, height), _samples(x0, side, out_w, width)
        inside_y, inside_x = (ys >= 0) & (ys < height), (xs >= 0) & (xs < width)
        patch = rgb[ys[inside_y]][:, xs[inside_x]]
        crops[index][np.ix_(inside_y, inside_x)] = patch
    return crops


def _samples(start: int, side: int, size: int, limit: int) -> npt.NDArray[np.intp]:
    """The image row (or column) each of `size` output rows takes, for a square at `start`.

    A strip thinner than one output row (a 1 x 4096 image padded to a 4096 square) could
    fall between two samples and leave the crop all black: the row nearest its middle then
    takes it.
    """
    offsets = np.floor((np.arange(size) + 0.5) * (side / size)).astype(np.intp)
    rows: npt.NDArray[np.intp] = start + offsets
    if not ((rows >= 0) & (rows < limit)).any():  # only where the square pads the image
        middle = limit // 2
        rows[min(max(int((middle + 0.5 - start) * size / side), 0), size - 1)] = middle
    return rows


def whole_image_face(height: int, width: int, max_side: int, max_aspect: float) -> FaceBox | None:
    """The whole image as one face, for small, roughly square images where none was found.

    Such an image is most likely a face crop cut tighter than the detector recognises (a
    face filling the frame loses the context BlazeFace needs); judging it whole keeps the
    verdict a crop got before face detection existed. Score 0: assumed, not detected.
    """
    if max(height, width) > max_side or max(height, width) > max_aspect * min(height, width):
        return None
    return FaceBox(0.0, 0.0, float(width), float(height), score=0.0)
