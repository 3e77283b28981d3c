"""Deep Learning with Python's programs (2nd and 3rd editions) with only
their imports changed: the Keras 3 calls they make that pynn lacked,
against Keras 3 on its NumPy backend where it runs the same thing."""
import os

import numpy as np
import pytest

import pynn
from pynn import layers

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras as real_keras
except Exception:  # missing, or a backend that cannot load here
    real_keras = None

needs_keras = pytest.mark.skipif(real_keras is None, reason="Keras 3 is not installed")


# ------------------------------------------- custom training loops (ch. 7)

@pytest.mark.parametrize("name", ["Adam", "Adagrad", "SGD"])
def test_optimizer_built_on_a_models_variables_then_stepped(name):
    """``optimizer.build(model.trainable_variables)`` before the first
    ``apply``: the state is made per variable and the steps are those of an
    optimizer never built."""
    def run(build):
        pynn.utils.set_random_seed(3)
        model = pynn.Sequential([pynn.Input((4,)), layers.Dense(3)])
        opt = getattr(pynn.optimizers, name)(learning_rate=0.1)
        if build:
            opt.build(model.trainable_variables)
        rng = np.random.default_rng(0)
        for _ in range(3):
            grads = [rng.normal(size=w.shape).astype(np.float32)
                     for w in model.trainable_variables]
            opt.apply(grads, model.trainable_variables)
        return model.get_weights()

    for a, b in zip(run(True), run(False)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_optimizer_build_names_what_is_not_a_variable():
    with pytest.raises(TypeError, match="Adam.build: expected weights"):
        pynn.optimizers.Adam().build([np.zeros(3)])


@needs_keras
@pytest.mark.parametrize("name, kwargs, batches", [
    ("SparseCategoricalAccuracy", {}, [([0, 1, 2], [[1, 0, 0], [0, 1, 0], [0, .6, .4]]),
                                       ([1], [[.2, .7, .1]])]),
    ("AUC", {"num_thresholds": 7}, [([0, 1, 1, 0], [.2, .7, .4, .5]), ([1, 0], [.9, .3])]),
])
def test_stateless_metric_updates_match_keras_and_leave_the_metric(name, kwargs, batches):
    def run(lib):
        metric = getattr(lib.metrics, name)(**kwargs)
        state = metric.variables
        results = []
        for y, p in batches:
            state = metric.stateless_update_state(state, np.array(y, np.float32),
                                                  np.array(p, np.float32))
            results.append(float(metric.stateless_result(state)))
        reset = [np.asarray(v) for v in metric.stateless_reset_state()]
        return results, float(metric.result()), reset

    ours, theirs = run(pynn), run(real_keras)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-6)
    assert ours[1] == theirs[1] == 0.0  # the metric's own state was not touched
    for a, b in zip(ours[2], theirs[2]):
        np.testing.assert_array_equal(a, b)


def test_metric_variables_hold_the_running_totals():
    metric = pynn.metrics.Mean()
    metric.update_state([1.0, 2.0, 6.0])
    assert [v.name for v in metric.variables] == ["total", "count"]
    assert [float(v.numpy()) for v in metric.variables] == [9.0, 3.0]
    with pytest.raises(ValueError, match="Mean.stateless_result: expected 2 state values"):
        metric.stateless_result([np.float32(1.0)])


@needs_keras
@pytest.mark.parametrize("name", ["SparseCategoricalAccuracy", "CategoricalAccuracy",
                                  "MeanSquaredError", "AUC"])
