"""keras.io's computer-vision examples (mnist_convnet, CCT, ConvMixer,
knowledge distillation, Grad-CAM, PointNet, siamese networks, MobileViT,
DeepLabV3+, semi-supervised SimCLR, ...) run with only their imports
changed: the behaviours they rely on, against Keras 3 on its NumPy backend
where it runs the same thing."""
import io
import sys

import numpy as np
import pytest

import pynn
from pynn import layers, ops

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _probabilities(rng, shape):
    p = rng.random(shape).astype("float32") + 0.05
    return p / p.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- losses

@needs_keras
@pytest.mark.parametrize("from_logits", [False, True])
def test_categorical_crossentropy_label_smoothing_matches_keras(from_logits):
    """CCT, MobileViT and the learnable resizer compile
    CategoricalCrossentropy(label_smoothing=0.1)."""
    rng = np.random.default_rng(0)
    y = np.eye(7, dtype="float32")[rng.integers(0, 7, 33)]
    p = rng.normal(size=(33, 7)).astype("float32") if from_logits else \
        _probabilities(rng, (33, 7))
    want = keras.losses.CategoricalCrossentropy(from_logits=from_logits,
                                                label_smoothing=0.1)(y, p)
    got = pynn.losses.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=0.1)(y, p)
    np.testing.assert_allclose(got, want, rtol=1e-5)
    want = keras.losses.categorical_crossentropy(y, p, from_logits=from_logits,
                                                 label_smoothing=0.2)
    got = pynn.losses.categorical_crossentropy(y, p, from_logits=from_logits,
                                               label_smoothing=0.2)
    np.testing.assert_allclose(got, want, rtol=1e-5)


@needs_keras
def test_binary_crossentropy_label_smoothing_matches_keras():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (17, 1)).astype("float32")
    logits = rng.normal(size=(17, 1)).astype("float32")
    want = keras.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3)(y, logits)
    got = pynn.losses.BinaryCrossentropy(from_logits=True, label_smoothing=0.3)(y, logits)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_label_smoothing_trains_toward_the_smoothed_targets():
    """In fit, the compiled loss takes the smoothed targets (its value is the
    smoothed crossentropy of the predictions), the accuracy the given ones."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(24, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 24)]
    model = pynn.Sequential([pynn.Input((5,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd",
                  loss=pynn.losses.CategoricalCrossentropy(label_smoothing=0.3),
                  metrics=["accuracy"])
    loss, accuracy = model.evaluate(x, y, verbose=0)
    p = model.predict(x, verbose=0)
    smoothed = y * 0.7 + 0.1
    np.testing.assert_allclose(loss, np.mean(-np.sum(smoothed * np.log(p), axis=-1)),
                               rtol=1e-5)
    np.testing.assert_allclose(accuracy, np.mean(p.argmax(-1) == y.argmax(-1)))
    model.fit(x, y, epochs=2, verbose=0)


def test_label_smoothing_arguments_are_checked():
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        pynn.losses.CategoricalCrossentropy(label_smoothing=1.5)
    # (a binary loss averages over any axes, as Keras's; the categorical
    # ones take the classes on the last)
    with pytest.raises(ValueError, match="axis=-1"):
        pynn.losses.CategoricalCrossentropy(axis=1)


def test_compute_loss_override_without_training_argument():
    """keras.io's Distiller overrides compute_loss(x, y, y_pred,
    sample_weight, allow_empty) -- written before Keras 3.3 added
    ``training``; fit and evaluate still call it."""
    calls = []

    class Distiller(pynn.Model):
        def __init__(self, student):
            super().__init__()
            self.student = student

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         allow_empty=False):
            calls.append(x.shape[0])
            return ops.mean(ops.square(y_pred - y))

        def call(self, x):
            return self.student(x)

    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32")
    model = Distiller(pynn.Sequential([pynn.Input((4,)), layers.Dense(2)]))
    model.compile(optimizer="adam")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    loss = model.evaluate(x, y, batch_size=8, verbose=0)
    np.testing.assert_allclose(loss, np.mean((model.predict(x, verbose=0) - y) ** 2),
                               rtol=1e-5)
    assert calls == [4, 4, 8]


# --------------------------------------------------------------- layers

@needs_keras
def test_conv_and_pooling_configs_hold_tuples_as_keras():
    """ConvMixer finds its kernels by ``get_config()['kernel_size'] == (5, 5)``."""
    pairs = [(layers.DepthwiseConv2D(5, padding="same"), keras.layers.DepthwiseConv2D(5)),
             (layers.Conv1D(2, 3), keras.layers.Conv1D(2, 3)),
             (layers.Conv2DTranspose(2, 3), keras.layers.Conv2DTranspose(2, 3)),
             (layers.MaxPooling2D(2), keras.layers.MaxPooling2D(2))]
    for ours, theirs in pairs:
        mine, want = ours.get_config(), theirs.get_config()
        for key in ("kernel_size", "strides", "dilation_rate", "pool_size"):
            if key in want:
                assert mine[key] == want[key] and type(mine[key]) is tuple, key


def test_activation_set_to_none_after_building():
    """Grad-CAM: ``model.layers[-1].activation = None`` makes the model
    output logits."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 6)).astype("float32")
    model = pynn.Sequential([pynn.Input((6,)), layers.Dense(4, activation="softmax")])
    probabilities = model.predict(x, verbose=0)
    model.layers[-1].activation = None
    logits = model.predict(x, verbose=0)
    kernel, bias = model.layers[-1].get_weights()
    np.testing.assert_allclose(logits, x @ kernel + bias, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probabilities, np.exp(logits) / np.exp(logits).sum(
        -1, keepdims=True), rtol=1e-5)
    with pytest.raises(ValueError, match="Unknown activation"):
        model.layers[-1].activation = "no_such_activation"


