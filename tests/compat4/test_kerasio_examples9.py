"""keras.io's example programs, ninth sweep (vision, recipes, generative,
text, time series), run with only their imports changed: the patterns that
broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn
from pynn import ops

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- forwardforward.py: ops.vectorized_map of a function returning a
# (sample, label) pair stacks each of the two, as TensorFlow and JAX do;
# XLA's dynamic_update_slice writes the label's pixel

def test_vectorized_map_stacks_each_output_of_a_tuple():
    x, y = rand(5, 4), np.arange(5)
    xs, ys = ops.vectorized_map(lambda d: (d[0] * 2.0, d[1] + 1), (x, y))
    np.testing.assert_allclose(np.asarray(xs), x * 2.0)
    np.testing.assert_array_equal(np.asarray(ys), y + 1)
    d = ops.vectorized_map(lambda r: {"s": ops.sum(r["a"]), "m": r["a"] * r["b"]},
                           {"a": x, "b": x})
    np.testing.assert_allclose(np.asarray(d["s"]), x.sum(1), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(d["m"]), x * x, rtol=1e-6)
    # one tensor in, one out: as before
    np.testing.assert_allclose(np.asarray(ops.vectorized_map(lambda r: r[::-1], x)),
                               x[:, ::-1])
    with pytest.raises(ValueError, match="different first axes"):
        ops.vectorized_map(lambda d: d[0], (x, np.arange(3)))


def test_vectorized_map_of_a_tuple_is_differentiated_on_a_tape():
    w = pynn.Variable(rand(4, 3))
    x = rand(6, 4)
    with pynn.GradientTape() as tape:
        a, b = ops.vectorized_map(lambda r: (ops.matmul(r[None], w)[0], ops.sum(r)), x)
        loss = ops.sum(a * a) + ops.sum(b)
    g = np.asarray(tape.gradient(loss, w))
    np.testing.assert_allclose(g, 2 * x.T @ (x @ np.asarray(w)), rtol=1e-4, atol=1e-5)


def test_xla_dynamic_update_slice_and_dynamic_slice_clamp_as_xla():
    from pynn.compiler.tf2xla.python import xla
    zeros = ops.zeros([10], dtype="float64")
    out = xla.dynamic_update_slice(zeros, ops.convert_to_tensor([0.5], "float64"),
                                   [np.int64(3)])
    expect = np.zeros(10)
    expect[3] = 0.5
    np.testing.assert_array_equal(np.asarray(out), expect)
    # a start past the end is clamped so that the block fits (XLA's rule)
    out = xla.dynamic_update_slice(np.zeros((3, 4), np.float32), np.ones((2, 2), np.float32),
                                   [5, -1])
    expect = np.zeros((3, 4), np.float32)
    expect[1:3, 0:2] = 1
    np.testing.assert_array_equal(np.asarray(out), expect)
    x = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(np.asarray(xla.dynamic_slice(x, [2, 3], [2, 2])),
                                  x[1:3, 2:4])
    with pytest.raises(ValueError, match="same rank"):
        xla.dynamic_update_slice(np.zeros((3, 4)), np.ones(2), [0, 0])
    with pytest.raises(ValueError, match="does not fit"):
        xla.dynamic_slice(x, [0, 0], [4, 1])


class FFDense(pynn.layers.Layer):
    def __init__(self, units, loss_metric, num_epochs=3, **kwargs):
        super().__init__(**kwargs)
        self.dense = pynn.layers.Dense(units)
        self.relu = pynn.layers.ReLU()
        self.optimizer = pynn.optimizers.Adam(learning_rate=0.03)
        self.loss_metric = loss_metric
        self.threshold = 1.5
        self.num_epochs = num_epochs

    def call(self, x):
        x_norm = ops.norm(x, ord=2, axis=1, keepdims=True) + 1e-4
        return self.relu(self.dense(x / x_norm))

    def forward_forward(self, x_pos, x_neg):
        for _ in range(self.num_epochs):
            with pynn.GradientTape() as tape:
                g_pos = ops.mean(ops.power(self.call(x_pos), 2), 1)
                g_neg = ops.mean(ops.power(self.call(x_neg), 2), 1)
                loss = ops.log(1 + ops.exp(ops.concatenate(
                    [-g_pos + self.threshold, g_neg - self.threshold], 0)))
                mean_loss = ops.cast(ops.mean(loss), dtype="float32")
                self.loss_metric.update_state([mean_loss])
            gradients = tape.gradient(mean_loss, self.dense.trainable_weights)
            self.optimizer.apply_gradients(zip(gradients, self.dense.trainable_weights))
        return (ops.stop_gradient(self.call(x_pos)), ops.stop_gradient(self.call(x_neg)),
                self.loss_metric.result())


class FFNetwork(pynn.Model):
    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.loss_var = pynn.Variable(0.0, trainable=False, dtype="float32")
        self.loss_count = pynn.Variable(0.0, trainable=False, dtype="float32")
        self.layer_list = [pynn.Input(shape=(dims[0],))]
        for d in range(len(dims) - 1):
            self.layer_list += [FFDense(dims[d + 1], loss_metric=pynn.metrics.Mean())]

    @pynn.function(reduce_retracing=True)
    def overlay_y_on_x(self, data):
        from pynn.compiler.tf2xla.python import xla
        X_sample, y_sample = data
        max_sample = ops.cast(ops.amax(X_sample, axis=0, keepdims=True), dtype="float64")
        X_update = xla.dynamic_update_slice(ops.zeros([10], dtype="float64"), max_sample,
                                            [y_sample])
        return xla.dynamic_update_slice(X_sample, X_update, [0]), y_sample

    def train_step(self, data):
        x, y = data
        x = ops.reshape(x, [-1, ops.shape(x)[1] * ops.shape(x)[2]])
        x_pos, y = ops.vectorized_map(self.overlay_y_on_x, (x, y))
        x_neg, y = pynn.map_fn(self.overlay_y_on_x, (x, pynn.random.shuffle(y)))
        h_pos, h_neg = x_pos, x_neg
        for layer in self.layers:
            if isinstance(layer, FFDense):
                h_pos, h_neg, loss = layer.forward_forward(h_pos, h_neg)
                self.loss_var.assign_add(loss)
                self.loss_count.assign_add(1.0)
        return {"FinalLoss": ops.divide(self.loss_var, self.loss_count)}


def test_forward_forward_trains_and_logs_only_what_its_step_returns():
    pynn.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((32, 6, 6))
    y = rng.integers(0, 10, 32)
    ds = pynn.data.Dataset.from_tensor_slices((x, y)).batch(32)
    model = FFNetwork(dims=[36, 8, 8])
    model.compile(optimizer=pynn.optimizers.Adam(learning_rate=0.03), loss="mse")
    history = model.fit(ds, epochs=3, verbose=0)
    # the layers' Mean metrics are not logged: Keras logs what train_step returns
    assert set(history.history) == {"FinalLoss"}
    losses = history.history["FinalLoss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    # the positive samples carry their label's pixel at the label's index
    xs, ys = model.overlay_y_on_x((x[0].reshape(-1), y[0]))
    row = np.asarray(xs)[:10]
    assert row.argmax() == y[0] and np.isclose(row.max(), x[0].max())


# ---- attention over some axes of a (batch, d1, d2, features) input
# (MultiHeadAttention(attention_axes=...)): the other middle axes act as
# batch axes, as in Keras's einsum equations

@pytest.mark.parametrize("axes, q_shape, v_shape", [
    ((2,), (2, 3, 4, 5), (2, 3, 6, 5)),
    (1, (2, 3, 4, 5), (2, 5, 4, 5)),
    ((-2,), (2, 3, 4, 5), (2, 3, 6, 5)),
    ((3, 1), (2, 3, 2, 4, 5), (2, 5, 2, 3, 5)),
])
def test_multi_head_attention_over_some_axes_matches_keras(keras, axes, q_shape, v_shape):
    q, v = rand(*q_shape, seed=1), rand(*v_shape, seed=2)
    mask = np.random.default_rng(3).random(
        (q_shape[0],) + tuple(q_shape[a] for a in range(1, len(q_shape) - 1)
                              if a not in _attended(axes, len(q_shape)))
        + tuple(q_shape[a] for a in _attended(axes, len(q_shape)))
        + tuple(v_shape[a] for a in _attended(axes, len(q_shape)))) > 0.3
    ref = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=axes)
    want, want_scores = ref(q, v, attention_mask=mask, return_attention_scores=True)
    layer = pynn.layers.MultiHeadAttention(num_heads=2, key_dim=3, attention_axes=axes)
    layer(q, v)
    layer.set_weights(ref.get_weights())
    got, scores = layer(q, v, attention_mask=mask, return_attention_scores=True)
    assert np.asarray(scores).shape == np.asarray(want_scores).shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=2e-6)
    np.testing.assert_allclose(np.asarray(scores), np.asarray(want_scores), atol=2e-6)


def _attended(axes, rank):
    axes = (axes,) if isinstance(axes, int) else axes
    return tuple(a if a >= 0 else rank + a for a in axes)


def test_attention_over_one_axis_in_a_model_trains_saves_and_reloads_in_keras(keras, tmp_path):
    pynn.utils.set_random_seed(0)
    inp = pynn.Input((3, 4, 5))
    x = pynn.layers.MultiHeadAttention(num_heads=2, key_dim=4, attention_axes=(2,))(inp, inp)
    out = pynn.layers.Dense(1)(pynn.layers.Flatten()(x))
    model = pynn.Model(inp, out)
    model.compile(optimizer=pynn.optimizers.Adam(0.01), loss="mse")
    x_train, y_train = rand(16, 3, 4, 5), rand(16, 1, seed=4)
    losses = model.fit(x_train, y_train, epochs=5, batch_size=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    path = str(tmp_path / "m.keras")
    model.save(path)
    theirs = keras.models.load_model(path)
    np.testing.assert_allclose(np.asarray(theirs.predict(x_train[:4], verbose=0)),
                               model.predict(x_train[:4], verbose=0), atol=1e-5)
    ours = pynn.models.load_model(path)
    np.testing.assert_allclose(ours.predict(x_train[:4], verbose=0),
                               model.predict(x_train[:4], verbose=0), atol=1e-6)


def test_attention_axes_that_cannot_be_are_refused_naming_the_layer():
    layer = pynn.layers.MultiHeadAttention(num_heads=1, key_dim=2, attention_axes=(3,),
                                           name="mha")
    with pytest.raises(ValueError, match="'mha'.*attention_axes"):
        layer(rand(1, 3, 4, 5), rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match="attention_axes must be an int"):
        pynn.layers.MultiHeadAttention(num_heads=1, key_dim=2, attention_axes="1")
    layer = pynn.layers.MultiHeadAttention(num_heads=1, key_dim=2, attention_axes=(2,),
                                           name="mha2")
    with pytest.raises(ValueError, match="'mha2'.*must be the same in query and value"):
        layer(rand(1, 3, 4, 5), rand(1, 2, 4, 5))
    with pytest.raises(ValueError, match="use_causal_mask"):
        layer(rand(1, 3, 4, 5), rand(1, 3, 4, 5), use_causal_mask=True)


# ---- text_generation_fnet.py: FNet's token mixing
# tf.math.real(tf.signal.fft2d(tf.cast(x, tf.complex64))) keeps the
# gradient of x (the cast to complex no longer gives a constant)

def _finite_differences(loss, x, eps=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (loss(up) - loss(down)) / (2 * eps)
    return grad


def test_a_complex_cast_and_fft2d_keep_the_gradient_on_a_tape():
    x0 = np.random.default_rng(0).random((2, 3, 4))
    x = pynn.Variable(x0.astype(np.float32))
    with pynn.GradientTape() as tape:
        f = pynn.math.real(pynn.signal.fft2d(pynn.cast(x, pynn.complex64)))
        loss = pynn.reduce_sum(f * f)
    np.testing.assert_allclose(np.asarray(f), np.real(np.fft.fft2(x0)), atol=1e-5)
    want = _finite_differences(lambda v: (np.real(np.fft.fft2(v)) ** 2).sum(), x0)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)), want, rtol=1e-4,
                               atol=1e-4)


def test_complex_arithmetic_fft_ifft_abs_and_imag_of_traced_parts_differentiate():
    x0 = np.random.default_rng(1).random((2, 5))
    x = pynn.Variable(x0.astype(np.float32))
    with pynn.GradientTape() as tape:
        c = pynn.complex(x, 2.0 * x)
        z = pynn.signal.ifft(pynn.signal.fft(c) * (1 + 2j)) - pynn.math.conj(c) * 0.5
        loss = pynn.reduce_sum(pynn.math.abs(z)) + pynn.reduce_sum(pynn.math.imag(c * c))

    def reference(v):
        c = v + 2j * v
        z = np.fft.ifft(np.fft.fft(c) * (1 + 2j)) - np.conj(c) * 0.5
        return np.abs(z).sum() + np.imag(c * c).sum()
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)),
                               _finite_differences(reference, x0), rtol=1e-4, atol=1e-4)
    # a function with no rule for complex values refuses them
    with pynn.GradientTape():
        c = pynn.cast(x, pynn.complex64)
        with pytest.raises(TypeError):
            pynn.math.exp(c)


def test_fft2d_and_ifft2d_of_complex_arrays_are_numpys():
    c = (rand(2, 3, 4) + 1j * rand(2, 3, 4, seed=1)).astype(np.complex64)
    np.testing.assert_allclose(np.asarray(pynn.signal.fft2d(c)), np.fft.fft2(c), atol=1e-5)
    np.testing.assert_allclose(np.asarray(pynn.signal.ifft2d(pynn.signal.fft2d(c))), c,
                               atol=1e-5)
    with pytest.raises(TypeError, match="complex"):
        pynn.signal.fft2d(rand(3, 4))


class FourierMix(pynn.layers.Layer):
    def call(self, inputs):
        return pynn.math.real(pynn.signal.fft2d(pynn.cast(inputs, pynn.complex64)))


def test_an_fnet_mixing_layer_in_a_model_trains_on_its_fourier_gradient():
    pynn.utils.set_random_seed(0)
    inp = pynn.Input((3, 4))
    h = FourierMix()(pynn.layers.Dense(4)(inp))
    model = pynn.Model(inp, pynn.layers.Dense(1)(pynn.layers.Flatten()(h)))
    x, y = rand(8, 3, 4), rand(8, 1, seed=1)
    kernel = model.trainable_weights[0]
    k0 = kernel.numpy().astype(np.float64)

    def loss_at(k):
        kernel.assign(k.astype(np.float32))
        return float(np.mean((model.predict(x, verbose=0).astype(np.float64) - y) ** 2))
    want = _finite_differences(loss_at, k0, eps=1e-2)
    kernel.assign(k0.astype(np.float32))
    model.compile(pynn.optimizers.SGD(0.1), "mse")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose((k0 - kernel.numpy()) / 0.1, want, rtol=1e-3, atol=1e-4)


# ---- text_generation_fnet.py (tf.keras 2): a decoder layer called on
# (inputs, encoder_outputs) reads the mask of its first input without
# checking for None; the graph is built with that mask, as tf.keras 2's
# symbolic call gives it (Keras 3 gives such a call no mask), and its own
# build names the shapes of both tensors, as Keras 3's build may

class Decoder(pynn.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.attention = pynn.layers.MultiHeadAttention(num_heads=1, key_dim=4)
        self.supports_masking = True

    def build(self, inputs_shape, encoder_outputs_shape):
        self.attention.build(inputs_shape, encoder_outputs_shape)

    def call(self, inputs, encoder_outputs, mask=None):
        if mask is not None:
            padding_mask = pynn.cast(mask[:, pynn.newaxis, :], dtype="int32")
        return self.attention(query=inputs, value=encoder_outputs, key=encoder_outputs,
                              attention_mask=padding_mask)


def test_a_call_of_two_tensors_gets_its_first_inputs_mask_in_the_graph():
    ids_in, enc_in = pynn.Input((5,), dtype="int32"), pynn.Input((5, 4))
    embedding = pynn.layers.Embedding(10, 4, mask_zero=True)
    decoder = Decoder()
    model = pynn.Model([ids_in, enc_in], decoder(embedding(ids_in), enc_in))
    assert len(decoder.attention.weights) == 8
    ids = np.array([[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]])
    enc = rand(2, 5, 4)
    got = model.predict([ids, enc], verbose=0)
    # the decoder's padding mask of the keys, and the query's own mask (the
    # embedding's, which the query carries into the attention)
    x, keep = np.asarray(embedding(ids)), ids != 0
    want = decoder.attention(query=x, value=enc, key=enc,
                             attention_mask=keep[:, :, None] & keep[:, None, :])
    np.testing.assert_allclose(got, np.asarray(want), atol=1e-6)
    unmasked = decoder.attention(query=x, value=enc, key=enc)
    assert np.abs(got - np.asarray(unmasked)).max() > 1e-3
    # called eagerly with the mask given, its first input carries it into
    # the attention as in the graph
    np.testing.assert_allclose(np.asarray(decoder(x, enc, mask=keep)), got, atol=1e-6)


def _named_build_layer(keras):
    class Mix(keras.layers.Layer):
        def build(self, inputs_shape, other_shape):
            self.w = self.add_weight(shape=(inputs_shape[-1], other_shape[-1]),
                                     initializer="ones")
            self.attention = keras.layers.MultiHeadAttention(num_heads=1, key_dim=2)
            self.attention.build(other_shape, other_shape)

        def call(self, inputs, other):
            return keras.ops.matmul(inputs, self.w)[:, None, :] + self.attention(other, other)
    return Mix


def test_a_build_naming_the_shapes_of_its_calls_tensors_gets_each_as_keras_3(keras):
    outs = []
    for k in (keras, pynn):
        a, b = k.Input((4,)), k.Input((3, 5))
        layer = _named_build_layer(k)()
        model = k.Model([a, b], layer(a, b))
        assert tuple(model.output.shape) == (None, 3, 5)
        outs.append((model, layer))
    (theirs, _), (ours, layer) = outs
    assert len(layer.weights) == 9
    ours.set_weights(theirs.get_weights())
    x = [rand(2, 4), rand(2, 3, 5, seed=1)]
    np.testing.assert_allclose(ours.predict(x, verbose=0),
                               np.asarray(theirs.predict(x, verbose=0)), atol=1e-5)

    class Wrong(pynn.layers.Layer):
        def build(self, inputs_shape, targets_shape):
            pass

        def call(self, inputs, other):
            return inputs
    with pytest.raises(ValueError, match="targets_shape"):
        Wrong()(pynn.Input((4,)), pynn.Input((3,)))


# ---- alexnet.py-style programs: tf.nn.local_response_normalization in a
# Lambda, and the other tf.nn functions programs of that era call

def _lrn_reference(x, r=5, bias=1.0, alpha=1.0, beta=0.5):
    sq = x.astype(np.float64) ** 2
    out = np.zeros_like(sq)
    for d in range(x.shape[-1]):
        out[..., d] = x[..., d] / (bias + alpha * sq[..., max(0, d - r):d + r + 1].sum(-1)) ** beta
    return out


def test_local_response_normalization_is_tensorflows_and_trains_in_a_lambda():
    x = rand(2, 4, 5, 7)
    np.testing.assert_allclose(np.asarray(pynn.nn.local_response_normalization(x)),
                               _lrn_reference(x), atol=1e-6)
    np.testing.assert_allclose(np.asarray(pynn.nn.lrn(x, 2, 2.0, 1e-4, 0.75)),
                               _lrn_reference(x, 2, 2.0, 1e-4, 0.75), atol=1e-6)
    with pytest.raises(ValueError, match="rank 4"):
        pynn.nn.local_response_normalization(rand(2, 7))
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([
        pynn.Input((8, 8, 3)),
        pynn.layers.Conv2D(6, 3, activation="relu"),
        pynn.layers.Lambda(pynn.nn.local_response_normalization),
        pynn.layers.MaxPooling2D(2),
        pynn.layers.Flatten(),
        pynn.layers.Dense(2, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    losses = model.fit(rand(16, 8, 8, 3), np.arange(16) % 2, epochs=4, verbose=0,
                       batch_size=8).history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_tf_nn_convolutions_and_normalizations_match_keras_ops(keras):
    x, k = rand(2, 5, 6, 7), rand(3, 3, 7, 2, seed=1)
    np.testing.assert_allclose(np.asarray(pynn.nn.depthwise_conv2d(x, k, [1, 2, 2, 1], "SAME")),
                               np.asarray(keras.ops.depthwise_conv(x, k, 2, "same")), atol=1e-5)
    pk = rand(1, 1, 14, 3, seed=2)
    np.testing.assert_allclose(
        np.asarray(pynn.nn.separable_conv2d(x, k, pk, [1, 1, 1, 1], "VALID", dilations=2)),
        np.asarray(keras.ops.separable_conv(x, k, pk, 1, "valid", dilation_rate=2)), atol=1e-5)
    x1, k1 = rand(2, 9, 3), rand(3, 3, 4, seed=3)
    np.testing.assert_allclose(np.asarray(pynn.nn.conv1d(x1, k1, [1, 2, 1], "SAME")),
                               np.asarray(keras.ops.conv(x1, k1, 2, "same")), atol=1e-5)
    m, v, off, sc = x.mean((0, 1, 2)), x.var((0, 1, 2)), rand(7, seed=4), rand(7, seed=5)
    np.testing.assert_allclose(
        np.asarray(pynn.nn.batch_normalization(x, m, v, off, sc, 1e-3)),
        np.asarray(keras.ops.batch_normalization(x, m, v, axis=-1, offset=off, scale=sc,
                                                 epsilon=1e-3)), atol=1e-5)
    np.testing.assert_allclose(np.asarray(pynn.nn.softsign(x)),
                               np.asarray(keras.ops.softsign(x)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(pynn.nn.crelu(x)),
                               np.concatenate([np.maximum(x, 0), np.maximum(-x, 0)], -1))
    z = (np.random.default_rng(6).random((4, 3)) > 0.5).astype(np.float32)
    logits = rand(4, 3, seed=7)
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    np.testing.assert_allclose(
        np.asarray(pynn.nn.weighted_cross_entropy_with_logits(z, logits, 2.5)),
        -2.5 * z * np.log(p) - (1 - z) * np.log(1 - p), atol=1e-5)
    with pytest.raises(ValueError, match="stride"):
        pynn.nn.conv1d(x1, k1, [2, 2, 1], "SAME")


# ---- tf.keras 2's single-image transforms (keras.preprocessing.image.
# random_rotation & co.), channels first by default as Keras 2 has them

@pytest.mark.parametrize("axes", [(1, 2, 0), (0, 1, 2), (2, 1, 0)])
@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
def test_apply_affine_transform_is_keras_2s(keras, axes, fill_mode):
    legacy = pytest.importorskip("keras.src.legacy.preprocessing.image")
    shape = [0, 0, 0]
    for axis, size in zip(axes, (7, 9, 3)):
        shape[axis] = size
    x = np.random.default_rng(0).random(shape).astype(np.float32)
    kw = dict(row_axis=axes[0], col_axis=axes[1], channel_axis=axes[2], fill_mode=fill_mode,
              cval=0.5)
    for params in (dict(theta=30), dict(tx=2, ty=-1), dict(theta=10, tx=1, shear=5, zx=1.1,
                                                           zy=0.9)):
        for order in (0, 1):
            np.testing.assert_allclose(
                pynn.preprocessing.image.apply_affine_transform(x, order=order, **params, **kw),
                legacy.apply_affine_transform(x, order=order, **params, **kw), atol=1e-5)


def test_random_transforms_draw_as_keras_2(keras):
    legacy = pytest.importorskip("keras.src.legacy.preprocessing.image")
    x = np.random.default_rng(1).random((8, 6, 3)).astype(np.float32)
    ours = pynn.keras.preprocessing.image
    for name, args in (("random_rotation", (40,)), ("random_shift", (0.2, 0.3)),
                       ("random_shear", (30,)), ("random_zoom", ((0.7, 1.2),))):
        np.random.seed(3)
        got = getattr(ours, name)(x, *args, row_axis=0, col_axis=1, channel_axis=2)
        np.random.seed(3)
        want = getattr(legacy, name)(x, *args, row_axis=0, col_axis=1, channel_axis=2)
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=name)
    np.random.seed(3)
    got = ours.random_channel_shift(x, 0.3, 2)
    np.random.seed(3)
    np.testing.assert_allclose(got, legacy.random_channel_shift(x, 0.3, 2), atol=1e-6)
    with pytest.raises(ValueError, match="distinct"):
        ours.random_rotation(x, 10, row_axis=0, col_axis=0, channel_axis=2)
    with pytest.raises(ValueError, match="rank 3"):
        ours.random_rotation(x[None], 10)


# ---- grouped convolutions: Keras 3's ops.conv with a kernel whose input
# channels divide the input's, and Conv2D(groups=g) for any g dividing them

def test_ops_conv_of_a_grouped_kernel_matches_keras_and_differentiates(keras):
    x, k = rand(2, 6, 7, 4), rand(3, 3, 2, 6, seed=1)
    np.testing.assert_allclose(np.asarray(ops.conv(x, k, 1, "same")),
                               np.asarray(keras.ops.conv(x, k, 1, "same")), atol=1e-5)
    x1, k1 = rand(2, 9, 6), rand(3, 2, 6, seed=2)
    np.testing.assert_allclose(np.asarray(ops.conv(x1, k1, 2, "valid")),
                               np.asarray(keras.ops.conv(x1, k1, 2, "valid")), atol=1e-5)
    xc = np.moveaxis(x, -1, 1)
    np.testing.assert_allclose(
        np.asarray(ops.conv(xc, k, 1, "same", data_format="channels_first")),
        np.asarray(keras.ops.conv(xc, k, 1, "same", data_format="channels_first")), atol=1e-5)
    with pytest.raises(ValueError, match="multiple of the kernel's"):
        ops.conv(x, rand(3, 3, 3, 6), 1, "same")
    small, kernel0 = rand(1, 4, 4, 4, seed=3), rand(3, 3, 2, 2, seed=4).astype(np.float64)
    w = pynn.Variable(kernel0.astype(np.float32))
    with pynn.GradientTape() as tape:
        loss = ops.sum(ops.square(ops.conv(small, w, 1, "same")))

    def loss_at(v):
        return float(np.sum(np.asarray(keras.ops.conv(small.astype(np.float64), v, 1,
                                                      "same")) ** 2))
    # (the loss is quadratic in the kernel: central differences are exact at
    # any step, a long one keeps Keras's float32 rounding out of them)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, w)),
                               _finite_differences(loss_at, kernel0, eps=0.5), rtol=1e-3,
                               atol=1e-2)


def test_a_two_group_convolution_trains_and_folds_its_batch_normalization():
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input((6, 6, 4)),
                             pynn.layers.Conv2D(6, 3, groups=2, padding="same"),
                             pynn.layers.BatchNormalization(), pynn.layers.Activation("relu"),
                             pynn.layers.GlobalAveragePooling2D(), pynn.layers.Dense(1)])
    model.compile(pynn.optimizers.Adam(0.01), "mse")
    x, y = rand(16, 6, 6, 4), rand(16, 1, seed=1)
    losses = model.fit(x, y, epochs=5, batch_size=8, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    want = x[:3]
    for layer in model.layers:
        want = np.asarray(layer(want))
    np.testing.assert_allclose(model.predict(x[:3], verbose=0), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernel_size, strides, padding, dilation", [
    ((3, 3, 3), 1, "same", 1), ((2, 3, 1), 2, "same", 1), ((3, 2, 2), (2, 1, 1), "valid", 1),
    ((2, 2, 3), 1, "valid", (2, 1, 1)),
])
def test_ops_conv_of_volumes_matches_keras(keras, kernel_size, strides, padding, dilation):
    x, k = rand(2, 5, 6, 7, 3), rand(*kernel_size, 3, 4, seed=1)
    np.testing.assert_allclose(
        np.asarray(ops.conv(x, k, strides, padding, dilation_rate=dilation)),
        np.asarray(keras.ops.conv(x, k, strides, padding, dilation_rate=dilation)), atol=2e-5)


def test_tf_nn_conv3d_and_a_volume_convolution_on_a_tape(keras):
    x, k = rand(1, 4, 5, 5, 2), rand(2, 3, 3, 2, 3, seed=1)
    np.testing.assert_allclose(np.asarray(pynn.nn.conv3d(x, k, [1, 2, 1, 1, 1], "SAME")),
                               np.asarray(keras.ops.conv(x, k, (2, 1, 1), "same")), atol=2e-5)
    np.testing.assert_allclose(
        np.asarray(pynn.nn.convolution(x, k, padding="VALID")),
        np.asarray(keras.ops.conv(x, k, 1, "valid")), atol=2e-5)
    kernel0 = k.astype(np.float64)
    w = pynn.Variable(k)
    with pynn.GradientTape() as tape:
        loss = ops.sum(ops.square(pynn.nn.conv3d(x, w, [1, 1, 1, 1, 1], "SAME")))

    def loss_at(v):
        return float(np.sum(np.asarray(keras.ops.conv(x.astype(np.float64), v, 1, "same"))
                            ** 2))
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, w)),
                               _finite_differences(loss_at, kernel0, eps=0.5), rtol=1e-3,
                               atol=1e-2)


# ---- understanding_masking_and_padding.py (guide): model(x, y) hands an
# array to where the training flag goes; layers that never read it compute
# as without one

def test_an_array_given_where_training_goes_is_no_flag():
    inputs = pynn.Input(shape=(None,), dtype="int32")
    x = pynn.layers.Embedding(input_dim=10, output_dim=4, mask_zero=True)(inputs)
    model = pynn.Model(inputs, pynn.layers.Dense(1)(x))
    ids = np.random.default_rng(0).integers(1, 10, size=(3, 5))
    got = model(ids, np.random.default_rng(1).random((3, 5, 1)))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(model(ids)))
    dropout = pynn.Sequential([pynn.Input((4,)), pynn.layers.Dropout(0.5)])
    ones = np.ones((2, 4), np.float32)
    np.testing.assert_array_equal(np.asarray(dropout(ones, np.ones((2, 4)))), ones)
    assert (np.asarray(dropout(ones, True)) != ones).any()


def test_a_centred_fourier_magnitude_layer_differentiates():
    """tf.signal.fftshift(tf.abs(tf.signal.fft2d(tf.cast(x, tf.complex64)))),
    a spectrum layer's pattern."""
    x0 = np.random.default_rng(2).random((1, 4, 5))
    np.testing.assert_allclose(np.asarray(pynn.signal.ifftshift(
        pynn.signal.fftshift(x0, axes=[1, 2]), axes=[1, 2])), x0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(pynn.signal.fftshift(x0)), np.fft.fftshift(x0),
                               rtol=1e-6)
    x = pynn.Variable(x0.astype(np.float32))
    with pynn.GradientTape() as tape:
        spectrum = pynn.signal.fftshift(pynn.abs(pynn.signal.fft2d(pynn.cast(x, "complex64"))),
                                        axes=[1, 2])
        loss = pynn.reduce_sum(spectrum * np.arange(20.0, dtype=np.float32).reshape(1, 4, 5))

    def reference(v):
        s = np.fft.fftshift(np.abs(np.fft.fft2(v)), axes=[1, 2])
        return float(np.sum(s * np.arange(20.0).reshape(1, 4, 5)))
    np.testing.assert_allclose(np.asarray(spectrum),
                               np.fft.fftshift(np.abs(np.fft.fft2(x0)), axes=[1, 2]), atol=1e-5)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)),
                               _finite_differences(reference, x0), rtol=1e-3, atol=1e-3)


