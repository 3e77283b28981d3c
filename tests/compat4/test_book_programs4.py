"""Patterns from further Keras/TF2 textbooks' programs (run with only their
imports changed) that broke in pynn, reproduced in a few lines each, against
Keras 3 on its NumPy backend where it runs the same thing."""
import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras as real_keras, needs_keras  # noqa: F401


class _Frame:
    """A table as pandas' DataFrame and Series behave for fit: an array
    through __array__, yet indexable by column, sized, and iterable (over its
    column labels), which made it look like a dataset."""

    def __init__(self, values, columns):
        self.values, self.columns = np.asarray(values), list(columns)

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)

    def __len__(self):
        return len(self.values)

    def __getitem__(self, name):
        return _Frame(self.values[:, self.columns.index(name)], [name])

    def __iter__(self):
        return iter(self.columns)


def test_fit_takes_a_table_of_features_and_a_column_of_targets():
    """A regression chapter's ``model.fit(x=train_features, y=train_labels,
    validation_split=0.2)`` with a DataFrame and a Series."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32)
    t = x @ np.array([[1.0], [-2.0], [0.5]], np.float32) + 3.0
    frame = _Frame(np.hstack([t, x]), ["y", "a", "b", "c"])
    features = _Frame(x, ["a", "b", "c"])
    labels = frame["y"]
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([layers.Dense(1, input_shape=(3,))])
    model.compile(optimizer=pynn.optimizers.SGD(0.1), loss="mse")
    history = model.fit(x=features, y=labels, epochs=20, verbose=0, validation_split=0.2)
    assert len(history.history["val_loss"]) == 20
    assert history.history["loss"][-1] < 1e-3 < history.history["loss"][0]
    np.testing.assert_allclose(model.predict(features, verbose=0), t, atol=0.05)
    assert model.evaluate(features, labels, verbose=0) < 1e-3


# ------------------------------------------- word embeddings, factorization

def test_add_variable_in_both_keras_orders():
    """tf.keras's ``add_variable("P", shape=..., initializer=GlorotUniform)``
    (the name first, an initializer class) and Keras 3's
    ``add_variable(shape, initializer)``."""
    layer = layers.Layer(name="mf")
    p = layer.add_variable("P", shape=[4, 3], dtype="float32",
                           initializer=pynn.initializers.GlorotUniform)
    q = layer.add_variable((2, 5), "ones", name="Q")
    assert (p.name, p.shape, q.name, q.shape) == ("P", (4, 3), "Q", (2, 5))
    np.testing.assert_array_equal(np.asarray(q), np.ones((2, 5)))
    with pytest.raises(TypeError, match="'shape' twice"):
        layer.add_variable((2,), shape=(3,))


def test_build_keeps_the_batch_size_a_layer_sizes_its_weights_by():
    """A factorization model built with ``model.build(input_shape=R.shape)``
    whose layer makes P of R's rows and Q of its columns, trained with a
    tape; the layer's build sees the batch size given."""
    class Factors(layers.Layer):
        def build(self, input_shape):
            rows, cols = input_shape
            self.P = self.add_weight(name="P", shape=(rows, 2))
            self.Q = self.add_weight(name="Q", shape=(cols, 2))

        def call(self, x):
            return pynn.matmul(self.P, pynn.transpose(self.Q))

    class Model(pynn.Model):
        def __init__(self):
            super().__init__()
            self.factors = Factors()

        def call(self, x):
            return self.factors(x)

    rng = np.random.default_rng(0)
    target = (rng.normal(size=(6, 2)) @ rng.normal(size=(2, 9))).astype(np.float32)
    model = Model()
    model.build(input_shape=target.shape)
    assert [tuple(w.shape) for w in model.weights] == [(6, 2), (9, 2)]
    opt = pynn.optimizers.Adam(0.05)
    losses = []
    for _ in range(300):
        with pynn.GradientTape() as tape:
            loss = pynn.losses.MeanSquaredError()(target, model(target))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    assert losses[-1] < 0.01 * losses[0]