def test_constant_initializer_broadcasts_an_array():
    """PointNet's T-net: ``bias_initializer=Constant(np.eye(3).flatten())``."""
    dense = layers.Dense(9, kernel_initializer="zeros",
                         bias_initializer=pynn.initializers.Constant(np.eye(3).flatten()))
    out = dense(np.ones((2, 5), "float32"))
    np.testing.assert_array_equal(out, np.tile(np.eye(3).flatten(), (2, 1)))
    init = pynn.initializers.Constant([1.0, 2.0])
    np.testing.assert_array_equal(init((3, 2)), [[1, 2]] * 3)
    assert pynn.initializers.Constant.from_config(init.get_config())((1, 2)).tolist() == \
        [[1.0, 2.0]]
    with pytest.raises(ValueError, match="cannot fill a weight of shape"):
        init((2, 3))
    with pytest.raises(TypeError, match="number or an array"):
        pynn.initializers.Constant("abc")


@needs_keras
def test_multi_head_attention_over_rank_4_inputs_matches_keras():
    """MobileViT attends over (batch, patch, patches, channels)."""
    rng = np.random.default_rng(5)
    q = rng.normal(size=(2, 3, 5, 8)).astype("float32")
    v = rng.normal(size=(2, 3, 5, 8)).astype("float32")
    mask = rng.random((2, 3, 5, 3, 5)) > 0.3
    theirs = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4)
    want, want_scores = theirs(q, v, return_attention_scores=True)
    ours = layers.MultiHeadAttention(num_heads=2, key_dim=4)
    ours(q, v)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    out, scores = ours(q, v, return_attention_scores=True)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(ours(q, v, attention_mask=mask),
                               theirs(q, v, attention_mask=mask), rtol=1e-4, atol=1e-5)
    inputs = pynn.Input((3, 5, 8))
    model = pynn.Model(inputs, ours(inputs, inputs))
    assert model.output.shape == (None, 3, 5, 8)
    np.testing.assert_allclose(model.predict(q, verbose=0), ours(q, q), rtol=1e-5, atol=1e-6)
    # attention over axis 1 alone: axis 2 acts as a batch axis, as in Keras
    theirs = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, attention_axes=1)
    want = theirs(q, v)
    ours = layers.MultiHeadAttention(num_heads=2, key_dim=4, attention_axes=1)
    ours(q, v)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    np.testing.assert_allclose(ours(q, v), want, rtol=1e-4, atol=1e-5)


