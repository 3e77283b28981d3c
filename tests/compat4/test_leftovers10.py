"""TensorFlow's special functions (tf.math.lgamma, digamma, the Bessel
functions, igamma, betainc, zeta, polyval), tf.strided_slice and
tf.reverse_sequence, against SciPy / NumPy in float64, with gradients
against finite differences."""
import numpy as np
import pytest

import pynn as tf
from gradcheck import numeric_grad

sp = pytest.importorskip("scipy.special")


def _grad(fn, x):
    x = tf.Variable(np.asarray(x, np.float32))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(x))
    return np.asarray(tape.gradient(loss, x))


def _fd(fn, x, eps=1e-3):
    return numeric_grad(lambda v: float(np.sum(np.asarray(fn(tf.constant(v)), np.float64))),
                        np.asarray(x, np.float32), eps)


# ------------------------------------------------------------ values

RNG = np.random.default_rng(0)
X = np.concatenate([RNG.uniform(-15, 15, 200), RNG.uniform(0, 500, 50),
                    [0.5, 1.0, 2.0, 1e-6, -0.5, -2.5, 30.0, 35.0]])


@pytest.mark.parametrize("name, ref", [("lgamma", sp.gammaln), ("digamma", sp.digamma),
                                       ("bessel_i0e", sp.i0e), ("bessel_i1e", sp.i1e)])
def test_unary_special_values_float64(name, ref):
    x = X[(X > 0) | (X != np.floor(X))]
    got = getattr(tf.math, name)(tf.constant(x, dtype="float64"))
    assert np.asarray(got).dtype == np.float64
    np.testing.assert_allclose(got, ref(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name, ref", [("bessel_i0", sp.i0), ("bessel_i1", sp.i1),
                                       ("lgamma", sp.gammaln), ("digamma", sp.digamma),
                                       ("expm1", np.expm1), ("erfinv", sp.erfinv)])
def test_unary_special_values_float32(name, ref):
    x = np.array([-3.3, -0.7, -0.2, 0.1, 0.45, 0.9, 1.7, 4.2, 9.5], np.float32)
    if name == "erfinv":
        x = x / 10
    got = getattr(tf.math, name)(x)
    assert np.asarray(got).dtype == np.float32
    np.testing.assert_allclose(got, ref(x.astype(np.float64)), rtol=2e-6, atol=1e-6)


def test_poles_and_domains_as_tensorflow():
    assert np.isinf(tf.math.lgamma([0.0, -1.0, -2.0])).all()
    assert np.isnan(tf.math.digamma([0.0, -3.0])).all()
    assert np.isnan(tf.math.igamma([-1.0, 1.0], [1.0, -1.0])).all()
    assert np.isnan(tf.math.betainc([1.0], [1.0], [1.5])).all()
    z = tf.math.zeta([1.0, 0.5], [1.0, 1.0])
    assert np.isinf(z[0]) and np.isnan(z[1])
    np.testing.assert_allclose(tf.math.bessel_i0e([1e6]), sp.i0e([1e6]), rtol=1e-6)


def test_incomplete_gamma_beta_and_zeta_values():
    a = RNG.uniform(0.05, 40, 300)
    x = RNG.uniform(0, 70, 300)
    np.testing.assert_allclose(tf.math.igamma(a, x), sp.gammainc(a, x), atol=1e-11)
    np.testing.assert_allclose(tf.math.igammac(a, x), sp.gammaincc(a, x), atol=1e-11)
    b = RNG.uniform(0.05, 30, 300)
    t = RNG.uniform(0, 1, 300)
    np.testing.assert_allclose(tf.math.betainc(a, b, t), sp.betainc(a, b, t), atol=1e-10)
    s = RNG.uniform(1.05, 12, 300)
    q = RNG.uniform(0.05, 20, 300)
    np.testing.assert_allclose(tf.math.zeta(s, q), sp.zeta(s, q), rtol=1e-12)
    # broadcasting, float32 in and out
    got = tf.math.igamma(np.float32(2.0), np.array([0.5, 1.0, 3.0], np.float32))
    assert got.dtype == np.float32 and got.shape == (3,)
    np.testing.assert_allclose(got, sp.gammainc(2.0, [0.5, 1.0, 3.0]), rtol=1e-6)