def test_a_model_built_with_a_batch_size_runs_on_others():
    """``model.build((4, 6))`` with a call reshaping by ``x.shape[0]``: the
    graph keeps its batch open when no layer needs the size."""
    class Model(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(3)

        def call(self, x):
            return pynn.reshape(self.dense(x), (x.shape[0], -1))

    model = Model()
    model.build((4, 6))
    x = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(model.dense(x)), rtol=1e-6)
    model.compile("sgd", "mse")
    model.fit(x, np.ones((10, 3)), batch_size=3, verbose=0)
    assert model.predict(x[:7], verbose=0).shape == (7, 3)


def test_an_embedding_embeds_ids_longer_than_its_input_length():
    """A CBOW model's ``Embedding(input_length=2)`` inside a subclassed
    model built on another length: Keras 3 ignores input_length and
    tf.keras's layer never checked it at call."""
    class CBOW(pynn.Model):
        def __init__(self):
            super().__init__()
            self.embedding = layers.Embedding(50, 4, input_length=2)
            self.dense = layers.Dense(50, activation="softmax")

        def call(self, x):
            return self.dense(pynn.reduce_mean(self.embedding(x), axis=1))

    model = CBOW()
    model.build(input_shape=(None, 7))
    ids = np.random.default_rng(0).integers(0, 50, (3, 7))
    out = np.asarray(model(ids))
    emb = model.embedding.get_weights()[0]
    np.testing.assert_allclose(out, np.asarray(model.dense(emb[ids].mean(axis=1))), rtol=1e-5)


@needs_keras
@pytest.mark.parametrize("kw", [dict(momentum=0.9), dict(centered=True),
                                dict(momentum=0.5, centered=True, rho=0.8)])
def test_rmsprop_momentum_and_centered_step_as_keras(kw):
    """``RMSprop(learning_rate=1e-3, momentum=0.9)`` was refused; each step
    now matches Keras 3's, and so do its slot names."""
    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(7,)).astype(np.float32)
    ref, got = real_keras.Variable(w0.copy()), pynn.Variable(w0.copy())
    ref_opt = real_keras.optimizers.RMSprop(learning_rate=0.01, **kw)
    opt = pynn.optimizers.RMSprop(learning_rate=0.01, **kw)
    for _ in range(5):
        g = rng.normal(size=(7,)).astype(np.float32)
        ref_opt.apply_gradients([(g, ref)])
        opt.apply_gradients([(g, got)])
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-5, atol=1e-7)
    assert opt.get_config()["momentum"] == kw.get("momentum", 0.0)
    assert pynn.optimizers.RMSprop.from_config(opt.get_config()).centered == \
        kw.get("centered", False)
    names = [v.path.rsplit("_", 1)[-1] for v in ref_opt.variables[2:]]
    assert [n.rsplit("_", 1)[-1] for n in opt.slot_names] == names


# ------------------------------------------------------------ autoencoders

