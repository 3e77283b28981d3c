"""ConvLSTM1D, ConvLSTM2D and ConvLSTM3D: against Keras 3 (NumPy backend)
with the same weights over the options (padding, strides, dilation,
activations, return_sequences/return_state, go_backwards, masks, initial
states, zero_output_for_mask), gradients against central finite
differences (input, kernel, recurrent kernel, bias, initial states, through
masks and dropout), stateful runs, configs, errors, TFLite's refusal, and
the next-frame video prediction model of Keras's examples: it trains,
predicts, and crosses to Keras and back in .keras and .h5 files."""
import warnings

import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models.node import CallContext

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _random(shape, seed, scale=1.0):
    return (scale * np.random.default_rng(seed).standard_normal(shape)).astype(np.float32)


def _weights(layer, seed):
    return [_random(w.shape, seed + i, 0.4) for i, w in enumerate(layer.get_weights())]


# (layer name, keyword arguments, input frame shape)
CASES = [
    ("ConvLSTM2D", dict(filters=3, kernel_size=3, padding="same", return_sequences=True),
     (5, 4, 2)),
    ("ConvLSTM2D", dict(filters=2, kernel_size=(2, 3), strides=(2, 1), return_state=True),
     (5, 4, 3)),
    ("ConvLSTM2D", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same",
                        go_backwards=True, return_sequences=True), (5, 5, 1)),
    ("ConvLSTM2D", dict(filters=3, kernel_size=2, activation="relu",
                        recurrent_activation="hard_sigmoid", use_bias=False,
                        go_backwards=True, return_state=True), (4, 3, 2)),
    ("ConvLSTM2D", dict(filters=1, kernel_size=1, activation="swish",
                        recurrent_activation="tanh", unit_forget_bias=False), (3, 3, 2)),
    ("ConvLSTM1D", dict(filters=3, kernel_size=3, padding="same", return_sequences=True),
     (7, 2)),
    ("ConvLSTM1D", dict(filters=2, kernel_size=2, strides=2, go_backwards=True,
                        return_state=True, return_sequences=True), (7, 3)),
    ("ConvLSTM1D", dict(filters=2, kernel_size=3, dilation_rate=2, activation="elu"), (7, 1)),
    ("ConvLSTM3D", dict(filters=2, kernel_size=(2, 3, 1), padding="same",
                        return_sequences=True), (3, 4, 2, 2)),
    ("ConvLSTM3D", dict(filters=2, kernel_size=2, strides=(1, 2, 2), go_backwards=True,
                        return_state=True), (3, 4, 5, 1)),
]