# ---- audio programs' MFCCs: tf.signal.dct (scipy.fftpack's definitions,
# as TensorFlow's), idct and mfccs_from_log_mel_spectrograms

@pytest.mark.parametrize("kind, norm", [(1, None), (2, None), (2, "ortho"), (3, None),
                                        (3, "ortho"), (4, None), (4, "ortho")])
def test_dct_is_scipys_and_idct_inverts_it(kind, norm):
    fftpack = pytest.importorskip("scipy.fftpack")
    x = np.random.default_rng(0).normal(size=(2, 3, 8))
    np.testing.assert_allclose(np.asarray(pynn.signal.dct(x, type=kind, norm=norm)),
                               fftpack.dct(x, type=kind, norm=norm), atol=1e-5)
    back = np.asarray(pynn.signal.idct(pynn.signal.dct(x, type=kind, norm=norm), type=kind,
                                       norm=norm))
    scale = 1.0 if norm else (2 * 7 if kind == 1 else 16)
    np.testing.assert_allclose(back / scale, x, atol=1e-5)


def test_mfccs_are_tensorflows_and_differentiate():
    fftpack = pytest.importorskip("scipy.fftpack")
    log_mel = rand(2, 4, 10)
    np.testing.assert_allclose(np.asarray(pynn.signal.mfccs_from_log_mel_spectrograms(log_mel)),
                               fftpack.dct(log_mel.astype(np.float64), type=2) / np.sqrt(20),
                               atol=1e-5)
    np.testing.assert_allclose(np.asarray(pynn.signal.dct(log_mel, n=6)),
                               fftpack.dct(log_mel.astype(np.float64), n=6), atol=1e-4)
    x = pynn.Variable(log_mel)
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_sum(pynn.square(pynn.signal.mfccs_from_log_mel_spectrograms(x)))
    # the transform is linear, M = dct(I) / sqrt(20): d sum((x M)^2)/dx = 2 x M M^T
    m = fftpack.dct(np.eye(10), type=2) / np.sqrt(20)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)),
                               2 * log_mel.astype(np.float64) @ m @ m.T, rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="type-I DCT"):
        pynn.signal.dct(log_mel, type=1, norm="ortho")