def test_polyval_and_special_namespace():
    x = np.array([0.5, -1.0, 2.0], np.float32)
    got = tf.math.polyval([tf.constant(2.0), tf.constant(-3.0), tf.constant(1.0)], x)
    np.testing.assert_allclose(got, np.polyval([2.0, -3.0, 1.0], x), rtol=1e-6)
    np.testing.assert_allclose(tf.math.special.bessel_i1(x), sp.i1(x), rtol=1e-6)
    assert np.all(np.asarray(tf.math.polyval([], x)) == 0)


# ------------------------------------------------------------ gradients

@pytest.mark.parametrize("name", ["lgamma", "digamma", "bessel_i0", "bessel_i0e", "bessel_i1",
                                  "bessel_i1e", "expm1"])
def test_unary_special_gradients(name):
    fn = getattr(tf.math, name)
    x = np.array([-2.3, -0.4, 0.3, 1.1, 2.6], np.float32)
    if name in ("bessel_i0e", "bessel_i1e"):   # (their kink at 0 stays off the points)
        x = x + np.float32(0.05)
    np.testing.assert_allclose(_grad(fn, x), _fd(fn, x), rtol=2e-3, atol=2e-3)


def test_bessel_i1_gradient_at_zero():
    np.testing.assert_allclose(_grad(tf.math.bessel_i1, [0.0]), [0.5], rtol=1e-6)


def test_two_argument_gradients():
    a = np.array([0.7, 2.5, 4.0], np.float32)
    x = np.array([0.4, 2.0, 6.0], np.float32)
    for fn in (tf.math.igamma, tf.math.igammac):
        np.testing.assert_allclose(_grad(lambda v: fn(a, v), x),
                                   _fd(lambda v: fn(a, v), x), rtol=2e-3, atol=1e-4)
        np.testing.assert_allclose(_grad(lambda v: fn(v, x), a),
                                   _fd(lambda v: fn(v, x), a), rtol=5e-3, atol=2e-4)
    b = np.array([1.5, 0.8, 3.0], np.float32)
    t = np.array([0.2, 0.5, 0.7], np.float32)
    np.testing.assert_allclose(_grad(lambda v: tf.math.betainc(a, b, v), t),
                               _fd(lambda v: tf.math.betainc(a, b, v), t, 1e-4),
                               rtol=2e-3, atol=1e-3)
    s = np.array([2.0, 3.5], np.float32)
    q = np.array([0.8, 2.0], np.float32)
    np.testing.assert_allclose(_grad(lambda v: tf.math.zeta(s, v), q),
                               -s * sp.zeta(s + 1, q), rtol=1e-5)
    # TensorFlow's: no gradient flows to zeta's x nor to betainc's a and b
    v = tf.Variable(s)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.math.zeta(v, q))
    assert tape.gradient(loss, v) is None


def test_polyval_gradient():
    x = np.array([0.5, -1.0, 2.0], np.float32)
    got = _grad(lambda v: tf.math.polyval([2.0, -3.0, 1.0], v), x)
    np.testing.assert_allclose(got, 4 * x - 3, rtol=1e-6)


# ------------------------------------------------------------ slicing

def test_strided_slice_matches_numpy_indexing():
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5).astype(np.int32)
    t = tf.constant(a)
    np.testing.assert_array_equal(tf.strided_slice(t, [0, 1], [2, 3], [1, 1]), a[0:2, 1:3])
    np.testing.assert_array_equal(tf.strided_slice(t, [1, 0, 3], [0, 3, 0], [-1, 2, -1],
                                                   begin_mask=2, end_mask=1),
                                  a[1::-1, :3:2, 3:0:-1])
    np.testing.assert_array_equal(tf.strided_slice(t, [0, 2], [0, 3], shrink_axis_mask=1,
                                                   end_mask=0), a[0, 2:3])
    np.testing.assert_array_equal(
        tf.strided_slice(t, [0, 0, 1], [0, 0, 3], [1, 1, 1], ellipsis_mask=1,
                         new_axis_mask=2), a[..., None, 1:3])
    np.testing.assert_array_equal(tf.strided_slice(t, [1, 0, 0, -1], [2, 3, 4, 0],
                                                   shrink_axis_mask=0b1001),
                                  a[1, 0:3, 0:4, -1])
    with pytest.raises(Exception, match="strided_slice"):
        tf.strided_slice(t, [5], [6], shrink_axis_mask=1)
    with pytest.raises(ValueError, match="strides"):
        tf.strided_slice(t, [0], [1], [0])


