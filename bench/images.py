"""The benchmark's images and the local HTTP server that serves them by URL.

Photo-sized JPEGs (0.3 to 2 Mpx) built from the MesoNet sample faces pasted on textured
backgrounds: decoding costs what it costs on real uploads, and every image is different.
"""

import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image

SIZES = ((800, 600), (1024, 768), (1280, 720), (1600, 1200))


@dataclass
class ImageSet:
    root: Path
    names: list[str]
    # Differs per run, so that a running stack has seen none of this run's images before.
    salt: bytes = field(default_factory=lambda: os.urandom(8))
    taken: int = 0
    # The files' bytes, read once: the load generator serves them thousands of times.
    _bases: list[bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._bases = [(self.root / name).read_bytes() for name in self.names]

    def take(self, count: int) -> range:
        """Indexes of `count` images no earlier `take` returned."""
        first, self.taken = self.taken, self.taken + count
        return range(first, first + count)

    def content(self, index: int) -> bytes:
        """Image `index`: one of the files, made unique by bytes after the JPEG's end marker
        (decoders ignore them), so no job can reuse another's result."""
        base = self._bases[index % len(self.names)]
        return base + b"bench" + self.salt + index.to_bytes(8, "big")

    def url(self, base_url: str, index: int) -> str:
        return f"{base_url}/{index}.jpg"

    def mean_megapixels(self) -> float:
        sizes = [Image.open(self.root / name).size for name in self.names]
        return round(sum(w * h for w, h in sizes) / len(sizes) / 1e6, 2)


def build_images(root: Path, samples_dir: Path, count: int = 32, seed: int = 7) -> ImageSet:
    """`count` JPEGs in `root` (made once; the same seed gives the same bytes)."""
    # Without the MesoNet sample faces (they come with the weights), photos without a face:
    # whole-image mode costs the same either way.
    faces: list[Path | None] = [*sorted(samples_dir.glob("*/*.jpg"))] or [None]
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = []
    for index in range(count):
        name = f"photo{index:03d}.jpg"
        names.append(name)
        if (root / name).is_file():
            continue
        width, height = SIZES[index % len(SIZES)]
        (root / name).write_bytes(_photo(rng, width, height, faces[index % len(faces)]))
    return ImageSet(root, names)


def _photo(rng: np.random.Generator, width: int, height: int, face_path: Path | None) -> bytes:
    # A smooth colour gradient plus grain: compresses like a photo, not like a flat fill.
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    base = rng.uniform(40, 200, size=3).astype(np.float32)
    tilt = rng.uniform(-0.08, 0.08, size=(2, 3)).astype(np.float32)
    pixels = base + xs[..., None] * tilt[0] + ys[..., None] * tilt[1]
    pixels += rng.normal(0, 12, size=(height, width, 3)).astype(np.float32)
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if face_path is not None:
        side = int(height * rng.uniform(0.3, 0.5))
        face = Image.open(face_path).convert("RGB")
        face = face.resize((side, side), Image.Resampling.BILINEAR)
        left = int(rng.integers(0, width - side))
        top = int(rng.integers(0, height - side))
        photo.paste(face, (left, top))
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def sample_crops(samples_dir: Path) -> ImageSet:
    """The MesoNet sample face crops themselves (256 x 256 JPEGs): little to decode, so
    the cost around the model shows."""
    names = sorted(str(path.relative_to(samples_dir)) for path in samples_dir.glob("*/*.jpg"))
    if not names:
        raise FileNotFoundError(f"no sample crops under {samples_dir}")
    return ImageSet(samples_dir, names)


class _ImageHandler(BaseHTTPRequestHandler):
    images: ImageSet

    def do_GET(self) -> None:
        stem = self.path.lstrip("/").removesuffix(".jpg")
        if not stem.isdigit():
            self.send_error(404)
            return
        body = self.images.content(int(stem))
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serving(images: ImageSet) -> Iterator[str]:
    """Serve `/<index>.jpg` (image `index`) on 127.0.0.1 over HTTP; yields the base URL."""
    handler = type("Handler", (_ImageHandler,), {"images": images})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