def test_multi_head_attention_over_rank_4_inputs_trains():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(4, 2, 3, 4)).astype("float32")
    inputs = pynn.Input((2, 3, 4))
    outputs = layers.GlobalAveragePooling1D()(layers.Reshape((6, 4))(
        layers.MultiHeadAttention(num_heads=2, key_dim=2)(inputs, inputs)))
    model = pynn.Model(inputs, layers.Dense(1)(outputs))
    model.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in model.layers[1].get_weights()]
    model.fit(x, np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert all(not np.allclose(a, b) for a, b in zip(before, model.layers[1].get_weights()))


# ------------------------------------------------- symbolic tensors, calls

def test_activations_on_symbolic_tensors():
    """MobileViT: ``m = keras.activations.swish(m)`` between layers."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3, 4)).astype("float32")
    inputs = pynn.Input((4,))
    outs = [pynn.activations.swish(inputs), pynn.activations.relu(inputs, max_value=0.5),
            pynn.activations.leaky_relu(inputs, negative_slope=0.1),
            pynn.activations.selu(inputs)]
    got = pynn.Model(inputs, outs).predict(x, verbose=0)
    want = [x / (1 + np.exp(-x)), np.clip(x, 0, 0.5), np.where(x > 0, x, 0.1 * x),
            1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@needs_keras
@pytest.mark.parametrize("module", ["resnet50", "xception", "densenet"])
def test_preprocess_input_on_a_model_input(module):
    """DeepLabV3+ and the siamese network call preprocess_input on an Input."""
    rng = np.random.default_rng(8)
    x = rng.uniform(0, 255, (2, 4, 5, 3)).astype("float32")
    inputs = pynn.Input((4, 5, 3))
    model = pynn.Model(inputs, getattr(pynn.applications, module).preprocess_input(inputs))
    want = getattr(keras.applications, module).preprocess_input(x.copy())
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-4)
    with pytest.raises(ValueError, match="3 color channels"):
        pynn.applications.resnet50.preprocess_input(pynn.Input((4, 4, 2)))


@needs_keras
@pytest.mark.filterwarnings("ignore:The structure of `inputs`")
def test_functional_model_flattens_nested_inputs_as_keras():
    """fit(x=[a, p, n]) with no targets gives train_step ``([a, p, n],)``,
    which the siamese network passes on to a three-input model."""
    rng = np.random.default_rng(9)
    a, b = (rng.normal(size=(2, 3)).astype("float32") for _ in range(2))
    i1, i2 = pynn.Input((3,)), pynn.Input((3,))
    ours = pynn.Model([i1, i2], layers.Subtract()([i1, i2]))
    k1, k2 = keras.Input((3,)), keras.Input((3,))
    theirs = keras.Model([k1, k2], keras.layers.Subtract()([k1, k2]))
    np.testing.assert_allclose(ours(([a, b],)), theirs(([a, b],)))


@needs_keras
def test_metrics_called_with_values_only():
    """``keras.metrics.Mean()(values)``: a call takes update_state's
    arguments."""
    v, w = np.array([1.0, 2.0, 4.0]), np.array([1.0, 0.0, 1.0])
    for name in ("Mean", "Sum"):
        np.testing.assert_allclose(getattr(pynn.metrics, name)()(v),
                                   getattr(keras.metrics, name)()(v), rtol=1e-6)
        np.testing.assert_allclose(getattr(pynn.metrics, name)()(v, sample_weight=w),
                                   getattr(keras.metrics, name)()(v, sample_weight=w),
                                   rtol=1e-6)
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    p = np.array([[0.2, 0.8], [0.3, 0.7]])
    np.testing.assert_allclose(pynn.metrics.CosineSimilarity()(y, p),
                               keras.metrics.CosineSimilarity()(y, p), rtol=1e-5)


# ---------------------------------------------------------------- others

def test_converter_accepts_select_tf_ops():
    """MobileViT's conversion allows SELECT_TF_OPS; pynn writes builtins."""
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(2)])
    converter = pynn.lite.TFLiteConverter.from_keras_model(model)
    converter.target_spec.supported_ops = [pynn.lite.OpsSet.TFLITE_BUILTINS,
                                           pynn.lite.OpsSet.SELECT_TF_OPS]
    assert converter.convert()[4:8] == b"TFL3"


