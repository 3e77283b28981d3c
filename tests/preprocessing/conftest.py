import os

import pytest


@pytest.fixture
def image_tree(tmp_path):
    """root/{circle,square,triangle}/ with 5 images each (PNG and JPEG of
    several sizes), a text file in each class folder, and one more image in
    a folder inside 'triangle'.  Returns (root, {relative path: class})."""
    pytest.importorskip("PIL", reason="Pillow is not installed")
    from imagetree import CLASSES, draw_shape
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