# ---- SegNet-style pooling with indices: tf.nn.max_pool_with_argmax

@pytest.mark.parametrize("ksize, strides, padding", [(2, 2, "VALID"), (3, 2, "SAME"),
                                                     ([1, 3, 3, 1], [1, 1, 1, 1], "VALID")])
def test_max_pool_with_argmax_points_at_the_maxima(ksize, strides, padding):
    x = rand(2, 5, 7, 3)
    out, index = pynn.nn.max_pool_with_argmax(x, ksize, strides, padding)
    want = np.asarray(pynn.nn.max_pool2d(x, ksize, strides, padding))
    np.testing.assert_array_equal(np.asarray(out), want)
    assert np.asarray(index).dtype == np.int64
    taken = np.take_along_axis(x.reshape(2, -1), np.asarray(index).reshape(2, -1), 1)
    np.testing.assert_array_equal(taken.reshape(want.shape), want)
    _, batch_index = pynn.nn.max_pool_with_argmax(x, ksize, strides, padding,
                                                  include_batch_in_index=True)
    np.testing.assert_array_equal(x.ravel()[np.asarray(batch_index).ravel()].reshape(
        want.shape), want)
    # the gradient of the pooled values reaches the maxima
    v = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        pooled, _ = pynn.nn.max_pool_with_argmax(v, ksize, strides, padding)
        loss = pynn.reduce_sum(pooled)
    grad = np.zeros(x.size)
    np.add.at(grad, np.asarray(batch_index).ravel(), 1.0)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, v)), grad.reshape(x.shape))


