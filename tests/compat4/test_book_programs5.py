"""Patterns from more Keras/TF2 textbooks' programs (run with only their
imports changed) that broke in pynn, reproduced in a few lines each, against
Keras 3 on its NumPy backend where it runs the same thing."""
import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras as real_keras, needs_keras  # noqa: F401


# ------------------------------------------------------ autoencoders

def test_symbolic_shape_as_list_sizes_a_decoder():
    """tf.keras's ``shape = x.shape.as_list()`` on an encoder's last feature
    map, read back to size the decoder's Dense and Reshape."""
    inputs = pynn.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    shape = x.shape.as_list()
    assert shape == [None, 4, 4, 4] and x.get_shape() == (None, 4, 4, 4)
    assert x.shape == (None, 4, 4, 4) and isinstance(x.shape, tuple)
    latent = layers.Dense(2)(layers.Flatten()(x))
    y = layers.Dense(shape[1] * shape[2] * shape[3])(latent)
    y = layers.Reshape((shape[1], shape[2], shape[3]))(y)
    out = layers.Conv2DTranspose(1, 3, strides=2, padding="same")(y)
    model = pynn.Model(inputs, out)
    assert model.predict(np.zeros((2, 8, 8, 1), np.float32), verbose=0).shape == (2, 8, 8, 1)


# ------------------------------------------------------ GANs

def test_two_outputs_of_a_nested_model_each_log_their_loss():
    """An ACGAN's adversarial model ends in the discriminator, a model with
    two outputs: both outputs carry its name, and train_on_batch still gives
    the total, one loss per output and one accuracy per output."""
    pynn.utils.set_random_seed(0)
    i = pynn.Input((4,))
    h = layers.Dense(8)(i)
    src = layers.Dense(1, activation="sigmoid")(h)
    label = layers.Dense(3, activation="softmax")(h)
    disc = pynn.Model(i, [src, label], name="disc")
    z = pynn.Input((2,))
    gen = pynn.Model(z, layers.Dense(4)(z), name="gen")
    disc.trainable = False
    adversarial = pynn.Model(z, disc(gen(z)))
    adversarial.compile(loss=["binary_crossentropy", "categorical_crossentropy"],
                        optimizer="rmsprop", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((16, 2)).astype(np.float32)
    y1, y2 = rng.integers(0, 2, (16, 1)), np.eye(3)[rng.integers(0, 3, 16)]
    logs = adversarial.train_on_batch(x, [y1, y2], return_dict=True)
    assert sorted(logs) == ["disc_accuracy", "disc_accuracy_1", "disc_loss", "disc_loss_1",
                            "loss"]
    assert logs["loss"] == pytest.approx(logs["disc_loss"] + logs["disc_loss_1"], rel=1e-5)
    # each is its own output's loss: binary, then categorical cross-entropy
    p_src, p_label = adversarial.predict(x, verbose=0)
    bce = np.mean(pynn.losses.binary_crossentropy(y1.astype(np.float32), p_src))
    cce = np.mean(pynn.losses.categorical_crossentropy(y2.astype(np.float32), p_label))
    logs = adversarial.evaluate(x, [y1, y2], return_dict=True, verbose=0)
    assert logs["disc_loss"] == pytest.approx(bce, rel=1e-4)
    assert logs["disc_loss_1"] == pytest.approx(cce, rel=1e-4)
    assert len(adversarial.train_on_batch(x, [y1, y2])) == 5


# ------------------------------------------------------ policy gradient

@needs_keras
@pytest.mark.parametrize("name, value", [("zero", 0.0), ("one", 1.0)])
def test_initializer_spelled_in_the_singular(name, value):
    """``Dense(1, kernel_initializer='zero')``: Keras 3's get takes 'zero'
    and 'one' beside 'zeros' and 'ones'."""
    assert type(real_keras.initializers.get(name)).__name__ == \
        type(pynn.initializers.get(name)).__name__
    dense = layers.Dense(2, kernel_initializer=name, bias_initializer=name)
    dense.build((None, 3))
    np.testing.assert_array_equal(np.asarray(dense.kernel), np.full((3, 2), value))
    np.testing.assert_array_equal(np.asarray(dense.bias), np.full((2,), value))


# ------------------------------------------------------ mutual information

@pytest.mark.parametrize("wrap", [list, tuple])
def test_one_target_array_in_a_list_for_a_one_output_model(wrap):
    """An unsupervised model with a head per entry of a list, built with one
    head: its generator yields ``(x, [y])``.  Keras 3 packs the targets into
    the outputs' structure, so the one array goes to the one output."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = (x @ np.array([[1.0], [2.0], [-1.0]], np.float32))[:, 0]

    def trained(targets, generator):
        pynn.utils.set_random_seed(1)
        model = pynn.Sequential([layers.Input((3,)), layers.Dense(1)])
        model.compile(optimizer=pynn.optimizers.SGD(0.05), loss="mse")
        if generator:
            def batches():
                while True:
                    for i in range(0, 32, 8):
                        yield x[i:i + 8], targets(y[i:i + 8])
            model.fit(batches(), steps_per_epoch=4, epochs=3, verbose=0)
        else:
            model.fit(x, targets(y), batch_size=8, epochs=3, shuffle=False, verbose=0)
        return model.get_weights(), model.evaluate(x, targets(y), verbose=0)

    plain_w, plain_loss = trained(lambda t: t, False)
    for generator in (False, True):
        w, loss = trained(lambda t: wrap([t]), generator)
        for a, b in zip(plain_w, w):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        assert loss == pytest.approx(plain_loss, rel=1e-6)
    # a plain list of numbers is still the target array it spells
    model = pynn.Sequential([layers.Input((1,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.zeros((3, 1), np.float32), [0.0, 1.0, 2.0], verbose=0)


# ------------------------------------------------------ generators

def test_a_generator_feeds_every_epoch_not_only_the_first():
    """``fit(batches(), steps_per_epoch=4, epochs=3)`` over an endless
    Python generator trains as the same batches given as arrays: each
    epoch draws its steps from the generator where the last one stopped."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = x @ np.array([[1.0], [2.0], [-1.0]], np.float32)
    drawn = []

    def batches():
        while True:
            for i in range(0, 32, 8):
                drawn.append(i)
                yield x[i:i + 8], y[i:i + 8]

    def model():
        pynn.utils.set_random_seed(1)
        m = pynn.Sequential([layers.Input((3,)), layers.Dense(1)])
        m.compile(optimizer=pynn.optimizers.SGD(0.05), loss="mse")
        return m

    streamed, arrays = model(), model()
    history = streamed.fit(batches(), steps_per_epoch=4, epochs=3, verbose=0)
    expected = arrays.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    assert drawn == [0, 8, 16, 24] * 3
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-5)
    for a, b in zip(streamed.get_weights(), arrays.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5)


