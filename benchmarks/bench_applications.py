"""Forward pass of each application (weights=None, the top included) at
its default input size: ``predict`` on a batch of 8 images.  The median
per image is in extra_info['ms_per_image']."""
import numpy as np
import pytest

import pynn
from pynn import applications

BATCH = 8
# (name, default input size, multiply-adds per image in millions: the
# published figures for the ImageNet models; for ResNet50V2 and DenseNet121,
# those of their convolutions and classifier, counted from the layers' shapes)
MODELS = [("VGG16", 224, 15_470), ("VGG19", 224, 19_630), ("ResNet50", 224, 3_870),
          ("ResNet50V2", 224, 3_482), ("InceptionV3", 299, 5_713), ("DenseNet121", 224, 2_834),
          ("MobileNet", 224, 569), ("MobileNetV2", 224, 300), ("Xception", 299, 8_360)]


@pytest.mark.parametrize("name, size, mmacs", MODELS, ids=[m[0] for m in MODELS])
def test_predict(benchmark, name, size, mmacs):
    pynn.utils.set_random_seed(0)
    model = getattr(applications, name)(weights=None)
    x = np.random.default_rng(0).uniform(-1, 1, (BATCH, size, size, 3)).astype(np.float32)
    model.predict(x, batch_size=BATCH, verbose=0)  # warm: buffers, plans
    benchmark.extra_info["flops"] = 2 * mmacs * 1e6 * BATCH
    benchmark.pedantic(model.predict, args=(x,), kwargs=dict(batch_size=BATCH, verbose=0),
                       rounds=3, iterations=1)
    benchmark.extra_info["ms_per_image"] = benchmark.stats.stats.median * 1e3 / BATCH