def test_metrics_take_python_lists(name):
    sparse = name.startswith("Sparse")
    targets = [0, 1, 2] if sparse else [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    if name == "AUC":
        targets = [0, 1, 1]
    predictions = [[1, 0, 0], [0, 1, 0], [0, 0.6, 0.4]] if name != "AUC" else [0.3, 0.6, 0.2]
    got, want = (getattr(lib.metrics, name)() for lib in (pynn, real_keras))
    got.update_state(targets, predictions)
    want.update_state(targets, predictions)
    np.testing.assert_allclose(float(got.result()), float(want.result()), rtol=1e-6)


@needs_keras
@pytest.mark.parametrize("name", ["MeanAbsoluteError", "MeanSquaredError",
                                  "RootMeanSquaredError"])
@pytest.mark.parametrize("targets", [np.array([3, 1, 2]), np.array([[3], [1], [2]]),
                                     np.array([[0, 1], [1, 0], [2, 2]])])
def test_error_metrics_of_integer_regression_targets_are_values(name, targets):
    """Integer targets of one output column (or of as many columns as the
    prediction) are the values to regress on, not class labels."""
    pred = np.array([[2.5], [1.0], [0.0]], np.float32)
    if targets.shape[-1] == 2:
        pred = np.array([[0.5, 1.0], [1.0, 0.0], [0.0, 2.5]], np.float32)
    got, want = (getattr(lib.metrics, name)() for lib in (pynn, real_keras))
    got.update_state(targets, pred)
    want.update_state(targets, pred)
    np.testing.assert_allclose(float(got.result()), float(want.result()), rtol=1e-6)


def test_tensorflow_dtype_names_in_a_custom_metric():
    """An RMSE metric written for tf.keras: ``tf.cast(n, tf.float32)``."""
    tf = pynn
    total = tf.cast(np.int64(4), tf.float32)
    assert total.dtype == np.float32 and tf.cast(np.ones(2), tf.int32).dtype == np.int32
    assert np.dtype(tf.float64) == np.float64 and np.dtype(tf.uint8) == np.uint8


# ---------------------------------------------------- text (ch. 11 / 14)

@pytest.mark.parametrize("mode", ["int", "multi_hot"])
def test_text_vectorization_of_one_string_gives_one_row(mode):
    """``text_vectorization("I write, rewrite ...")`` then decoding it id
    by id: one sentence is one row, not a batch of one."""
    tv = layers.TextVectorization(output_mode=mode)
    tv.adapt(["I write, erase, rewrite", "Erase again, and then", "A poppy blooms."])
    one = tv("I write, rewrite, and still rewrite again")
    batch = tv(["I write, rewrite, and still rewrite again"])
    np.testing.assert_array_equal(one, batch[0])
    assert one.ndim == 1
    if mode == "int":
        vocab = dict(enumerate(tv.get_vocabulary()))
        assert " ".join(vocab[int(i)] for i in one) == "i write rewrite and [UNK] rewrite again"


def test_a_model_on_raw_text_takes_a_tensorflow_style_string_tensor():
    tf = pynn
    tv = layers.TextVectorization(max_tokens=20, output_mode="multi_hot")
    tv.adapt(["an excellent movie", "a dull movie", "excellent, I loved it"])
    inputs = pynn.Input(shape=(1,), dtype="string")
    model = pynn.Model(inputs, layers.Dense(1, activation="sigmoid")(tv(inputs)))
    raw = tf.convert_to_tensor([["That was an excellent movie, I loved it."]])
    # (a string tensor of UTF-8 bytes, as TensorFlow's tf.string)
    assert raw.shape == (1, 1) and raw.numpy()[0, 0] == b"That was an excellent movie, I loved it."
    assert tf.constant(["a", "b"], shape=(2, 2)).shape == (2, 2)
    assert model(raw).shape == (1, 1)


# ------------------------------------------------- images (ch. 8 / 12)

def test_image_folder_with_tensorflow_25s_smart_resize(tmp_path):
    """The GAN chapter's ``image_dataset_from_directory(..., smart_resize=
    True)``: TensorFlow 2.5's name for crop_to_aspect_ratio."""
    from PIL import Image
    rng = np.random.default_rng(0)
    (tmp_path / "faces").mkdir()
    for i in range(3):
        Image.fromarray((rng.random((40, 24, 3)) * 255).astype("uint8")).save(
            tmp_path / "faces" / f"{i}.png")

    def images(**kw):
        ds = pynn.utils.image_dataset_from_directory(
            tmp_path, label_mode=None, image_size=(16, 16), batch_size=8, shuffle=False,
            verbose=False, **kw)
        return np.concatenate(list(ds))

    smart, cropped, squashed = (images(smart_resize=True), images(crop_to_aspect_ratio=True),
                                images())
    np.testing.assert_array_equal(smart, cropped)
    assert smart.shape == (3, 16, 16, 3) and not np.allclose(smart, squashed)


def test_dataset_interleave_takes_blocks_in_turn_as_tf_data():
    """tf.data's documented example of interleave(cycle_length=2,
    block_length=4)."""
    Dataset = pynn.utils.Dataset
    ds = Dataset.from_tensor_slices(np.arange(1, 6)).interleave(
        lambda x: Dataset.from_tensor_slices(np.repeat(x, 6)), cycle_length=2, block_length=4)
    assert [int(v) for v in ds] == [1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4,
                                    3, 3, 4, 4, 5, 5, 5, 5, 5, 5]
    assert ds.cardinality() == pynn.utils.dataset.UNKNOWN
    with pytest.raises(TypeError, match="interleave: map_func must return a Dataset"):
        list(Dataset.from_tensor_slices(np.arange(3)).interleave(lambda x: [x], cycle_length=1))


def test_windows_of_token_ids_interleaved_then_fitted():
    """The CBOW program: each text's windows of token ids (counted with
    integer ops) interleaved into one dataset of unknown length, then
    given to fit."""
    ops, Dataset = pynn.ops, pynn.utils.Dataset
    context = 2

    def windows(ids):
        count = ops.maximum(ops.size(ids) - context * 2, 0)
        assert np.asarray(count).dtype.kind == "i"
        index = ops.arange(2 * context + 1)[None, :] + ops.arange(count)[:, None]
        return Dataset.from_tensor_slices(ops.take(ids, index))

    def split(window):
        return ops.concatenate((window[:context], window[context + 1:]), axis=0), window[context]

    texts = [np.arange(i, i + 9) % 7 for i in range(4)]
    ds = Dataset.from_tensor_slices(np.stack(texts)).interleave(windows, cycle_length=2)
    ds = ds.map(split).batch(8)
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input((2 * context,)), layers.Embedding(7, 4),
                             layers.GlobalAveragePooling1D(), layers.Dense(7)])
    model.compile(optimizer="adam",
                  loss=pynn.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


@needs_keras
@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "maximum", "minimum"])
@pytest.mark.parametrize("a, b", [(7, 3), (np.array([7, -2], np.int32), 3),
                                  (np.array([7], np.uint8), 3),
                                  (np.array([7], np.int32), np.array([3], np.int16)),
                                  (np.array([7], np.int32), 2.5), (np.float32(7), 3)])
