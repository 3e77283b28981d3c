"""The exporter refuses by name what TFLite's RESIZE_BILINEAR and
RESIZE_NEAREST_NEIGHBOR cannot compute: bicubic, lanczos, area, gaussian and
mitchellcubic kernels, and antialiasing when an image shrinks (growing with
it is plain bilinear)."""
import pytest

import pynn
from pynn import layers


@pytest.mark.parametrize("layer,match", [
    (lambda: layers.Resizing(4, 4, interpolation="bicubic"), "bicubic"),
    (lambda: layers.Resizing(4, 4, interpolation="area"), "area"),
    (lambda: layers.Resizing(4, 4, interpolation="gaussian"), "gaussian"),
    (lambda: layers.Resizing(4, 4, interpolation="mitchellcubic"), "mitchellcubic"),
    (lambda: layers.Resizing(4, 4, antialias=True), "antialias"),
])
def test_the_exporter_refuses_what_tflite_cannot_resize(layer, match):
    model = pynn.Sequential([pynn.Input((8, 8, 3)), layer()])
    with pytest.raises(pynn.lite.ConversionError, match=match):
        pynn.lite.TFLiteConverter.from_keras_model(model).convert()
    # growing with antialias is plain bilinear resizing: it exports
    grow = pynn.Sequential([pynn.Input((3, 3, 1)), layers.Resizing(6, 6, antialias=True)])
    assert pynn.lite.TFLiteConverter.from_keras_model(grow).convert()
