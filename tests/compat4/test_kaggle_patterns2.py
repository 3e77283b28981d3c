"""More patterns of notebook and blog Keras programs (Keras 2 backend
idioms, tf.keras 2 tutorials, custom loops, preprocessing in the model)
run with only their imports changed, that broke in pynn, reproduced in a
few lines each."""
import numpy as np

from pynn import keras
import pynn.keras.backend as K


def test_one_metric_outside_a_list():
    """tf.keras 2's text classification tutorial compiles with
    ``metrics=tf.metrics.BinaryAccuracy(threshold=0.0)``, one metric, no
    list: it was refused.  tf.keras 2 read it as a list of one, for every
    output."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)])
    model.compile("adam", keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=keras.metrics.BinaryAccuracy(threshold=0.0))
    hist = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert list(hist.history) == ["loss", "binary_accuracy"]
    got = model.evaluate(x, y, verbose=0, return_dict=True)["binary_accuracy"]
    logits = model.predict(x, verbose=0)[:, 0]
    assert got == np.mean((logits > 0) == (y == 1))

    inp = keras.Input((5,))
    two = keras.Model(inp, [keras.layers.Dense(1, name="a")(inp),
                            keras.layers.Dense(1, name="b")(inp)])
    two.compile("sgd", "mse", metrics="mae", weighted_metrics="mse")
    logs = two.evaluate(x, [y, 2 * y], verbose=0, return_dict=True)
    pa, pb = two.predict(x, verbose=0)
    np.testing.assert_allclose(logs["a_mae"], np.mean(np.abs(pa[:, 0] - y)), rtol=1e-5)
    np.testing.assert_allclose(logs["b_mae"], np.mean(np.abs(pb[:, 0] - 2 * y)), rtol=1e-5)
    np.testing.assert_allclose(logs["b_mse"], np.mean((pb[:, 0] - 2 * y) ** 2), rtol=1e-5)


def test_first_layer_input_of_a_functional_model():
    """``K.function([model.layers[0].input], [model.layers[2].output])``:
    a functional model's first layer is its InputLayer, whose ``input`` was
    ``[]``; tf.keras 2 gives the input tensor."""
    inp = keras.Input((4,))
    h = keras.layers.Dense(3, activation="relu")(inp)
    out = keras.layers.Dense(2)(h)
    model = keras.Model(inp, out)
    assert model.layers[0].input is model.input
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    f = K.function([model.layers[0].input], [model.layers[1].output])
    np.testing.assert_allclose(f([x])[0], keras.Model(model.input, h).predict(x, verbose=0),
                               rtol=1e-6)


def test_as_numpy_iterator_after_a_map():
    """``list(ds.filter(...).map(lambda v: v * 10).as_numpy_iterator())``
    printed ``[Tensor(0), Tensor(20), ...]``: what a map returned came
    back as tensors, and a scalar element as a 0-d array.  tf.data gives
    NumPy scalars, bytes for strings, arrays otherwise."""
    import pynn as tf
    evens = tf.data.Dataset.range(10).filter(lambda v: v % 2 == 0).map(lambda v: v * 10)
    got = list(evens.as_numpy_iterator())
    assert got == [0, 20, 40, 60, 80]
    assert all(type(v) is np.int64 for v in got)
    assert list(tf.data.Dataset.from_tensor_slices(["a", "b"]).as_numpy_iterator()) == [b"a", b"b"]
    pairs = tf.data.Dataset.from_tensor_slices(({"x": np.ones((2, 3))}, np.arange(2)))
    (feat, label), _ = list(pairs.map(lambda f, y: ({"x": f["x"] * 2}, y + 1)).as_numpy_iterator())
    assert type(feat["x"]) is np.ndarray and feat["x"].tolist() == [2.0] * 3
    assert type(label) is np.int64 and label == 1


def test_optimizer_minimize_of_tf_keras_2():
    """``opt.minimize(loss_fn, var_list=[w, b])`` (a loss callable of no
    arguments, or a loss value with ``tape=``) had no such method.  Each
    call is one step on the gradient, the same step apply_gradients makes."""
    import pynn as tf
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 3)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    w, b = tf.Variable(np.zeros((3, 1), np.float32)), tf.Variable(np.zeros(1, np.float32))

    def loss_fn():
        return tf.reduce_mean(tf.square(tf.matmul(x, w) + b - y))

    opt = keras.optimizers.SGD(0.1)
    grad_w = 2 * x.T @ (x @ w.numpy() + b.numpy() - y) / 32
    opt.minimize(loss_fn, var_list=[w, b])
    np.testing.assert_allclose(w.numpy(), -0.1 * grad_w, rtol=1e-5, atol=1e-7)
    assert int(opt.iterations) == 1
    opt.minimize(loss_fn, var_list=lambda: [w, b])
    with tf.GradientTape() as tape:
        value = loss_fn()
    opt.minimize(value, [w, b], tape=tape)
    for _ in range(60):
        opt.minimize(loss_fn, [w, b])
    assert float(loss_fn()) < 1e-3 and int(opt.iterations) == 63
    try:
        opt.minimize(loss_fn(), [w, b])
    except ValueError as e:
        assert "tape" in str(e)
    else:
        raise AssertionError("a loss value without its tape was taken")


def test_jacobian_is_a_tensor():
    """``tape.jacobian(y, x).numpy()``: jacobian and batch_jacobian gave
    NumPy arrays, which have no ``numpy()``; gradient gives tensors."""
    import pynn as tf
    x = tf.Variable(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    with tf.GradientTape(persistent=True) as tape:
        y = x * x
    np.testing.assert_allclose(tape.jacobian(y, x).numpy()[1, 0], [[0, 0], [6, 0]])
    np.testing.assert_allclose(tape.batch_jacobian(y, x).numpy()[1], [[6, 0], [0, 8]])


def test_fractional_steps_take_the_last_partial_batch():
    """``model.predict_generator(test_gen, steps=n_samples / batch_size)``
    (dogs-vs-cats submissions): a float step count was cut down, so the
    last partial batch was never predicted and the predictions came out
    shorter than the test set.  tf.keras 2 stepped while its count was below
    the float, which takes that batch."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 3)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")

    def batches(with_targets=True):
        for start in range(0, 10, 4):
            yield (x[start:start + 4], y[start:start + 4]) if with_targets else x[start:start + 4]

    assert model.predict(batches(False), steps=10 / 4, verbose=0).shape == (10, 1)
    assert model.predict_generator(batches(False), steps=np.ceil(10 / 4)).shape == (10, 1)
    np.testing.assert_allclose(model.evaluate(batches(), steps=10 / 4, verbose=0),
                               model.evaluate(x, y, batch_size=4, verbose=0), rtol=1e-6)
    hist = model.fit(x, y, batch_size=4, steps_per_epoch=10 / 4, epochs=1, verbose=0,
                     validation_data=batches(), validation_steps=10 / 4)
    assert hist.params["steps"] == 3