def test_integer_arithmetic_keeps_keras_dtypes(name, a, b):
    got = np.asarray(getattr(pynn.ops, name)(a, b))
    want = np.asarray(getattr(real_keras.ops, name)(a, b))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# ------------------------------------- sequence-to-sequence (ch. 15)

def _tagger(lib):
    # (named: Keras's automatic names are compared with pynn's elsewhere)
    inputs = lib.Input((5,), dtype="int32", name="tokens")
    x = lib.layers.Embedding(9, 4, mask_zero=True, name="tagger_embedding")(inputs)
    x = lib.layers.GRU(6, return_sequences=True, name="tagger_gru")(x)
    out = lib.layers.Dense(9, activation="softmax", name="tagger_dense")(x)
    return lib.Model(inputs, out, name="tagger")


def _tagging_data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 9, (6, 5))
    x[:, 3:] = 0
    y = rng.integers(0, 9, (6, 5))
    return x, y, ((y != 0) * rng.uniform(0.5, 1.5, (6, 5))).astype(np.float32)


@needs_keras
def test_per_step_sample_weights_of_a_dataset_weigh_each_tokens_loss():
    """The translation program yields (features, labels, labels != 0):
    one weight per target token."""
    x, y, w = _tagging_data()
    ours, theirs = _tagger(pynn), _tagger(real_keras)
    theirs.set_weights(ours.get_weights())
    for m in (ours, theirs):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    want = theirs.evaluate(x, y, sample_weight=w, verbose=0)
    ds = pynn.utils.Dataset.from_tensor_slices((x, y, w)).batch(4)
    np.testing.assert_allclose(ours.evaluate(ds, verbose=0), want, rtol=1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, sample_weight=w, verbose=0), want, rtol=1e-5)