def test_strided_slice_gradient():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    g = _grad(lambda v: tf.strided_slice(v, [2, 0], [0, 4], [-1, 2]) * 3.0, x)
    want = np.zeros((3, 4), np.float32)
    want[2:0:-1, 0:4:2] = 3
    np.testing.assert_array_equal(g, want)


def test_reverse_sequence():
    a = np.arange(2 * 4 * 3).reshape(2, 4, 3).astype(np.float32)
    got = tf.reverse_sequence(a, [3, 1], seq_axis=1, batch_axis=0)
    want = a.copy()
    want[0, :3] = a[0, 2::-1]
    np.testing.assert_array_equal(got, want)
    # batch on axis 2, sequences on axis 0 (TensorFlow's docs' second example)
    got = tf.reverse_sequence(a, [4, 2, 0], seq_axis=1, batch_axis=2)
    want = a.copy()
    want[:, :4, 0] = a[:, 3::-1, 0]
    want[:, :2, 1] = a[:, 1::-1, 1]
    np.testing.assert_array_equal(got, want)
    g = _grad(lambda v: tf.reverse_sequence(v, [3, 1], seq_axis=1) *
              np.arange(12, dtype=np.float32).reshape(1, 4, 3), a)
    w = np.broadcast_to(np.arange(12, dtype=np.float32).reshape(1, 4, 3), a.shape).copy()
    w[0, :3] = w[0, 2::-1]
    np.testing.assert_array_equal(g, w)
    with pytest.raises(Exception, match="seq_lengths"):
        tf.reverse_sequence(a, [5, 1], seq_axis=1)


# ------------------------------------------------------------ tf.saved_model

def _two_output_model():
    tf.utils.set_random_seed(0)
    a = tf.Input((3,), name="a")
    b = tf.Input((2,), name="b")
    h = tf.layers.Dense(4, activation="relu", name="hidden")(tf.layers.Concatenate()([a, b]))
    out1 = tf.layers.Dense(1, name="score")(h)
    out2 = tf.layers.Dense(2, activation="softmax", name="probs")(h)
    return tf.Model([a, b], [out1, out2])


def test_saved_model_save_load_round_trip(tmp_path):
    model = _two_output_model()
    rng = np.random.default_rng(1)
    xa = rng.normal(size=(5, 3)).astype(np.float32)
    xb = rng.normal(size=(5, 2)).astype(np.float32)
    want = model.predict([xa, xb], verbose=0)
    tf.saved_model.save(model, str(tmp_path / "export"))
    assert tf.saved_model.contains_saved_model(tmp_path / "export")
    loaded = tf.saved_model.load(str(tmp_path / "export"))
    got = loaded([xa, xb])
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-6)
    served = loaded.signatures["serving_default"](a=tf.constant(xa), b=tf.constant(xb))
    assert sorted(served) == ["probs", "score"]
    np.testing.assert_allclose(np.asarray(served["score"]), want[0], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(served["probs"]), want[1], rtol=1e-6)
    assert len(loaded.trainable_variables) == len(model.trainable_weights)
    with pytest.raises(TypeError, match="missing"):
        loaded.signatures["serving_default"](a=xa)
    with pytest.raises(ValueError, match="not a folder written"):
        tf.saved_model.load(str(tmp_path))
    with pytest.raises(TypeError, match="pynn saves models"):
        tf.saved_model.save(object(), str(tmp_path / "other"))
    # the folder holds pynn's model file (a zip of JSON and .npy), nothing pickled
    import zipfile
    files = [p for p in (tmp_path / "export").rglob("*") if p.is_file()]
    assert [p.name for p in files] == ["pynn_model.pynn"]
    with zipfile.ZipFile(files[0]) as z:
        assert all(n.endswith((".json", ".npy")) for n in z.namelist())