def test_first_cell_quieting_and_seeding():
    """A notebook's first cell: ``tf.get_logger().setLevel('ERROR')``,
    ``tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)``,
    ``tf.autograph.set_verbosity(0)``, ``tf.compat.v1.set_random_seed(42)``
    failed on names pynn lacked.  The logger is the one pynn's messages
    go to with interactive logging off; the seed is tf.random.set_seed's."""
    import logging
    import pynn as tf
    logger = tf.get_logger()
    assert logger is logging.getLogger("pynn")
    level = logger.level
    try:
        tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)
        assert tf.compat.v1.logging.get_verbosity() == logging.ERROR
        tf.get_logger().setLevel("INFO")
        assert tf.compat.v1.logging.get_verbosity() == logging.INFO
    finally:
        logger.setLevel(level)
    tf.autograph.set_verbosity(0)

    @tf.autograph.experimental.do_not_convert
    def twice(v):
        return 2 * v
    assert twice(3) == 6
    tf.compat.v1.set_random_seed(42)
    a = tf.random.uniform((3,)).numpy()
    tf.random.set_seed(42)
    np.testing.assert_array_equal(a, tf.random.uniform((3,)).numpy())


def test_class_weight_leaves_the_validation_split_alone():
    """``fit(x, y, validation_split=0.2, class_weight={0: 1, 1: 5})`` on
    imbalanced data: the held-out samples were weighed by class_weight
    too, so val_loss was not the loss evaluate gives on them.  Keras splits
    first and weighs the training samples only."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(100, 4)).astype("float32")
    y = (x[:, 0] > 0.8).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", weighted_metrics=["accuracy"])
    hist = model.fit(x, y, validation_split=0.3, class_weight={0: 1.0, 1: 5.0}, epochs=1,
                     verbose=0, shuffle=False)
    logs = model.evaluate(x[70:], y[70:], verbose=0, return_dict=True)
    np.testing.assert_allclose(hist.history["val_loss"][0], logs["loss"], rtol=1e-6)
    np.testing.assert_allclose(hist.history["val_accuracy"][0], logs["accuracy"], rtol=1e-6)
    # the training part is weighed: its first step's loss is the weighted one
    model2 = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model2.compile("sgd", "binary_crossentropy")
    model2.set_weights(model.get_weights())
    first = model2.evaluate(x[:70], y[:70], sample_weight=np.where(y[:70] == 1, 5.0, 1.0),
                            batch_size=70, verbose=0)
    hist = model2.fit(x, y, validation_split=0.3, class_weight={0: 1.0, 1: 5.0}, epochs=1,
                      batch_size=70, verbose=0, shuffle=False)
    np.testing.assert_allclose(hist.history["loss"][0], first, rtol=1e-5)


def _twin_models(build):
    """Two models from ``build(regularizer)``: one with an L2 kernel
    regularizer on its first Dense, one without, same initial weights."""
    keras.utils.set_random_seed(5)
    with_l2 = build(keras.regularizers.l2(0.05))
    plain = build(None)
    plain.set_weights(with_l2.get_weights())
    return with_l2, plain


def test_model_add_loss_of_a_callable():
    """tf.keras 2's ``model.add_loss(lambda: 0.05 * tf.reduce_sum(
    tf.square(dense.kernel)))`` outside any call was refused.  It is an
    L2 penalty written by hand: the model trains, evaluates and lists
    ``losses`` as the same model with ``kernel_regularizer=l2(0.05)``."""
    import pynn as tf
    rng = np.random.default_rng(6)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = rng.normal(size=(48, 1)).astype("float32")

    def functional(reg):
        inp = keras.Input((5,))
        hidden = keras.layers.Dense(4, activation="tanh", kernel_regularizer=reg)
        out = keras.layers.Dense(1)(hidden(inp))
        model = keras.Model(inp, out)
        model.hidden = hidden
        return model

    class Subclassed(keras.Model):
        def __init__(self, reg):
            super().__init__()
            self.hidden = keras.layers.Dense(4, activation="tanh", kernel_regularizer=reg)
            self.out = keras.layers.Dense(1)

        def call(self, inputs):
            return self.out(self.hidden(inputs))

    def subclassed(reg):
        model = Subclassed(reg)
        model(x[:1])
        return model

    for build in (functional, subclassed):
        ref, model = _twin_models(build)
        kernel = model.hidden.kernel
        model.add_loss(lambda: 0.05 * tf.reduce_sum(tf.square(kernel)))
        for m in (ref, model):
            m.compile(keras.optimizers.SGD(0.1), "mse")
        np.testing.assert_allclose([float(v) for v in model.losses],
                                   [float(v) for v in ref.losses], rtol=1e-6)
        np.testing.assert_allclose(model.evaluate(x, y, verbose=0),
                                   ref.evaluate(x, y, verbose=0), rtol=1e-6)
        got = model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
        want = ref.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history["loss"]
        np.testing.assert_allclose(got, want, rtol=1e-5)
        for a, b in zip(model.get_weights(), ref.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        with tf.GradientTape() as tape:
            penalty = sum(model.losses)
        np.testing.assert_allclose(tape.gradient(penalty, kernel).numpy(), 0.1 * kernel.numpy(),
                                   rtol=1e-6)


def test_keras2_backend_resize_images_and_updates():
    """``Lambda(lambda t: K.resize_images(t, 2, 2, 'channels_last'))`` (Keras
    2 U-Net and YOLO upsampling) failed: the backend had no resize_images;
    nor batch_set_value, update_add, cumprod, in_top_k or map_fn."""
    import pynn as tf
    x = np.random.default_rng(7).random((2, 3, 4, 2)).astype("float32")
    for interpolation in ("nearest", "bilinear"):
        inp = keras.Input((3, 4, 2))
        resized = keras.layers.Lambda(lambda t: K.resize_images(
            t, 2, 3, "channels_last", interpolation=interpolation))(inp)
        upsampled = keras.layers.UpSampling2D((2, 3), interpolation=interpolation)(inp)
        got, want = keras.Model(inp, [resized, upsampled]).predict(x, verbose=0)
        assert got.shape == (2, 6, 12, 2)
        np.testing.assert_allclose(got, want, rtol=1e-6)
    first = np.asarray(K.resize_images(x.transpose(0, 3, 1, 2), 2, 2, "channels_first"))
    np.testing.assert_array_equal(first, np.repeat(np.repeat(x.transpose(0, 3, 1, 2), 2, 2), 2, 3))

    v = tf.Variable(np.ones(3, np.float32))
    K.update_add(v, np.ones(3))
    K.update_sub(v, np.full(3, 0.5))
    np.testing.assert_allclose(v.numpy(), [1.5] * 3)
    K.batch_set_value([(v, [1.0, 2.0, 3.0])])
    np.testing.assert_allclose(K.cumprod(v), [1, 2, 6])
    np.testing.assert_array_equal(K.in_top_k(np.array([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3]]),
                                             np.array([0, 1]), 2), [True, False])
    np.testing.assert_allclose(K.map_fn(lambda r: r * 2, np.arange(3.0)), [0, 2, 4])


def test_keras2_backend_convolutions_in_a_custom_layer():
    """A Keras 2 custom layer computing ``K.conv2d(x, w, padding='same')``
    then ``K.pool2d(...)`` (weight-standardized convolutions and the like)
    failed: the backend had no conv1d, conv2d, depthwise_conv2d,
    separable_conv2d, pool2d or batch_normalization.  Each gives what the
    Keras layer of the same weights gives."""
    import pynn as tf
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 7, 6, 3)).astype("float32")

    def layer(cls, *args, **kwargs):
        made = cls(*args, use_bias=False, **kwargs)
        made.build(x.shape if cls is not keras.layers.Conv1D else x[:, 0].shape)
        return made

    conv = layer(keras.layers.Conv2D, 4, 3, strides=2, padding="same")
    np.testing.assert_allclose(K.conv2d(x, conv.kernel, strides=(2, 2), padding="same"),
                               conv(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        K.conv2d(x.transpose(0, 3, 1, 2), conv.kernel, (2, 2), "same", "channels_first"),
        np.asarray(conv(x)).transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-6)
    causal = layer(keras.layers.Conv1D, 2, 3, padding="causal", dilation_rate=2)
    np.testing.assert_allclose(K.conv1d(x[:, 0], causal.kernel, padding="causal", dilation_rate=2),
                               causal(x[:, 0]), rtol=1e-5, atol=1e-6)
    depthwise = layer(keras.layers.DepthwiseConv2D, 3, depth_multiplier=2)
    np.testing.assert_allclose(K.depthwise_conv2d(x, depthwise.depthwise_kernel), depthwise(x),
                               rtol=1e-5, atol=1e-6)
    separable = layer(keras.layers.SeparableConv2D, 5, 3, padding="same")
    np.testing.assert_allclose(K.separable_conv2d(x, separable.depthwise_kernel,
                                                  separable.pointwise_kernel, padding="same"),
                               separable(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(K.pool2d(x, (2, 2), (2, 2), pool_mode="avg"),
                               keras.layers.AveragePooling2D(2)(x), rtol=1e-6)
    np.testing.assert_allclose(K.pool2d(x, (3, 3), (1, 1), "same"),
                               keras.layers.MaxPooling2D(3, 1, "same")(x))
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    gamma, beta = np.full(3, 2.0, np.float32), np.full(3, 0.5, np.float32)
    want = (x - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(K.batch_normalization(x, mean, var, beta, gamma), want,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        K.batch_normalization(x.transpose(0, 3, 1, 2), mean, var, beta, gamma, axis=1),
        want.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-5)
    # differentiable inside a custom layer's call
    kernel = tf.Variable(np.asarray(conv.kernel))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(K.pool2d(K.conv2d(x, kernel, padding="same"), (2, 2), (2, 2)))
    assert tape.gradient(loss, kernel).shape == (3, 3, 3, 4)


def test_csv_empty_fields_are_missing_whatever_na_value(tmp_path):
    """``make_csv_dataset(path, na_value="?")`` (TensorFlow's CSV tutorial)
    on a file with empty fields: an empty field made its whole numeric
    column strings.  TensorFlow reads an empty field as missing, like
    na_value: it takes the column's default and says nothing of its type."""
    import pynn as tf
    path = tmp_path / "train.csv"
    path.write_text("a,b,c,d\n1,,x,?\n,2.5,,4\n3,1,y,5\n")
    features = next(iter(tf.data.experimental.make_csv_dataset(
        str(path), 3, shuffle=False, num_epochs=1, na_value="?")))
    assert features["a"].dtype == np.int32 and features["a"].numpy().tolist() == [1, 0, 3]
    assert features["b"].dtype == np.float32 and features["b"].numpy().tolist() == [0, 2.5, 1]
    assert features["c"].numpy().tolist() == [b"x", b"", b"y"]
    assert features["d"].numpy().tolist() == [0, 4, 5]


def test_slices_of_a_list_of_scalar_tensors():
    """``interleave(lambda v: Dataset.from_tensor_slices([v, v + 1]))``: a
    list of 0-d tensors was read as a structure of arrays and failed
    (len() of unsized object); tf.data makes it one tensor."""
    import pynn as tf
    ds = tf.data.Dataset.from_tensor_slices([1, 5]).interleave(
        lambda v: tf.data.Dataset.from_tensor_slices([v, v + 1]), cycle_length=2)
    assert list(ds.as_numpy_iterator()) == [1, 5, 2, 6]


def test_keras2_metric_resets_in_its_reset_states():
    """A Keras 2 metric keeping the epoch's predictions in Python lists and
    clearing them in its own ``reset_states`` (the sklearn-score-per-epoch
    idiom): its reset_states was never called, so each epoch's result
    counted every epoch before it.  tf.keras 2 called it in reset_state's
    place."""
    class Seen(keras.metrics.Metric):
        def __init__(self, name="seen", **kwargs):
            super().__init__(name=name, **kwargs)
            self.rows = []

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.rows.append(len(np.asarray(y_true)))

        def result(self):
            return float(sum(self.rows))

        def reset_states(self):
            self.rows = []

    x, y = np.ones((40, 3), np.float32), np.ones(40, np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse", metrics=[Seen()])
    hist = model.fit(x, y, epochs=3, batch_size=8, verbose=0, validation_data=(x[:16], y[:16]))
    assert hist.history["seen"] == [40.0] * 3 and hist.history["val_seen"] == [16.0] * 3

    class Calls(keras.metrics.Mean):
        """reset_states calling the base class's, as the Keras 2 docs' examples do"""
        resets = 0

        def reset_states(self):
            type(self).resets += 1
            super().reset_states()

    calls = Calls()
    calls.update_state([1.0, 3.0])
    calls.reset_state()
    assert Calls.resets == 1 and float(calls.result()) == 0.0


def test_model_losses_hold_custom_regularizers():
    """A custom loop's ``loss += sum(model.losses)`` with a regularizer of
    the program's own (a function, a Regularizer subclass, Keras's
    OrthogonalRegularizer): model.losses held 0 for them, so the loop
    trained without the penalty that fit adds.  One loop step now makes
    fit's step."""
    import pynn as tf
    rng = np.random.default_rng(9)
    x = rng.normal(size=(16, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")

    class Centered(keras.regularizers.Regularizer):
        def __call__(self, w):
            return 0.3 * K.sum(K.square(w - 1.0))

    def build():
        keras.utils.set_random_seed(2)
        return keras.Sequential([
            keras.Input((3,)),
            keras.layers.Dense(4, kernel_regularizer=Centered(),
                               bias_regularizer=lambda b: 0.2 * tf.reduce_sum(tf.abs(b - 0.5))),
            keras.layers.Dense(2, kernel_regularizer=keras.regularizers.OrthogonalRegularizer(0.4))])

    looped, fitted = build(), build()
    kernel, bias = looped.layers[0].kernel.numpy(), looped.layers[0].bias.numpy()
    values = [float(v) for v in looped.losses]
    np.testing.assert_allclose(values[:2], [0.3 * np.sum((kernel - 1) ** 2),
                                            0.2 * np.sum(np.abs(bias - 0.5))], rtol=1e-5)
    assert values[2] > 0
    opt = keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(looped(x, training=True) - y)) + sum(looped.losses)
    grads = tape.gradient(loss, looped.trainable_variables)
    opt.apply_gradients(zip(grads, looped.trainable_variables))
    fitted.compile(keras.optimizers.SGD(0.1), "mse")
    hist = fitted.fit(x, y, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(hist.history["loss"][0], float(loss), rtol=1e-5)
    for a, b in zip(looped.get_weights(), fitted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
