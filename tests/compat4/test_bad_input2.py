"""Bad input to layers, merges, attention masks, sample weights, ops'
``out=`` buffers and model files: a clear exception naming the layer (or
the file) and the shapes, never a silent wrong answer; and where Keras 3
gives a valid result (an empty batch, NaN passing through, a weightless
layer called on other sizes), the same result."""
import os

import numpy as np
import pytest

import pynn
from keras_reference import keras, needs_keras
from pynn import layers, ops
from pynn.saving import ModelFileError

RNG = np.random.default_rng(0)


def rand(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ------------------------------------------------------- empty batches

# name: (constructor arguments, one sample's shape); Keras 3 gives an empty
# batch of outputs for each
EMPTY_BATCH = {
    "Dense": (dict(units=3), (4,)),
    "EinsumDense": (dict(equation="ab,bc->ac", output_shape=3), (4,)),
    "Flatten": (dict(), (3, 4)),
    "Reshape": (dict(target_shape=(2, 2)), (4,)),
    "Permute": (dict(dims=(2, 1)), (3, 4)),
    "RepeatVector": (dict(n=3), (4,)),
    "Conv1D": (dict(filters=2, kernel_size=3), (6, 3)),
    "Conv2D": (dict(filters=2, kernel_size=3), (6, 6, 3)),
    "Conv3D": (dict(filters=2, kernel_size=3), (5, 5, 5, 3)),
    "Conv2DTranspose": (dict(filters=2, kernel_size=3), (6, 6, 3)),
    "DepthwiseConv2D": (dict(kernel_size=3), (6, 6, 3)),
    "SeparableConv2D": (dict(filters=2, kernel_size=3), (6, 6, 3)),
    "MaxPooling2D": (dict(pool_size=2), (6, 6, 3)),
    "AveragePooling3D": (dict(pool_size=2), (4, 4, 4, 3)),
    "GlobalMaxPooling1D": (dict(), (6, 3)),
    "GlobalAveragePooling2D": (dict(), (6, 6, 3)),
    "GlobalMaxPooling3D": (dict(), (4, 4, 4, 3)),
    "GlobalAveragePooling3D": (dict(), (4, 4, 4, 3)),
    "BatchNormalization": (dict(), (6, 3)),
    "LayerNormalization": (dict(), (6, 3)),
    "GroupNormalization": (dict(groups=3), (6, 3)),
    "UnitNormalization": (dict(), (6, 3)),
    "SimpleRNN": (dict(units=3), (5, 4)),
    "LSTM": (dict(units=3, return_sequences=True), (5, 4)),
    "GRU": (dict(units=3), (5, 4)),
    "PReLU": (dict(), (4,)),
    "Softmax": (dict(), (4,)),
    "Cropping2D": (dict(cropping=1), (6, 6, 3)),
    "ZeroPadding3D": (dict(padding=1), (4, 4, 4, 3)),
    "UpSampling2D": (dict(size=2), (6, 6, 3)),
    "Resizing": (dict(height=3, width=3), (6, 6, 3)),
}


@needs_keras
@pytest.mark.parametrize("name", sorted(EMPTY_BATCH))
def test_an_empty_batch_gives_keras_empty_output(name):
    kwargs, sample = EMPTY_BATCH[name]
    x = np.zeros((0,) + sample, np.float32)
    want = getattr(keras.layers, name)(**kwargs)(x)
    got = getattr(layers, name)(**kwargs)(x)
    assert tuple(got.shape) == tuple(want.shape)


@needs_keras
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["GlobalMaxPooling3D", "GlobalAveragePooling3D"])
def test_global_3d_pooling_of_an_empty_batch(name, keepdims):
    x = np.zeros((0, 2, 3, 4, 5), np.float32)
    got = getattr(layers, name)(keepdims=keepdims)(x)
    assert tuple(got.shape) == tuple(getattr(keras.layers, name)(keepdims=keepdims)(x).shape)
    # and the same layer on a real batch after it, against NumPy
    x = rand(2, 2, 3, 4, 5)
    got = getattr(layers, name)(keepdims=keepdims)(x)
    want = x.max((1, 2, 3), keepdims=keepdims) if "Max" in name else \
        x.mean((1, 2, 3), keepdims=keepdims)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)


# -------------------------------------------------- NaN passes through

NAN_LAYERS = {
    "ReLU": dict(), "LeakyReLU": dict(), "ELU": dict(), "Softmax": dict(),
    "PReLU": dict(alpha_initializer="zeros"), "Activation": dict(activation="tanh"),
    "Dense": dict(units=3, kernel_initializer="ones"),
}


