"""Occlusion sensitivity, pure NumPy and Pillow: which parts of a crop the score rests on.

A grey square is slid over the crop on a grid; each position gives one copy of the crop
with that square covered. The model judges the crop and every copy in one request. A
pixel's sensitivity is the mean, over the squares that cover it, of how far P(fake) fell
when they did: max(0, p_original - p_occluded). Rises are ignored: the map shows the
evidence for `fake`, not against it.

Squares are twice the stride, so every pixel but those of the edges is covered four times
and the map has no seams. The grid is as fine as one request allows: `k x k` squares with
`k * k + 1` at most the model's batch size (64 -> 7 x 7: 64-pixel squares every 32 pixels
on a 256 x 256 crop), and never finer than `MAX_GRID` (the cost grows with its square).
"""

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from storage.explanation_repository import OcclusionMethod

Crop = npt.NDArray[np.uint8]  # (height, width, 3)
SensitivityMap = npt.NDArray[np.float32]  # (height, width), 0..1

MAX_GRID = 7
MIN_GRID = 2
FILL = 128  # mid grey: neither the black of padding nor a skin tone
# The overlay: the crop dimmed a little, the heat map laid over in proportion to its value.
_HEAT_ALPHA = 0.6


@dataclass(frozen=True)
class Grid:
    """Squares `patch` wide, `k` per axis, placed at `starts_x` x `starts_y`."""

    width: int
    height: int
    k: int
    patch_w: int
    patch_h: int

    @property
    def starts_x(self) -> list[int]:
        return _starts(self.width, self.patch_w, self.k)

    @property
    def starts_y(self) -> list[int]:
        return _starts(self.height, self.patch_h, self.k)

    @property
    def squares(self) -> list[tuple[int, int]]:
        """(x, y) of each square's corner, row by row."""
        return [(x, y) for y in self.starts_y for x in self.starts_x]

    def method(self) -> OcclusionMethod:
        return OcclusionMethod(
            input_size=(self.width, self.height),
            patch=(self.patch_w, self.patch_h),
            stride=(_stride(self.starts_x), _stride(self.starts_y)),
            grid=(self.k, self.k),
            fill=FILL,
        )


def _starts(side: int, patch: int, k: int) -> list[int]:
    """`k` evenly spaced starts from 0 to `side - patch`: the last square meets the edge."""
    return [round(i * (side - patch) / (k - 1)) for i in range(k)]


def _stride(starts: list[int]) -> int:
    return starts[1] - starts[0]


def grid_for(width: int, height: int, max_batch_size: int) -> Grid | None:
    """The finest grid whose copies and the crop fit one request; None if none does."""
    k = min(MAX_GRID, int(np.sqrt(max(max_batch_size - 1, 0))))
    if k < MIN_GRID:
        return None
    # Twice the stride: side = stride * (k - 1) + patch = stride * (k + 1).
    return Grid(width, height, k, round(2 * width / (k + 1)), round(2 * height / (k + 1)))


def occluded_copies(crop: Crop, grid: Grid) -> Crop:
    """[1 + k * k, height, width, 3]: the crop, then one copy per square, row by row."""
    copies = np.repeat(crop[None], 1 + len(grid.squares), axis=0)
    for index, (x, y) in enumerate(grid.squares, start=1):
        copies[index, y : y + grid.patch_h, x : x + grid.patch_w] = FILL
    return copies


def sensitivity(probabilities: npt.NDArray[np.float32], grid: Grid) -> SensitivityMap:
    """Per pixel, the mean fall of P(fake) over the squares covering it, scaled to 0..1 by
    the largest (all zero when no square lowered it). `probabilities`: the crop's, then
    each copy's, as `occluded_copies` ordered them."""
    drops = np.maximum(0.0, probabilities[0] - probabilities[1:]).astype(np.float32)
    total = np.zeros((grid.height, grid.width), np.float32)
    count = np.zeros((grid.height, grid.width), np.float32)
    for drop, (x, y) in zip(drops, grid.squares, strict=True):
        total[y : y + grid.patch_h, x : x + grid.patch_w] += drop
        count[y : y + grid.patch_h, x : x + grid.patch_w] += 1
    mean = total / np.maximum(count, 1)
    peak = float(mean.max())
    scaled: SensitivityMap = mean / peak if peak > 0 else mean
    return scaled


def colour_map(values: SensitivityMap) -> Crop:
    """0..1 -> RGB along black-red-yellow-white ("hot"): light means the score rests there."""
    red = np.clip(values * 3, 0, 1)
    green = np.clip(values * 3 - 1, 0, 1)
    blue = np.clip(values * 3 - 2, 0, 1)
    rgb: Crop = (np.stack([red, green, blue], axis=-1) * 255).round().astype(np.uint8)
    return rgb


def overlay_png(crop: Crop, values: SensitivityMap) -> bytes:
    """The heat map blended over the crop, each pixel in proportion to its sensitivity."""
    alpha = (values * _HEAT_ALPHA)[..., None]
    base = crop.astype(np.float32) * 0.85
    blended = base * (1 - alpha) + colour_map(values).astype(np.float32) * alpha
    image = Image.fromarray(np.clip(blended, 0, 255).round().astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