# ---- smaller TensorFlow functions programs of that era call

def test_tensorflow_math_nn_and_random_functions_as_tensorflow_defines_them():
    special = pytest.importorskip("scipy.special")
    x, y = np.array([1.0, np.inf, 2.0, np.nan]), np.array([0.0, 0.0, 3.0, 0.0])
    np.testing.assert_array_equal(np.asarray(pynn.math.multiply_no_nan(x, y)), [0, 0, 6, 0])
    np.testing.assert_array_equal(np.asarray(pynn.math.xdivy(np.array([0.0, 1.0]),
                                                             np.array([0.0, 2.0]))), [0, 0.5])
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(np.asarray(pynn.math.ndtri(p)), special.ndtri(p), atol=1e-5)
    z = rand(3, 4)
    np.testing.assert_allclose(np.asarray(pynn.math.cumulative_logsumexp(z, axis=1)),
                               np.logaddexp.accumulate(z.astype(np.float64), axis=1), atol=1e-5)
    np.testing.assert_allclose(np.asarray(pynn.math.accumulate_n([z, z])), 2 * z)
    assert len(pynn.identity_n([z, z])) == 2 and pynn.recompute_grad(np.sin) is np.sin
    mean, var = pynn.nn.weighted_moments(z, [1], np.array([[1.0], [2.0], [1.0]]))
    np.testing.assert_allclose(np.asarray(mean), z.mean(1), atol=1e-6)
    np.testing.assert_allclose(np.asarray(var), z.var(1), atol=1e-6)
    mean, var = pynn.nn.normalize_moments(4.0, z.sum(1), (z ** 2).sum(1), None)
    np.testing.assert_allclose(np.asarray(var), z.var(1), atol=1e-5)
    draws = pynn.random.poisson([2000], [1.0, 5.0], seed=1)
    assert np.asarray(draws).shape == (2000, 2)
    np.testing.assert_allclose(np.asarray(draws).mean(0), [1.0, 5.0], rtol=0.1)
    logits = np.log([[0.5, 0.5], [0.99, 0.01]])
    a = pynn.random.stateless_categorical(logits, 50, seed=[1, 2])
    np.testing.assert_array_equal(np.asarray(a), np.asarray(
        pynn.random.stateless_categorical(logits, 50, seed=[1, 2])))
    assert np.asarray(a).dtype == np.int64 and np.asarray(a)[1].mean() < 0.2
    # a traced cumulative_logsumexp differentiates: d sum(clse(x)) / dx
    v = pynn.Variable(z)
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_sum(pynn.math.cumulative_logsumexp(v, axis=1))
    e = np.exp(z.astype(np.float64))
    want = e * np.flip(np.cumsum(np.flip(1.0 / np.cumsum(e, axis=1), 1), axis=1), 1)
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, v)), want, rtol=1e-4)