@needs_keras
@pytest.mark.parametrize("name", sorted(NAN_LAYERS))
def test_nan_inputs_propagate_as_in_keras(name):
    x = np.array([[np.nan, 1.0, -1.0, np.inf], [-np.inf, 0.5, -2.0, 3.0]], np.float32)
    want = np.asarray(getattr(keras.layers, name)(**NAN_LAYERS[name])(x))
    got = np.asarray(getattr(layers, name)(**NAN_LAYERS[name])(x))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("rows,cols", [(1, 1), (3, 7), (5, 33), (2, 257)])
def test_prelu_kernel_keeps_nan_and_infinities(rows, cols):
    x = rand(rows, cols)
    x.flat[::3] = np.nan
    x.flat[1::5] = np.inf
    x.flat[2::7] = -np.inf
    alpha = np.abs(rand(cols)) + 0.1
    want = np.where(x < 0, alpha * x.astype(np.float64), x)
    got = ops.prelu(x, alpha)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-6)


# ------------------------------------------- text, complex, object data

REFUSING = {
    "Dense": (lambda: layers.Dense(2), (3, 4)),
    "Conv2D": (lambda: layers.Conv2D(2, 3), (2, 5, 5, 3)),
    "Flatten": (lambda: layers.Flatten(), (2, 3, 4)),
    "Activation": (lambda: layers.Activation("relu"), (2, 4)),
    "LSTM": (lambda: layers.LSTM(2), (2, 3, 4)),
    "CategoryEncoding": (lambda: layers.CategoryEncoding(num_tokens=5), (2, 3)),
    "Discretization": (lambda: layers.Discretization(bin_boundaries=[0.0, 1.0]), (2, 4)),
}
BAD_DATA = {
    "complex": lambda shape: np.ones(shape, np.complex64) * (1 + 2j),
    "text": lambda shape: np.ones(shape, np.int64).astype(str),
    "bytes": lambda shape: np.ones(shape, np.int64).astype(bytes),
    "object text": lambda shape: np.full(shape, "1", dtype=object),
    "dates": lambda shape: np.zeros(shape, "datetime64[s]"),
}


@pytest.mark.parametrize("data", sorted(BAD_DATA))
@pytest.mark.parametrize("name", sorted(REFUSING))
def test_text_complex_and_dates_are_refused_naming_the_layer(name, data):
    make, shape = REFUSING[name]
    layer = make()
    with pytest.raises(TypeError, match=f"{layer.name}.*expected numeric data of shape "
                                        f"\\({shape[0]}, "):
        layer(BAD_DATA[data](shape))


@pytest.mark.parametrize("name", sorted(REFUSING))
def test_numbers_of_other_dtypes_still_work(name):
    make, shape = REFUSING[name]
    ones = np.ones(shape, np.int64)
    want = np.asarray(make()(ones))
    for x in (ones.astype(bool), ones.astype(np.float16), ones.astype(object),
              ones.astype(np.uint8)):
        layer = make()
        if layer.weights or name in ("Dense", "Conv2D", "LSTM"):
            layer(ones)
            layer.set_weights([np.ones_like(w) for w in layer.get_weights()])
        got = np.asarray(layer(x))
        assert got.shape == want.shape


# ------------------------------ weightless layers take other sizes later

@needs_keras
@pytest.mark.parametrize("name,first,second", [
    ("UnitNormalization", (2, 6, 3), (2, 6, 4)),
    ("UnitNormalization", (2, 3), (5, 7)),
    ("Masking", (2, 5, 4), (2, 5, 5)),
    ("Masking", (2, 5, 4), (3, 7, 2)),
])
def test_weightless_layers_take_other_sizes_after_their_first_call(name, first, second):
    ours, theirs = getattr(layers, name)(), getattr(keras.layers, name)()
    ours(rand(*first))
    theirs(rand(*first))
    x = rand(*second)
    x[..., :1, :] = 0.0
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-5,
                               atol=1e-6)


def test_a_weightless_layer_keeps_its_rank():
    layer = layers.UnitNormalization()
    layer(rand(2, 6, 3))
    with pytest.raises(ValueError, match="unit_normalization"):
        layer(rand(2, 6, 3, 2))


# -------------------------------------------------- merges and masks

MERGES = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot"]


def merge_layer(name):
    return layers.Dot(axes=1) if name == "Dot" else getattr(layers, name)()