def test_a_generator_that_runs_out_says_so():
    """As Keras 3: a finite generator that cannot give steps_per_epoch *
    epochs batches warns that the input ran out of data."""
    x, y = np.ones((8, 2), np.float32), np.ones((8, 1), np.float32)
    model = pynn.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match="ran out of data"):
        model.fit(((x, y) for _ in range(3)), steps_per_epoch=2, epochs=2, verbose=0)


# ------------------------------------------------------ saving (tf.keras 2 era)

@needs_keras
def test_save_takes_include_optimizer_and_save_format_as_keras3(tmp_path):
    """``model.save('m.h5', overwrite=True, include_optimizer=True,
    save_format='h5')``: Keras 3 takes both arguments beside a name that
    says the format; without the optimizer the file loads uncompiled."""
    model = pynn.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    model.fit(x, np.arange(8) % 3, verbose=0)
    model.save(tmp_path / "m.h5", overwrite=True, include_optimizer=True, save_format="h5")
    model.save(tmp_path / "bare.h5", include_optimizer=False)
    for load in (pynn.models.load_model, real_keras.models.load_model):
        full, bare = load(tmp_path / "m.h5"), load(tmp_path / "bare.h5")
        np.testing.assert_allclose(np.asarray(full.predict(x, verbose=0)),
                                   model.predict(x, verbose=0), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(bare.predict(x, verbose=0)),
                                   model.predict(x, verbose=0), rtol=1e-5)
        assert getattr(full, "optimizer", None) is not None
        assert getattr(bare, "optimizer", None) is None
    model.save(tmp_path / "saved_model_dir", save_format="tf")
    np.testing.assert_allclose(
        np.asarray(pynn.models.load_model(tmp_path / "saved_model_dir").predict(x, verbose=0)),
        model.predict(x, verbose=0), rtol=1e-6)
    # tf.keras 2 writes HDF5 for save_format="h5" under any name, and
    # load_model reads it by its signature
    model.save(tmp_path / "m.bin", save_format="h5")
    np.testing.assert_allclose(pynn.models.load_model(tmp_path / "m.bin").predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="save_format"):
        model.save(tmp_path / "m.bin", save_format="keras")


# ------------------------------------------------------ TF2 core

def test_a_list_given_for_a_tensor_spec_is_one_tensor():
    """``@tf.function(input_signature=(tf.TensorSpec(shape=[None],
    dtype=tf.int32),) * 3)`` called with Python lists: each list is one
    rank-1 tensor; a rank-2 list still does not fit."""
    spec = pynn.TensorSpec(shape=[None], dtype=pynn.int32)

    @pynn.function(input_signature=(spec, spec, spec))
    def compute_z(a, b, c):
        return pynn.add(pynn.multiply(2, pynn.subtract(a, b)), c)

    np.testing.assert_array_equal(np.asarray(compute_z([1], [2], [3])), [1])
    np.testing.assert_array_equal(np.asarray(compute_z([1, 2], [2, 4], [3, 6])), [1, 2])
    with pytest.raises(ValueError, match="does not fit"):
        compute_z([[1], [2]], [[2], [4]], [[3], [6]])
    with pytest.raises(ValueError, match="structure"):
        pynn.function(lambda a: a, input_signature=((spec, spec),))([1, 2, 3])