# ---- word2vec-era losses: tf.nn.nce_loss and sampled_softmax_loss

def _sampled_reference(kind, w, b, x, labels, sampled, true_expected, sampled_expected,
                       remove_hits):
    w, b, x = (v.astype(np.float64) for v in (w, b, x))
    true_logits = (x * w[labels[:, 0]]).sum(1, keepdims=True) + b[labels[:, 0]][:, None] - \
        np.log(true_expected)
    sampled_logits = x @ w[sampled].T + b[sampled] - np.log(sampled_expected)
    if remove_hits:
        sampled_logits = np.where(labels == sampled[None, :],
                                  sampled_logits - np.finfo(np.float32).max, sampled_logits)
    logits = np.concatenate([true_logits, sampled_logits], 1)
    targets = np.concatenate([np.ones((len(x), 1)), np.zeros((len(x), len(sampled)))], 1)
    if kind == "nce":
        return (np.maximum(logits, 0) - logits * targets +
                np.log1p(np.exp(-np.abs(logits)))).sum(1)
    top = logits.max(1, keepdims=True)
    return np.log(np.exp(logits - top).sum(1)) + top[:, 0] - (targets * logits).sum(1)


def test_nce_and_sampled_softmax_losses_are_tensorflows():
    w, b, x = rand(20, 4), rand(20, seed=1), rand(3, 4, seed=2)
    labels = np.array([[1], [5], [7]])
    sampled = np.array([0, 5, 9, 12])
    true_expected = np.array([[0.3], [0.2], [0.1]])
    sampled_expected = np.array([0.5, 0.2, 0.1, 0.05])
    given = (sampled, true_expected, sampled_expected)
    np.testing.assert_allclose(
        np.asarray(pynn.nn.nce_loss(w, b, labels, x, 4, 20, sampled_values=given)),
        _sampled_reference("nce", w, b, x, labels, *given, False), rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(pynn.nn.sampled_softmax_loss(w, b, labels, x, 4, 20, sampled_values=given)),
        _sampled_reference("softmax", w, b, x, labels, *given, True), rtol=1e-5)
    # drawn by the log-uniform sampler, trained through the weights
    variable = pynn.Variable(w)
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_mean(pynn.nn.sampled_softmax_loss(variable, b, labels, x, 4, 20))
    grad = np.asarray(tape.gradient(loss, variable))
    assert grad.shape == w.shape and np.isfinite(grad).all() and np.abs(grad[labels[:, 0]]).sum()
    with pytest.raises(ValueError, match="num_true"):
        pynn.nn.nce_loss(w, b, labels, x, 4, 20, num_true=2)