@needs_keras
def test_one_pooling_layer_pools_each_stage_of_an_encoder():
    """A convolutional autoencoder's encoder calls its one MaxPooling2D
    after each convolution (28x28, then 14x14, then 7x7), as Keras's pooling
    layers, which check only the rank, allow; the same for a global
    pooling layer met by two widths."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 12, 12, 3)).astype(np.float32)
    outs = {}
    for name, lib in (("pynn", pynn), ("keras", real_keras)):
        pool = lib.layers.MaxPooling2D((2, 2), padding="same")
        gap = lib.layers.GlobalAveragePooling2D()
        a = pool(x)
        b = pool(a)
        c = pool(b)
        outs[name] = [np.asarray(t) for t in (a, b, c, gap(x), gap(b))]
    for got, ref in zip(outs["pynn"], outs["keras"]):
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-6)
    with pytest.raises(ValueError, match="max_pool|rank"):
        pynn.layers.MaxPooling2D()(x[0])


def test_a_reused_pooling_layer_trains_in_a_subclassed_encoder():
    class Encoder(layers.Layer):
        def __init__(self):
            super().__init__()
            self.conv1 = layers.Conv2D(4, 3, padding="same", activation="relu")
            self.conv2 = layers.Conv2D(4, 3, padding="same", activation="relu")
            self.pool = layers.MaxPooling2D((2, 2), padding="same")

        def call(self, x):
            return self.pool(self.conv2(self.pool(self.conv1(x))))

    pynn.utils.set_random_seed(0)
    inputs = pynn.Input((8, 8, 1))
    code = Encoder()(inputs)
    outputs = layers.Conv2D(1, 3, padding="same")(layers.UpSampling2D(4)(code))
    model = pynn.Model(inputs, outputs)
    assert model.output_shape == (None, 8, 8, 1)
    x = np.repeat(np.repeat(np.random.default_rng(0).uniform(size=(64, 2, 2, 1)), 4, 1), 4, 2)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, x, epochs=30, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


# ------------------------------------------------------------------- GANs

def _gan_models():
    pynn.utils.set_random_seed(0)
    generator = pynn.Sequential([layers.Dense(4, input_dim=3)])
    discriminator = pynn.Sequential([layers.Dense(5, input_dim=4, activation="relu"),
                                     layers.Dense(1, activation="sigmoid")])
    return generator, discriminator


def _gan_batches():
    rng = np.random.default_rng(0)
    return [(rng.normal(size=(8, 4)).astype(np.float32),
             rng.normal(size=(8, 3)).astype(np.float32)) for _ in range(6)]


@pytest.mark.parametrize("wrap", [False, True])
def test_one_optimizer_compiled_into_a_gans_two_models_keeps_each_ones_state(wrap):
    """A tf.keras GAN compiles its discriminator and the combined model with
    one Adam and alternates their train_on_batch.  tf.keras keeps the
    moments per variable (the step count shared), as apply_gradients does
    here; fit's flat state was reset at every switch (a different size),
    which trained the GAN differently."""
    generator, discriminator = _gan_models()
    adam = pynn.optimizers.Adam(0.01)
    opt = pynn.optimizers.LossScaleOptimizer(adam, initial_scale=1.0) \
        if wrap else adam
    discriminator.compile(loss="binary_crossentropy", optimizer=opt)
    discriminator.trainable = False
    z = pynn.Input((3,))
    gan = pynn.Model(z, discriminator(generator(z)))
    gan.compile(loss="binary_crossentropy", optimizer=opt)
    for real, noise in _gan_batches():
        discriminator.trainable = True
        discriminator.train_on_batch(real, np.full(8, 0.9))
        discriminator.trainable = False
        gan.train_on_batch(noise, np.ones(8))
    got = generator.get_weights() + discriminator.get_weights()
    assert int(adam.iterations) == 12

    generator, discriminator = _gan_models()
    adam, bce = pynn.optimizers.Adam(0.01), pynn.losses.BinaryCrossentropy()
    for real, noise in _gan_batches():
        for model, x, y, weights in (
                (discriminator, real, 0.9, discriminator.trainable_weights),
                (lambda t: discriminator(generator(t)), noise, 1.0,
                 generator.trainable_weights)):
            with pynn.GradientTape() as tape:
                loss = bce(np.full((8, 1), y, np.float32), model(x))
            adam.apply_gradients(zip(tape.gradient(loss, weights), weights))
    ref = generator.get_weights() + discriminator.get_weights()
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------- text generation

class _CharModel(pynn.Model):
    def __init__(self):
        super().__init__()
        self.embedding = layers.Embedding(12, 4)
        self.rnn = layers.GRU(5, return_sequences=True)
        self.dense = layers.Dense(12)

    def call(self, x):
        return self.dense(self.rnn(self.embedding(x)))


@pytest.mark.parametrize("then", ["build", "call"])
def test_a_checkpoint_loads_into_a_subclassed_model_before_it_is_built(tmp_path, then):
    """A text generator's ``gen_model.load_weights(checkpoint_file)`` and
    then ``gen_model.build(input_shape=(1, seq_length))``: tf.keras restores
    a checkpoint (a name of no format) once the weights exist."""
    ids = np.random.default_rng(0).integers(0, 12, (3, 6))
    model = _CharModel()
    model.build(input_shape=(3, 6))
    prefix = str(tmp_path / "checkpoints" / "model_epoch_1")
    model.save_weights(prefix)
    fresh = _CharModel()
    assert fresh.load_weights(prefix) is None
    if then == "build":
        fresh.build(input_shape=(1, 6))
    out = np.asarray(fresh(ids))
    np.testing.assert_allclose(out, np.asarray(model(ids)), rtol=1e-6)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        _CharModel().load_weights(str(tmp_path / "missing"))


# ------------------------------------------------------------ transformers

class _MaskedAttention(layers.Layer):
    """A hand-written attention head called as ``head(x, enc, mask)``."""

    def build(self, input_shape):
        self.wq = self.add_weight(shape=(input_shape[-1], 4), initializer="glorot_uniform")

    def call(self, de_x, en_x, mask=None):
        q = pynn.matmul(de_x, self.wq)
        k = pynn.matmul(en_x, self.wq)
        scores = pynn.matmul(q, k, transpose_b=True)
        if mask is not None:
            scores += mask * -1e9
        return pynn.matmul(pynn.nn.softmax(scores), en_x)


def test_a_layer_takes_a_constant_mask_beside_its_symbolic_inputs():
    """A transformer chapter's ``DecoderLayer(d, n)(de_emb, en_out, mask)``
    with ``mask = 1 - tf.linalg.band_part(tf.ones((n, n)), -1, 0)``: a
    constant among a graph layer's inputs, kept in the graph as Keras keeps
    it; the mask hides the later steps and the model trains."""
    steps = 5
    mask = 1 - pynn.linalg.band_part(pynn.ones((steps, steps)), -1, 0)
    de, en = pynn.Input((steps, 3)), pynn.Input((steps, 3))
    head = _MaskedAttention()
    model = pynn.Model([de, en], layers.Dense(2)(head(de, en, mask)))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, steps, 3)).astype(np.float32)
    e = rng.normal(size=(4, steps, 3)).astype(np.float32)
    wq = head.get_weights()[0]
    s = (x @ wq) @ np.swapaxes(e @ wq, 1, 2) + np.triu(np.ones((steps, steps)), 1) * -1e9
    p = np.exp(s - s.max(-1, keepdims=True))
    attended = (p / p.sum(-1, keepdims=True)) @ e
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(model.predict([x, e], verbose=0), attended @ kernel + bias,
                               rtol=1e-4, atol=1e-5)
    # the first step attends to the first encoder step alone
    np.testing.assert_allclose(attended[:, 0], e[:, 0], rtol=1e-5)
    model.compile(optimizer=pynn.optimizers.Adam(0.05), loss="mse")
    y = rng.normal(size=(4, steps, 2)).astype(np.float32)
    history = model.fit([x, e], y, epochs=60, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    assert not np.allclose(head.get_weights()[0], wq)  # (the head trains too)


# ------------------------------------------------- sentiment-analysis input

def test_ragged_rows_cut_and_sliced_into_a_dataset():
    """``tf.ragged.constant(seqs)[:, :max_length]`` and
    ``Dataset.from_tensor_slices`` of it: one element per row."""
    rt = pynn.ragged.constant([[1, 2, 3], [4], [5, 6, 7, 8]])
    assert rt[:, :2].to_list() == [[1, 2], [4], [5, 6]]
    assert rt[1:].to_list() == [[4], [5, 6, 7, 8]]
    assert rt[::2, 1:].to_list() == [[2, 3], [6, 7, 8]]
    rows = [e.numpy().tolist() for e in pynn.data.Dataset.from_tensor_slices(rt[:, :3])]
    assert rows == [[1, 2, 3], [4], [5, 6, 7]]
    with pytest.raises(TypeError, match="RaggedTensor"):
        rt["a"]


def test_bucket_by_sequence_length_batches_similar_lengths():
    """tf.data.experimental.bucket_by_sequence_length as the chapter applies
    it: lengths below 3, from 3 to 4, and 5 on batched apart, each batch
    padded to its longest (or to its boundary less one), the rest given out
    at the end."""
    seqs = [list(range(1, n + 1)) for n in (1, 5, 2, 3, 9, 6, 4)]
    ds = pynn.data.Dataset.from_tensor_slices(pynn.ragged.constant(seqs))
    bucket = pynn.data.experimental.bucket_by_sequence_length(
        lambda x: pynn.shape(x)[0], bucket_boundaries=[3, 5], bucket_batch_sizes=[2, 2, 2],
        padding_values=0)
    batches = [b.numpy().tolist() for b in ds.apply(bucket)]
    assert batches == [[[1, 0], [1, 2]],
                       [[1, 2, 3, 4, 5, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7, 8, 9]],
                       [[1, 2, 3, 0], [1, 2, 3, 4]],
                       [[1, 2, 3, 4, 5, 6]]]
    # (x, label) elements, padded to the bucket boundary less one
    pairs = pynn.data.Dataset.from_tensor_slices(pynn.ragged.constant(seqs[:4] + seqs[6:])) \
        .map(lambda x: (x, pynn.shape(x)[0] % 2))
    bucket = pynn.data.experimental.bucket_by_sequence_length(
        lambda x, y: pynn.shape(x)[0], [3, 6], [2, 2, 2], pad_to_bucket_boundary=True)
    got = [(x.numpy().shape, y.numpy().tolist()) for x, y in pairs.apply(bucket)]
    assert got == [((2, 2), [1, 0]), ((2, 5), [1, 1]), ((1, 5), [0])]
    with pytest.raises(ValueError, match="one size per bucket"):
        pynn.data.experimental.bucket_by_sequence_length(len, [3], [2])


# ------------------------------------------------------------ TF basics

@needs_keras
@pytest.mark.parametrize("shape,kernel,kw", [
    ((1, 9, 9, 1), (3, 3, 1, 1), {}),
    ((2, 8, 7, 3), (3, 2, 3, 4), dict(strides=2, padding="SAME")),
    ((2, 10, 3), (3, 3, 2), dict(dilations=[2])),
])
def test_nn_convolution_as_keras_conv(shape, kernel, kw):
    """``tf.nn.convolution(image, edge_kernel)`` of a fundamentals chapter
    (an edge filter over a grey image), and its strides, padding and
    dilations, against keras.ops.conv."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape).astype(np.float32)
    k = rng.normal(size=kernel).astype(np.float32)
    got = np.asarray(pynn.nn.convolution(x, pynn.Variable(k), **kw))
    ref = np.asarray(real_keras.ops.conv(
        x, k, strides=kw.get("strides", 1), padding=kw.get("padding", "valid").lower(),
        dilation_rate=kw.get("dilations", [1])[0] if "dilations" in kw else 1))
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="convolution: padding"):
        pynn.nn.convolution(x, k, padding="FULL")


@needs_keras
def test_nn_max_pool_and_avg_pool_as_keras_pooling():
    """TensorFlow 2's ``tf.nn.avg_pool(y_conv, (1, 2, 2, 1), strides=(1, 2,
    2, 1), padding='VALID')`` and ``tf.nn.max_pool``."""
    x = np.random.default_rng(0).normal(size=(2, 7, 6, 3)).astype(np.float32)
    got = np.asarray(pynn.nn.avg_pool(x, (1, 2, 2, 1), strides=(1, 2, 2, 1), padding="VALID"))
    # (atol: a window's four values can cancel to a few thousandths, where
    # the order of the sums, which follows the vector width, moves the
    # last bits)
    np.testing.assert_allclose(got, np.asarray(real_keras.ops.average_pool(x, 2, 2, "valid")),
                               rtol=1e-6, atol=1e-6)
    got = np.asarray(pynn.nn.max_pool(x, 3, 2, "SAME"))
    np.testing.assert_allclose(got, np.asarray(real_keras.ops.max_pool(x, 3, 2, "same")),
                               rtol=1e-6)