def test_model_save_to_folder_as_tf_keras_2(tmp_path):
    model = tf.Sequential([tf.Input((4,)), tf.layers.Dense(3, activation="relu"),
                           tf.layers.Dense(1)])
    model.compile("adam", "mse")
    x = np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    folder = tmp_path / "saved_model" / "my_model"
    model.save(str(folder))
    assert folder.is_dir()
    restored = tf.keras.models.load_model(str(folder))
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    # compiled with its optimizer state: training goes on the same
    model.fit(x, x[:, :1], epochs=1, verbose=0, shuffle=False)
    restored.fit(x, x[:, :1], epochs=1, verbose=0, shuffle=False)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5)
    model.save(str(folder))      # (over the folder: the model as trained now)
    served = tf.saved_model.load(str(folder)).signatures["serving_default"]
    (name,) = served.input_names
    np.testing.assert_allclose(list(served(**{name: x}).values())[0], model.predict(x, verbose=0),
                               rtol=1e-5)
    with pytest.raises(FileExistsError):
        model.save(str(folder), overwrite=False)


def test_model_checkpoint_of_whole_models_to_folders(tmp_path):
    model = tf.Sequential([tf.Input((2,)), tf.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((4, 2), np.float32)
    template = str(tmp_path / "ckpt" / "model_{epoch:02d}")
    model.fit(x, x[:, :1], epochs=2, verbose=0,
              callbacks=[tf.keras.callbacks.ModelCheckpoint(template)])
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["model_01", "model_02"]
    restored = tf.keras.models.load_model(str(tmp_path / "ckpt" / "model_02"))
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))


# ------------------------------------------------------------ printing eager tensors

def test_eager_tensors_print_as_tensorflow():
    t = tf.constant([1, 2, 3])
    assert str(t) == "tf.Tensor([1 2 3], shape=(3,), dtype=int32)"
    assert repr(t) == "<tf.Tensor: shape=(3,), dtype=int32, numpy=array([1, 2, 3], dtype=int32)>"
    m = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    assert str(m) == "tf.Tensor(\n[[1. 2.]\n [3. 4.]], shape=(2, 2), dtype=float32)"
    assert repr(m) == ("<tf.Tensor: shape=(2, 2), dtype=float32, numpy=\n"
                       "array([[1., 2.],\n       [3., 4.]], dtype=float32)>")
    assert repr(tf.constant(0.5)) == "<tf.Tensor: shape=(), dtype=float32, numpy=0.5>"
    assert str(tf.constant(7)) == "tf.Tensor(7, shape=(), dtype=int32)"
    assert str(tf.constant(["a", "b"])) == "tf.Tensor([b'a' b'b'], shape=(2,), dtype=string)"
    assert f"{tf.constant(0.25):.2f}" == "0.25"      # (a format spec formats the value)
    assert str(t.numpy()) == "[1 2 3]"


# ------------------------------------------------------------ complex variables

def test_complex_variables_as_tensorflows_guide():
    v = tf.Variable([5 + 4j, 6 + 1j])
    assert v.dtype == "complex128" and not v.trainable
    np.testing.assert_array_equal(v.numpy(), [5 + 4j, 6 + 1j])
    v.assign([2 + 3j, 4 + 5j])
    np.testing.assert_array_equal(v.numpy(), [2 + 3j, 4 + 5j])
    np.testing.assert_array_equal(v * 2, [4 + 6j, 8 + 10j])
    np.testing.assert_array_equal(v + v, [4 + 6j, 8 + 10j])
    v.assign_add([1j, 1j])
    v.assign_sub([1, 1])
    np.testing.assert_array_equal(v.numpy(), [1 + 4j, 3 + 6j])
    np.testing.assert_allclose(tf.abs(v), np.abs([1 + 4j, 3 + 6j]))
    w = tf.Variable([1.0, 2.0], dtype=tf.complex64)
    assert w.numpy().dtype == np.complex64
    assert tf.Variable(np.array([1j], np.complex64)).numpy().dtype == np.complex64
    with pytest.raises(ValueError, match="shape"):
        v.assign([1j])


# ------------------------------------------------------------ custom optimizers' state in files