def test_dynamic_partition_and_stitch_as_tensorflow_documents_them():
    data = np.arange(10.0, dtype=np.float32).reshape(5, 2)
    parts = np.array([0, 1, 0, 2, 1])
    out = pynn.dynamic_partition(data, parts, 3)
    assert [np.asarray(o).tolist() for o in out] == [[[0, 1], [4, 5]], [[2, 3], [8, 9]],
                                                     [[6, 7]]]
    where = [np.flatnonzero(parts == i) for i in range(3)]
    np.testing.assert_array_equal(np.asarray(pynn.dynamic_stitch(where, out)), data)
    # TensorFlow's example: a repeated index takes the later value
    np.testing.assert_array_equal(
        np.asarray(pynn.dynamic_stitch([[0, 2], [2, 4]], [[1.0, 2.0], [3.0, 4.0]])),
        [1, 0, 3, 0, 4])
    x = pynn.Variable(data)
    with pynn.GradientTape() as tape:
        pieces = pynn.dynamic_partition(x, parts, 3)
        loss = pynn.reduce_sum(pynn.dynamic_stitch(where, [p * (i + 1.0) for i, p in
                                                           enumerate(pieces)]))
    np.testing.assert_array_equal(np.asarray(tape.gradient(loss, x)),
                                  np.repeat((parts + 1.0)[:, None], 2, axis=1))
    with pytest.raises(ValueError, match="is not in"):
        pynn.dynamic_partition(data, parts, 2)


