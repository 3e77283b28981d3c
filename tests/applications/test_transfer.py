"""A frozen application is a convolutional base: ``trainable = False``
freezes exactly its weights, a fit step leaves them as they were, and the
model exports to TFLite with the interpreter's outputs matching."""
import os
import subprocess
import sys

import numpy as np
import pytest

import pynn
from pynn import applications, layers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _head_on(base, classes=3):
    inputs = pynn.Input(shape=base.input_shape[1:])
    x = base(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    return pynn.Model(inputs, outputs)


def test_frozen_base_keeps_its_weights():
    pynn.utils.set_random_seed(0)
    base = applications.MobileNetV2(weights=None, include_top=False, alpha=0.35,
                                    input_shape=(32, 32, 3))
    n_base = len(base.weights)
    assert len(base.trainable_weights) == 156 and len(base.non_trainable_weights) == 104
    base.trainable = False
    assert base.trainable_weights == [] and len(base.non_trainable_weights) == n_base
    model = _head_on(base)
    assert len(model.trainable_weights) == 2
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 1280 * 3 + 3
    before = [w.copy() for w in base.get_weights()]
    head_before = [w.copy() for w in model.layers[-1].get_weights()]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (8, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    for a, b in zip(base.get_weights(), before):  # moving statistics included
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(model.layers[-1].get_weights()[0], head_before[0])

    # Unfreezing the top block: only its weights train.
    base.trainable = True
    top = [layer.name for layer in base.layers].index("block_16_expand")
    for layer in base.layers[:top]:
        layer.trainable = False
    expected = sum(len(layer.trainable_weights) for layer in base.layers[top:])
    assert expected == 12  # 4 convolutions, 4 batch normalizations (gamma, beta)
    assert len(model.trainable_weights) == expected + 2
    model.compile(optimizer=pynn.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in base.get_weights()]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    changed = {w.path for w, new, old in zip(base.weights, base.get_weights(), before)
               if not np.array_equal(new, old)}
    assert changed and all(path.split("/")[-2] in
                           {layer.name for layer in base.layers[top:]} for path in changed)


@pytest.mark.parametrize("name, kw", [
    ("MobileNetV2", dict(alpha=0.35, input_shape=(96, 96, 3))),
    ("ResNet50", dict(include_top=False, input_shape=(32, 32, 3), pooling="avg")),
    # 'same' average pooling and four-way concatenations; dense blocks
    ("InceptionV3", dict(include_top=False, input_shape=(75, 75, 3), pooling="avg")),
    ("DenseNet121", dict(include_top=False, input_shape=(32, 32, 3), pooling="max")),
])
def test_tflite_export_matches(name, kw):
    pytest.importorskip("ai_edge_litert")
    sys.path.insert(0, os.path.join(ROOT, "tests", "tflite"))
    from litehelp import convert, run
    pynn.utils.set_random_seed(0)
    model = getattr(applications, name)(weights=None, **kw)
    rng = np.random.default_rng(1)
    for layer in model.layers:  # batch norm away from the identity
        if isinstance(layer, layers.BatchNormalization):
            n = layer.get_weights()[0].shape[0]
            gamma = [rng.uniform(0.5, 1.5, n)] if layer.scale else []  # InceptionV3: no scale
            layer.set_weights([w.astype(np.float32) for w in gamma + [
                rng.normal(0, 0.2, n), rng.normal(0, 0.2, n), rng.uniform(0.5, 2, n)]])
    x = rng.uniform(-1, 1, (2,) + kw["input_shape"]).astype(np.float32)
    want = model.predict(x, verbose=0)
    got = run(convert(model), x)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4 * max(np.abs(want).max(), 1e-2))


def test_fine_tune_example_runs(tmp_path):
    """examples/fine_tune_convbase.py, shortened: both steps run on the
    drawn shapes, offline (random weights, said so)."""
    code = ("import sys; sys.path.insert(0, 'examples'); import fine_tune_convbase as f; "
            "from images_from_folder import shapes_folder; "
            "f.main(shapes_folder(), epochs=(1, 1), steps=2)")
    env = dict(os.environ, PYNN_OFFLINE="1", PYNN_HOME=str(tmp_path),
               KERAS_HOME=str(tmp_path / "keras"))
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    assert "Starting from random weights instead" in text
    assert "Step 1, feature extraction: 2 trainable weights" in text
    assert "Step 2, fine-tuning from block_16_expand: 14 trainable weights" in text
    assert "Validation accuracy:" in text
