"""Weights files: Keras 3's .weights.h5 both ways, and the legacy HDF5
layout that Keras 2, tf.keras and keras.applications' published weight
files use, by layer order and by name, with Keras's skip_mismatch rules."""
import numpy as np
import pytest

import pynn
from pynn.saving import ModelFileError

pytestmark = pytest.mark.usefixtures("h5py")


def small_convnet(k, head=3, name_prefix=""):
    """A convnet named as keras.applications names its layers."""
    return k.Sequential([k.Input(shape=(16, 16, 3)),
                         k.layers.Conv2D(8, 3, activation="relu", name="block1_conv1"),
                         k.layers.BatchNormalization(name="block1_bn"),
                         k.layers.MaxPooling2D(name="block1_pool"),
                         k.layers.SeparableConv2D(12, 3, name="block2_sepconv1"),
                         k.layers.GlobalAveragePooling2D(name="avg_pool"),
                         k.layers.Dense(head, activation="softmax",
                                        name=name_prefix + "predictions")])


def randomized_keras(keras, head=3):
    model = small_convnet(keras, head)
    g = np.random.default_rng(0)
    for w in model.weights:
        value = g.normal(0, 0.3, w.shape)
        if "variance" in w.path:
            value = g.uniform(0.5, 2.0, w.shape)
        w.assign(value.astype(np.float32))
    return model


X = np.random.default_rng(1).normal(size=(8, 16, 16, 3)).astype(np.float32)


def write_legacy(model, path):
    """A weights file laid out as keras.applications publishes them, by
    Keras's own legacy writer."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_weights_h5_both_ways(tmp_path, keras):
    theirs = randomized_keras(keras)
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours = small_convnet(pynn)
    ours.load_weights(tmp_path / "k.weights.h5")
    close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))

    for w in ours.weights:
        w.assign(w.value * 0.5)
    ours.save_weights(tmp_path / "p.weights.h5")
    theirs.load_weights(tmp_path / "p.weights.h5")
    close(theirs.predict(X, verbose=0), ours.predict(X, verbose=0))


def test_published_legacy_weights_load_by_order_and_by_name(tmp_path, keras):
    theirs = randomized_keras(keras)
    write_legacy(theirs, tmp_path / "net_weights_tf_dim_ordering_tf_kernels.h5")
    expected = theirs.predict(X, verbose=0)

    ours = small_convnet(pynn)
    ours.load_weights(tmp_path / "net_weights_tf_dim_ordering_tf_kernels.h5")
    close(ours.predict(X, verbose=0), expected)

    # by name: a functional model with a second head the file lacks
    i = pynn.Input(shape=(16, 16, 3))
    x = pynn.layers.Conv2D(8, 3, activation="relu", name="block1_conv1")(i)
    x = pynn.layers.BatchNormalization(name="block1_bn")(x)
    x = pynn.layers.MaxPooling2D(name="block1_pool")(x)
    x = pynn.layers.SeparableConv2D(12, 3, name="block2_sepconv1")(x)
    x = pynn.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    extra = pynn.layers.Dense(2, name="extra")
    other = pynn.Model(i, [pynn.layers.Dense(3, activation="softmax", name="predictions")(x),
                           extra(x)])
    extra_before = extra.get_weights()
    with pytest.raises(ModelFileError, match="by_name"):
        other.load_weights(tmp_path / "net_weights_tf_dim_ordering_tf_kernels.h5")
    other.load_weights(tmp_path / "net_weights_tf_dim_ordering_tf_kernels.h5", by_name=True)
    close(other.predict(X, verbose=0)[0], expected)
    assert all(np.array_equal(a, b) for a, b in zip(extra.get_weights(), extra_before))


def test_skip_mismatch_as_keras_defines_it(tmp_path, keras):
    theirs = randomized_keras(keras)
    write_legacy(theirs, tmp_path / "w.h5")
    theirs.save_weights(tmp_path / "w.weights.h5")
    new_head = small_convnet(pynn, head=5)
    head_before = new_head.get_layer("predictions").get_weights()
    for path in ("w.h5", "w.weights.h5"):
        with pytest.raises(ModelFileError, match="predictions"):
            new_head.load_weights(tmp_path / path)
        # nothing was assigned by the failed load
        assert np.array_equal(new_head.get_layer("predictions").get_weights()[0],
                              head_before[0])
        with pytest.warns(UserWarning, match="predictions"):
            new_head.load_weights(tmp_path / path, skip_mismatch=True)
        assert np.array_equal(new_head.get_layer("predictions").get_weights()[0],
                              head_before[0])
        assert np.array_equal(new_head.get_layer("block1_conv1").get_weights()[0],
                              np.asarray(theirs.get_layer("block1_conv1").kernel))
    with pytest.warns(UserWarning, match="predictions"):
        new_head.load_weights(tmp_path / "w.h5", by_name=True, skip_mismatch=True)
    with pytest.raises(ValueError, match="by_name"):
        new_head.load_weights(tmp_path / "w.weights.h5", by_name=True)


def test_tf_keras_2_weight_files(tmp_path, h5py):
    """tf.keras 2 names weights 'layer/kernel:0' and lists an InputLayer
    with no weights; its files load by order and by name."""
    ref = small_convnet(pynn)
    g = np.random.default_rng(2)
    for w in ref.weights:
        w.assign(g.uniform(0.5, 1.5, w.shape))
    with h5py.File(tmp_path / "tf2.h5", "w") as f:
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.6.0"
        names = ["input_1"] + [l.name for l in ref.layers]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.create_group("input_1").attrs["weight_names"] = np.zeros((0,), "S1")
        for layer in ref.layers:
            group = f.create_group(layer.name)
            # (TensorFlow 2's names: 'dense/kernel:0')
            wnames = [f"{layer.name}/{w.name}:0".encode() for w in layer.weights]
            group.attrs["weight_names"] = np.array(wnames) if wnames else np.zeros((0,), "S1")
            for n, w in zip(wnames, layer.weights):
                group.create_dataset(n.decode(), data=w.value.astype(np.float64))
    for by_name in (False, True):
        model = small_convnet(pynn)
        model.load_weights(tmp_path / "tf2.h5", by_name=by_name)
        close(model.predict(X, verbose=0), ref.predict(X, verbose=0))


def test_legacy_weights_written_by_pynn_load_in_keras(tmp_path, keras):
    ours = small_convnet(pynn)
    g = np.random.default_rng(3)
    for w in ours.weights:
        w.assign(g.uniform(0.5, 1.5, w.shape))
    ours.save_weights(tmp_path / "p.h5")
    theirs = small_convnet(keras)
    theirs.load_weights(tmp_path / "p.h5")
    close(theirs.predict(X, verbose=0), ours.predict(X, verbose=0))


def test_weights_from_a_keras_model_file(tmp_path, keras):
    theirs = randomized_keras(keras)
    theirs.save(tmp_path / "k.keras")
    theirs.save(tmp_path / "k.h5")
    for name in ("k.keras", "k.h5"):
        ours = small_convnet(pynn)
        ours.load_weights(tmp_path / name)
        close(ours.predict(X, verbose=0), theirs.predict(X, verbose=0))