def test_progress_bar_of_an_epoch_of_unknown_length(monkeypatch):
    """fit on a generator: the epoch's last line counts its steps
    ("4/4"), as Keras's, not "None/Unknown"."""
    def batches():
        for _ in range(4):
            yield np.ones((2, 3), "float32"), np.ones((2, 1), "float32")
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    model.fit(batches(), epochs=1, verbose=1)
    monkeypatch.undo()
    text = out.getvalue()
    assert "4/4" in text and "None" not in text


def test_loss_subclass_overriding_call_with_targets_of_another_shape():
    """keras.io's SupervisedContrastiveLoss overrides ``__call__(labels,
    feature_vectors, sample_weight=None)``: labels (batch, 1) against
    (batch, units) features, trained by differentiating it."""
    class PairLoss(pynn.losses.Loss):
        def __call__(self, labels, features, sample_weight=None):
            same = ops.cast(ops.equal(labels, ops.transpose(labels)), "float32")
            similarity = ops.matmul(features, ops.transpose(features))
            return ops.mean(ops.square(similarity - same))

    rng = np.random.default_rng(10)
    x = rng.normal(size=(8, 5)).astype("float32")
    labels = rng.integers(0, 2, (8, 1))
    model = pynn.Sequential([pynn.Input((5,)), layers.Dense(3)])
    model.compile(optimizer=pynn.optimizers.SGD(0.05), loss=PairLoss())
    features = model.predict(x, verbose=0)
    want = np.mean((features @ features.T - (labels == labels.T)) ** 2)
    np.testing.assert_allclose(model.evaluate(x, labels, batch_size=8, verbose=0), want,
                               rtol=1e-5)
    history = model.fit(x, labels, batch_size=8, epochs=5, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


@needs_keras
def test_keras_variable_form_with_integers():
    """Swin's ``keras.Variable(initializer=index, shape=index.shape,
    dtype="int", trainable=False)`` gathered with ops.take."""
    index = np.array([[0, 2], [1, 0]])
    ours = pynn.Variable(initializer=index, shape=index.shape, dtype="int", trainable=False)
    theirs = keras.Variable(initializer=index, shape=index.shape, dtype="int", trainable=False)
    assert ours.dtype == theirs.dtype == "int32" and ours.ndim == 2
    table = np.arange(6, dtype="float32").reshape(3, 2)
    np.testing.assert_array_equal(ops.take(table, ops.reshape(ours, (-1,)), axis=0),
                                  keras.ops.take(table, keras.ops.reshape(theirs, (-1,)), axis=0))
    ones = pynn.Variable(initializer="ones", shape=(2, 3))
    assert ones.dtype == "float32" and ones.value.tolist() == [[1.0] * 3] * 2
    # trainable=True (the default) is accepted, as Keras 3 and TensorFlow
    # do; integers take no gradient, so the variable is not trained
    counter = pynn.Variable(initializer=index, dtype="int32")
    assert counter.dtype == "int32" and not counter.trainable
    step = pynn.Variable(0, dtype="int64")
    step.assign_add(3)
    assert int(step) == 3 and step.dtype == "int64"
    flags = pynn.Variable(np.array([True, False]), dtype="bool")
    assert flags.dtype == "bool" and not flags.trainable
    with pytest.raises(ValueError, match="float32, or holds integers"):
        pynn.Variable(0.5, dtype="float64")
    with pytest.raises(TypeError, match="initial_value"):
        pynn.Variable()
    with pytest.raises(ValueError, match="does not have the given shape"):
        pynn.Variable(initializer=index, shape=(3, 2), dtype="int", trainable=False)


def test_one_dropout_called_on_tensors_of_other_ranks():
    """Swin's WindowAttention applies one Dropout to its (B, H, N, N)
    weights and to its (B, N, C) output, as Keras allows."""
    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dropout = layers.Dropout(0.5)
            self.proj = layers.Dense(4)

        def call(self, x):
            weights = self.dropout(ops.softmax(ops.matmul(x, ops.transpose(x, (0, 2, 1)))))
            return self.dropout(self.proj(ops.matmul(weights, x)))

    inputs = pynn.Input((3, 4))
    block = Block()
    model = pynn.Model(inputs, block(inputs))
    x = np.random.default_rng(11).normal(size=(2, 3, 4)).astype("float32")
    assert model.predict(x, verbose=0).shape == (2, 3, 4)
    assert block.dropout.built
    weight = layers.Dense(3).add_weight(shape=(2, 5), name="w")
    assert weight.ndim == 2


def test_reshape_with_the_batch_size_unknown_when_the_graph_was_built():
    """``ops.reshape(x, (ops.shape(x)[0], -1, C))`` in the call of a model
    built on symbolic tensors records None for the batch."""
    class Flat(pynn.Model):
        def __init__(self):
            super().__init__()
            self.conv = layers.Conv2D(2, 1)

        def call(self, images):
            x = self.conv(images)
            return ops.reshape(x, (ops.shape(x)[0], -1, ops.shape(x)[-1]))

    x = np.random.default_rng(12).normal(size=(3, 4, 5, 1)).astype("float32")
    model = Flat()
    out = model.predict(x, verbose=0)
    assert out.shape == (3, 20, 2)
    inputs = pynn.Input((4, 5, 1))
    symbolic = ops.reshape(inputs, (ops.shape(inputs)[0], 2, None))
    assert pynn.Model(inputs, symbolic).predict(x, verbose=0).shape == (3, 2, 10)
    np.testing.assert_array_equal(ops.reshape(x, (None, 20)), x.reshape(3, 20))
    with pytest.raises(ValueError, match="more than one size"):
        ops.reshape(x, (None, None, -1))


def test_utils_normalize_under_a_gradient_tape():
    """NNCLR's contrastive loss normalizes its projections with
    keras.utils.normalize inside the tape."""
    rng = np.random.default_rng(13)
    x = rng.normal(size=(3, 4)).astype("float32")
    w = pynn.Variable(rng.normal(size=(4, 4)).astype("float32"))
    with pynn.GradientTape() as tape:
        y = pynn.utils.normalize(ops.matmul(x, w), axis=1, order=2)
        loss = ops.sum(y[:, 0])
    grad = np.asarray(tape.gradient(loss, w))

    def value(m):
        z = x @ m
        return np.sum(z[:, 0] / np.linalg.norm(z, axis=1))
    step, want = 1e-3, np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            d = np.zeros((4, 4))
            d[i, j] = step
            want[i, j] = (value(w.value + d) - value(w.value - d)) / (2 * step)
    np.testing.assert_allclose(grad, want, rtol=2e-2, atol=2e-3)
    np.testing.assert_allclose(np.asarray(y), (x @ w.value) / np.linalg.norm(
        x @ w.value, axis=1, keepdims=True), rtol=1e-5)


def test_progress_bar_shows_a_vector_of_losses_by_its_mean(monkeypatch):
    """NNCLR's train_step returns the per-sample contrastive losses."""
    class Step(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            return {"c_loss": np.array([1.0, 2.0, 6.0], "float32")}

    model = Step()
    model.compile(optimizer="sgd")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    history = model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), epochs=1,
                        verbose=1)
    monkeypatch.undo()
    assert "c_loss: 3.0000" in out.getvalue()
    assert np.shape(history.history["c_loss"][0]) == (3,)