def _models(keras, name, kw, x_shape, keras_kw=None):
    """The same layer in pynn and in Keras, with the same random weights."""
    inp = pynn.Input(x_shape[1:])
    ours = pynn.Model(inp, getattr(layers, name)(**kw)(inp))
    ours.set_weights(_weights(ours, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kin = keras.Input(x_shape[1:])
        theirs = keras.Model(kin, getattr(keras.layers, name)(**(keras_kw or kw))(kin))
    assert [tuple(w.shape) for w in theirs.weights] == [w.shape for w in ours.get_weights()]
    theirs.set_weights(ours.get_weights())
    return ours, theirs


def _as_list(y):
    return [np.asarray(v) for v in y] if isinstance(y, (list, tuple)) else [np.asarray(y)]


@pytest.mark.parametrize("name, kw, frame", CASES, ids=[f"{c[0]}-{i}" for i, c in
                                                          enumerate(CASES)])
def test_matches_keras(keras, name, kw, frame):
    x = _random((2, 4) + frame, 1)
    ours, theirs = _models(keras, name, kw, x.shape)
    want = _as_list(theirs(x))
    got = _as_list(ours.predict(x, verbose=0))
    assert [g.shape for g in got] == [w.shape for w in want]
    shapes = ours.output_shape if isinstance(ours.output_shape, list) else [ours.output_shape]
    assert [tuple(s[1:]) for s in shapes] == [w.shape[1:] for w in want]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("zero_output", [False, True])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_masked_steps_match_keras(keras, zero_output, go_backwards):
    """A masked step carries the states over and outputs the carried h
    (zeros with zero_output_for_mask).  Keras runs one sample at a time:
    on the NumPy backend its loop broadcasts a (batch, 1) mask against the
    frames' last axes, which holds for a batch of one only."""
    kw = dict(filters=2, kernel_size=3, padding="same", return_sequences=True,
              return_state=True, go_backwards=go_backwards, zero_output_for_mask=zero_output)
    x = _random((3, 5, 4, 3, 2), 2)
    mask = np.array([[1, 1, 0, 1, 0], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], bool)
    ours, theirs = _models(keras, "ConvLSTM2D", kw, x.shape)
    rows = [_as_list(theirs.layers[-1](x[b:b + 1], mask=mask[b:b + 1])) for b in range(3)]
    want = [np.concatenate(parts) for parts in zip(*rows)]
    got = _as_list(_forward(ours.layers[-1], [x], mask, training=False)[1])
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_initial_state_matches_keras(keras):
    kw = dict(filters=2, kernel_size=(3, 2), padding="same", return_sequences=True)
    x = _random((2, 3, 4, 3, 2), 4)
    h0, c0 = _random((2, 4, 3, 2), 5), _random((2, 4, 3, 2), 6)
    ours, theirs = _models(keras, "ConvLSTM2D", kw, x.shape)
    want = np.asarray(theirs.layers[-1](x, initial_state=[h0, c0]))
    got = np.asarray(ours.layers[-1](x, initial_state=[h0, c0]))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("merge_mode", ["concat", "ave"])
def test_bidirectional_matches_keras(keras, merge_mode):
    x = _random((2, 4, 5, 4, 2), 11)

    def make(k):
        inp = k.Input(x.shape[1:])
        return k.Model(inp, k.layers.Bidirectional(
            k.layers.ConvLSTM2D(3, 3, padding="same", return_sequences=True),
            merge_mode=merge_mode)(inp))
    ours = make(pynn)
    ours.set_weights(_weights(ours, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = make(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), np.asarray(theirs(x)), rtol=1e-5,
                               atol=1e-5)


def _encoder_decoder(k):
    """Frames in, frames out: the encoder's final states start the
    decoder (Keras's sequence-to-sequence wiring, with frames)."""
    source, target = k.Input((3, 4, 3, 1)), k.Input((2, 4, 3, 1))
    _, h, c = k.layers.ConvLSTM2D(1, 2, padding="same", return_state=True)(source)
    y = k.layers.ConvLSTM2D(1, (1, 2), padding="same", return_sequences=True)(
        target, initial_state=[h, c])
    return k.Model([source, target], k.layers.Dense(1)(y))


def test_encoder_decoder_states_match_keras_and_train(keras):
    from gradcheck import check_model_gradients
    xs = [_random((2, 3, 4, 3, 1), 15), _random((2, 2, 4, 3, 1), 16)]
    ours = _encoder_decoder(pynn)
    ours.set_weights(_weights(ours, 17))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _encoder_decoder(keras)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(xs, verbose=0), np.asarray(theirs(xs)), rtol=1e-5,
                               atol=1e-5)
    ours.compile("sgd", "mse")
    check_model_gradients(ours, xs, _random((2, 2, 4, 3, 1), 18))


def test_config_matches_keras(keras):
    kw = dict(filters=4, kernel_size=(3, 2), strides=(2, 1), padding="same",
              activation="relu", recurrent_activation="hard_sigmoid", unit_forget_bias=False,
              dropout=0.25, recurrent_dropout=0.5, seed=3, return_sequences=True,
              go_backwards=True)
    ours = layers.ConvLSTM2D(**kw, name="c")
    theirs = keras.layers.ConvLSTM2D(**kw, name="c")
    mine, want = ours.get_config(), theirs.get_config()
    assert set(mine) - {"trainable"} <= set(want)
    for key in ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                "activation", "recurrent_activation", "unit_forget_bias", "dropout",
                "recurrent_dropout", "seed", "return_sequences", "return_state", "go_backwards",
                "stateful", "unroll", "zero_output_for_mask", "use_bias"):
        value = want[key]
        assert mine[key] == (list(value) if isinstance(value, tuple) else value), key
    again = layers.ConvLSTM2D.from_config(mine)
    assert again.get_config() == mine


@pytest.mark.parametrize("name, frame", [("ConvLSTM1D", (5, 2)), ("ConvLSTM2D", (4, 3, 2)),
                                         ("ConvLSTM3D", (2, 3, 3, 1))])
def test_weights_and_unit_forget_bias(name, frame):
    layer = getattr(layers, name)(3, 2)
    pynn.Sequential([pynn.Input((4,) + frame), layer])
    k, rk, b = layer.get_weights()
    n = len(frame) - 1
    assert [w.name.split("/")[-1] for w in layer.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert k.shape == (2,) * n + (frame[-1], 12) and rk.shape == (2,) * n + (3, 12)
    np.testing.assert_array_equal(b, [0] * 3 + [1] * 3 + [0] * 6)
    off = getattr(layers, name)(3, 2, unit_forget_bias=False)
    pynn.Sequential([pynn.Input((4,) + frame), off])
    assert not off.get_weights()[2].any()


# ----------------------------------------------------------- gradients

def _forward(layer, xs, mask, training=True):
    ctx = CallContext()
    ctx.mask = mask
    return ctx, layer.forward(ctx, xs if len(xs) > 1 else xs[0], training)


def _loss(layer, xs, mask, probes):
    _, y = _forward(layer, xs, mask)
    return sum(float(np.vdot(np.asarray(a, np.float64), p)) for a, p in zip(_as_list(y), probes))


def _gradcheck(layer, xs, mask=None, h=1e-2, samples=12):
    """The backward pass's input, state and weight gradients against
    central differences of ``sum(output * probe)``, at ``samples`` entries
    of each array."""
    ctx, y = _forward(layer, xs, mask)
    probes = [_random(a.shape, 40 + i) for i, a in enumerate(_as_list(y))]
    for w in layer.weights:
        w.grad = np.zeros(w.shape, np.float32)
    dy = probes if layer.return_state else probes[0]
    grads = layer.backward(ctx, dy, [True] * len(xs) if len(xs) > 1 else True)
    grads = grads if isinstance(grads, list) else [grads]
    checks = [(x, np.array(g)) for x, g in zip(xs, grads)] + \
        [(w.value, np.array(w.grad)) for w in layer.weights]
    g = np.random.default_rng(7)
    for array, grad in checks:
        flat, gflat = array.reshape(-1), grad.reshape(-1)
        for i in g.choice(flat.size, min(samples, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + h
            up = _loss(layer, xs, mask, probes)
            flat[i] = old - h
            down = _loss(layer, xs, mask, probes)
            flat[i] = old
            assert gflat[i] == pytest.approx((up - down) / (2 * h), rel=2e-2, abs=2e-3)


def _built(name, kw, frame, steps=3, batch=2, seed=8):
    layer = getattr(layers, name)(**kw)
    pynn.Sequential([pynn.Input((steps,) + frame), layer])
    layer.set_weights(_weights(layer, seed))
    return layer, _random((batch, steps) + frame, seed + 10)


GRADIENT_CASES = [
    ("ConvLSTM2D", dict(filters=2, kernel_size=3, padding="same", return_sequences=True),
     (4, 3, 2)),
    ("ConvLSTM2D", dict(filters=2, kernel_size=2, strides=2, go_backwards=True,
                        return_state=True, activation="swish",
                        recurrent_activation="hard_sigmoid"), (4, 5, 1)),
    ("ConvLSTM1D", dict(filters=3, kernel_size=3, dilation_rate=2, padding="same",
                        return_sequences=True, go_backwards=True, use_bias=False), (6, 2)),
    ("ConvLSTM3D", dict(filters=2, kernel_size=(2, 2, 1), strides=(2, 1, 1),
                        return_state=True, return_sequences=True), (3, 3, 2, 2)),
]


@pytest.mark.parametrize("name, kw, frame", GRADIENT_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(GRADIENT_CASES)])
def test_gradients(name, kw, frame):
    layer, x = _built(name, kw, frame)
    _gradcheck(layer, [x])


@pytest.mark.parametrize("zero_output", [False, True])
def test_gradients_through_masks_and_initial_states(zero_output):
    layer, x = _built("ConvLSTM2D", dict(filters=2, kernel_size=3, padding="same",
                                         return_sequences=True, return_state=True,
                                         go_backwards=True, zero_output_for_mask=zero_output),
                      (3, 3, 2), steps=4, batch=3)
    h0, c0 = _random((3, 3, 3, 2), 20, 0.5), _random((3, 3, 3, 2), 21, 0.5)
    mask = np.array([[1, 0, 1, 1], [0, 0, 1, 1], [1, 1, 1, 0]], bool)
    _gradcheck(layer, [x, h0, c0], mask)


def test_gradients_through_dropout_masks():
    """With dropout the masks are drawn once per call: the gradient of
    one call, whose masks are held fixed (a layer seed that draws the
    same ones again), matches its finite differences."""
    layer, x = _built("ConvLSTM2D", dict(filters=2, kernel_size=2, padding="same",
                                         dropout=0.4, recurrent_dropout=0.3,
                                         return_sequences=True), (3, 3, 2))
    layer._seed = lambda: 1234
    _, dropped = _forward(layer, [x], None)
    _, kept = _forward(layer, [x], None, training=False)
    assert not np.allclose(dropped, kept)
    _gradcheck(layer, [x])


def test_gradients_in_a_model():
    """In a graph (a Dense before it, so its input gradient is checked too,
    and a Bidirectional wrapper), through fit's own backward pass."""
    from gradcheck import check_model_gradients
    pynn.utils.set_random_seed(13)
    inp = pynn.Input((2, 3, 2, 2))
    x = layers.Dense(1, activation="tanh")(inp)
    x = layers.Bidirectional(layers.ConvLSTM2D(1, 2, padding="same", return_sequences=True),
                             merge_mode="sum")(x)
    out = layers.ConvLSTM1D(1, 2, strides=2)(layers.Reshape((2, 6, 1))(x))
    model = pynn.Model(inp, layers.Dense(2, activation="softmax")(layers.Flatten()(out)))
    model.compile("sgd", "sparse_categorical_crossentropy")
    check_model_gradients(model, _random((3, 2, 3, 2, 2), 14), np.array([0, 1, 1]))


# --------------------------------------------------------------- states

def test_stateful_carries_the_states_across_batches():
    layer = layers.ConvLSTM2D(2, 3, padding="same", stateful=True, return_sequences=True)
    inp = pynn.Input(batch_shape=(2, 2, 4, 3, 1))
    model = pynn.Model(inp, layer(inp))
    model.set_weights(_weights(model, 9))
    x = _random((2, 6, 4, 3, 1), 10)
    chunks = np.concatenate([model.predict(x[:, i:i + 2], verbose=0) for i in (0, 2, 4)], 1)
    whole = layers.ConvLSTM2D(2, 3, padding="same", return_sequences=True)
    pynn.Sequential([pynn.Input(x.shape[1:]), whole]).set_weights(model.get_weights())
    np.testing.assert_allclose(chunks, whole(x), rtol=1e-5, atol=1e-6)
    layer.reset_states()
    np.testing.assert_allclose(model.predict(x[:, :2], verbose=0), chunks[:, :2], rtol=1e-6,
                               atol=1e-7)
    with pytest.raises(ValueError, match="stateful"):
        model.predict(x[:1, :2], verbose=0)


# ------------------------------------------------------------- errors

def test_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match="ConvLSTM2D.*rank 5"):
        pynn.Sequential([pynn.Input((4, 4, 3)), layers.ConvLSTM2D(2, 3)])
    with pytest.raises(ValueError, match="ConvLSTM1D.*kernel_size"):
        layers.ConvLSTM1D(2, (3, 3))
    with pytest.raises(ValueError, match="ConvLSTM3D.*padding"):
        layers.ConvLSTM3D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="ConvLSTM2D.*strides > 1 cannot be combined"):
        layers.ConvLSTM2D(2, 3, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match="ConvLSTM2D.*data_format"):
        layers.ConvLSTM2D(2, 3, data_format="channels_middle")
    with pytest.raises(ValueError, match="ConvLSTM2D.*filters"):
        layers.ConvLSTM2D(0, 3)
    with pytest.raises(ValueError, match="ConvLSTM2D.*activation must be one of"):
        layers.ConvLSTM2D(2, 3, activation="softmax")
    with pytest.raises(ValueError, match="ConvLSTM2D.*dropout"):
        layers.ConvLSTM2D(2, 3, dropout=1.5)
    with pytest.raises(ValueError, match="ConvLSTM2D.*spatial sizes"):
        pynn.Sequential([pynn.Input((4, None, 4, 3)), layers.ConvLSTM2D(2, 3)])
    with pytest.raises(ValueError, match="conv"):
        pynn.Sequential([pynn.Input((4, 2, 2, 3)), layers.ConvLSTM2D(2, 3)])
    layer = layers.ConvLSTM2D(2, 3, padding="same", name="clstm")
    pynn.Sequential([pynn.Input((3, 4, 4, 1)), layer])
    with pytest.raises(ValueError, match="'clstm'.*frames of shape"):
        layer(_random((1, 3, 5, 4, 1), 1))
    with pytest.raises(ValueError, match="'clstm'.*at least one timestep"):
        layer(np.zeros((2, 0, 4, 4, 1), np.float32))
    with pytest.raises(ValueError, match="initial state must have shape"):
        layer(_random((2, 3, 4, 4, 1), 1), initial_state=[np.zeros((2, 3, 3, 2), np.float32)] * 2)


def test_tflite_refuses_stateful_conv_lstm_by_name():
    # (stateless ones export: tests/tflite/test_export_sweep5.py)
    model = pynn.Sequential([pynn.Input(batch_shape=(2, 3, 4, 4, 1)),
                             layers.ConvLSTM2D(2, 3, padding="same", stateful=True,
                                               name="frames")])
    with pytest.raises(pynn.lite.ConversionError, match="'frames'.*stateful=True"):
        pynn.lite.TFLiteConverter.from_keras_model(model).convert()


# ------------------------------------------------- the video example

def moving_squares(samples, frames, size, seed):
    """Sequences of ``frames + 1`` binary frames of a 3x3 square moving one
    pixel a frame: the inputs are the frames but the last, the targets the
    frames but the first (Keras's next-frame prediction, small)."""
    g = np.random.default_rng(seed)
    movie = np.zeros((samples, frames + 1, size, size, 1), np.float32)
    for n in range(samples):
        r, c = g.integers(0, size - 3, 2)
        dr, dc = g.choice([-1, 1], 2)
        for t in range(frames + 1):
            movie[n, t, r:r + 3, c:c + 3] = 1.0
            r, c = r + dr, c + dc
            if not 0 <= r <= size - 3:
                dr, r = -dr, r - 2 * dr
            if not 0 <= c <= size - 3:
                dc, c = -dc, c - 2 * dc
    return movie[:, :-1], movie[:, 1:]


def test_targets_for_an_output_of_any_length():
    """The model's output has an axis of unknown size (frames of a sequence
    of any length): targets of any size there are taken, the known axes
    still checked."""
    model = pynn.Sequential([pynn.Input((None, 3, 1)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    x = _random((4, 5, 3, 1), 19)
    model.fit(x, np.ones((4, 5, 3, 1), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"targets of shape \(4, 5, 2, 1\) do not match"):
        model.fit(x, np.ones((4, 5, 2, 1), np.float32), verbose=0)


def next_frame_model(k, size):
    """Keras's next-frame video prediction model, with fewer filters."""
    inp = k.layers.Input(shape=(None, size, size, 1))
    x = k.layers.ConvLSTM2D(filters=8, kernel_size=(5, 5), padding="same",
                            return_sequences=True, activation="relu")(inp)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.ConvLSTM2D(filters=8, kernel_size=(3, 3), padding="same",
                            return_sequences=True, activation="relu")(x)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.ConvLSTM2D(filters=8, kernel_size=(1, 1), padding="same",
                            return_sequences=True, activation="relu")(x)
    x = k.layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid",
                        padding="same")(x)
    model = k.models.Model(inp, x)
    model.compile(loss=k.losses.binary_crossentropy, optimizer=k.optimizers.Adam())
    return model


def test_next_frame_prediction_trains_and_crosses_to_keras(tmp_path, keras):
    pytest.importorskip("h5py", reason="h5py (pip install 'pynn[keras]') is not installed")
    pynn.utils.set_random_seed(5)
    x, y = moving_squares(12, 5, 10, seed=6)
    model = next_frame_model(pynn, 10)
    history = model.fit(x, y, batch_size=4, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    expected = model.predict(x[:3], verbose=0)
    assert expected.shape == (3, 5, 10, 10, 1)
    for fmt in ("keras", "h5"):
        model.save(tmp_path / f"p.{fmt}")
        theirs = keras.saving.load_model(tmp_path / f"p.{fmt}")
        np.testing.assert_allclose(theirs.predict(x[:3], verbose=0), expected, rtol=0,
                                   atol=1e-5)
        theirs.save(tmp_path / f"k.{fmt}")
        again = pynn.models.load_model(tmp_path / f"k.{fmt}")
        np.testing.assert_allclose(again.predict(x[:3], verbose=0), expected, rtol=0,
                                   atol=1e-5)
