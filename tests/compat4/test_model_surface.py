"""The model surface Keras 3 programs lean on beyond layers and fit: a
subclassed model's summary and files, layer configs' dtype policies, the
order of weights after freezing, mixed precision and int8 quantization;
against Keras 3 on its NumPy backend where it runs the same thing, else a
property that could fail."""
import functools

import numpy as np
import pytest

import pynn
from pynn import ops

from keras_reference import keras, needs_keras  # noqa: E402
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


# ------------------------------------ subclassed models with add_loss, saved

@functools.lru_cache(maxsize=None)
def _net_class(lib):
    """A subclassed model adding a loss computed from its tensors; not
    registered (the program that loads it defines it, once)."""
    class LossNet(lib.Model):
        def __init__(self, units=8, **kw):
            super().__init__(**kw)
            self.units = units
            self.hidden = lib.layers.Dense(units, activation="relu")
            self.blocks = [lib.layers.Dense(units) for _ in range(2)]
            self.head = lib.layers.Dense(3)

        def call(self, x):
            h = self.hidden(x)
            for block in self.blocks:
                h = block(h)
            self.add_loss(0.01 * lib.ops.sum(lib.ops.square(h)))
            return self.head(h)

        def get_config(self):
            return {**super().get_config(), "units": self.units}
    return LossNet


@pytest.mark.parametrize("suffix", ["keras", "pynn"])
def test_subclassed_model_with_added_loss_round_trips(tmp_path, suffix):
    pynn.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4), dtype=np.float32), rng.random((16, 3), dtype=np.float32)
    model = _net_class(pynn)(units=5)
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, y, epochs=2, verbose=0)
    path = str(tmp_path / f"net.{suffix}")
    model.save(path)
    back = pynn.models.load_model(path)
    assert type(back) is type(model) and back.units == 5
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
    # the added loss is part of what evaluate reports, before and after
    plain = float(np.mean((model.predict(x, verbose=0) - y) ** 2))
    loss = model.evaluate(x, y, verbose=0)
    assert loss > plain + 1e-4
    assert back.evaluate(x, y, verbose=0) == pytest.approx(loss, rel=1e-6)
    # training goes on from the saved optimizer state
    back.fit(x, y, epochs=1, verbose=0)


def test_subclassed_model_is_refused_by_legacy_h5(tmp_path):
    model = _net_class(pynn)()
    model(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="legacy .h5 format holds Functional and Sequential"):
        model.save(str(tmp_path / "net.h5"))


@needs_keras
def test_subclassed_keras_files_load_both_ways(tmp_path):
    x = np.random.default_rng(1).random((6, 4), dtype=np.float32)
    ours_cls, theirs_cls = _net_class(pynn), _net_class(keras)
    ours = ours_cls(units=5)
    want = ours.predict(x, verbose=0)
    ours.save(str(tmp_path / "ours.keras"))
    loaded = keras.models.load_model(str(tmp_path / "ours.keras"),
                                     custom_objects={"LossNet": theirs_cls})
    np.testing.assert_allclose(np.asarray(loaded(x)), want, rtol=1e-5, atol=1e-6)
    h = np.maximum(x @ ours.hidden.kernel.numpy() + ours.hidden.bias.numpy(), 0)
    for block in ours.blocks:
        h = h @ block.kernel.numpy() + block.bias.numpy()
    assert [float(v) for v in loaded.losses] == pytest.approx([0.01 * float(np.sum(h * h))],
                                                              rel=1e-5)

    theirs = theirs_cls(units=6)
    want = np.asarray(theirs(x))
    theirs.save(str(tmp_path / "theirs.keras"))
    back = pynn.models.load_model(str(tmp_path / "theirs.keras"),
                                  custom_objects={"LossNet": ours_cls})
    assert back.units == 6
    np.testing.assert_allclose(back.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------ dtype policies in configs

@pytest.fixture
def restore_policy():
    yield
    pynn.mixed_precision.set_global_policy("float32")
    if keras is not None:
        keras.mixed_precision.set_global_policy("float32")


@needs_keras
@pytest.mark.parametrize("make", [
    lambda lib: lib.layers.Dense(3),
    lambda lib: lib.layers.Conv2D(2, 3),
    lambda lib: lib.layers.Dropout(0.5),
    lambda lib: lib.layers.SpatialDropout2D(0.5),
    lambda lib: lib.layers.LSTM(4),
    lambda lib: lib.layers.Dense(3, dtype="mixed_float16"),
    lambda lib: lib.layers.Activation("softmax", dtype="float32"),
])
def test_layer_configs_carry_the_dtype_policy_as_keras(make):
    assert make(pynn).get_config()["dtype"] == make(keras).get_config()["dtype"]


@needs_keras
@pytest.mark.parametrize("dtype", [
    "mixed_bfloat16",
    {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "mixed_float16"},
     "registered_name": None},
    {"class_name": "Policy", "config": {"name": "float32"}},  # tf.keras 2's form
])
def test_layers_read_keras_dtype_forms(dtype):
    layer = pynn.layers.Dense(2, dtype=dtype)
    name = dtype if isinstance(dtype, str) else dtype["config"]["name"]
    assert layer.dtype_policy.name == name
    assert pynn.layers.Dense.from_config(layer.get_config()).dtype_policy.name == name
    theirs = keras.layers.Dense(2, dtype=name)
    assert (layer.dtype, layer.compute_dtype, layer.variable_dtype) == \
        (theirs.dtype, theirs.compute_dtype, theirs.variable_dtype)


