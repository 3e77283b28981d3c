"""keras.io's example programs and recipes, fourth sweep (recipes, vision,
guides), run with only their imports changed: the patterns that broke,
reproduced in a few lines, against Keras 3 where it runs the same thing,
else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ------- approximating_non_function_mappings.py: tf.reshape(..., name=...)

def test_tensorflow_ops_take_their_name_argument():
    tf = pynn
    x = rand(4, 6)
    y = tf.reshape(x, [-1, 3], name="reshape_ypreds")
    assert y.shape == (8, 3)
    np.testing.assert_array_equal(np.asarray(y), x.reshape(8, 3))
    np.testing.assert_array_equal(np.asarray(tf.concat([x, x], axis=0, name="c")),
                                  np.concatenate([x, x], 0))
    assert tf.stack([x, x], axis=1, name="s").shape == (4, 2, 6)
    assert np.asarray(tf.cast(x > 0, "float32", name="c")).dtype == np.float32
    np.testing.assert_allclose(np.asarray(tf.matmul(x, x, transpose_b=True, name="m")),
                               x @ x.T, rtol=1e-5)

    # and they differentiate as before inside a loss (the mixture density loss)
    w = tf.Variable(rand(6, 6, seed=1))
    with tf.GradientTape() as tape:
        out = tf.reshape(tf.matmul(x, w, name="m"), [-1, 3], name="r")
        loss = tf.reduce_sum(tf.square(out))
    g = tape.gradient(loss, w)
    np.testing.assert_allclose(np.asarray(g), 2 * x.T @ (x @ np.asarray(w)), rtol=1e-4)


# ---------------- debugging_tips.py: print(x.shape) inside a layer's call

def test_a_tensor_shape_prints_as_tensorflow_prints_it():
    tf = pynn
    x = tf.random.normal(shape=(2, 5))
    assert str(x.shape) == "(2, 5)" and f"{x.shape}" == "(2, 5)"
    assert repr(x.shape) == "TensorShape([2, 5])"
    assert str(tf.TensorShape([None, 3])) == "(None, 3)"
    assert str(tf.TensorShape([4])) == "(4,)" and str(tf.TensorShape([])) == "()"


# ------------------ cait.py: self.attn_drop(attn, training), by position

def test_training_given_by_position_reaches_the_call():
    x = np.ones((64, 8), np.float32)
    drop = pynn.layers.Dropout(0.5, seed=1)
    np.testing.assert_array_equal(np.asarray(drop(x, False)), x)
    dropped = np.asarray(drop(x, True))
    assert set(np.unique(dropped)) == {0.0, 2.0}

    seen = []

    class Block(pynn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.drop = pynn.layers.Dropout(0.5)

        def call(self, x, training):
            seen.append(training)
            return self.drop(x, training)

    block = Block()
    np.testing.assert_array_equal(np.asarray(block(x, False)), x)
    assert (np.asarray(block(x, True)) == 0).any()
    assert seen[:2] == [False, True]

    # inside a model, fit gives it training=True and predict False
    inp = pynn.Input((8,))
    model = pynn.Model(inp, pynn.layers.Dense(1)(Block()(inp)))
    model.compile("sgd", "mse")
    seen.clear()
    model.fit(x, np.ones((64, 1), np.float32), epochs=1, verbose=0)
    assert seen and all(t is True for t in seen)
    seen.clear()
    model.predict(x, verbose=0)
    assert seen and not any(seen)


# ------ semantic_image_clustering.py: two augmented views joined on axis 0

def test_concatenate_on_the_batch_axis_matches_keras(keras):
    x, y = rand(2, 5, 3), rand(4, 5, 3, seed=1)
    ours = pynn.layers.Concatenate(axis=0)([x, y])
    theirs = keras.layers.Concatenate(axis=0)([x, y])
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    a, b = pynn.Input((5, 3)), pynn.Input((5, 3))
    ka, kb = keras.Input((5, 3)), keras.Input((5, 3))
    assert pynn.layers.Concatenate(axis=0)([a, b]).shape == \
        keras.layers.Concatenate(axis=0)([ka, kb]).shape == (None, 5, 3)


def test_a_subclassed_call_joining_two_views_on_axis_0_trains():
    class TwoViews(pynn.Model):
        def __init__(self):
            super().__init__()
            self.encoder = pynn.layers.Dense(4)

        def call(self, x):
            views = pynn.layers.Concatenate(axis=0)([x, x * 2.0])
            return self.encoder(views)

    model = TwoViews()
    x = rand(6, 3)
    out = np.asarray(model(x))
    assert out.shape == (12, 4)
    w, b = (np.asarray(v) for v in model.encoder.weights)
    np.testing.assert_allclose(out, np.concatenate([x, 2 * x]) @ w + b, rtol=1e-5)
    # the gradient of each view reaches the input: x's is (1 + 2) times one view's
    xv = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_sum(model(xv))
    g = np.asarray(tape.gradient(loss, xv))
    np.testing.assert_allclose(g, np.tile(3 * w.sum(1), (6, 1)), rtol=1e-5)


# --------- semantic_image_clustering.py: reshape (batch * k, c) -> (-1, k, c)

def test_a_reshape_that_folds_the_batch_gets_keras_shape(keras):
    tf = pynn
    a = pynn.Input((4,))
    folded = tf.reshape(a, shape=(-1, 3, tf.shape(a)[-1]))
    ka = keras.Input((4,))
    assert folded.shape == keras.ops.reshape(ka, (-1, 3, keras.ops.shape(ka)[-1])).shape
    model = pynn.Model(a, pynn.layers.Lambda(lambda t: tf.reduce_sum(t, axis=1))(folded))
    x = rand(9, 4)
    np.testing.assert_allclose(model.predict(x, verbose=0), x.reshape(3, 3, 4).sum(1),
                               rtol=1e-6)


# ---- gan_ada.py: self.augmenter(images, training) on models; the gradient
# of generated images through the augmentation; BinaryAccuracy(1.0, preds)

def test_models_take_training_by_position():
    x = np.ones((32, 4), np.float32)
    inp = pynn.Input((4,))
    functional = pynn.Model(inp, pynn.layers.Dropout(0.5, seed=2)(inp))
    sequential = pynn.Sequential([pynn.Input((4,)), pynn.layers.Dropout(0.5, seed=2)])
    for model in (functional, sequential):
        np.testing.assert_array_equal(np.asarray(model(x, False)), x)
        assert (np.asarray(model(x, True)) == 0).any()

    class Augmenter(pynn.Model):
        def __init__(self):
            super().__init__()
            self.inner = pynn.Sequential([pynn.layers.Dropout(0.5, seed=3)])

        def call(self, images, training):
            return self.inner(images, training) if training else images

    aug = Augmenter()
    np.testing.assert_array_equal(np.asarray(aug(x, False)), x)
    assert (np.asarray(aug(x, True)) == 0).any()


def test_generated_images_get_gradients_through_the_augmentation():
    tf = pynn
    pynn.utils.set_random_seed(0)
    generator = pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(8 * 8),
                                 pynn.layers.Reshape((8, 8, 1))])
    augmenter = pynn.Sequential([pynn.layers.RandomFlip("horizontal"),
                                 pynn.layers.RandomTranslation(0.2, 0.2),
                                 pynn.layers.RandomRotation(0.1),
                                 pynn.layers.RandomZoom((-0.2, 0.0))])
    z, r = rand(4, 3), rand(4, 8, 8, 1, seed=1)
    with tf.GradientTape() as tape:
        images = augmenter(generator(z, training=True), training=True)
        loss = tf.reduce_sum(images * r)
    grads = tape.gradient(loss, generator.trainable_weights)
    assert all(g is not None for g in grads)
    assert np.abs(np.asarray(grads[0])).sum() > 0


def test_binary_accuracy_broadcasts_one_label_over_the_batch(keras):
    preds = np.array([[0.9], [0.2], [0.7], [0.6]], np.float32)
    for label in (1.0, 0.0):
        ours, theirs = pynn.metrics.BinaryAccuracy(), keras.metrics.BinaryAccuracy()
        ours.update_state(label, preds)
        theirs.update_state(label, preds)
        assert float(ours.result()) == pytest.approx(float(theirs.result()))


# ----- mnist_moe.py: a layer keeps its load-balancing loss on self in call()

def test_a_loss_a_layer_keeps_on_itself_is_this_calls_and_trains():
    tf = pynn

    class Gate(pynn.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = pynn.layers.Dense(3)

        def call(self, x):
            weights = tf.nn.softmax(self.dense(x))
            self.balance_loss = tf.reduce_mean(tf.square(tf.reduce_sum(weights, 0) - 1.0))
            return weights

    class Net(pynn.Model):
        def __init__(self):
            super().__init__()
            self.gate = Gate()

        def call(self, x, training=False):
            return self.gate(x)

    x = rand(5, 4)
    net = Net()
    net(x)

    def grads(step_input, call):
        with tf.GradientTape() as tape:
            out = call(step_input)
            loss = tf.reduce_sum(out[:, 0]) + net.gate.balance_loss
        return loss, tape.gradient(loss, net.gate.trainable_weights)

    for batch in (x, rand(7, 4, seed=1)):
        loss, through_model = grads(batch, net)
        direct_loss, direct = grads(batch, net.gate)
        np.testing.assert_allclose(float(loss), float(direct_loss), rtol=1e-6)
        for a, b in zip(through_model, direct):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-7)


# ----- mnist_moe.py: evaluate() after a custom test_step, in Keras 3's order

def test_evaluate_lists_a_custom_steps_logs_in_keras_order():
    class Net(pynn.Model):
        def test_step(self, data):
            return {"zeta": 3.0, "loss": 1.5, "aux": 2.0, "accuracy": 0.25}

    inp = pynn.Input((3,))
    net = Net(inp, pynn.layers.Dense(2, activation="softmax")(inp))
    net.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    assert net.metrics_names == ["loss", "accuracy"]
    # the model's metrics (loss, then the compiled ones), then the rest by name
    assert net.evaluate(np.ones((4, 3), np.float32), np.zeros(4), verbose=0) == \
        [1.5, 0.25, 2.0, 3.0]


# ------ feature_engineering_with_custom_layer.py: a CSV file to batches of
# dicts; a string input compared with a str; a layer called on a dict saved

def _heart_csv(path):
    rows = ["age,thal,chol,target", "63,fixed,233.5,1", "41,normal,204,0",
            "57,reversible,,1", "70,normal,250,0"]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_make_csv_dataset_gives_tensorflows_batches(tmp_path):
    tf = pynn
    ds = tf.data.experimental.make_csv_dataset(_heart_csv(tmp_path / "h.csv"), batch_size=4,
                                               label_name="target", num_epochs=1,
                                               shuffle=False)
    batches = list(ds)
    assert len(batches) == 1
    features, label = batches[0]
    assert list(features) == ["age", "thal", "chol"]
    assert np.asarray(features["age"]).dtype == np.int32
    assert np.asarray(features["chol"]).dtype == np.float32
    np.testing.assert_array_equal(np.asarray(features["chol"]), [233.5, 204, 0, 250])
    assert list(np.asarray(features["thal"])) == [b"fixed", b"normal", b"reversible", b"normal"]
    np.testing.assert_array_equal(np.asarray(label), [1, 0, 1, 0])
    # shuffled and repeated: every row twice over two epochs
    ds = tf.data.experimental.make_csv_dataset(str(tmp_path / "*.csv"), batch_size=3,
                                               label_name="target", num_epochs=2)
    ages = np.concatenate([np.asarray(f["age"]) for f, _ in ds])
    assert sorted(ages) == sorted([63, 41, 57, 70] * 2)


def test_text_compares_with_a_str_as_tensorflow_strings_do():
    tf = pynn
    thal = np.array([[b"fixed"], [b"normal"]], dtype=object)

    class Onehot(tf.keras.layers.Layer):
        def call(self, x):
            return tf.concat([tf.cast(x == "fixed", tf.float32),
                              tf.cast(tf.equal(x, "normal"), tf.float32),
                              tf.cast(x != b"normal", tf.float32)], axis=-1)

    inp = tf.keras.Input(shape=(1,), dtype=tf.string)
    model = tf.keras.Model(inp, Onehot()(inp))
    expected = [[1, 0, 1], [0, 1, 0]]
    np.testing.assert_array_equal(model.predict(thal, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(thal.astype(str), verbose=0), expected)
    np.testing.assert_array_equal(np.asarray(Onehot()(thal)), expected)


class _Ratio(pynn.layers.Layer):
    def call(self, inputs):
        return pynn.ops.concatenate([inputs["a"] / inputs["b"], inputs["a"] * 2.0], axis=-1)


def test_a_layer_called_on_a_dict_saves_and_loads_as_keras_writes_it(tmp_path, keras):
    inputs = {"a": pynn.Input((1,), name="a"), "b": pynn.Input((1,), name="b")}
    model = pynn.Model(inputs, pynn.layers.Dense(2)(_Ratio(name="ratio")(inputs)))
    data = {"a": rand(5, 1), "b": rand(5, 1, seed=1) + 3.0}
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = pynn.models.load_model(path, custom_objects={"_Ratio": _Ratio})
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0),
                               rtol=1e-6)

    class KRatio(keras.layers.Layer):
        def call(self, inputs):
            return keras.ops.concatenate([inputs["a"] / inputs["b"], inputs["a"] * 2.0],
                                         axis=-1)

    theirs = keras.models.load_model(path, custom_objects={"_Ratio": KRatio})
    np.testing.assert_allclose(np.asarray(theirs.predict(data, verbose=0)),
                               model.predict(data, verbose=0), rtol=1e-5)
    # and a file Keras writes loads here
    kin = {"a": keras.Input((1,), name="a"), "b": keras.Input((1,), name="b")}
    kmodel = keras.Model(kin, keras.layers.Dense(2)(KRatio(name="ratio")(kin)))
    kpath = str(tmp_path / "k.keras")
    kmodel.save(kpath)
    ours = pynn.models.load_model(kpath, custom_objects={"KRatio": _Ratio})
    np.testing.assert_allclose(ours.predict(data, verbose=0),
                               np.asarray(kmodel.predict(data, verbose=0)), rtol=1e-5)


# ----- event_classification_for_payment_card_fraud_detection.py: resampling

def test_rejection_resample_reaches_the_target_rate():
    tf = pynn
    labels = (np.arange(4000) % 20 == 0).astype(np.int64)   # 5% positives
    ds = tf.data.Dataset.from_tensor_slices({"x": np.arange(4000.0), "label": labels})
    resampled = ds.rejection_resample(class_func=lambda e: tf.cast(e["label"], tf.int32),
                                      target_dist=[0.8, 0.2], initial_dist=[0.95, 0.05],
                                      seed=3).map(lambda c, e: (e, c))
    pairs = [(int(np.asarray(e["label"])), int(np.asarray(c))) for e, c in resampled]
    assert all(label == c for label, c in pairs)
    positives = sum(c for _, c in pairs)
    assert positives == 200                      # the rarest class is always kept
    assert abs(positives / len(pairs) - 0.2) < 0.03
    # counted over a pass when initial_dist is not given
    counted = ds.rejection_resample(lambda e: e["label"], [0.5, 0.5], seed=1)
    kept = [int(np.asarray(c)) for c, _ in counted]
    assert sum(kept) == 200 and abs(len(kept) - 400) < 60


# ---- focal_modulation_network.py: a layer returns its feature map's sizes,
# the next takes them by position (block(x, height, width, channels))

class _Patches(pynn.layers.Layer):
    def __init__(self):
        super().__init__()
        self.proj = pynn.layers.Conv2D(4, 2, strides=2)

    def call(self, x):
        x = self.proj(x)
        height, width, channels = (pynn.shape(x)[i] for i in (1, 2, 3))
        return pynn.reshape(x, (-1, height * width, channels)), height, width, channels


class _Mix(pynn.layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = pynn.layers.Dense(4)

    def call(self, x, height, width, channels):
        grid = pynn.reshape(self.dense(x), (-1, height, width, channels))
        return pynn.reduce_mean(grid, axis=[1, 2])


def test_sizes_a_layer_returns_reach_the_next_by_position():
    class Net(pynn.Model):
        def __init__(self):
            super().__init__()
            self.patches, self.mix = _Patches(), _Mix()
            self.head = pynn.layers.Dense(1)

        def call(self, x):
            x, h, w, c = self.patches(x)
            return self.head(self.mix(x, h, w, c))

    x, y = rand(8, 6, 6, 3), rand(8, 1, seed=1)
    net = Net()
    out = np.asarray(net(x))
    # the same arithmetic, written out
    k, b = (np.asarray(v) for v in net.patches.proj.weights)
    patches = np.einsum("nhpwqc,pqcf->nhwf", x.reshape(8, 3, 2, 3, 2, 3), k) + b
    dk, db = (np.asarray(v) for v in net.mix.dense.weights)
    mixed = (patches.reshape(8, 9, 4) @ dk + db).mean(1)
    hk, hb = (np.asarray(v) for v in net.head.weights)
    np.testing.assert_allclose(out, mixed @ hk + hb, rtol=1e-4, atol=1e-5)
    net.compile(pynn.optimizers.Adam(0.01), "mse")
    losses = net.fit(x, y, epochs=8, batch_size=4, verbose=0).history["loss"]
    assert losses[-1] < losses[0]
    assert np.asarray(_Mix()(rand(2, 4, 4), 2, np.int32(2), np.array(4))).shape == (2, 4)


# --------- fixres.py: a random crop window, tf.slice, image.set_shape

def test_sample_distorted_bounding_box_and_tf_slice():
    tf = pynn
    image = rand(40, 60, 3)
    pynn.utils.set_random_seed(5)
    for _ in range(20):
        begin, size, box = tf.image.sample_distorted_bounding_box(
            tf.shape(image), tf.zeros([0, 0, 4], tf.float32), area_range=(0.05, 1.0),
            aspect_ratio_range=(0.75, 1.33), min_object_covered=0,
            use_image_if_no_bounding_boxes=True)
        (y, x, z), (h, w, rest) = np.asarray(begin), np.asarray(size)
        assert z == 0 and rest == -1 and 0 < h and 0 < w and y + h <= 40 and x + w <= 60
        assert 0.05 * 2400 * 0.9 <= h * w <= 2400 and 0.6 <= w / h <= 1.6
        np.testing.assert_allclose(np.asarray(box)[0, 0], [y / 40, x / 60, (y + h) / 40,
                                                           (x + w) / 60], rtol=1e-6)
        crop = tf.slice(image, begin, size)
        np.testing.assert_array_equal(np.asarray(crop), image[y:y + h, x:x + w])
        crop.set_shape([None, None, 3])
    with pytest.raises(ValueError, match="incompatible"):
        crop.set_shape([None, None, 4])
    np.testing.assert_array_equal(np.asarray(tf.slice(np.arange(12).reshape(3, 4), [1, 1],
                                                      [-1, 2])), [[5, 6], [9, 10]])
    # a box the window must cover half of
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        [40, 60, 3], [[[0.0, 0.0, 0.25, 0.25]]], min_object_covered=0.5)
    (y, x, _), (h, w, _) = np.asarray(begin), np.asarray(size)
    covered = max(0, min(10, y + h) - y) * max(0, min(15, x + w) - x)
    assert covered >= 0.5 * 150
