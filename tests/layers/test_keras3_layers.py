"""Identity, RMSNormalization, SpatialDropout3D, SpectralNormalization,
the adaptive pooling layers, GroupQueryAttention, ReversibleEmbedding and
HashedCrossing against Keras 3 itself (NumPy backend, the test-only
reference) with the same weights, their gradients against finite
differences, configs, errors and TFLite's refusal.  Their Keras files:
tests/saving/test_keras_layers.py."""
import importlib.util
import warnings

import numpy as np
import pytest
from gradcheck import check_model_gradients

import pynn
from pynn import layers

# Keras's files need h5py, writing TFLite flatbuffers and tflite: optional
# extras that a kernels-only environment may lack.
HAVE_H5PY = importlib.util.find_spec("h5py") is not None
HAVE_LITE = all(importlib.util.find_spec(m) for m in ("flatbuffers", "tflite"))

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RNG = np.random.default_rng(0)


def normal(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def keras_model(keras, make, shapes, call=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ins = [keras.Input(shape=s) for s in shapes]
        layer = make(keras.layers)
        out = call(layer, *ins) if call else layer(*ins)
        return keras.Model(ins, out), layer


def pynn_model(make, shapes, call=None):
    ins = [pynn.Input(shape=s) for s in shapes]
    layer = make(layers)
    out = call(layer, *ins) if call else layer(*ins)
    return pynn.Model(ins, out), layer


def same_weights(ours, theirs, seed=1, positive=()):
    g = np.random.default_rng(seed)
    values = [(g.uniform(0.5, 1.5, w.shape) if i in positive else
               g.standard_normal(w.shape) * 0.5).astype(np.float32)
              for i, w in enumerate(ours.get_weights())]
    assert [v.shape for v in values] == [tuple(w.shape) for w in theirs.get_weights()]
    ours.set_weights(values)
    theirs.set_weights(values)


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# (layer factory of a layers module, input shapes, call(layer, *inputs) or None)
FORWARD = {
    "identity": (lambda L: L.Identity(), [(4, 3)], None),
    "rms_last": (lambda L: L.RMSNormalization(), [(5, 7)], None),
    "rms_axes": (lambda L: L.RMSNormalization(axis=[-2, -1], epsilon=1e-3), [(3, 5, 4)], None),
    "spatial_dropout3d": (lambda L: L.SpatialDropout3D(0.4), [(2, 3, 4, 5)], None),
    "spectral_dense": (lambda L: L.SpectralNormalization(L.Dense(5, activation="tanh")),
                       [(7,)], None),
    "spectral_conv": (lambda L: L.SpectralNormalization(L.Conv2D(3, 2), power_iterations=3),
                      [(5, 6, 2)], None),
    "adaptive_avg1d": (lambda L: L.AdaptiveAveragePooling1D(3), [(7, 2)], None),
    "adaptive_avg1d_up": (lambda L: L.AdaptiveAveragePooling1D(5), [(3, 2)], None),
    "adaptive_avg2d": (lambda L: L.AdaptiveAveragePooling2D((2, 3)), [(5, 7, 3)], None),
    "adaptive_avg2d_first": (lambda L: L.AdaptiveAveragePooling2D(
        3, data_format="channels_first"), [(2, 5, 8)], None),
    "adaptive_avg3d": (lambda L: L.AdaptiveAveragePooling3D((2, 1, 3)), [(3, 4, 5, 2)], None),
    "adaptive_max1d": (lambda L: L.AdaptiveMaxPooling1D(4), [(9, 3)], None),
    "adaptive_max2d": (lambda L: L.AdaptiveMaxPooling2D((3, 2)), [(7, 5, 2)], None),
    "adaptive_max2d_up": (lambda L: L.AdaptiveMaxPooling2D(4), [(3, 2, 2)], None),
    "adaptive_max3d": (lambda L: L.AdaptiveMaxPooling3D(2, data_format="channels_first"),
                       [(2, 3, 5, 4)], None),
    "gqa_self": (lambda L: L.GroupQueryAttention(3, 4, 2), [(5, 8)],
                 lambda layer, x: layer(x, x)),
    "gqa_cross_causal": (lambda L: L.GroupQueryAttention(2, 6, 3, use_bias=False),
                         [(5, 8), (6, 8), (6, 4)],
                         lambda layer, q, v, k: layer(q, v, key=k, use_causal_mask=True)),
    "gqa_window_gate": (lambda L: L.GroupQueryAttention(4, 2, 1, use_gate=True,
                                                        sliding_window=2),
                        [(6, 5)], lambda layer, x: layer(x, x, use_causal_mask=True)),
    "gqa_scores_mask": (lambda L: L.GroupQueryAttention(3, 4, 4), [(5, 8), (6, 8), (5, 6)],
                        lambda layer, q, v, m: layer(q, v, attention_mask=m,
                                                     return_attention_scores=True)),
    "reversible_tied": (lambda L: L.ReversibleEmbedding(11, 4), [(4,)],
                        lambda layer, x: layer(x, reverse=True)),
    "reversible_untied_capped": (lambda L: L.ReversibleEmbedding(11, 4, tie_weights=False,
                                                                 logit_soft_cap=2.0),
                                 [(3, 4)], lambda layer, x: layer(x, reverse=True)),
}


def _inputs(case, shapes):
    xs = [normal(3, *s) * 2 for s in shapes]
    if case == "gqa_scores_mask":
        xs[-1] = (RNG.random(xs[-1].shape) > 0.3).astype(np.float32)
    return xs


@pytest.mark.parametrize("case", sorted(FORWARD))
def test_predict_matches_keras(keras, case):
    make, shapes, call = FORWARD[case]
    ours, ol = pynn_model(make, shapes, call)
    theirs, tl = keras_model(keras, make, shapes, call)
    assert [tuple(w.shape) for w in tl.weights] == [w.shape for w in ol.weights]
    assert [w.path.split("/")[-1] for w in tl.weights] == \
        [w.name.split("/")[-1] for w in ol.weights]
    assert ol.count_params() == tl.count_params()
    same_weights(ol, tl)
    xs = _inputs(case, shapes)
    got = ours.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want = theirs.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    if isinstance(want, (list, tuple)):
        for g, w in zip(got, want):
            close(g, w)
    else:
        close(got, want)
    if case == "gqa_scores_mask":
        return  # (an array mask is an option of the call, not the input the graph built)
    # the layer called on arrays too
    direct = ol(*xs) if call is None else call(ol, *xs)
    close(direct[0] if isinstance(direct, list) else direct,
          want[0] if isinstance(want, (list, tuple)) else want)


def test_reversible_embedding_lookup_matches_keras(keras):
    ids = RNG.integers(0, 11, (3, 5))
    ours = layers.ReversibleEmbedding(11, 4, mask_zero=True)
    theirs = keras.layers.ReversibleEmbedding(11, 4, mask_zero=True)
    ours.build((None, 5))
    theirs.build((None, 5))
    same_weights(ours, theirs)
    close(ours(ids), theirs(ids))


def test_spectral_normalization_training_step_matches_keras(keras):
    """A training call normalizes the kernel in place and advances
    vector_u, as Keras's does (the same vector_u to start)."""
    x = normal(4, 6)
    for iterations in (1, 4):
        ours = layers.SpectralNormalization(layers.Dense(3), power_iterations=iterations)
        theirs = keras.layers.SpectralNormalization(keras.layers.Dense(3),
                                                    power_iterations=iterations)
        ours.build((None, 6))
        theirs.build((None, 6))
        same_weights(ours, theirs)
        for _ in range(2):
            close(ours(x, training=True), theirs(x, training=True))
            for a, b in zip(ours.get_weights(), theirs.get_weights()):
                close(a, b)
        # the kernel's largest singular value is now near 1
        assert abs(np.linalg.svd(ours.get_weights()[0], compute_uv=False)[0] - 1) < 0.2


def test_spatial_dropout3d_drops_whole_channels():
    x = np.ones((4, 2, 3, 2, 6), np.float32)
    y = layers.SpatialDropout3D(0.5, seed=1)(x, training=True)
    per_channel = y.reshape(4, -1, 6)
    assert np.all(per_channel == per_channel[:, :1])  # one draw per (sample, channel)
    assert set(np.unique(y)) == {0.0, 2.0}
    np.testing.assert_array_equal(layers.SpatialDropout3D(0.5)(x), x)


def test_hashed_crossing_gives_tensorflows_bins():
    """The bins of Keras's own test (computed there by TensorFlow's
    sparse.cross_hashed): Keras runs this layer only with TensorFlow."""
    feat1 = np.array(["A", "B", "A", "B", "A"])
    feat2 = np.array([101, 101, 101, 102, 102])
    out = layers.HashedCrossing(num_bins=5)((feat1, feat2))
    np.testing.assert_array_equal(out, [1, 4, 1, 1, 3])
    assert out.dtype == np.int64
    assert layers.HashedCrossing(10)((np.array("A"), np.array(101))) == 1
    hot = layers.HashedCrossing(5, output_mode="one_hot")((feat1[:, None], feat2[:, None]))
    np.testing.assert_array_equal(hot, np.eye(5, dtype=np.float32)[[1, 4, 1, 1, 3]])
    assert layers.HashedCrossing(2, dtype="int32")((feat2, feat2)).dtype == np.int32
    # the bins do not depend on the batch: each row crosses alone
    one_by_one = [int(layers.HashedCrossing(7)((feat1[i:i + 1], feat2[i:i + 1]))[0])
                  for i in range(5)]
    np.testing.assert_array_equal(layers.HashedCrossing(7)((feat1, feat2)), one_by_one)


def test_hashed_crossing_in_a_model(tmp_path):
    a = pynn.Input(shape=(1,), dtype="string", name="a")
    b = pynn.Input(shape=(1,), dtype="int64", name="b")
    crossed = layers.HashedCrossing(6, output_mode="one_hot", name="cross")([a, b])
    model = pynn.Model([a, b], layers.Dense(2)(crossed))
    assert model.output_shape == (None, 2) and crossed.shape == (None, 6)
    xa, xb = np.array([["x"], ["y"], ["x"]]), np.array([[3], [3], [4]])
    expected = model.predict([xa, xb], verbose=0)
    path = tmp_path / ("m.keras" if HAVE_H5PY else "m.pynn")
    model.save(path)
    again = pynn.models.load_model(path)
    close(again.predict([xa, xb], verbose=0), expected)


# ------------------------------------------------------------------ gradients

GRADIENTS = {
    "rms": ((3, 4), lambda: [layers.RMSNormalization(axis=[1, 2], epsilon=1e-2)]),
    "adaptive_avg2d": ((5, 4, 2), lambda: [layers.AdaptiveAveragePooling2D((2, 3))]),
    "adaptive_max1d": ((7, 3), lambda: [layers.AdaptiveMaxPooling1D(3)]),
    "adaptive_max3d": ((3, 4, 2, 2), lambda: [layers.AdaptiveMaxPooling3D((2, 3, 1))]),
    "gqa": ((4, 6), lambda: [layers.GroupQueryAttention(2, 4, 2, use_gate=True,
                                                        sliding_window=3)]),
    "identity": ((4,), lambda: [layers.Dense(3), layers.Identity()]),
}


@pytest.mark.parametrize("case", sorted(GRADIENTS))
def test_gradients(case):
    shape, body = GRADIENTS[case]
    pynn.utils.set_random_seed(3)
    x = pynn.Input(shape)
    h = x
    for layer in body():
        h = layer(h, h) if isinstance(layer, layers.GroupQueryAttention) else layer(h)
    model = pynn.Model(x, layers.Dense(3, activation="softmax")(layers.Flatten()(
        layers.Dense(4, activation="tanh")(h))))
    model.compile("sgd", "sparse_categorical_crossentropy")
    xs = np.random.default_rng(4).standard_normal((3,) + shape).astype(np.float32)
    check_model_gradients(model, xs, np.array([0, 2, 1]))


@pytest.mark.parametrize("tie_weights", [True, False])
def test_reversible_embedding_gradients_both_calls_in_one_graph(tie_weights):
    """The layer looks tokens up and maps the hidden states back to logits
    in one functional model: each node keeps its own call."""
    pynn.utils.set_random_seed(5)
    ids = pynn.Input((4,), dtype="int32")
    embedding = layers.ReversibleEmbedding(7, 3, tie_weights=tie_weights, logit_soft_cap=3.0)
    hidden = layers.Dense(3, activation="tanh")(embedding(ids))
    logits = embedding(hidden, reverse=True)
    model = pynn.Model(ids, logits)
    assert model.output_shape == (None, 4, 7)
    model.compile("sgd", pynn.losses.SparseCategoricalCrossentropy(from_logits=True))
    g = np.random.default_rng(6)
    x = g.integers(0, 7, (3, 4)).astype(np.int32)
    check_model_gradients(model, x, g.integers(0, 7, (3, 4)))


def test_reversible_embedding_graph_round_trips(tmp_path):
    ids = pynn.Input((4,), dtype="int32")
    embedding = layers.ReversibleEmbedding(9, 3, name="tokens")
    model = pynn.Model(ids, embedding(layers.Dense(3)(embedding(ids)), reverse=True))
    x = np.random.default_rng(7).integers(0, 9, (2, 4)).astype(np.int32)
    expected = model.predict(x, verbose=0)
    for name in ("m.pynn", "m.keras") if HAVE_H5PY else ("m.pynn",):
        model.save(tmp_path / name)
        close(pynn.models.load_model(tmp_path / name).predict(x, verbose=0), expected)


def test_reversible_embedding_graph_loads_in_keras(tmp_path, keras):
    ids = pynn.Input((4,), dtype="int32")
    embedding = layers.ReversibleEmbedding(9, 3, name="tokens")
    model = pynn.Model(ids, embedding(layers.Dense(3)(embedding(ids)), reverse=True))
    x = np.random.default_rng(7).integers(0, 9, (2, 4)).astype(np.int32)
    model.save(tmp_path / "m.keras")
    theirs = keras.saving.load_model(tmp_path / "m.keras")
    close(theirs.predict(x, verbose=0), model.predict(x, verbose=0))
    theirs.save(tmp_path / "k.keras")
    close(pynn.models.load_model(tmp_path / "k.keras").predict(x, verbose=0),
          model.predict(x, verbose=0))


def test_spectral_normalization_trains():
    """In training the kernel is normalized before each step; once it has
    settled (spectral norm 1, vector_u converged) the gradient is the
    wrapped layer's."""
    pynn.utils.set_random_seed(8)
    model = pynn.Sequential([pynn.Input((5,)),
                             layers.SpectralNormalization(layers.Dense(4, activation="tanh"),
                                                          power_iterations=30),
                             layers.Dense(2)])
    model.compile("sgd", "mse")
    g = np.random.default_rng(9)
    x, y = g.standard_normal((16, 5)).astype(np.float32), g.standard_normal((16, 2))
    model.layers[0](x, training=True)  # settle the kernel
    model.layers[0](x, training=True)
    check_model_gradients(model, x[:3], y[:3].astype(np.float32))
    history = model.fit(x, y, epochs=5, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    kernel = model.layers[0].layer.kernel.numpy()
    assert abs(np.linalg.svd(kernel, compute_uv=False)[0] - 1) < 0.1


# ------------------------------------------------------------ configs, errors

CONFIGS = [
    lambda: layers.Identity(name="same"),
    lambda: layers.RMSNormalization(axis=[1, 2], epsilon=1e-4),
    lambda: layers.SpatialDropout3D(0.3, seed=2),
    lambda: layers.SpectralNormalization(layers.Dense(3), power_iterations=2),
    lambda: layers.HashedCrossing(8, output_mode="one_hot"),
    lambda: layers.AdaptiveAveragePooling2D((2, 3), data_format="channels_first"),
    lambda: layers.AdaptiveMaxPooling3D(2),
    lambda: layers.GroupQueryAttention(4, 4, 2, dropout=0.1, sliding_window=3, use_gate=True,
                                       kernel_regularizer="l2"),
    lambda: layers.ReversibleEmbedding(10, 3, tie_weights=False, logit_soft_cap=5.0),
]


@pytest.mark.parametrize("make", CONFIGS, ids=lambda f: f().__class__.__name__)
def test_config_round_trip(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == config
    spec = layers.serialize(layer)
    assert spec["class_name"] == type(layer).__name__ and spec["module"] == "keras.layers"
    assert layers.deserialize(spec).get_config() == config


def test_serialize_crosses_to_keras(keras):
    for layer in (layers.RMSNormalization(axis=-1, epsilon=1e-3),
                  layers.AdaptiveMaxPooling2D((2, 3)),
                  layers.TimeDistributed(layers.Dense(3))):
        theirs = keras.layers.deserialize(layers.serialize(layer))
        assert type(theirs).__name__ == type(layer).__name__
        back = layers.deserialize(keras.layers.serialize(theirs))
        assert back.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="not a layer"):
        layers.deserialize(pynn.saving.serialize_keras_object(pynn.initializers.Ones()))


@pytest.mark.parametrize("make, shape, match", [
    (lambda: layers.RMSNormalization(axis=3), (None, 4, 5), r"RMSNormalization.*axis 3"),
    (lambda: layers.SpatialDropout3D(0.2), (None, 4, 5, 2), r"SpatialDropout3D.*rank 5"),
    (lambda: layers.AdaptiveAveragePooling2D(2), (None, 4, 2),
     r"AdaptiveAveragePooling2D.*rank 4.*\(None, 4, 2\)"),
    (lambda: layers.AdaptiveMaxPooling1D(2), (None, 4, 2, 3),
     r"AdaptiveMaxPooling1D.*rank 3.*\(None, 4, 2, 3\)"),
    (lambda: layers.SpectralNormalization(layers.Activation("relu")), (None, 3),
     r"SpectralNormalization.*Activation.*'kernel' nor 'embeddings'"),
])
def test_bad_input_shapes(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make()(pynn.Input(shape[1:]))


@pytest.mark.parametrize("make, match", [
    (lambda: layers.RMSNormalization(axis="last"), "RMSNormalization.*axis"),
    (lambda: layers.SpectralNormalization(layers.Dense(2), power_iterations=0),
     "power_iterations"),
    (lambda: layers.SpectralNormalization("dense"), "SpectralNormalization.*layer to wrap"),
    (lambda: layers.HashedCrossing(0), "HashedCrossing.*num_bins"),
    (lambda: layers.HashedCrossing(3, output_mode="multi_hot"), "output_mode"),
    (lambda: layers.AdaptiveAveragePooling2D((2, 3, 4)), "AdaptiveAveragePooling2D.*output_size"),
    (lambda: layers.AdaptiveMaxPooling1D(0), "AdaptiveMaxPooling1D.*positive"),
    (lambda: layers.AdaptiveMaxPooling1D(2, data_format="nhwc"), "data_format"),
    (lambda: layers.GroupQueryAttention(2, 5, 2), "divisible"),
    (lambda: layers.GroupQueryAttention(2, 4, 2, sliding_window=0), "sliding_window"),
    (lambda: layers.ReversibleEmbedding(5, 2, reverse_dtype="float16"), "reverse_dtype"),
])
def test_bad_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


def test_call_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"HashedCrossing 'hc'.*\(5, 2\)"):
        layers.HashedCrossing(4, name="hc")((np.zeros((5, 2), int), np.zeros((5, 2), int)))
    with pytest.raises(ValueError, match="HashedCrossing 'hc'.*at least two"):
        layers.HashedCrossing(4, name="hc")([np.zeros(3, int)])
    with pytest.raises(ValueError, match="HashedCrossing 'hc'.*integer or string"):
        layers.HashedCrossing(4, name="hc")((np.zeros(3), np.zeros(3)))
    with pytest.raises(ValueError, match=r"ReversibleEmbedding 'emb'.*output_dim=4.*\(None, 5\)"):
        layers.ReversibleEmbedding(7, 4, name="emb")(np.zeros((2, 5)), reverse=True)
    with pytest.raises(ValueError, match=r"GroupQueryAttention 'g'.*last dimension.*query"):
        q, v = pynn.Input((3, 4)), pynn.Input((3, 5))
        layers.GroupQueryAttention(2, 2, 1, name="g")(q, v)
    with pytest.raises(ValueError, match=r"adaptive_max_pool.*rank 3, 4 or 5"):
        pynn.ops.adaptive_max_pool(np.zeros((2, 3)), 2)


def test_ops_adaptive_pooling_matches_keras(keras):
    for shape, size, fmt in [((2, 7, 3), 3, None), ((2, 5, 9, 2), (2, 4), "channels_last"),
                             ((1, 2, 6, 5), (4, 2), "channels_first"),
                             ((2, 3, 5, 4, 2), (2, 3, 3), None), ((1, 1, 3), 1, None)]:
        x = normal(*shape)
        for ours, theirs in ((pynn.ops.adaptive_average_pool, keras.ops.adaptive_average_pool),
                             (pynn.ops.adaptive_max_pool, keras.ops.adaptive_max_pool)):
            close(ours(x, size, data_format=fmt), theirs(x, size, data_format=fmt))


def test_tflite_exports_group_query_attention_and_the_others():
    if HAVE_LITE:
        # (checked against predict in tests/tflite/test_export_sweep.py and _sweep5.py)
        x = pynn.Input((4, 3))
        model = pynn.Model(x, layers.GroupQueryAttention(2, 2, 1, name="rms")(x, x))
        assert pynn.lite.TFLiteConverter.from_keras_model(model).convert()[4:8] == b"TFL3"
        for layer in (layers.AdaptiveMaxPooling1D(2),
                      layers.SpectralNormalization(layers.Dense(2))):
            model = pynn.Sequential([pynn.Input((4, 3)), layer])
            assert pynn.lite.TFLiteConverter.from_keras_model(model).convert()[4:8] == b"TFL3"
        ids = pynn.Input((4,), dtype="int32")
        emb = layers.ReversibleEmbedding(9, 3, name="tokens")
        model = pynn.Model(ids, emb(emb(ids), reverse=True))
        assert pynn.lite.TFLiteConverter.from_keras_model(model).convert()[4:8] == b"TFL3"
        model = pynn.Sequential([pynn.Input((3,)), layers.Dense(2), layers.Identity()])
        assert pynn.lite.TFLiteConverter.from_keras_model(model).convert()[4:8] == b"TFL3"
        # (RMSNormalization computes through its call, traced into its ops)
        model = pynn.Sequential([pynn.Input((4, 3)), layers.RMSNormalization()])
        assert pynn.lite.TFLiteConverter.from_keras_model(model).convert()[4:8] == b"TFL3"


def _gqa_model(lib, use_gate):
    q, v = lib.Input(shape=(5, 8)), lib.Input(shape=(6, 8))
    attention = lib.layers.GroupQueryAttention(3, 4, 2, use_gate=use_gate, sliding_window=3)
    return lib.Model([q, v], attention(q, v, use_causal_mask=True))


@pytest.mark.parametrize("fmt", ["keras", "h5"])
@pytest.mark.parametrize("use_gate", [False, True])
def test_group_query_attention_files_both_ways(tmp_path, keras, fmt, use_gate):
    pytest.importorskip("h5py")
    xs = [normal(2, 5, 8), normal(2, 6, 8)]
    ours = _gqa_model(pynn, use_gate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _gqa_model(keras, use_gate)
    same_weights(ours, theirs, seed=3)
    expected = theirs.predict(xs, verbose=0)
    close(ours.predict(xs, verbose=0), expected)
    ours.save(tmp_path / f"p.{fmt}")
    close(keras.saving.load_model(tmp_path / f"p.{fmt}").predict(xs, verbose=0), expected)
    theirs.save(tmp_path / f"k.{fmt}")
    loaded = pynn.models.load_model(tmp_path / f"k.{fmt}")
    close(loaded.predict(xs, verbose=0), expected)
    assert loaded.layers[-1].name == theirs.layers[-1].name
    assert theirs.layers[-1].name.startswith("grouped_query_attention")


class TiedLanguageModel(layers.Layer):
    """keras-hub's pattern: one ReversibleEmbedding inside a custom layer's
    call, used both ways."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.embedding = layers.ReversibleEmbedding(8, 3, logit_soft_cap=4.0)
        self.hidden = layers.Dense(3, activation="tanh")

    def call(self, ids):
        return self.embedding(self.hidden(self.embedding(ids)), reverse=True)


def test_reversible_embedding_inside_a_custom_layer_call():
    pynn.utils.set_random_seed(10)
    ids = pynn.Input((5,), dtype="int32")
    model = pynn.Model(ids, TiedLanguageModel()(ids))
    model.compile("sgd", pynn.losses.SparseCategoricalCrossentropy(from_logits=True))
    g = np.random.default_rng(11)
    x = g.integers(0, 8, (3, 5)).astype(np.int32)
    layer = model.layers[-1]
    expected = np.tanh(np.tanh(layer.embedding.embeddings.numpy()[x] @
                               layer.hidden.kernel.numpy() + layer.hidden.bias.numpy()) @
                       layer.embedding.embeddings.numpy().T / 4.0) * 4.0
    close(model.predict(x, verbose=0), expected)
    check_model_gradients(model, x, g.integers(0, 8, (3, 5)))


def test_spectral_normalization_of_an_embedding(keras):
    ids = np.random.default_rng(12).integers(0, 6, (2, 4))
    ours = layers.SpectralNormalization(layers.Embedding(6, 3))
    theirs = keras.layers.SpectralNormalization(keras.layers.Embedding(6, 3))
    ours.build((None, 4))
    theirs.build((None, 4))
    same_weights(ours, theirs)
    # (Keras casts the output to the ids' dtype, integers: only the
    # normalized weights compare)
    out = ours(ids, training=True)
    theirs(ids, training=True)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        close(a, b)
    close(out, ours.get_weights()[0][ids])


@pytest.mark.parametrize("case", sorted(FORWARD))
def test_configs_have_keras_keys_and_values(keras, case):
    make, shapes, call = FORWARD[case]
    _, ol = pynn_model(make, shapes, call)
    _, tl = keras_model(keras, make, shapes, call)
    mine, theirs = ol.get_config(), tl.get_config()
    assert set(mine) - set(theirs) <= {"batch_input_shape", "call_options"}
    for key, value in mine.items():
        if key in theirs and key not in ("name", "layer") and not isinstance(theirs[key], dict):
            want = theirs[key]
            assert (list(value) if isinstance(value, tuple) else value) == \
                (list(want) if isinstance(want, tuple) else want), (key, value, want)


def test_clone_model_keeps_each_node_s_call():
    ids = pynn.Input((4,), dtype="int32")
    embedding = layers.ReversibleEmbedding(9, 3)
    model = pynn.Model(ids, embedding(layers.Dense(3)(embedding(ids)), reverse=True))
    clone = pynn.models.clone_model(model)
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(13).integers(0, 9, (2, 4)).astype(np.int32)
    assert clone.output_shape == (None, 4, 9)
    close(clone.predict(x, verbose=0), model.predict(x, verbose=0))