def test_per_step_weights_equal_per_sample_weights_when_alike():
    x, y, w = _tagging_data()
    per_sample = w[:, 0] + 1.0
    runs = []
    for weights in (per_sample, np.repeat(per_sample[:, None], 5, axis=1)):
        pynn.utils.set_random_seed(1)
        model = _tagger(pynn)
        model.compile(optimizer=pynn.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, sample_weight=weights, batch_size=3, epochs=2, verbose=0,
                            shuffle=False)
        runs.append((history.history["loss"], model.get_weights()))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-6)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"sample_weight of shape \(6, 4\) does not fit"):
        model.evaluate(x, y, sample_weight=np.ones((6, 4)), verbose=0)


# --------------------------------------------- diffusion model (ch. 17)

@needs_keras
@pytest.mark.parametrize("frequency", [None, 3])
def test_moving_average_of_the_weights_matches_keras(frequency):
    """AdamW(use_ema=True, ema_overwrite_frequency=...): the average after
    each step, copied into the weights every few steps and at the end."""
    rng = np.random.default_rng(0)
    start = [rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)]
    steps = [[rng.normal(size=w.shape).astype(np.float32) for w in start] for _ in range(5)]

    def run(lib):
        variables = [lib.Variable(w.copy()) for w in start]
        opt = lib.optimizers.AdamW(0.1, use_ema=True, ema_momentum=0.5,
                                   ema_overwrite_frequency=frequency)
        for grads in steps:
            opt.apply(grads, variables)
        stepped = [np.array(v.numpy()) for v in variables]
        opt.finalize_variable_values(variables)
        return stepped + [np.array(v.numpy()) for v in variables]

    for a, b in zip(run(pynn), run(real_keras)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fit_ends_on_the_moving_average_of_the_weights():
    x = np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)

    def run(**ema):
        pynn.utils.set_random_seed(2)
        model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
        opt = pynn.optimizers.SGD(0.1, **ema)
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return model, opt

    plain, _ = run()
    averaged, opt = run(use_ema=True, ema_momentum=0.9)
    flat = np.concatenate([w.reshape(-1) for w in averaged.get_weights()])
    np.testing.assert_allclose(flat, opt._ema, rtol=1e-6)
    assert not np.allclose(flat, np.concatenate([w.reshape(-1) for w in plain.get_weights()]))
    assert opt.get_config()["use_ema"] is True
    with pytest.raises(ValueError, match="ema_overwrite_frequency must be None or an integer"):
        pynn.optimizers.Adam(use_ema=True, ema_overwrite_frequency=0)


def test_an_array_on_the_left_of_a_symbolic_tensor():
    """``signal_rates * images`` in a model's call: NumPy rates times a
    symbolic tensor record the tensor's operation."""
    images = pynn.Input((3,))
    rates = np.array([0.5, 2.0, 4.0], np.float32)
    model = pynn.Model(images, [rates * images, rates - images, rates / (images + 1.0),
                                np.float32(2.0) ** images])
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    for got, want in zip(model(x), [rates * x, rates - x, rates / (x + 1.0), 2.0 ** x]):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    with pytest.raises(TypeError, match="is symbolic: it has no value"):
        np.exp(images)


def test_random_draws_in_a_subclassed_models_call_are_fresh_at_every_call():
    """A draw in a subclassed model's call is not frozen into a traced
    graph: the call runs at every call, as Keras runs it; a layer's draws
    are fresh at every call too."""
    class Noisy(pynn.Model):
        def call(self, x):
            return x + pynn.random.normal((3,))

    model, x = Noisy(name="noisy"), np.zeros((2, 3), np.float32)
    assert not np.allclose(model(x), model(x))

    class Noise(layers.Layer):
        def call(self, x):
            return x + pynn.random.normal((3,))

    class Denoiser(pynn.Model):
        def __init__(self):
            super().__init__()
            self.noise = Noise()

        def call(self, x):
            return self.noise(x)

    model, x = Denoiser(), np.zeros((2, 3), np.float32)
    assert not np.allclose(model(x), model(x))


def test_dataset_rebatch():
    ds = pynn.utils.Dataset.from_tensor_slices(np.arange(10)).batch(4).rebatch(3)
    assert [b.tolist() for b in ds] == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    ds = pynn.utils.Dataset.from_tensor_slices(np.arange(10)).batch(4).rebatch(
        3, drop_remainder=True)
    assert [len(b) for b in ds] == [3, 3, 3]


# --------------------------------------------- best practices (ch. 18)

