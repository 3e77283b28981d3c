"""The model surface Keras 3 programs lean on beyond layers and fit: a
subclassed model's summary and files, layer configs' dtype policies, the
order of weights after freezing, mixed precision and int8 quantization;
against Keras 3 on its NumPy backend where it runs the same thing, else a
property that could fail."""
import os
import re

import numpy as np
import pytest

import pynn
from pynn import layers, ops

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras
except Exception as e:  # missing, or a backend that cannot load here
    keras, reason = None, f"Keras 3 is not available ({type(e).__name__}: {e})"
else:
    reason = ""

needs_keras = pytest.mark.skipif(keras is None, reason=reason)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _summary_rows(model):
    """(layer label, output shape, params) of each row of model.summary(),
    and its totals lines, independent of the table's width."""
    lines = []
    model.summary(print_fn=lambda s, *a, **k: lines.append(s))
    text = "\n".join(lines)
    rows = []
    for line in text.splitlines():
        if line.startswith("\u2502"):
            cells = [c.strip() for c in line.strip("\u2502").split("\u2502")]
            if cells[0]:
                rows.append(cells[:3])
            else:  # a wrapped cell's second line
                rows[-1] = [a + " " + b if b else a for a, b in zip(rows[-1], cells[:3])]
    totals = [line.strip() for line in text.splitlines() if "params:" in line]
    return rows, totals


# --------------------------------------------- subclassed model summary

def _subclass_with_loss(lib):
    class Net(lib.Model):
        def __init__(self):
            super().__init__(name="net")
            self.hidden = lib.layers.Dense(8, activation="relu", name="hidden")
            self.drop = lib.layers.Dropout(0.1, name="drop")
            self.head = lib.layers.Dense(3, name="head")

        def call(self, x, training=False):
            h = self.hidden(x)
            self.add_loss(0.01 * lib.ops.sum(lib.ops.square(h)))
            return lib.ops.softmax(self.head(self.drop(h, training=training)) * 2.0)
    return Net()


def _subclass_of_blocks(lib):
    class Block(lib.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.a = lib.layers.Dense(4)
            self.b = lib.layers.Dense(4)

        def call(self, x):
            return self.b(self.a(x)) + x

    class Stack(lib.Model):
        def __init__(self):
            super().__init__(name="stack")
            self.blocks = [Block(name=f"block_{i}") for i in range(2)]
            self.out = lib.layers.Dense(1, name="out")

        def call(self, x):
            for b in self.blocks:
                x = b(x)
            return self.out(ops.relu(x) if lib is pynn else lib.ops.relu(x))
    return Stack()


@needs_keras
@pytest.mark.parametrize("make", [_subclass_with_loss, _subclass_of_blocks])
def test_subclassed_summary_lists_its_layers_as_keras(make):
    ours, theirs = make(pynn), make(keras)
    # unbuilt: the layers, "?" shapes, unbuilt parameter counts
    assert _summary_rows(ours) == _summary_rows(theirs)
    # called on data, Keras shows the shapes its layers were built for
    # with that batch size; pynn shows the traced graph's (batch None)
    x = np.ones((2, 4), "float32")
    ours(x)
    theirs(x)
    rows, totals = _summary_rows(ours)
    want_rows, want_totals = _summary_rows(theirs)
    assert totals == want_totals
    assert [(r[0], r[2]) for r in rows] == [(r[0], r[2]) for r in want_rows]
    assert not any("TensorOperation" in r[0] or "InputLayer" in r[0] or "added_losses" in r[0]
                   for r in rows)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]


def test_subclassed_layers_and_weights_follow_attributes():
    model = _subclass_of_blocks(pynn)
    model(np.ones((2, 4), "float32"))
    assert [l.name for l in model.layers] == ["block_0", "block_1", "out"]
    assert len(model.weights) == 2 * 4 + 2
    # the model's layers are what trainable reaches
    model.blocks[0].trainable = False
    assert len(model.trainable_weights) == 4 + 2
