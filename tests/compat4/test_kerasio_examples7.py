"""keras.io's example programs, seventh sweep (vision, generative, audio,
structured data), run with only their imports changed: the patterns that
broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- supervised-contrastive-learning.py: tf.keras 2's
# layers.experimental.preprocessing.RandomWidth / RandomHeight in the
# augmentation model in front of an encoder built for 32 x 32 images

def test_random_width_in_a_model_trains_and_predicts_at_full_size():
    pynn.utils.set_random_seed(0)
    aug = pynn.Sequential([pynn.layers.RandomWidth(0.2), pynn.layers.RandomHeight(0.2)])
    inputs = pynn.Input((12, 12, 3))
    x = aug(inputs)
    assert tuple(x.shape) == (None, None, None, 3)
    x = pynn.layers.Conv2D(4, 3, activation="relu")(x)
    x = pynn.layers.GlobalAveragePooling2D()(x)
    model = pynn.Model(inputs, pynn.layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    xs = rand(32, 12, 12, 3, seed=1)
    ys = (xs.mean(axis=(1, 2, 3)) > 0).astype("int32")
    xs += ys[:, None, None, None] * 1.0
    h = model.fit(xs, ys, epochs=8, batch_size=8, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert model.predict(xs, verbose=0).shape == (32, 2)
    # the gradient through the stretch reaches a layer in front of it
    dense_in = pynn.Input((6, 6, 1))
    y = pynn.layers.Conv2D(1, 1, use_bias=False)(dense_in)
    y = pynn.layers.RandomWidth((1.0, 1.0))(y)
    net = pynn.Model(dense_in, pynn.layers.GlobalAveragePooling2D()(y))
    w0 = net.get_weights()[0].copy()
    net.compile("sgd", "mse")
    net.fit(rand(4, 6, 6, 1, seed=2), np.ones((4, 1), "float32"), epochs=1, verbose=0)
    assert not np.allclose(net.get_weights()[0], w0)


# ---- cutmix.py: tf.random.gamma(shape=[1], alpha=[0.25]) gives one draw
# per alpha (shape [1, 1]), indexed [0][0]; a Beta draw from two Gammas

def test_tf_random_gamma_appends_the_shape_of_its_parameters():
    g = pynn.random.gamma(shape=[1], alpha=[0.25])
    assert g.shape == (1, 1) and float(g[0][0]) > 0
    assert pynn.random.gamma([4], 2.0).shape == (4,)
    assert pynn.random.gamma([3], [1.0, 2.0], beta=[[1.0], [2.0]]).shape == (3, 2, 2)
    # per-parameter distributions: mean alpha / beta
    draws = np.asarray(pynn.random.gamma([40000], [1.0, 9.0], beta=3.0, seed=1))
    np.testing.assert_allclose(draws.mean(axis=0), [1 / 3, 3.0], rtol=0.03)
    # TensorFlow's positional order (shape, alpha, beta, dtype) and Keras's
    # (shape, alpha, dtype, seed) both hold
    assert pynn.random.gamma([2], 1.0, 2.0, pynn.float64).dtype == np.float64
    assert pynn.random.gamma([2], 1.0, "float16", 3).dtype == np.float16
    np.testing.assert_array_equal(pynn.random.gamma([5], 1.0, None, 7),
                                  pynn.random.gamma([5], 1.0, seed=7))
    with pytest.raises(ValueError, match="gamma: beta must be > 0"):
        pynn.random.gamma([2], 1.0, beta=-1.0)


# ---- handwriting_recognition.py: Model(model.get_layer(name="image").input,
# ...) cuts the prediction model out of the trained one (tf.keras 2's
# InputLayer.input); labels padded with 99 past the last class, read by
# TensorFlow's CTC loss as the end of each label; the edit-distance
# callback's tf.cast of a SparseTensor and tf.edit_distance

def test_an_input_layers_input_is_its_tensor():
    image = pynn.Input((6,), name="image")
    label = pynn.Input((None,), name="label")
    x = pynn.layers.Dense(3, activation="softmax", name="dense2")(image)
    out = pynn.layers.Concatenate()([x, label])
    model = pynn.Model([image, label], out)
    layer = model.get_layer(name="image")
    assert layer.input is layer.output is model.inputs[0]
    cut = pynn.Model(layer.input, model.get_layer(name="dense2").output)
    xs = rand(4, 6)
    np.testing.assert_allclose(cut.predict(xs, verbose=0),
                               model.predict([xs, np.zeros((4, 2), "float32")],
                                             verbose=0)[:, :3], rtol=1e-6)


def test_ctc_batch_cost_reads_labels_past_the_blank_as_their_end(keras):
    rng = np.random.default_rng(0)
    probs = rng.random((3, 12, 6)).astype("float32")
    probs /= probs.sum(-1, keepdims=True)
    padded = np.array([[1, 2, 99, 99], [3, 3, 4, 0], [2, 5, 99, 99]], "float32")
    full = np.full((3, 1), 4, "int64")
    steps = np.full((3, 1), 12, "int64")
    got = np.asarray(pynn.backend.ctc_batch_cost(padded, probs, steps, full))
    # 5 (the blank, classes - 1) ends a label too
    trimmed = np.array([[1, 2, 0, 0], [3, 3, 4, 0], [2, 0, 0, 0]], "int32")
    ref = keras.ops.ctc_loss(trimmed, np.log(probs + 1e-7), np.array([2, 4, 1]),
                             np.array([12, 12, 12]), mask_index=5)
    assert got.shape == (3, 1)
    np.testing.assert_allclose(got[:, 0], np.asarray(ref), rtol=1e-4)
    with pytest.raises(ValueError, match="sample 0 has a label below 5 after a null label"):
        pynn.backend.ctc_batch_cost(np.array([[1, 99, 2]]), probs[:1], steps[:1],
                                    np.array([[3]]))


def test_edit_distance_of_sparse_label_sequences():
    hyp = pynn.sparse.from_dense(np.array([[1, 2, 3, 0], [4, 5, 0, 0], [0, 0, 0, 0]]))
    truth = pynn.cast(pynn.sparse.from_dense(np.array([[1, 3, 0, 0], [4, 5, 6, 7],
                                                        [1, 0, 0, 0]], "float32")),
                      pynn.int64)
    assert isinstance(truth, pynn.SparseTensor) and truth.values.dtype == np.int64
    hyp = pynn.cast(hyp, pynn.int64)
    np.testing.assert_array_equal(np.asarray(pynn.edit_distance(hyp, truth, normalize=False)),
                                  [1, 2, 1])
    np.testing.assert_allclose(np.asarray(pynn.edit_distance(hyp, truth)), [0.5, 0.5, 1.0])
    # a hypothesis with no truth to compare with: inf, as TensorFlow
    np.testing.assert_allclose(np.asarray(pynn.edit_distance(truth, hyp)), [1 / 3, 1, np.inf])
    assert float(pynn.reduce_mean(pynn.edit_distance(hyp, truth, normalize=False))) == \
        pytest.approx(4 / 3)


# ---- fully_convolutional_network.py: segmentation masks resized with
# bilinear interpolation (fractional labels where classes meet) under
# SparseCategoricalCrossentropy and MeanIoU(sparse_y_pred=False), in a
# model cut from VGG19 (vgg_model.layers[1].input) under mixed_float16

def test_fractional_sparse_labels_are_truncated_as_keras_casts_them(keras):
    rng = np.random.default_rng(0)
    y = np.array([[0, 1.5, 2], [2.7, 3, 0.2]], "float32")[..., None]
    p = rng.random((2, 3, 4)).astype("float32")
    p /= p.sum(-1, keepdims=True)
    with pytest.warns(UserWarning, match="not whole numbers are truncated"):
        got = float(pynn.losses.SparseCategoricalCrossentropy()(y, p))
    assert got == pytest.approx(float(keras.losses.SparseCategoricalCrossentropy()(y, p)),
                                rel=1e-5)
    ours = pynn.metrics.MeanIoU(num_classes=4, sparse_y_pred=False)
    ref = keras.metrics.MeanIoU(num_classes=4, sparse_y_pred=False)
    ours.update_state(y, p)
    ref.update_state(y, p)
    assert float(ours.result()) == pytest.approx(float(ref.result()), rel=1e-5)
    inp = pynn.Input((3, 4))
    model = pynn.Model(inp, pynn.layers.Activation("softmax")(inp))
    model.compile("adam", "sparse_categorical_crossentropy")
    with pytest.warns(UserWarning, match="truncated"):
        loss = model.evaluate(np.log(p), y, verbose=0)
    assert loss == pytest.approx(got, rel=1e-5)
    with pytest.raises(ValueError, match="labels contain NaN"):
        pynn.losses.SparseCategoricalCrossentropy()(np.array([np.nan, 1.0]), p[0, :2])


# ---- distillation_recipe.py: the student, trained inside a Distiller,
# compiled for its metrics alone (compile(metrics=["accuracy"])) and
# evaluated: `_, top1 = student.evaluate(test_ds)`

def test_evaluate_of_a_model_compiled_for_metrics_alone():
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input((4,)), pynn.layers.Dense(3, activation="softmax")])
    model.compile(metrics=["accuracy"])
    x = rand(20, 4, seed=3)
    y = np.argmax(model.predict(x, verbose=0), axis=1)
    y[:5] = (y[:5] + 1) % 3
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert loss == 0.0 and accuracy == pytest.approx(0.75)
    # training still needs a loss
    with pytest.raises(ValueError, match="has no loss"):
        model.fit(x, y, verbose=0)


# ---- asynch_ensemble_shared_session.py: tf.identity(input) on the model's
# Input, one tower per copy trained as its own Model, and the ensemble
# Model(input, tf.reduce_mean(tf.stack(outputs, axis=-1), axis=-1))

def test_tf_identity_of_a_symbolic_input_builds_shared_towers():
    pynn.utils.set_random_seed(0)
    inp = pynn.Input((5,))
    towers, outs = [], []
    for _ in range(3):
        copy = pynn.identity(inp)
        out = pynn.layers.Dense(4, activation="softmax")(pynn.layers.Dense(6)(copy))
        towers.append(pynn.Model(inputs=copy, outputs=out))
        outs.append(out)
    ensemble = pynn.Model(inp, pynn.reduce_mean(pynn.stack(outs, axis=-1), axis=-1))
    x = rand(16, 5, seed=4)
    y = pynn.utils.to_categorical(np.arange(16) % 4, 4)
    for tower in towers:
        tower.compile("adam", "categorical_crossentropy")
        tower.fit(x, y, epochs=2, verbose=0)
    members = np.mean([t.predict(x, verbose=0) for t in towers], axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), members, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(np.asarray(pynn.identity(np.arange(3.0))), [0.0, 1.0, 2.0])


# ---- advanced_techniques_for_structured_data.py (tf.keras 2.3): an
# experimental CategoryEncoding(output_mode="binary") whose size adapt
# learns, called on the ids of a shape=() string input through
# StringLookup, concatenated with tf.expand_dims of the numeric inputs

def test_an_adapted_category_encoding_reads_one_id_per_row(tmp_path):
    from pynn.layers.experimental.preprocessing import CategoryEncoding, StringLookup
    vocabulary = ["a", "b", "c", "d"]
    index = StringLookup(vocabulary=vocabulary, mask_token=None, num_oov_indices=0)
    onehot = CategoryEncoding(output_mode="binary")
    with pytest.raises(ValueError, match="give num_tokens, or call adapt"):
        onehot(np.array([1, 2]))
    onehot.adapt(index(vocabulary))
    assert onehot.num_tokens == 4
    words = pynn.Input(shape=(), dtype="string", name="word")
    number = pynn.Input(shape=(), name="number")
    encoded = onehot(index(words))
    assert tuple(encoded.shape) == (None, 4)
    merged = pynn.layers.concatenate([encoded, pynn.expand_dims(number, -1)])
    model = pynn.Model([words, number], merged)
    out = model.predict([np.array(["c", "a", "d"]), np.array([1.0, 2.0, 3.0], "float32")],
                        verbose=0)
    np.testing.assert_array_equal(out, [[0, 0, 1, 0, 1], [1, 0, 0, 0, 2], [0, 0, 0, 1, 3]])
    # the same rules after a round trip through the config; Keras 3's form
    # (num_tokens given) still encodes a 1-D input as one sample
    again = CategoryEncoding.from_config(onehot.get_config())
    np.testing.assert_array_equal(np.asarray(again(np.array([2, 0]))), [[0, 0, 1, 0],
                                                                          [1, 0, 0, 0]])
    np.testing.assert_array_equal(
        np.asarray(pynn.layers.CategoryEncoding(num_tokens=4)(np.array([2, 0]))), [1, 0, 1, 0])
    assert CategoryEncoding(max_tokens=6).num_tokens == 6
    with pytest.raises(ValueError, match="CategoryEncoding in tf.keras 2.3's form"):
        model.save(tmp_path / "m.keras")
    model.save(tmp_path / "m.pynn")
    again = pynn.models.load_model(tmp_path / "m.pynn")
    np.testing.assert_array_equal(
        again.predict([np.array(["c", "a", "d"]), np.array([1.0, 2.0, 3.0], "float32")],
                      verbose=0), out)


# ---- adamatch.py (tf.keras 2): the trained network compiled with one metric
# object, not a list (compile(metrics=SparseCategoricalAccuracy())), then
# evaluated: `_, accuracy = model.evaluate(test_ds)`

def test_compile_takes_one_metric_not_in_a_list():
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input((4,)), pynn.layers.Dense(3)])
    x = rand(12, 4, seed=5)
    y = np.argmax(model.predict(x, verbose=0), axis=1)
    y[:3] = (y[:3] + 1) % 3
    model.compile(metrics=pynn.metrics.SparseCategoricalAccuracy())
    assert model.evaluate(x, y, verbose=0) == [0.0, pytest.approx(0.75)]
    model.compile("sgd", "sparse_categorical_crossentropy", metrics="accuracy")
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["accuracy"] == pytest.approx(0.75)
