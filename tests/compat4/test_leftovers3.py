"""Keras 3 behaviours that programs meet after the common paths: the
losses a call leaves in ``layer.losses`` / ``model.losses``; against Keras
3 on its NumPy backend where it runs the same program."""
import numpy as np
import pytest

import pynn


def _values(losses):
    return [float(np.asarray(v)) for v in losses]


# ------------------------------------------------------- losses after a call

def _loss_programs(k, x):
    """Each program's losses after eager calls, by name."""
    L = k.layers
    init = k.initializers.Constant(0.1)

    class Penalized(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.inner = L.Dense(2, kernel_initializer=init, activity_regularizer="l2")

        def call(self, t):
            self.add_loss(k.ops.sum(t) * 0.5)
            return self.inner(t)

    seq = k.Sequential([k.Input((3,)), L.Dense(2, kernel_initializer=init,
                                               activity_regularizer="l2")])

    class Net(k.Model):
        def __init__(self):
            super().__init__()
            self.block = Penalized()
            self.seq = seq
            self.head = L.Dense(2, kernel_initializer=init, kernel_regularizer="l2",
                                activity_regularizer="l1")

        def call(self, t):
            self.add_loss(k.ops.mean(t))
            h = self.block(t)[:, :1] * k.ops.ones((1, 3))
            return self.head(self.seq(h)[:, :1] * k.ops.ones((1, 3)))

    out = {}
    layer = Penalized()
    layer(x)
    out["layer"], out["layer.inner"] = layer.losses, layer.inner.losses
    dense = L.Dense(2, kernel_initializer=init, activity_regularizer="l1")
    dense(x)
    out["dense"] = dense.losses
    net = Net()
    net(x)
    net(x)  # each call replaces the last one's, it does not add to them
    out["model"], out["model.block"] = net.losses, net.block.losses
    out["model.seq"], out["model.head"] = net.seq.losses, net.head.losses
    net(x[:1], training=True)
    out["model, training"] = net.losses
    i = k.Input((3,))
    fn = k.Model(i, L.Dense(1, kernel_initializer=init)(
        L.Dense(4, kernel_initializer=init, activity_regularizer="l1",
                kernel_regularizer="l2")(i)))
    fn(x)
    out["functional"] = fn.losses
    return out


def test_losses_after_eager_calls_as_keras(keras):
    x = np.linspace(-1, 2, 6, dtype="float32").reshape(2, 3)
    want = _loss_programs(keras, x)
    got = _loss_programs(pynn, x)
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(_values(got[name]), _values(want[name]), rtol=1e-5,
                                   atol=1e-7, err_msg=name)
    assert len(got["model"]) == 6  # not empty, as eager calls of a subclassed model left it


def _sampling_model_losses(k, x):
    """A VAE's pattern: the call draws (so it runs at every call, not
    traced) and gives its KL term to add_loss."""
    class Sampler(k.Model):
        def __init__(self):
            super().__init__()
            self.enc = k.layers.Dense(4, kernel_initializer="ones")
            self.dec = k.layers.Dense(3, kernel_initializer="ones", activity_regularizer="l2")

        def call(self, t):
            h = self.enc(t)
            mean, logvar = h[:, :2], h[:, 2:]
            noise = k.random.normal(k.ops.shape(mean)) * 0.0
            z = mean + k.ops.exp(0.5 * logvar) * noise
            self.add_loss(-0.5 * k.ops.mean(1 + logvar - k.ops.square(mean) -
                                            k.ops.exp(logvar)))
            return self.dec(k.ops.concatenate([z, z], axis=-1))

    m = Sampler()
    m(x)
    m(x)
    return m.losses


def test_losses_of_a_model_that_draws_in_its_call(keras):
    x = np.linspace(0, 1, 6, dtype="float32").reshape(2, 3)
    want = _values(_sampling_model_losses(keras, x))
    assert len(want) == 2
    np.testing.assert_allclose(_values(_sampling_model_losses(pynn, x)), want, rtol=1e-5)


def test_model_losses_after_call_train_the_same():
    # ``loss + sum(model.losses)`` in a custom loop sees the add_loss value
    # of an eager call too: the value is the one fit adds
    class Net(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = pynn.layers.Dense(1, kernel_initializer="ones")

        def call(self, t):
            y = self.dense(t)
            self.add_loss(0.25 * pynn.ops.mean(pynn.ops.square(y)))
            return y

    x = np.arange(6, dtype="float32").reshape(3, 2)
    net = Net()
    y = net(x)
    assert _values(net.losses) == pytest.approx([0.25 * float(np.mean(np.square(y)))])
    net.compile(loss="mse", optimizer="sgd")
    total = net.evaluate(x, np.zeros((3, 1), "float32"), verbose=0)
    assert total == pytest.approx(1.25 * float(np.mean(np.square(y))), rel=1e-5)


# ------------------------------------------------------ weight names and paths

def _names_and_paths(k):
    L = k.layers
    k.backend.clear_session()  # (unnamed weights are numbered as layers are)

    class Gate(L.Layer):
        def build(self, input_shape):
            self.a = self.add_weight(shape=(2,))
            self.b = self.add_weight(shape=(2,))
            self.gate = self.add_weight(shape=(1,), name="gate")

        def call(self, t):
            return t * self.gate

    seq = k.Sequential([k.Input((2,)), L.Dense(2, name="d"), L.BatchNormalization(name="bn"),
                        Gate(name="g")], name="seq")
    i = k.Input((2,))
    fn = k.Model(i, L.Dense(1, name="head")(i), name="fn")
    return [(w.name, w.path) for m in (seq, fn) for w in m.weights]


def test_weight_name_is_the_short_one_path_the_full_one(keras):
    want = _names_and_paths(keras)
    assert _names_and_paths(pynn) == want
    assert ("gamma", "seq/bn/gamma") in want and ("variable_1", "seq/g/variable_1") in want
    assert ("variable", "seq/g/variable") in want


def _two_dense_model(seed):
    pynn.utils.set_random_seed(seed)
    return pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(4, name="a"),
                            pynn.layers.Dense(2, name="b")])


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".pynn", ".weights.h5"])
def test_saving_with_short_weight_names(tmp_path, suffix):
    # two layers' weights share a name ('kernel'): files keep them apart
    m = _two_dense_model(1)
    assert [w.name for w in m.weights] == ["kernel", "bias"] * 2
    x = np.linspace(-1, 1, 6, dtype="float32").reshape(2, 3)
    path = str(tmp_path / f"m{suffix}")
    if suffix == ".weights.h5":
        m.save_weights(path)
        other = _two_dense_model(2)
        other.load_weights(path)
    else:
        m.save(path)
        other = pynn.models.load_model(path)
    for a, b in zip(m.weights, other.weights):
        assert a.path.split("/")[-2:] == b.path.split("/")[-2:]
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_allclose(other.predict(x, verbose=0), m.predict(x, verbose=0))