class _V2Momentum(tf.keras.optimizers.Optimizer):
    """tf.keras 2's OptimizerV2 subclass: its state made by _create_slots."""

    def __init__(self, learning_rate=0.05, momentum=0.9, name="V2Momentum", **kwargs):
        super().__init__(name, **kwargs)
        self._set_hyper("learning_rate", kwargs.get("lr", learning_rate))
        self._set_hyper("momentum", momentum)

    def _create_slots(self, var_list):
        for var in var_list:
            self.add_slot(var, "m")

    def _resource_apply_dense(self, grad, var, apply_state=None):
        m = self.get_slot(var, "m")
        m.assign(self._get_hyper("momentum", var.dtype.base_dtype) * m + grad)
        var.assign_sub(self._decayed_lr(var.dtype.base_dtype) * m)

    def get_config(self):
        return {**super().get_config(), "momentum": self._serialize_hyperparameter("momentum")}


class _K3Momentum(tf.keras.optimizers.Optimizer):
    """Keras 3's subclass: its state made by build with add_variable."""

    def __init__(self, learning_rate=0.05, momentum=0.9, name="K3Momentum", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = momentum

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.m = [self.add_variable_from_reference(v, "m") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        m = self.m[self._get_variable_index(variable)]
        self.assign(m, tf.ops.add(tf.ops.multiply(self.momentum, m), gradient))
        self.assign_sub(variable, tf.ops.multiply(learning_rate, m))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


@pytest.mark.parametrize("cls", [_V2Momentum, _K3Momentum])
@pytest.mark.parametrize("name", ["m.pynn", "folder", "m.keras", "m.h5"])
def test_custom_optimizer_state_is_saved_and_restored(tmp_path, cls, name):
    tf.utils.set_random_seed(0)
    model = tf.Sequential([tf.Input((3,)), tf.layers.Dense(4, activation="tanh"),
                           tf.layers.Dense(1)])
    model.compile(cls(), "mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert model.optimizer.custom_state()        # (the momenta exist, nonzero)
    assert any(np.abs(v).max() > 0 for _, v in model.optimizer.custom_state())
    model.save(str(tmp_path / name))
    restored = tf.keras.models.load_model(str(tmp_path / name),
                                          custom_objects={cls.__name__: cls})
    assert type(restored.optimizer) is cls
    model.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    restored.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    for (_, a), (_, b) in zip(restored.optimizer.custom_state(), model.optimizer.custom_state()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ tf.make_tensor_proto / make_ndarray

def test_make_tensor_proto_and_make_ndarray_round_trip():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    proto = tf.make_tensor_proto(a)
    assert proto.dtype == 1 and [d.size for d in proto.tensor_shape.dim] == [2, 3]
    back = tf.make_ndarray(proto)
    assert type(back) is np.ndarray and back.dtype == np.float32
    np.testing.assert_array_equal(back, a)
    # the bytes are TensorFlow's message: tf.io.parse_tensor reads them
    np.testing.assert_array_equal(tf.io.parse_tensor(proto.SerializeToString(), tf.float32), a)
    assert tf.make_ndarray(proto.SerializeToString()).shape == (2, 3)
    assert tf.make_ndarray(tf.make_tensor_proto([1, 2, 3])).dtype == np.int32
    assert tf.make_ndarray(tf.make_tensor_proto([1.5])).dtype == np.float32
    assert tf.make_ndarray(tf.make_tensor_proto(np.array([1.5]))).dtype == np.float64
    np.testing.assert_array_equal(tf.make_ndarray(tf.make_tensor_proto(["a", "bc"])),
                                  np.array([b"a", b"bc"], dtype=object))
    np.testing.assert_array_equal(tf.make_ndarray(tf.make_tensor_proto(7, shape=[2, 2])),
                                  np.full((2, 2), 7, np.int32))
    np.testing.assert_array_equal(tf.make_ndarray(tf.make_tensor_proto([1, 2, 3, 4],
                                                                       shape=[2, 2])),
                                  [[1, 2], [3, 4]])
    assert tf.make_ndarray(tf.make_tensor_proto([1, 2], dtype=tf.float64)).dtype == np.float64
    copy = type(proto).FromString(proto.SerializeToString())
    assert copy == proto
    with pytest.raises(ValueError, match="do not fill"):
        tf.make_tensor_proto([1, 2, 3], shape=[2, 2])
    with pytest.raises(TypeError, match="expected shape"):
        tf.make_tensor_proto([1, 2, 3, 4], shape=[2, 2], verify_shape=True)