@pytest.mark.parametrize("name", MERGES)
def test_merging_different_batch_sizes_names_the_layer_and_shapes(name):
    layer = merge_layer(name)
    with pytest.raises(ValueError, match=f"{layer.name}.*different batch sizes.*"
                                        "\\(4, 3\\), \\(2, 3\\)"):
        layer([rand(4, 3), rand(2, 3)])


@pytest.mark.parametrize("name", MERGES)
def test_merging_in_a_model_checks_the_batch_at_each_call(name):
    a, b = pynn.Input((3,)), pynn.Input((3,))
    model = pynn.Model([a, b], merge_layer(name)([a, b]))
    assert model([rand(4, 3), rand(4, 3)]).shape[0] == 4
    with pytest.raises(ValueError, match="different batch sizes"):
        model([rand(4, 3), rand(2, 3)])


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Maximum"])
def test_a_batch_of_one_still_broadcasts_in_elementwise_merges(name):
    a, b = rand(1, 3), rand(4, 3)
    want = {"Add": np.add, "Subtract": np.subtract, "Multiply": np.multiply,
            "Maximum": np.maximum}[name](a, b)
    np.testing.assert_allclose(np.asarray(getattr(layers, name)()([a, b])), want, rtol=1e-6)


@pytest.mark.parametrize("case", ["attention_mask", "per-head mask", "key_mask", "value_mask"])
def test_multi_head_attention_masks_of_the_wrong_shape(case):
    q, v = rand(4, 5, 3), rand(4, 6, 3)
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=2)
    bad = {"attention_mask": dict(attention_mask=np.ones((4, 2, 2), bool)),
           "per-head mask": dict(attention_mask=np.ones((4, 2, 6, 5), bool)),
           "key_mask": dict(key=v, key_mask=np.ones((4, 5), bool)),
           "value_mask": dict(value_mask=np.ones((3, 6), bool))}[case]
    with pytest.raises(ValueError, match=f"{layer.name}.*mask of shape .* does not fit"):
        layer(q, v, **bad)
    # masks that fit, broadcast ones included, still work
    for good in (dict(attention_mask=np.ones((4, 5, 6), bool)),
                 dict(attention_mask=np.ones((6,), bool)),
                 dict(attention_mask=np.ones((4, 2, 5, 6), bool)),
                 dict(query_mask=np.ones((4, 5), bool), value_mask=np.ones((4, 6), bool))):
        assert layer(q, v, **good).shape == (4, 5, 3)


@pytest.mark.parametrize("which", [0, 1])
def test_attention_masks_of_the_wrong_shape(which):
    q, v = rand(4, 5, 3), rand(4, 6, 3)
    layer = layers.Attention()
    mask = [None, None]
    mask[which] = np.ones((4, 2), bool)
    with pytest.raises(ValueError, match=f"{layer.name}.*the {('query', 'value')[which]} mask "
                                        "of shape \\(4, 2\\) does not fit"):
        layer([q, v], mask=mask)


# ------------------------------------------------------ sample weights

def small_model():
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


X = rand(8, 3)
Y = np.eye(2, dtype=np.float32)[np.arange(8) % 2]


@pytest.mark.parametrize("weights", [np.array(["1"] * 8), np.ones(8, np.complex64),
                                     np.array([1.0] * 7 + ["a"], dtype=object)])
@pytest.mark.parametrize("call", ["fit", "evaluate"])
def test_sample_weights_must_be_numbers(call, weights):
    model = small_model()
    with pytest.raises(TypeError, match="sample_weight: expected numeric data"):
        getattr(model, call)(X, Y, sample_weight=weights, verbose=0)


def test_sample_weights_as_lists_and_columns_still_work():
    a = small_model().evaluate(X, Y, sample_weight=[1.0] * 4 + [2.0] * 4, verbose=0)
    b = small_model().evaluate(X, Y, sample_weight=np.array([[1.0]] * 4 + [[2.0]] * 4),
                               verbose=0)
    assert np.isfinite(a) and np.isfinite(b)
    with pytest.raises(ValueError, match="NaN or infinite"):
        small_model().fit(X, Y, sample_weight=np.full(8, np.nan), verbose=0)


# ---------------------------------------------------- ops' out= buffers

@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_alpha_dropout_into_its_own_input(rate):
    x = rand(6, 7)
    want, mask = ops.alpha_dropout(x.copy(), rate, 3)
    y = x.copy()
    got, mask2 = ops.alpha_dropout(y, rate, 3, out=y)
    assert got is y
    np.testing.assert_array_equal(mask2, mask)
    np.testing.assert_allclose(got, want, rtol=1e-6)


