"""plot_history and plot_model write valid PNG files, atomically."""
import os
import sys

import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models import Sequential

pytest.importorskip("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def trained():
    pynn.utils.set_random_seed(0)
    m = Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dropout(0.1),
                    layers.Dense(3, activation="softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    h = m.fit(x, np.arange(60) % 3, epochs=4, validation_split=0.25, verbose=0)
    return m, h


def check_png(path):
    from matplotlib.image import imread
    data = open(path, "rb").read()
    assert data.startswith(PNG) and data.rstrip().endswith(b"IEND\xaeB`\x82")
    img = imread(path)
    assert img.ndim == 3 and img.shape[0] > 50 and img.shape[1] > 50
    assert img.std() > 0  # not blank
    return img


def test_plot_history_writes_a_png(tmp_path):
    _, h = trained()
    path = tmp_path / "history.png"
    fig = pynn.utils.plot_history(h, str(path))
    check_png(path)
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["model accuracy", "model loss"]
    for ax in fig.axes:
        assert [l.get_label() for l in ax.get_lines()] == ["train", "validation"]
    # the dict form and a chosen metric work too
    pynn.utils.plot_history(h.history, str(tmp_path / "loss.png"), metrics=["loss"])
    check_png(tmp_path / "loss.png")
    assert sorted(os.listdir(tmp_path)) == ["history.png", "loss.png"]  # no temporaries


def test_plot_history_errors(tmp_path):
    with pytest.raises(ValueError, match="History"):
        pynn.utils.plot_history({}, str(tmp_path / "x.png"))
    _, h = trained()
    with pytest.raises(ValueError, match="auc"):
        pynn.utils.plot_history(h, str(tmp_path / "x.png"), metrics=["auc"])


def test_plot_model_writes_a_png(tmp_path):
    m, _ = trained()
    path = tmp_path / "model.png"
    fig = pynn.utils.plot_model(m, str(path))
    check_png(path)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    for name in (f"{m.layers[0].name} (Dense)", f"{m.layers[1].name} (Dropout)",
                 "(None, 4) \u2192 (None, 8)", "(None, 8) \u2192 (None, 3)"):
        assert name in texts
    unbuilt = Sequential([layers.Dense(3), layers.Dense(1)])
    pynn.utils.plot_model(unbuilt, str(tmp_path / "unbuilt.png"), show_params=True)
    check_png(tmp_path / "unbuilt.png")


def test_without_matplotlib_the_error_says_what_to_install(monkeypatch, tmp_path):
    _, h = trained()
    for name in [n for n in sys.modules if n == "matplotlib" or n.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        pynn.utils.plot_history(h, str(tmp_path / "h.png"))
    with pytest.raises(ImportError, match="plot_model needs matplotlib"):
        pynn.utils.plot_model(Sequential([layers.Dense(1, input_shape=(2,))]),
                              str(tmp_path / "m.png"))
    assert not os.listdir(tmp_path)