@needs_keras
@pytest.mark.parametrize("dtypes", [("int8", "int8"), ("int32", "int8"), ("uint8", "int8"),
                                    ("int16", "int16")])
def test_quantized_integer_matmul_keeps_keras_dtypes(dtypes):
    """The chapter's abs-max quantization: int8 values times int8 values."""
    a = np.array([[100, -3], [5, 7]]).astype(dtypes[0])
    b = np.array([[100, 2], [1, -1]]).astype(dtypes[1])
    got, want = pynn.ops.matmul(a, b), np.asarray(real_keras.ops.matmul(a, b))
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# ---------------------------------------------------- GradientTape (ch. 3)

def test_a_watched_constant_differentiates_through_math_functions():
    """``tape.watch(input_const); result = tf.square(input_const)``: the
    array itself goes into the functions (their gradient was None)."""
    tf = pynn
    const = tf.constant(3.0)
    with tf.GradientTape() as tape:
        tape.watch(const)
        result = tf.square(const)
    np.testing.assert_allclose(tape.gradient(result, const), 6.0)

    x = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(pynn.ops.exp(tf.matmul(x, x) * 0.01))
    got = tape.gradient(y, x)
    # d/dx sum(exp(0.01 x@x)) = 0.01 (E @ x.T + x.T @ E), E = exp(0.01 x@x)
    e = np.exp(0.01 * (x @ x))
    np.testing.assert_allclose(got, 0.01 * (e @ x.T + x.T @ e), rtol=1e-5)
    np.testing.assert_array_equal(tf.square(x), x * x)  # outside the tape: plain values


# ------------------------------------------------------ mini-GPT (ch. 16)

def _tied_embedding_class(lib):
    class TiedEmbedding(lib.layers.Layer):
        """The chapter's PositionalEmbedding, reduced: one table for the
        tokens in and, with ``reverse=True``, for the logits out."""

        def __init__(self, input_dim, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.input_dim, self.output_dim = input_dim, output_dim
            self.token_embeddings = lib.layers.Embedding(input_dim, output_dim)

        def call(self, inputs, reverse=False):
            if reverse:
                table = self.token_embeddings.embeddings
                return lib.ops.matmul(inputs, lib.ops.transpose(table))
            return self.token_embeddings(inputs)

        def get_config(self):
            return {**super().get_config(), "input_dim": self.input_dim,
                    "output_dim": self.output_dim}

    return TiedEmbedding


def _mini_gpt(lib, name):
    inputs = lib.Input((None,), dtype="int32", name=f"{name}_ids")
    embedding = _tied_embedding_class(lib)(11, 4, name=f"{name}_embedding")
    x = lib.layers.Dense(4, activation="tanh", name=f"{name}_dense")(embedding(inputs))
    return lib.Model(inputs, embedding(x, reverse=True), name=name)


def test_a_layer_called_again_with_a_flag_of_its_call(tmp_path):
    """``embedding(x, reverse=True)``: a custom layer's own non-tensor call
    argument is kept by that call's node (it raised 'unexpected call
    argument')."""
    ours = _mini_gpt(pynn, "gpt")
    ids = np.array([[1, 5, 7], [2, 0, 10]], np.int32)
    table = ours.get_layer("gpt_embedding").token_embeddings.get_weights()[0]
    kernel, bias = ours.get_layer("gpt_dense").get_weights()
    want = np.tanh(table[ids] @ kernel + bias) @ table.T
    np.testing.assert_allclose(ours.predict(ids, verbose=0), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours(ids), want, rtol=1e-5, atol=1e-6)
    ours.compile(optimizer="adam",
                 loss=pynn.losses.SparseCategoricalCrossentropy(from_logits=True))
    ours.fit(ids, np.roll(ids, -1, axis=1), epochs=2, verbose=0)
    path = tmp_path / "gpt.keras"
    ours.save(path)
    layer_class = _tied_embedding_class(pynn)
    loaded = pynn.models.load_model(path, custom_objects={"TiedEmbedding": layer_class})
    np.testing.assert_allclose(loaded.predict(ids, verbose=0), ours.predict(ids, verbose=0),
                               rtol=1e-6)
    with pytest.raises(TypeError, match="unexpected call argument"):
        layer_class(11, 4)(ids, reversed=True)