@needs_keras
def test_model_outputs_nested_as_built():
    """Involution's visualisation: ``Model(input, [layer.output for ...])``
    where each layer has two outputs predicts a list of pairs."""
    def build(lib):
        class Two(lib.layers.Layer):
            def call(self, x):
                return x * 2.0, x + 1.0

            def compute_output_shape(self, input_shape):
                return [input_shape, input_shape]

        inputs = lib.Input((3,))
        first, second = Two(name="two_a"), Two(name="two_b")
        a, _ = first(inputs)
        second(a)
        model = lib.Model(inputs, [first.output, second.output])
        return model
    x = np.arange(6, dtype="float32").reshape(2, 3)
    ours, theirs = build(pynn).predict(x, verbose=0), build(keras).predict(x, verbose=0)
    assert len(ours) == len(theirs) == 2 and all(len(o) == 2 for o in ours)
    for o, t in zip(ours, theirs):
        for a, b in zip(o, t):
            np.testing.assert_allclose(a, b)


def test_evaluate_progress_bar_of_a_custom_test_step(monkeypatch):
    """ShiftViT and PatchConvNet override test_step: evaluate's bar is
    Keras's 20 characters wide."""
    class Stepped(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def test_step(self, data):
            x, y = data
            return {"loss": float(np.mean((np.asarray(self(x)) - y) ** 2))}

    model = Stepped()
    model.compile(optimizer="sgd", loss="mse")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    model.evaluate(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), batch_size=2,
                   verbose=1)
    monkeypatch.undo()
    assert "2/2 " + "\u2501" * 20 + " " in out.getvalue()