def test_unknown_dtype_policies_are_refused_by_name():
    with pytest.raises(ValueError, match="Dense.*float64"):
        pynn.layers.Dense(2, dtype="float64")
    with pytest.raises(ValueError, match="Int8DTypePolicy"):
        pynn.layers.Dense(2, dtype={"class_name": "Int8DTypePolicy", "config": {"name": "x"}})


# ------------------------------------------------------- mixed precision

def _mixed_classifier(lib):
    """A classifier as books write it under mixed precision: the global
    policy set first, the last activation kept in float32."""
    lib.mixed_precision.set_global_policy("mixed_float16")
    try:
        inp = lib.Input((4,))
        h = lib.layers.Dense(8, activation="relu", name="h")(inp)
        logits = lib.layers.Dense(3, name="logits")(h)
        out = lib.layers.Activation("softmax", dtype="float32", name="probs")(logits)
        return lib.Model(inp, out)
    finally:
        lib.mixed_precision.set_global_policy("float32")


@needs_keras
def test_mixed_precision_program_reports_and_runs_as_keras(tmp_path, restore_policy):
    ours, theirs = _mixed_classifier(pynn), _mixed_classifier(keras)

    def policies(model, inputs=True):
        # (an InputLayer's policy is the global one where it was made: a
        # model read from a file has float32 ones, in Keras too)
        return [(type(l).__name__, l.dtype_policy.name, l.compute_dtype, l.variable_dtype,
                 l.dtype)
                for l in model.layers if inputs or not isinstance(l, (pynn.InputLayer,
                                                                      keras.layers.InputLayer))]
    assert policies(ours) == policies(theirs)
    assert ours.dtype_policy.name == theirs.dtype_policy.name == "mixed_float16"
    pynn.mixed_precision.set_global_policy("mixed_float16")
    keras.mixed_precision.set_global_policy("mixed_float16")
    assert repr(pynn.mixed_precision.global_policy()) == repr(keras.mixed_precision.global_policy())
    assert pynn.layers.Dense(2).compute_dtype == "float16"
    # compile wraps the optimizer for loss scaling under mixed_float16, as Keras
    wrapped = _mixed_classifier(pynn)
    pynn.mixed_precision.set_global_policy("mixed_float16")
    m = pynn.Model(wrapped.input, wrapped.output)
    m.compile(optimizer="adam", loss="categorical_crossentropy")
    assert isinstance(m.optimizer, pynn.mixed_precision.LossScaleOptimizer)
    pynn.mixed_precision.set_global_policy("float32")
    keras.mixed_precision.set_global_policy("float32")

    # it trains (in float32: no half-precision kernels) ...
    rng = np.random.default_rng(0)
    x = rng.random((64, 4), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[(x.sum(1) * 1.5).astype(int) % 3]
    plain = pynn.Model(wrapped.input, wrapped.output)
    start = m.get_weights()
    plain.compile(optimizer="adam", loss="categorical_crossentropy")
    assert type(plain.optimizer).__name__ == "Adam"
    scaled = m.fit(x, y, epochs=5, batch_size=16, verbose=0, shuffle=False).history["loss"]
    plain.set_weights(start)
    want = plain.fit(x, y, epochs=5, batch_size=16, verbose=0, shuffle=False).history["loss"]
    # (loss scaling is exact in float32: the same steps as without it)
    np.testing.assert_allclose(scaled, want, rtol=1e-4)
    assert scaled[-1] < scaled[0]
    probs = m.predict(x, verbose=0)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    # ... and its .keras file loads in Keras with the same policies and
    # predictions within float16's precision
    path = str(tmp_path / "mixed.keras")
    m.save(path)
    back = keras.models.load_model(path)
    assert policies(back, False) == policies(m, False)
    assert type(back.optimizer).__name__ == "LossScaleOptimizer"
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)), probs, atol=3e-3)
    # and Keras's file loads in pynn with them
    theirs.save(str(tmp_path / "theirs.keras"))
    assert policies(pynn.models.load_model(str(tmp_path / "theirs.keras")), False) == \
        policies(theirs, False)
    # pynn's own format keeps them too
    m.save(str(tmp_path / "mixed.pynn"))
    assert policies(pynn.models.load_model(str(tmp_path / "mixed.pynn")), False) == \
        policies(m, False)


