"""keras.io's example programs, sixth sweep (vision, text, time series,
generative, recipes), run with only their imports changed: the patterns
that broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- temporal_latent_bottleneck.py: a tf.keras cell whose state is a matrix
# (state_size = tf.TensorShape([chunk, dims])) over (batch, chunks, chunk, dims)

class MatrixCell(pynn.layers.Layer):
    """The new state mixes the step's rows into the old state's rows."""

    def __init__(self, rows, dims, **kwargs):
        super().__init__(**kwargs)
        self.state_size = pynn.TensorShape([rows, dims])
        self.output_size = pynn.TensorShape([rows, dims])
        self.mix = pynn.layers.Dense(dims)

    def call(self, inputs, states):
        new = pynn.tanh(self.mix(inputs) + states[0])
        return new * 2.0, [new]


def matrix_cell_reference(cell, x, mask=None):
    kernel, bias = (np.asarray(w) for w in cell.mix.weights)
    state = np.zeros(x.shape[:1] + x.shape[2:], np.float32)
    out, outs = np.zeros_like(state), []
    for t in range(x.shape[1]):
        new = np.tanh(x[:, t] @ kernel + bias + state)
        y = new * 2.0
        if mask is not None:
            keep = mask[:, t].reshape(-1, 1, 1)
            new, y = np.where(keep, new, state), np.where(keep, y, out)
        state, out = new, y
        outs.append(out)
    return np.stack(outs, 1), out, state


def test_a_cell_with_a_matrix_state_runs_over_rank_4_sequences():
    x = rand(3, 5, 2, 4)
    cell = MatrixCell(2, 4)
    rnn = pynn.layers.RNN(cell, return_sequences=True, return_state=True)
    inp = pynn.Input((5, 2, 4))
    seq, state = rnn(inp)
    assert tuple(seq.shape) == (None, 5, 2, 4) and tuple(state.shape) == (None, 2, 4)
    model = pynn.Model(inp, [seq, state])
    got_seq, got_state = model.predict(x, verbose=0)
    want_seq, _, want_state = matrix_cell_reference(cell, x)
    np.testing.assert_allclose(got_seq, want_seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_state, want_state, rtol=1e-5, atol=1e-6)

    # masked steps keep the state and repeat the last output
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    got_seq, got_state = rnn(x, mask=mask)
    want_seq, _, want_state = matrix_cell_reference(cell, x, mask)
    np.testing.assert_allclose(np.asarray(got_seq), want_seq, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_state), want_state, rtol=1e-5, atol=1e-6)


def test_a_matrix_state_cell_trains_inside_a_subclassed_model():
    class Net(pynn.Model):
        def __init__(self):
            super().__init__()
            self.rnn = pynn.layers.RNN(MatrixCell(2, 4))
            self.gap = pynn.layers.GlobalAveragePooling1D()
            self.head = pynn.layers.Dense(1)

        def call(self, x):
            return self.head(self.gap(self.rnn(x)))

    x = rand(32, 3, 2, 4)
    y = x[:, -1].sum(axis=(1, 2))[:, None] * 0.5
    pynn.utils.set_random_seed(1)
    net = Net()
    net.compile(optimizer=pynn.optimizers.Adam(0.02), loss="mse")
    assert tuple(net(x[:2]).shape) == (2, 1)
    hist = net.fit(x, y, epochs=30, batch_size=8, verbose=0).history["loss"]
    assert hist[-1] < 0.3 * hist[0]

    # an initial state of the wrong shape is refused, naming both shapes
    with pytest.raises(ValueError, match=r"\(None, 2, 4\)"):
        pynn.layers.RNN(MatrixCell(2, 4))(pynn.Input((3, 2, 4)),
                                         initial_state=[pynn.Input((3, 4))])


# ---- mixture_of_experts.py: a program's layer without get_config(), made
# with plain arguments, is configured by them (Keras 3's automatic config)

def scale_layer(lib):
    class Scale(lib.layers.Layer):
        def __init__(self, units, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.units, self.factor = units, factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="ones")

        def call(self, x):
            return lib.ops.matmul(x, self.w) * self.factor

    class Fixed(lib.layers.Layer):  # no **kwargs: the base keys it cannot take are left out
        def __init__(self, units, acts=("relu", None)):
            super().__init__()
            self.units = units

    return Scale, Fixed


def test_a_layer_without_get_config_is_configured_by_its_arguments(keras, tmp_path):
    configs = {}
    for lib in (pynn, keras):
        Scale, Fixed = scale_layer(lib)
        configs[lib] = [Scale(3, factor=0.5, name="s").get_config(),
                        Fixed(4).get_config(), Fixed(4, ["gelu", "tanh"]).get_config()]
    ours, ref = configs[pynn], configs[keras]
    for got, want in zip(ours, ref):
        assert set(got) - {"dtype"} == set(want) - {"dtype"}
        assert {k: got[k] for k in got if k != "dtype"} == {k: want[k] for k in want if k != "dtype"}
    assert ours[0]["units"] == 3 and ours[0]["factor"] == 0.5

    # an argument that is no plain value (an array) gives no automatic config
    class Arrayed(pynn.layers.Layer):
        def __init__(self, table, **kwargs):
            super().__init__(**kwargs)

    assert "table" not in Arrayed(np.ones(2), name="a").get_config()

    # a layer with no constructor of its own keeps the base config (pynn's
    # constructor's arguments are not Keras's)
    class CallOnly(pynn.layers.Layer):
        def call(self, x):
            return x

    assert set(CallOnly(name="c").get_config()) == {"name", "trainable", "dtype"}

    # and a model holding one saves and loads with custom_objects, both ways
    x = np.ones((1, 2), np.float32)
    for save_lib, load_lib in ((pynn, pynn), (pynn, keras), (keras, pynn)):
        scale = scale_layer(save_lib)[0]
        m = save_lib.Sequential([save_lib.Input((2,)), scale(3, factor=0.5)])
        path = str(tmp_path / f"{save_lib.__name__}_{load_lib.__name__}.keras")
        m.save(path)
        back = load_lib.models.load_model(path, custom_objects={"Scale": scale_layer(load_lib)[0]})
        assert back.layers[-1].units == 3 and back.layers[-1].factor == 0.5
        np.testing.assert_allclose(np.asarray(back(x)), np.full((1, 3), 1.0))


# ---- active_learning_review_classification.py: tf.concat of the reviews
# (arrays of bytes, as tfds.as_numpy gives them, or of str) into splits

def test_concat_joins_arrays_of_texts_keeping_them_texts():
    tf = pynn
    raw = np.array([b"a fine film", b"dull", b"great fun"], dtype=object)
    got = tf.concat((raw[:2], raw[2:]), 0)
    assert list(got.numpy()) == list(raw) and got.numpy().dtype == object
    # str arrays join as tf.string tensors: their UTF-8 bytes, as TensorFlow's
    words = np.array([["a", "b"], ["c", "d"]])
    np.testing.assert_array_equal(tf.concat([words, words[:1]], 0).numpy().astype("S"),
                                  np.char.encode(np.concatenate([words, words[:1]], 0)))
    np.testing.assert_array_equal(tf.concat([words, words], axis=1).numpy().astype("S"),
                                  np.char.encode(np.concatenate([words, words], 1)))
    # the splits feed a dataset and a TextVectorization as they would in TensorFlow
    ds = tf.data.Dataset.from_tensor_slices((got, tf.concat((np.ones(2, "int64"),
                                                             np.zeros(1, "int64")), 0)))
    vec = pynn.layers.TextVectorization(10, output_sequence_length=3)
    vec.adapt(ds.map(lambda x, y: x).batch(2))
    assert "dull" in vec.get_vocabulary()
    # texts and numbers are not joined, and shapes must agree off the axis
    with pytest.raises((TypeError, ValueError)):
        tf.concat([words, np.ones((2, 2), np.float32)], 0)
    with pytest.raises(ValueError, match="concatenate"):
        tf.concat([words, words[0]], 0)


# ---- nerf.py: volume rendering's transmittance, tf.math.cumprod(...,
# exclusive=True), differentiated on a GradientTape

def test_exclusive_cumprod_is_differentiated_on_a_tape():
    tf = pynn
    sigma = tf.Variable(np.abs(rand(2, 3, 6)) + 0.1)
    delta = np.abs(rand(2, 3, 6, seed=1)) * 0.5
    colour = rand(2, 3, 6, seed=2)

    def render(s):
        alpha = 1.0 - np.exp(-s * delta)
        trans = np.cumprod(np.concatenate([np.ones_like(alpha[..., :1]),
                                           1.0 - alpha[..., :-1] + 1e-10], -1), -1)
        return (alpha * trans * colour).sum(-1)

    with tf.GradientTape() as tape:
        alpha = 1.0 - tf.exp(-sigma * delta)
        transmittance = tf.math.cumprod(1.0 - alpha + 1e-10, axis=-1, exclusive=True)
        rgb = tf.reduce_sum(alpha * transmittance * colour, axis=-1)
        loss = tf.reduce_sum(tf.square(rgb))
    np.testing.assert_allclose(np.asarray(rgb), render(np.asarray(sigma, np.float64)),
                               rtol=1e-5, atol=1e-6)
    grad = np.asarray(tape.gradient(loss, sigma))
    s0, eps = np.asarray(sigma, np.float64), 1e-6
    want = np.zeros_like(s0)
    for i in np.ndindex(s0.shape):
        up, down = s0.copy(), s0.copy()
        up[i] += eps
        down[i] -= eps
        want[i] = ((render(up) ** 2).sum() - (render(down) ** 2).sum()) / (2 * eps)
    np.testing.assert_allclose(grad, want, rtol=2e-3, atol=1e-5)


# ---- vocal_track_separation.py: ops.stft and ops.istft on a model's
# symbolic input, the model saved as Keras's file

def spectral_model(lib):
    ops = lib.ops
    inp = lib.Input((248,))
    real, imag = ops.stft(inp, 32, 8, 32)
    x = ops.stack([real, imag], axis=-1)
    x = lib.layers.Conv2D(2, 1, use_bias=False)(x)
    wave = ops.istft((x[..., 0], x[..., 1]), 32, 8, 32)
    return lib.Model(inp, [x, wave])


def test_stft_and_istft_on_symbolic_tensors_as_keras(keras, tmp_path):
    ours, ref = spectral_model(pynn), spectral_model(keras)
    assert tuple(ours.outputs[0].shape) == tuple(ref.outputs[0].shape) == (None, 32, 17, 2)
    assert tuple(ours.outputs[1].shape) == tuple(ref.outputs[1].shape)
    ref.set_weights(ours.get_weights())
    x = rand(3, 248)
    for got, want in zip(ours.predict(x, verbose=0), ref.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # an identity 1x1 convolution: the wave comes back (inside the frames)
    ours.set_weights([np.eye(2, dtype=np.float32).reshape(1, 1, 2, 2)])
    np.testing.assert_allclose(ours.predict(x, verbose=0)[1][:, 16:-16], x[:, 16:-16],
                               atol=1e-4)
    path = str(tmp_path / "spectral.keras")
    ours.save(path)
    theirs = keras.saving.load_model(path)
    for got, want in zip(ours.predict(x, verbose=0), theirs.predict(x, verbose=0)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    back = pynn.saving.load_model(path)
    np.testing.assert_allclose(back.predict(x, verbose=0)[1], ours.predict(x, verbose=0)[1],
                               atol=1e-6)


# ---- vocal_track_separation.py: Adam(gradient_accumulation_steps=2)

def test_gradient_accumulation_steps_as_keras(keras):
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 2)).astype(np.float32)
    grads = [rng.normal(size=(3, 2)).astype(np.float32) for _ in range(5)]
    seen = {}
    for lib in (pynn, keras):
        v = lib.Variable(w0)
        opt = lib.optimizers.Adam(0.1, gradient_accumulation_steps=2)
        values = []
        for g in grads:
            opt.apply_gradients([(g, v)])
            values.append(np.array(v.numpy()))
        seen[lib] = (values, int(np.asarray(opt.iterations)), len(opt.variables),
                     opt.get_config()["gradient_accumulation_steps"])
    (ours, *rest), (theirs, *rest_k) = seen[pynn], seen[keras]
    assert rest == rest_k == [2, 5, 2]  # updates counted; accumulator, momentum, velocity
    np.testing.assert_allclose(np.stack(ours), np.stack(theirs), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(ours[0], w0)  # the first step only accumulates
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        pynn.optimizers.SGD(gradient_accumulation_steps=1)


def test_fit_with_gradient_accumulation_is_fit_on_the_joined_batches(tmp_path):
    x, y = rand(16, 3), rand(16, 1, seed=1)

    def trained(batch, steps):
        pynn.utils.set_random_seed(3)
        m = pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(4, activation="tanh"),
                             pynn.layers.Dense(1)])
        m.compile(optimizer=pynn.optimizers.SGD(0.1, gradient_accumulation_steps=steps),
                  loss="mse")
        m.fit(x, y, batch_size=batch, epochs=3, shuffle=False, verbose=0)
        return m

    joined, accumulated = trained(8, None), trained(4, 2)
    for a, b in zip(joined.get_weights(), accumulated.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert int(accumulated.optimizer.iterations) == int(joined.optimizer.iterations) == 6
    # the accumulated gradients are saved and restored with the model
    accumulated.fit(x[:4], y[:4], batch_size=4, epochs=1, verbose=0)  # one half-step kept
    kept = accumulated.optimizer._accumulated.copy()
    assert np.abs(kept).sum() > 0
    accumulated.save(tmp_path / "m.keras")
    back = pynn.saving.load_model(tmp_path / "m.keras")
    assert back.optimizer.gradient_accumulation_steps == 2
    np.testing.assert_allclose(back.optimizer._accumulated, kept)


# ---- customizing_saving_and_serialization.py: one target per sample, a
# (batch, 1) column, against a (batch, k) output: Keras's elementwise losses
# broadcast it

@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "log_cosh", "mape", "msle",
                                  "poisson", "hinge"])
def test_a_target_column_broadcasts_over_the_output_as_keras(keras, loss):
    x, y = np.abs(rand(8, 3)), np.abs(rand(8, 1, seed=1))
    losses = {}
    for lib in (pynn, keras):
        m = lib.Sequential([lib.Input((3,)), lib.layers.Dense(5, activation="softplus")])
        m.compile(optimizer="sgd", loss=loss)
        losses[lib] = m
    ref = losses[keras]
    ours = losses[pynn]
    ref.set_weights(ours.get_weights())
    want = float(ref.compute_loss(x, y, ref(x)))
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(np.mean(pynn.losses.get(loss)(y, ours.predict(x, verbose=0))),
                               want, rtol=1e-5)
    # and it trains on them: the step is the one on the repeated column
    tiled = pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(5, activation="softplus")])
    tiled.compile(optimizer="sgd", loss=loss)
    tiled.set_weights(ours.get_weights())
    ours.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0)
    tiled.fit(x, np.repeat(y, 5, axis=1), epochs=2, batch_size=4, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), tiled.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


# ---- customizing_saving_and_serialization.py (guide): a layer built by the
# program itself, its build config; a subclassed model whose __init__ takes
# nothing; a Dense subclass whose call widens its output

def test_a_layer_built_by_the_program_keeps_its_build_shape(keras, tmp_path):
    for lib in (pynn, keras):
        class Plain(lib.layers.Layer):
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")

            def call(self, x):
                return lib.ops.matmul(x, self.w)

        layer = Plain()
        layer.build((None, 3))
        assert tuple(layer.get_build_config()["input_shape"]) == (None, 3)

    @pynn.saving.register_keras_serializable(package="kio6")
    class WithInit(pynn.layers.Layer):
        def call(self, x):
            return pynn.ops.matmul(x, self.w)

        def build(self, input_shape, init):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer=init)
            self.init = init

        def get_build_config(self):
            return {**super().get_build_config(), "init": self.init}

        def build_from_config(self, config):
            self.build(config["input_shape"], config["init"])

    layer = WithInit()
    layer.build((4,), "ones")
    model = pynn.Sequential([layer, pynn.layers.Dense(1)])
    x = rand(2, 4)
    want = model(x).numpy()
    model.save(tmp_path / "m.keras")
    back = pynn.models.load_model(tmp_path / "m.keras")
    assert back.layers[0].init == "ones" and back.built
    np.testing.assert_allclose(back(x).numpy(), want, rtol=1e-6)


def test_a_subclassed_model_taking_no_arguments_reloads(tmp_path):
    # (Keras 3 keeps trainable and dtype in this config, and then cannot
    # make the model from it; tf.keras, the guide's, could)
    @pynn.saving.register_keras_serializable(package="kio6")
    class Bare(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = pynn.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    bare = Bare()
    bare(rand(1, 3))
    assert bare.get_config() == {}
    bare.save(tmp_path / "bare.keras")
    assert type(pynn.models.load_model(tmp_path / "bare.keras")) is Bare

    @pynn.saving.register_keras_serializable(package="kio6")
    class Net(pynn.Model):
        def __init__(self, width=2):
            super().__init__()
            self.width = width
            self.dense = pynn.layers.Dense(width)

        def call(self, x):
            return self.dense(x)

    net = Net(3)
    net.compile(optimizer="sgd", loss="mse")
    x = rand(4, 3)
    net.fit(x, rand(4, 3, seed=1), verbose=0)
    net.save(tmp_path / "net.keras")
    back = pynn.models.load_model(tmp_path / "net.keras")
    assert back.width == 3
    np.testing.assert_allclose(back.predict(x, verbose=0), net.predict(x, verbose=0), rtol=1e-6)


def test_targets_broadcast_over_an_output_wider_than_declared(keras):
    scale = np.linspace(0.5, 1.5, 10).astype(np.float32)
    models = {}
    for lib in (pynn, keras):
        class Widened(lib.layers.Dense):
            def call(self, x):  # (batch, 1) * (10,): wider than Dense(1) declares
                return super().call(x) * scale

        models[lib] = lib.Sequential([lib.Input((4,)), Widened(1)])
        models[lib].compile(optimizer="sgd", loss="mse")
    ours, ref = models[pynn], models[keras]
    ref.set_weights(ours.get_weights())
    x, y = rand(8, 4), rand(8, 1, seed=1)
    want = float(ref.compute_loss(x, y, ref(x)))
    assert ours.evaluate(x, y, verbose=0) == pytest.approx(want, rel=1e-5)
    before = ours.evaluate(x, y, verbose=0)
    ours.fit(x, y, epochs=5, verbose=0)
    assert ours.evaluate(x, y, verbose=0) < before


# ---- int8_quantization_in_keras.py (guide): model.quantize("int8") on a
# model whose first layer is a Dense reading the input; predict as Keras

def test_predict_of_an_int8_quantized_dense_model_as_keras(keras):
    import warnings
    models = {}
    for lib in (pynn, keras):
        inp = lib.Input((10,))
        h = lib.layers.Dense(16, activation="relu")(inp)
        models[lib] = lib.Model(inp, lib.layers.Dense(1, name="target")(h))
    ours, ref = models[pynn], models[keras]
    ref.set_weights(ours.get_weights())
    x = np.abs(rand(32, 10))
    before = ours.predict(x, verbose=0)  # (a plan made before quantizing)
    for m in (ours, ref):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.quantize("int8")
    want = np.asarray(ref.predict(x, verbose=0))
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ours(x)), want, rtol=1e-4, atol=1e-5)
    assert np.abs(want - before).max() < 0.05 * np.abs(before).max()