def test_variable_assign_takes_tf_arguments():
    """``w.assign([3, 1, 4], read_value=True)`` gives the variable back;
    ``read_value=False`` nothing, as TensorFlow's eager op."""
    w = pynn.Variable([1.0, 2.0, 3.0])
    assert w.assign([3, 1, 4], read_value=True) is w
    assert w.assign_add([1, 1, 1], use_locking=True, read_value=False) is None
    assert w.assign_sub([0.5, 0.5, 0.5], name="step") is w
    np.testing.assert_array_equal(w.numpy(), [3.5, 1.5, 4.5])


# ------------------------------------------------------ CNNs

@needs_keras
def test_output_shape_of_a_sequential_given_no_input_shape():
    """``model.compute_output_shape(input_shape=(16, 28, 28, 1))`` on a
    Sequential of layers alone, then ``model.build(input_shape=(None, 28,
    28, 1))`` and training, as a CNN chapter does."""
    def stack(lib):
        L = lib.layers
        return lib.Sequential([L.Conv2D(4, 5, padding="same"), L.MaxPooling2D(2),
                               L.Conv2D(6, 3), L.Flatten(), L.Dense(3)])
    ours = stack(pynn)
    assert ours.compute_output_shape(input_shape=(16, 28, 28, 1)) == \
        tuple(stack(real_keras).compute_output_shape((16, 28, 28, 1))) == (16, 3)
    ours.build(input_shape=(None, 28, 28, 1))
    ours.compile(optimizer="adam", loss="mse")
    ours.fit(np.zeros((4, 28, 28, 1), np.float32), np.zeros((4, 3), np.float32), verbose=0)
    assert ours.predict(np.zeros((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 3)


def test_tf_test_device_queries():
    """``print("GPU Available:", tf.test.is_gpu_available())`` before a
    GAN's training: answered from the CUDA module, never failing."""
    available = pynn.cuda.is_available() and pynn.cuda.device_count() > 0
    assert pynn.test.is_gpu_available() is available
    assert pynn.test.gpu_device_name() == ("/device:GPU:0" if available else "")
    assert pynn.test.is_gpu_available(min_cuda_compute_capability=(99, 0)) is False
    assert isinstance(pynn.test.is_built_with_cuda(), bool)


# ------------------------------------------------------ text generation

@needs_keras
def test_math_softmax_is_nn_softmax():
    """``tf.math.softmax(logits).numpy()[0]`` on a character model's
    logits: the same function as tf.nn.softmax, as Keras's softmax."""
    logits = np.random.default_rng(0).normal(size=(2, 5)).astype(np.float32)
    expected = np.asarray(real_keras.ops.softmax(logits))
    np.testing.assert_allclose(pynn.math.softmax(logits).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(pynn.nn.softmax(logits), expected, rtol=1e-6)
    np.testing.assert_allclose(pynn.math.softmax(logits, axis=0),
                               np.asarray(real_keras.ops.softmax(logits, axis=0)), rtol=1e-6)
    np.testing.assert_allclose(pynn.math.log_softmax(logits),
                               np.asarray(real_keras.ops.log_softmax(logits)), rtol=1e-5)


# ------------------------------------------------------ VAE pipelines

def test_shuffle_and_repeat_applied_to_a_dataset():
    """``dataset.apply(tf.data.experimental.shuffle_and_repeat(n, epochs,
    seed))``: each pass holds every element once, in a shuffled order."""
    ds = pynn.data.Dataset.from_tensor_slices(np.arange(10))
    out = [int(v) for v in ds.apply(pynn.data.experimental.shuffle_and_repeat(10, 3, 7))]
    assert len(out) == 30
    for k in range(3):
        assert sorted(out[10 * k:10 * k + 10]) == list(range(10))
    assert out[:10] != list(range(10))


def test_model_checkpoint_period_saves_every_nth_epoch(tmp_path):
    """tf.keras 2's ``ModelCheckpoint('w-epoch{epoch:02d}.h5', period=5)``
    (deprecated there, with a warning): a file every 5th epoch."""
    model = pynn.Sequential([layers.Input((2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match="period"):
        checkpoint = pynn.callbacks.ModelCheckpoint(
            str(tmp_path / "w-epoch{epoch:02d}.h5"), period=5)
    model.fit(np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32), epochs=11,
              callbacks=[checkpoint], verbose=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w-epoch05.h5", "w-epoch10.h5"]
    with pytest.raises(ValueError, match="period"):
        pynn.callbacks.ModelCheckpoint(str(tmp_path / "w.h5"), period=0)
