"""The ROC curve as a PNG, drawn with Pillow (no plotting library needed)."""

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 480
MARGIN = 60


def draw_roc(points: list[tuple[float, float]], auc: float | None, path: Path) -> None:
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    span = SIZE - 2 * MARGIN

    def at(x: float, y: float) -> tuple[float, float]:
        return MARGIN + x * span, SIZE - MARGIN - y * span

    for tick in range(11):
        value = tick / 10
        draw.line([at(value, 0), at(value, 1)], fill=(235, 235, 235))
        draw.line([at(0, value), at(1, value)], fill=(235, 235, 235))
        if tick % 5 == 0:
            x, y = at(value, 0)
            draw.text((x - 8, y + 6), f"{value:.1f}", fill="black")
            x, y = at(0, value)
            draw.text((x - 30, y - 6), f"{value:.1f}", fill="black")
    draw.rectangle([at(0, 1), at(1, 0)], outline="black")
    draw.line([at(0, 0), at(1, 1)], fill=(160, 160, 160), width=1)  # chance
    draw.line([at(x, y) for x, y in points], fill=(200, 30, 30), width=3)
    title = "ROC curve" + (f"  (AUC {auc:.3f})" if auc is not None else "  (AUC undefined)")
    draw.text((MARGIN, MARGIN / 2 - 6), title, fill="black")
    draw.text((SIZE / 2 - 50, SIZE - MARGIN / 2), "false positive rate", fill="black")
    draw.text((6, MARGIN - 24), "true positive rate", fill="black")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