def test_pynn_file_loads_by_layer_name(tmp_path):
    # load_weights(by_name=True) matches the file's 'layer/weight' entries;
    # the layers here come in another order
    m = _two_dense_model(1)
    m.save(str(tmp_path / "m.pynn"))
    pynn.utils.set_random_seed(3)
    other = pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(4, name="a"),
                             pynn.layers.Dense(3, name="c"), pynn.layers.Dense(2, name="x")])
    other.load_weights(str(tmp_path / "m.pynn"), by_name=True, skip_mismatch=True)
    np.testing.assert_array_equal(other.get_layer("a").kernel.numpy(),
                                  m.get_layer("a").kernel.numpy())


def test_legacy_h5_names_weights_by_path(tmp_path):
    h5py = pytest.importorskip("h5py")
    m = _two_dense_model(1)
    m.save_weights(str(tmp_path / "m.h5"))
    with h5py.File(tmp_path / "m.h5", "r") as f:
        names = [n.decode() if isinstance(n, bytes) else n
                 for n in f["a"].attrs["weight_names"]]
    assert names == [w.path for w in m.get_layer("a").weights]


# ------------------------------------------------------------- text as bytes

def test_text_dataset_batches_are_bytes_as_the_rest(tmp_path):
    for cls, text in (("neg", "<br />Dull, DULL film"), ("pos", "Été: a fine film")):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "0.txt").write_text(text, encoding="utf-8")
    ds = pynn.utils.text_dataset_from_directory(tmp_path, batch_size=2, shuffle=False,
                                                verbose=False)
    x, y = next(iter(ds))
    assert list(x.numpy()) == [b"<br />Dull, DULL film", "Été: a fine film".encode("utf-8")]
    assert x.numpy()[1].decode("utf-8") == "Été: a fine film"
    # the same as a batch of tf.constant's strings to the text layers
    same = pynn.constant(["<br />Dull, DULL film", "Été: a fine film"])
    np.testing.assert_array_equal(x.numpy(), same.numpy())

    def standardize(t):
        return pynn.strings.regex_replace(pynn.strings.lower(t), "<br />|[,:]", " ")

    vec = pynn.layers.TextVectorization(standardize=standardize, output_sequence_length=4)
    vec.adapt(ds.map(lambda t, label: t))
    assert all(isinstance(t, str) for t in vec.get_vocabulary())
    assert "film" in vec.get_vocabulary() and "dull" in vec.get_vocabulary()
    np.testing.assert_array_equal(vec(x), vec(same))
    lookup = pynn.layers.StringLookup()
    lookup.adapt(ds.map(lambda t, label: pynn.strings.split(t)))
    assert sorted(lookup.get_vocabulary()[1:]) == sorted(
        {"<br", "/>Dull,", "DULL", "film", "Été:", "a", "fine"})
    one = pynn.utils.text_dataset_from_directory(tmp_path, labels=None, batch_size=None,
                                                 shuffle=False, verbose=False)
    first = next(iter(one))
    assert first.shape == () and first.numpy() == b"<br />Dull, DULL film"


