"""keras.io's example programs, eighth sweep (vision, recipes, generative,
structured data), run with only their imports changed: the patterns that
broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ---- zero_dce.py: a subclassed model passes tf.keras's save_weights and
# load_weights arguments (save_format, options, by_name) to its inner model

def small_net():
    inp = pynn.Input((None, None, 3))
    return pynn.Model(inp, pynn.layers.Conv2D(4, 3, padding="same", activation="tanh")(inp))


class Wrapper(pynn.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = small_net()

    def call(self, x):
        return self.inner(x)

    def save_weights(self, filepath, overwrite=True, save_format=None, options=None):
        self.inner.save_weights(filepath, overwrite=overwrite, save_format=save_format,
                                options=options)

    def load_weights(self, filepath, by_name=False, skip_mismatch=False, options=None):
        self.inner.load_weights(filepath=filepath, by_name=by_name,
                                skip_mismatch=skip_mismatch, options=options)


@pytest.mark.parametrize("name, save_format", [("w.h5", None), ("w.h5", "h5"),
                                               ("w", "h5"), ("w", "tf"), ("w", None)])
def test_save_weights_takes_tf_keras_save_format_and_options(tmp_path, name, save_format):
    x = rand(2, 6, 5, 3)
    saved = Wrapper()
    want = np.asarray(saved(x))
    path = str(tmp_path / name)
    saved.save_weights(path, save_format=save_format)
    if save_format == "h5":  # HDF5 whatever the name, as tf.keras writes it
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89HDF\r\n\x1a\n"
    loaded = Wrapper()
    loaded(x)
    loaded.load_weights(path)
    np.testing.assert_allclose(np.asarray(loaded(x)), want, rtol=1e-6)


def test_save_weights_refuses_a_format_its_name_contradicts(tmp_path):
    model = small_net()
    with pytest.raises(ValueError, match="checkpoint"):
        model.save_weights(str(tmp_path / "w.h5"), save_format="tf")
    with pytest.raises(ValueError, match="unknown save_format"):
        model.save_weights(str(tmp_path / "w.h5"), save_format="onnx")
    with pytest.raises(ValueError, match="pynn file"):
        model.save_weights(str(tmp_path / "w.weights.pynn"), save_format="h5")


# ---- pointnet.py: tf.tensordot in an activity regularizer of a T-net

def tnet_model(lib, tensordot, eye):
    class OrthogonalRegularizer(lib.regularizers.Regularizer):
        def __init__(self, num_features, l2reg=0.001):
            self.num_features = num_features
            self.l2reg = l2reg
            self.eye = eye(num_features)

        def __call__(self, x):
            x = lib.ops.reshape(x, (-1, self.num_features, self.num_features))
            xxt = tensordot(x, x, axes=(2, 2))
            xxt = lib.ops.reshape(xxt, (-1, self.num_features, self.num_features))
            return lib.ops.sum(self.l2reg * lib.ops.square(xxt - self.eye))

    inp = lib.Input((5, 3))
    x = lib.layers.GlobalMaxPooling1D()(inp)
    x = lib.layers.Dense(9, activity_regularizer=OrthogonalRegularizer(3))(x)
    feat_t = lib.layers.Reshape((3, 3))(x)
    return lib.Model(inp, lib.layers.Dot(axes=(2, 1))([inp, feat_t]))


def test_tf_tensordot_in_an_activity_regularizer_as_keras(keras):
    tf = pynn
    ours = tnet_model(pynn, tf.tensordot, tf.eye)
    ref = tnet_model(keras, keras.ops.tensordot, keras.ops.eye)
    ref.set_weights(ours.get_weights())
    x = rand(4, 5, 3)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(ref(x)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(ours.losses[0]), float(ref.losses[0]), rtol=1e-5)
    # the same sums as tf.linalg.tensordot, with TensorFlow's name argument
    a, b = rand(2, 3, 4), rand(4, 3, seed=1)
    np.testing.assert_allclose(np.asarray(tf.tensordot(a, b, axes=1, name="td")),
                               np.tensordot(a, b, axes=1), rtol=1e-5)
    # and the regularizer trains the T-net's layer (its gradient reaches it)
    ours.compile("adam", "mse")
    h = ours.fit(x, rand(4, 5, 3, seed=2), epochs=4, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