# ------------------------------------------------------- damaged files

def _saved(tmp_path, suffix):
    model = pynn.Sequential([pynn.Input((6, 6, 2)), layers.Conv2D(2, 3),
                             layers.BatchNormalization(), layers.Flatten(),
                             layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    path = os.path.join(tmp_path, "m" + suffix)
    (model.save_weights if ".weights" in suffix else model.save)(path)
    return model, path


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5", ".h5", ".pynn"])
def test_damaged_model_files_raise_model_file_error(tmp_path, suffix):
    model, path = _saved(tmp_path, suffix)
    with open(path, "rb") as f:
        raw = f.read()
    load = model.load_weights if ".weights" in suffix else pynn.models.load_model
    for start in range(0, len(raw), max(1, len(raw) // 80)):
        for damaged in (raw[:start], raw[:start] + bytes(b ^ 0xFF for b in raw[start:start + 16])
                        + raw[start + 16:]):
            with open(path, "wb") as f:
                f.write(damaged)
            try:
                load(path)
            except ModelFileError as e:
                assert "m" + suffix in str(e)


@pytest.mark.parametrize("weight", [float("nan"), float("inf"), -float("inf")])
def test_class_weights_must_be_finite(weight):
    with pytest.raises(ValueError, match="class_weight contains NaN or infinite values: "
                                         "class 1"):
        small_model().fit(X, Y, class_weight={0: 1.0, 1: weight}, verbose=0)


def test_classes_missing_from_class_weight_weigh_one_as_in_keras():
    pynn.utils.set_random_seed(1)
    a = small_model().fit(X, Y, class_weight={0: 3.0}, shuffle=False, verbose=0)
    pynn.utils.set_random_seed(1)
    b = small_model().fit(X, Y, sample_weight=np.where(Y[:, 0] == 1, 3.0, 1.0),
                          shuffle=False, verbose=0)
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-6)


@pytest.mark.parametrize("epochs", [1.5, 2.0, "2", None, True])
def test_epochs_must_be_an_integer(epochs):
    with pytest.raises(TypeError, match="epochs must be an integer"):
        small_model().fit(X, Y, epochs=epochs, verbose=0)


@pytest.mark.parametrize("epochs", [0, -1, np.int64(2)])
def test_epochs_of_zero_or_less_train_nothing_as_in_keras(epochs):
    history = small_model().fit(X, Y, epochs=epochs, verbose=0).history
    assert len(history.get("loss", [])) == max(0, int(epochs))


# ------------------------------------------- normalizing zero features

@needs_keras
@pytest.mark.parametrize("shape", [(2, 0), (0, 3), (2, 0, 3)])
@pytest.mark.parametrize("name", ["BatchNormalization", "LayerNormalization",
                                  "UnitNormalization", "RMSNormalization"])
def test_normalizing_empty_axes_gives_keras_empty_output(name, shape):
    x = np.ones(shape, np.float32)
    want = getattr(keras.layers, name)()(x)
    layer = getattr(layers, name)()
    for training in (False, True):
        assert tuple(layer(x, training=training).shape) == tuple(want.shape)
    # and the gradients, of the same shapes as what they differentiate
    v = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        loss = pynn.ops.sum(layer(v, training=True))
    grads = tape.gradient(loss, [v] + layer.trainable_weights)
    for g, w in zip(grads, [v] + layer.trainable_weights):
        assert tuple(np.shape(g)) == tuple(w.shape)
        assert np.all(np.isfinite(np.asarray(g)))


@pytest.mark.parametrize("shape,axis", [((2, 0), -1), ((2, 0, 3), 1), ((0, 4), -1)])
def test_l2_normalize_of_empty_vectors(shape, axis):
    x = np.ones(shape, np.float32)
    rows = int(np.prod([d for i, d in enumerate(shape) if i != axis % len(shape)]))
    norms = np.empty(rows, np.float32)
    y = ops.l2_normalize(x, axis, 1e-12, norms=norms)
    assert y.shape == shape
    np.testing.assert_allclose(norms, 1.0 / np.sqrt(np.float32(1e-12)), rtol=1e-6)
    dx = ops.l2_normalize_grad(x, y, norms, np.ones(shape, np.float32), axis, 1e-12)
    assert dx.shape == shape


# ------------------------------------------------- model-level arguments

def two_input_model():
    a, b = pynn.Input((3,), name="a"), pynn.Input((4,), name="b")
    model = pynn.Model([a, b], layers.Dense(1)(layers.Concatenate()([a, b])))
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("call", ["predict", "fit", "evaluate", "validation"])
def test_one_array_for_a_model_of_two_inputs(call):
    model, a, b, y = two_input_model(), rand(6, 3), rand(6, 4), rand(6, 1)
    run = {"predict": lambda: model.predict(a, verbose=0),
           "fit": lambda: model.fit(a, y, verbose=0),
           "evaluate": lambda: model.evaluate(a, y, verbose=0),
           "validation": lambda: model.fit([a, b], y, validation_data=(a, y), verbose=0)}[call]
    with pytest.raises(ValueError, match="the model has 2 inputs \\['a', 'b'\\], got one "
                                         "array of shape \\(6, 3\\)"):
        run()
    # lists of arrays, tuples, nested lists and dicts still work
    for x in ([a, b], (a, b), [a.tolist(), b.tolist()], {"a": a, "b": b}):
        assert model.predict(x, verbose=0).shape == (6, 1)


@pytest.mark.parametrize("freq", [0, -1, 1.5, True])
def test_validation_freq_must_be_positive(freq):
    with pytest.raises(ValueError, match="validation_freq must be a positive integer"):
        small_model().fit(X, Y, validation_data=(X, Y), validation_freq=freq, verbose=0)


def test_validation_freq_as_a_list_of_epochs():
    history = small_model().fit(X, Y, validation_data=(X, Y), validation_freq=[2, 3],
                                epochs=3, verbose=0).history
    assert len(history["loss"]) == 3 and len(history["val_loss"]) == 2


def test_a_batch_size_above_the_sample_count_takes_them_all():
    def run(batch_size):
        pynn.utils.set_random_seed(0)
        return small_model().fit(X, Y, batch_size=batch_size, epochs=2, shuffle=False,
                                 validation_data=(X, Y), verbose=0).history
    # (10**12 rows would need terabytes of batch buffers)
    assert run(10 ** 12) == run(len(X))


@pytest.mark.parametrize("fn", [ops.relu, ops.sigmoid, lambda x: ops.softmax(x, -1)])
def test_ops_refuse_text_in_object_arrays_but_take_numbers(fn):
    with pytest.raises(TypeError, match="expected real numbers"):
        fn(np.array(["1", "2"], dtype=object))
    got = fn(np.array([[1.5, 2]], dtype=object))
    np.testing.assert_allclose(got, fn(np.array([[1.5, 2]], np.float32)))


@pytest.mark.parametrize("name,shape", [("GlobalAveragePooling2D", (2, 0, 6, 3)),
                                        ("GlobalMaxPooling1D", (2, 0, 3)),
                                        ("GlobalMaxPooling3D", (2, 2, 0, 2, 3))])
def test_global_pooling_over_no_positions_names_the_layer(name, shape):
    layer = getattr(layers, name)()
    with pytest.raises(ValueError, match=f"{layer.name}.*has no positions to pool"):
        layer(np.ones(shape, np.float32))


# ---------------------- windows, dilations and strides larger than the input

WIDE = [("Conv2D", dict(filters=2, kernel_size=3, dilation_rate=100, padding="same")),
        ("Conv1D", dict(filters=2, kernel_size=3, dilation_rate=100, padding="causal")),
        ("Conv2D", dict(filters=2, kernel_size=7, padding="same")),
        ("Conv2D", dict(filters=2, kernel_size=3, strides=100, padding="same")),
        ("DepthwiseConv2D", dict(kernel_size=3, dilation_rate=50, padding="same")),
        ("Conv2DTranspose", dict(filters=2, kernel_size=9, strides=3, padding="same")),
        ("AveragePooling2D", dict(pool_size=3, strides=100, padding="same")),
        ("MaxPooling2D", dict(pool_size=9, strides=4, padding="same"))]


@needs_keras
@pytest.mark.parametrize("name,kwargs", WIDE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(WIDE)])
def test_windows_wider_than_the_input_match_keras(name, kwargs):
    x = rand(2, 6, 6, 3) if not name.endswith("1D") else rand(2, 6, 3)
    ours, theirs = getattr(layers, name)(**kwargs), getattr(keras.layers, name)(**kwargs)
    got = np.asarray(ours(x))
    theirs(x)
    if ours.get_weights():
        theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(got, np.asarray(theirs(x)), rtol=1e-5, atol=1e-5)