# ------------------------------------- reloading variables made in build()

class _Affine(pynn.layers.Layer):
    def __init__(self, units=2, **kw):
        super().__init__(**kw)
        self.units = units

    def build(self, input_shape):
        # TensorFlow's style: variables set as attributes, drawn at random
        self.w = pynn.Variable(pynn.random.normal([input_shape[-1], self.units]))
        self.b = pynn.Variable(pynn.zeros([self.units]))

    def call(self, t):
        return pynn.matmul(t, self.w) + self.b

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class _AffineNet(pynn.Model):
    def __init__(self, hidden=3, **kw):
        super().__init__(**kw)
        self.hidden = hidden
        self.first, self.second = _Affine(hidden), _Affine(1)

    def call(self, t):
        return self.second(pynn.nn.relu(self.first(t)))

    def get_config(self):
        return {**super().get_config(), "hidden": self.hidden}


@pytest.mark.parametrize("suffix", [".keras", ".pynn"])
def test_model_with_variables_made_in_build_reloads(tmp_path, suffix):
    x = np.linspace(-1, 1, 12, dtype="float32").reshape(4, 3)
    m = _AffineNet()
    y = np.asarray(m(x))
    assert len(m.weights) == 4
    m.save(str(tmp_path / f"m{suffix}"))
    back = pynn.models.load_model(str(tmp_path / f"m{suffix}"),
                                  custom_objects={"_AffineNet": _AffineNet, "_Affine": _Affine})
    assert len(back.weights) == 4
    np.testing.assert_allclose(np.asarray(back(x)), y, rtol=1e-6)
    # built from a shape, then given the saved weights
    m.save_weights(str(tmp_path / "m.weights.h5"))
    fresh = _AffineNet()
    fresh.build((None, 3))
    assert len(fresh.weights) == 4
    fresh.load_weights(str(tmp_path / "m.weights.h5"))
    np.testing.assert_allclose(np.asarray(fresh(x)), y, rtol=1e-6)