# ------------------------------------------ weight order after freezing

def _frozen_parts(lib):
    """A frozen Sequential base, a layer creating a non-trainable weight
    between two trainable ones, a frozen Dense."""
    class Scaled(lib.layers.Layer):
        def build(self, shape):
            self.a = self.add_weight(name="a", shape=(shape[-1], 2))
            self.c = self.add_weight(name="c", shape=(2,), trainable=False, initializer="ones")
            self.b = self.add_weight(name="b", shape=(2,), initializer="zeros")

        def call(self, x):
            return lib.ops.matmul(x, self.a) * self.c + self.b

    base = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="b1"),
                           lib.layers.BatchNormalization(name="bbn")], name="base")
    inp = lib.Input((4,))
    h = Scaled(name="scaled")(base(inp))
    h = lib.layers.Dense(3, name="frozen")(h)
    out = lib.layers.Dense(2, name="head")(h)
    model = lib.Model(inp, out)
    base.trainable = False
    model.get_layer("frozen").trainable = False
    return model


@needs_keras
def test_weight_order_after_freezing_is_keras(tmp_path):
    ours, theirs = _frozen_parts(pynn), _frozen_parts(keras)

    def paths(ws):  # pynn names a nested model's weights without its name
        return [getattr(w, "path", w.name).removeprefix("base/") for w in ws]
    for attr in ("weights", "trainable_weights", "non_trainable_weights"):
        assert paths(getattr(ours, attr)) == paths(getattr(theirs, attr)), attr
    assert paths(ours.get_layer("scaled").weights) == ["scaled/a", "scaled/b", "scaled/c"]
    # get_weights/set_weights go by that order: Keras's arrays fit pynn's model
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(w.shape).astype(np.float32) for w in theirs.get_weights()]
    theirs.set_weights(values)
    ours.set_weights(theirs.get_weights())
    x = rng.random((5, 4), dtype=np.float32)
    want = np.asarray(theirs(x))
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-5)
    # and files written after the change load in Keras with the same weights
    for suffix in ("keras", "weights.h5", "h5"):
        path = str(tmp_path / f"frozen.{suffix}")
        if suffix == "weights.h5":
            ours.save_weights(path)
            back = _frozen_parts(keras)
            back.load_weights(path)
        else:
            ours.save(path)
            back = keras.models.load_model(path, custom_objects={
                "Scaled": type(theirs.get_layer("scaled"))}, compile=False)
        np.testing.assert_allclose(np.asarray(back(x)), want, rtol=1e-5, atol=1e-5)
        for a, b in zip(back.get_weights(), values):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------ int8 quantize

