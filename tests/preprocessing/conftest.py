import os

import numpy as np
import pytest

PIL = pytest.importorskip("PIL", reason="Pillow is not installed")
from PIL import Image, ImageDraw  # noqa: E402

CLASSES = ("circle", "square", "triangle")


def draw_shape(kind, width, height, seed):
    """An RGB image of one filled shape on a plain background."""
    g = np.random.default_rng(seed)
    img = Image.new("RGB", (width, height), tuple(int(v) for v in g.integers(0, 80, 3)))
    d = ImageDraw.Draw(img)
    x0, y0 = int(g.integers(2, width // 4)), int(g.integers(2, height // 4))
    x1, y1 = int(g.integers(width * 3 // 4, width - 2)), int(g.integers(height * 3 // 4,
                                                                       height - 2))
    fill = tuple(int(v) for v in g.integers(150, 256, 3))
    if kind == "circle":
        d.ellipse((x0, y0, x1, y1), fill=fill)
    elif kind == "square":
        d.rectangle((x0, y0, x1, y1), fill=fill)
    else:
        d.polygon([((x0 + x1) // 2, y0), (x0, y1), (x1, y1)], fill=fill)
    return img


@pytest.fixture
def image_tree(tmp_path):
    """root/{circle,square,triangle}/ with 5 images each (PNG and JPEG of
    several sizes), a text file in each class folder, and one more image in
    a folder inside 'triangle'.  Returns (root, {relative path: class})."""
    root = tmp_path / "shapes"
    files = {}
    for c, kind in enumerate(CLASSES):
        folder = root / kind
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text("not an image")
        for i in range(5):
            ext = "png" if i % 2 == 0 else "jpg"
            img = draw_shape(kind, 40 + 3 * i, 30 + 2 * i, seed=10 * c + i)
            img.save(folder / f"{kind}_{i}.{ext}")
            files[os.path.join(kind, f"{kind}_{i}.{ext}")] = c
    nested = root / "triangle" / "more"
    nested.mkdir()
    draw_shape("triangle", 36, 36, seed=99).save(nested / "extra.png")
    files[os.path.join("triangle", "more", "extra.png")] = 2
    return str(root), files