# ---- audio: tf.signal.inverse_stft (with inverse_stft_window_fn it
# inverts stft), overlap_and_add, and the STFT of a traced signal (a
# generated waveform's spectral loss) keeping its gradient

def test_inverse_stft_inverts_stft_with_the_inverse_window():
    x = rand(2, 200)
    spectra = pynn.signal.stft(x, 32, 8, fft_length=32)
    back = np.asarray(pynn.signal.inverse_stft(
        spectra, 32, 8, fft_length=32, window_fn=pynn.signal.inverse_stft_window_fn(8)))
    assert back.shape == (2, 200)
    np.testing.assert_allclose(back[:, 32:176], x[:, 32:176], atol=1e-5)
    frames = rand(3, 4, 6, seed=1)
    want = np.zeros((3, 12), np.float32)
    for f in range(4):
        want[:, 2 * f:2 * f + 6] += frames[:, f]
    np.testing.assert_allclose(np.asarray(pynn.signal.overlap_and_add(frames, 2)), want,
                               atol=1e-6)


def test_the_stft_of_a_traced_signal_differentiates():
    x0 = rand(1, 64).astype(np.float64)
    v = pynn.Variable(x0.astype(np.float32))
    with pynn.GradientTape() as tape:
        magnitude = pynn.abs(pynn.signal.stft(v, 16, 8, pad_end=True))
        loss = pynn.reduce_sum(pynn.square(magnitude))
    window = np.asarray(pynn.signal.hann_window(16), np.float64)

    def reference(a):
        frames = np.asarray(pynn.signal.frame(a, 16, 8, pad_end=True)) * window
        return float((np.abs(np.fft.rfft(frames, 16)) ** 2).sum())
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, v)),
                               _finite_differences(reference, x0, eps=1e-4), rtol=1e-3,
                               atol=1e-3)
    with pynn.GradientTape() as tape:
        rebuilt = pynn.signal.inverse_stft(pynn.signal.stft(v, 16, 8), 16, 8)
        loss = pynn.reduce_sum(rebuilt)
    assert np.isfinite(np.asarray(tape.gradient(loss, v))).all()