def _quantizable(lib):
    inp = lib.Input((6,), dtype="int32")
    h = lib.layers.Flatten()(lib.layers.Embedding(20, 8, name="emb")(inp))
    h = lib.layers.Dense(16, activation="relu", name="d1")(h)
    return lib.Model(inp, lib.layers.Dense(3, name="d2")(h))


def test_quantize_int8_is_close_to_float_and_round_trips(tmp_path):
    pynn.utils.set_random_seed(1)
    model = _quantizable(pynn)
    x = np.random.default_rng(0).integers(0, 20, (32, 6)).astype(np.int32)
    want = model.predict(x, verbose=0)
    model.quantize("int8")
    assert [(l.name, l.dtype_policy.name, l.quantization_mode) for l in model.layers
            if l.name in ("emb", "d1")] == [("emb", "int8_from_float32", "int8"),
                                           ("d1", "int8_from_float32", "int8")]
    kernel = model.get_layer("d1").kernel.numpy()
    assert np.array_equal(kernel, np.round(kernel)) and np.abs(kernel).max() == 127
    assert not model.get_layer("d1").kernel.trainable
    got = model.predict(x, verbose=0)
    # close to float: int8 steps of the largest magnitude / 127 per unit
    err = np.abs(got - want).max()
    assert 0 < err < 0.02 * np.abs(want).max()
    for suffix in ("keras", "pynn"):
        path = str(tmp_path / f"q.{suffix}")
        model.save(path)
        back = pynn.models.load_model(path)
        assert back.get_layer("d2").quantization_mode == "int8"
        np.testing.assert_array_equal(back.predict(x, verbose=0), got)
    # training goes on (the bias; the int8 kernel is not trainable, as in Keras)
    model.compile(optimizer="sgd", loss="mse")
    bias = model.get_layer("d2").bias.numpy().copy()
    model.fit(x, np.zeros((32, 3), np.float32), epochs=1, verbose=0)
    assert not np.array_equal(model.get_layer("d2").bias.numpy(), bias)
    np.testing.assert_array_equal(model.get_layer("d2").kernel.numpy(),
                                  back.get_layer("d2").kernel.numpy())


def test_quantize_refuses_what_pynn_does_not_do(tmp_path):
    model = _quantizable(pynn)
    with pytest.raises(ValueError, match="'int8' only"):
        model.quantize("int4")
    model.quantize("int8")
    with pytest.raises(ValueError, match="already quantized"):
        model.get_layer("d1").quantize("int8")
    with pytest.raises(pynn.lite.ConversionError, match="quantized by model.quantize"):
        model.export_tflite(str(tmp_path / "q.tflite"))


@needs_keras
def test_quantize_int8_matches_keras_both_ways(tmp_path):
    ours, theirs = _quantizable(pynn), _quantizable(keras)
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(2).integers(0, 20, (16, 6)).astype(np.int32)
    ours.quantize("int8")
    with pytest.warns(UserWarning):  # (Keras warns for layers it cannot quantize)
        theirs.quantize("int8")
    assert [(w.name, w.path) for w in ours.weights] == \
        [(w.name, w.path) for w in theirs.weights]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    want = np.asarray(theirs.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    ours.save(str(tmp_path / "ours.keras"))
    back = keras.models.load_model(str(tmp_path / "ours.keras"))
    assert back.get_layer("d1").dtype_policy.name == "int8_from_float32"
    np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)), want, rtol=1e-5,
                               atol=1e-6)
    theirs.save(str(tmp_path / "theirs.keras"))
    mine = pynn.models.load_model(str(tmp_path / "theirs.keras"))
    np.testing.assert_allclose(mine.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
