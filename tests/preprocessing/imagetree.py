"""Drawn images for the image tests: a shape per picture, saved as PNG or
JPEG."""
import numpy as np
from PIL import Image, ImageDraw

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