def test_triangular_solve_and_lstsq_as_tensorflow_defines_them():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 4)) + 4 * np.eye(4), rng.normal(size=(4, 2))
    np.testing.assert_allclose(np.asarray(pynn.linalg.triangular_solve(a, b)),
                               linalg.solve_triangular(a, b, lower=True), atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(pynn.linalg.triangular_solve(a, b, lower=False, adjoint=True)),
        linalg.solve_triangular(np.triu(a).T, b, lower=True), atol=1e-5)
    tall, wide = rng.normal(size=(6, 3)), rng.normal(size=(2, 5))
    rhs_tall, rhs_wide = rng.normal(size=(6, 2)), rng.normal(size=(2, 1))
    np.testing.assert_allclose(np.asarray(pynn.linalg.lstsq(tall, rhs_tall)),
                               np.linalg.lstsq(tall, rhs_tall, rcond=None)[0], atol=1e-5)
    np.testing.assert_allclose(np.asarray(pynn.linalg.lstsq(wide, rhs_wide)),
                               np.linalg.lstsq(wide, rhs_wide, rcond=None)[0], atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(pynn.linalg.lstsq(tall, rhs_tall, l2_regularizer=0.5)),
        np.linalg.solve(tall.T @ tall + 0.5 * np.eye(3), tall.T @ rhs_tall), atol=1e-5)


def test_tf_gradients_is_k_gradients_on_symbolic_tensors_and_refused_on_values():
    from pynn import backend as K
    inp = pynn.Input((3,))
    model = pynn.Model(inp, pynn.layers.Dense(1)(inp))
    grad = pynn.gradients(K.sum(model.output), inp)
    got = K.function([inp], grad)([np.ones((2, 3), np.float32)])[0]
    np.testing.assert_allclose(got, np.tile(model.layers[1].kernel.numpy().T, (2, 1)))
    with pytest.raises(RuntimeError, match="GradientTape"):
        pynn.gradients(np.ones(3), np.ones(3))


def test_tf_nn_pool_is_max_and_average_pooling_with_tensorflows_defaults():
    x = rand(2, 7, 8, 3)
    np.testing.assert_array_equal(
        np.asarray(pynn.nn.pool(x, [2, 3], "MAX", strides=[2, 1], padding="SAME")),
        np.asarray(pynn.nn.max_pool2d(x, [2, 3], [2, 1], "SAME")))
    np.testing.assert_allclose(np.asarray(pynn.nn.pool(x, [3, 3], "AVG")),
                               np.asarray(pynn.nn.avg_pool2d(x, 3, 1, "VALID")), atol=1e-6)
    x1 = rand(2, 9, 3)
    got = np.asarray(pynn.nn.pool(x1, [3], "MAX", strides=[2]))
    assert got.shape == (2, 4, 3)
    np.testing.assert_array_equal(got[:, 1], x1[:, 2:5].max(1))
    with pytest.raises(ValueError, match="dilations"):
        pynn.nn.pool(x, [2, 2], "MAX", dilations=[2, 2])


def test_numpy_style_conversions_and_a_real_spectrum_keep_the_gradient():
    import pynn.experimental.numpy as tnp
    x = pynn.Variable(rand(2, 6))
    for convert in (tnp.asanyarray, tnp.ascontiguousarray, tnp.asfortranarray,
                    tnp.asarray_chkfinite, tnp.require):
        with pynn.GradientTape() as tape:
            loss = tnp.sum(convert(x) * 3.0)
        np.testing.assert_allclose(np.asarray(tape.gradient(loss, x)), np.full((2, 6), 3.0),
                                   err_msg=convert.__name__)
    with pytest.raises(ValueError, match="infs or NaNs"):
        tnp.asarray_chkfinite(np.array([1.0, np.inf]))
    # irfft of a real (traced) spectrum: its imaginary part zero
    spectrum0 = rand(2, 4).astype(np.float64)
    spectrum = pynn.Variable(spectrum0.astype(np.float32))
    weights = np.arange(6.0)
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_sum(pynn.signal.irfft(spectrum, 6) * weights)

    def reference(s):
        return float((np.fft.irfft(s, 6) * weights).sum())
    np.testing.assert_allclose(np.asarray(tape.gradient(loss, spectrum)),
                               _finite_differences(reference, spectrum0), atol=1e-4)