@needs_keras
def test_clip_keeps_integer_dtypes_as_keras():
    """CutMix clips integer box corners and crops with them."""
    for x in (np.array([5, -3, 40], "int32"), np.int32(7), 7, np.array([True, False]),
              np.array([1.5, -2.0], "float32")):
        got, want = ops.clip(x, 0, 32), keras.ops.clip(x, 0, 32)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)
    image = np.arange(2 * 6 * 6 * 1, dtype="float32").reshape(2, 6, 6, 1)
    top = ops.clip(np.int32(1) - np.int32(3) // 2, 0, 6)
    np.testing.assert_array_equal(ops.image.crop_images(image, top, top, None, None, 3, 3),
                                  keras.ops.image.crop_images(image, 0, 0, None, None, 3, 3))


@needs_keras
@pytest.mark.filterwarnings("ignore:invalid value encountered in divide")
def test_metrics_of_a_model_compiled_with_metrics_and_no_loss():
    """keras.io's consistency training compiles metrics=["accuracy"] and no
    loss, and its test_step returns ``{m.name: m.result() for m in
    self.metrics}``: the loss tracker and the accuracy, as in Keras."""
    def build(lib):
        class Student(lib.Model):
            def __init__(self):
                super().__init__()
                self.dense = lib.layers.Dense(3)

            def call(self, x):
                return self.dense(x)

            def test_step(self, data):
                x, y = data
                probabilities = lib.ops.softmax(self(x, training=False), axis=1)
                for metric in self.metrics:
                    if metric.name != "loss":
                        metric.update_state(y, probabilities)
                return {m.name: m.result() for m in self.metrics}
        model = Student()
        model.compile(optimizer="adam", metrics=["accuracy"])
        return model
    rng = np.random.default_rng(14)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 8)]
    ours, theirs = build(pynn), build(keras)
    ours(x)
    theirs(x)
    theirs.set_weights(ours.get_weights())
    got = ours.evaluate(x, y, verbose=0, return_dict=True)
    want = theirs.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(got) == sorted(want) == ["accuracy", "loss"]
    np.testing.assert_allclose(got["accuracy"], want["accuracy"])
    assert got["loss"] == want["loss"] == 0.0
