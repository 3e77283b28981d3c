"""pynn and Keras 3 load each other's .keras and .h5 files and predict the
same (to 1e-6): each model is built on one side (trained briefly in pynn;
given random weights and statistics in Keras, whose NumPy backend cannot
train) and loaded on the other."""
import numpy as np
import pytest

import pynn
from pynn.utils import set_random_seed

pytestmark = pytest.mark.usefixtures("h5py")


# Each builder makes the same architecture from pynn or from keras (the
# same API), and gives data for it: (model, x, y, loss).

def mnist_mlp(k, data):
    x, y = data
    model = k.Sequential([k.Input(shape=(784,)),
                          k.layers.Dense(128, activation="relu"),
                          k.layers.Dense(128, activation="relu"),
                          k.layers.Dense(10, activation="softmax")])
    return model, x[:512].reshape(-1, 784), y[:512], "sparse_categorical_crossentropy"


def mnist_convnet(k, data):
    x, y = data
    model = k.Sequential([k.Input(shape=(28, 28, 1)),
                          k.layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
                          k.layers.MaxPooling2D(pool_size=(2, 2)),
                          k.layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
                          k.layers.MaxPooling2D(pool_size=(2, 2)),
                          k.layers.Flatten(),
                          k.layers.Dropout(0.5),
                          k.layers.Dense(10, activation="softmax")])
    return model, x[:256].reshape(-1, 28, 28, 1), y[:256], "sparse_categorical_crossentropy"


def batchnorm_dropout(k, data):
    g = np.random.default_rng(1)
    x = g.normal(size=(200, 20)).astype(np.float32)
    y = (x[:, :5].sum(1) > 0).astype(np.int64) + (x[:, 5] > 0.5)
    model = k.Sequential([k.Input(shape=(20,)),
                          k.layers.Dense(32),
                          k.layers.BatchNormalization(),
                          k.layers.Activation("relu"),
                          k.layers.Dropout(0.3),
                          k.layers.Dense(16, activation="tanh"),
                          k.layers.BatchNormalization(momentum=0.9, epsilon=1e-2),
                          k.layers.Dense(3, activation="softmax")])
    return model, x, y, "sparse_categorical_crossentropy"


def separable_depthwise(k, data):
    g = np.random.default_rng(2)
    x = g.normal(size=(64, 12, 12, 3)).astype(np.float32)
    y = g.integers(0, 4, 64)
    model = k.Sequential([k.Input(shape=(12, 12, 3)),
                          k.layers.SeparableConv2D(8, 3, padding="same", depth_multiplier=2,
                                                   activation="relu"),
                          k.layers.DepthwiseConv2D(3, strides=2, depth_multiplier=2),
                          k.layers.BatchNormalization(),
                          k.layers.AveragePooling2D(2),
                          k.layers.GlobalAveragePooling2D(),
                          k.layers.Dense(4, activation="softmax")])
    return model, x, y, "sparse_categorical_crossentropy"


def conv1d(k, data):
    g = np.random.default_rng(3)
    x = g.normal(size=(64, 30, 4)).astype(np.float32)
    y = (x[:, :, 0].mean(1) > 0).astype(np.float32)
    model = k.Sequential([k.Input(shape=(30, 4)),
                          k.layers.Conv1D(8, 5, padding="causal", activation="relu"),
                          k.layers.MaxPooling1D(2),
                          k.layers.Conv1D(8, 3, dilation_rate=2, activation="elu"),
                          k.layers.AveragePooling1D(2, padding="same"),
                          k.layers.GlobalMaxPooling1D(),
                          k.layers.Dense(1, activation="sigmoid")])
    return model, x, y, "binary_crossentropy"


def two_inputs_shared(k, data):
    g = np.random.default_rng(4)
    xa = g.normal(size=(96, 6)).astype(np.float32)
    xb = g.normal(size=(96, 6)).astype(np.float32)
    y = g.integers(0, 2, 96)
    a = k.Input(shape=(6,), name="left")
    b = k.Input(shape=(6,), name="right")
    shared = k.layers.Dense(8, activation="relu", name="shared")
    sa, sb = shared(a), shared(b)
    x = k.layers.concatenate([sa, sb, k.layers.subtract([sa, sb]),
                              k.layers.multiply([sa, sb])])
    x = k.layers.add([k.layers.Dense(8)(x), sa])
    out = k.layers.Dense(2, activation="softmax", name="out")(x)
    return k.Model([a, b], out), [xa, xb], y, "sparse_categorical_crossentropy"


def nested(k, data):
    g = np.random.default_rng(5)
    x = g.normal(size=(96, 10)).astype(np.float32)
    y = g.integers(0, 3, 96)
    inner = k.Sequential([k.Input(shape=(8,)), k.layers.Dense(6, activation="relu"),
                          k.layers.BatchNormalization()], name="inner")
    j = k.Input(shape=(6,))
    tower = k.Model(j, k.layers.Dense(5, activation="tanh")(j), name="tower")
    i = k.Input(shape=(10,))
    h = k.layers.Dense(8)(i)
    out = k.layers.Dense(3, activation="softmax")(tower(inner(h)))
    return k.Model(i, out), x, y, "sparse_categorical_crossentropy"


MODELS = [mnist_mlp, mnist_convnet, batchnorm_dropout, separable_depthwise, conv1d,
          two_inputs_shared, nested]
FORMATS = ["keras", "h5"]


def close(a, b):
    a = a if isinstance(a, list) else [a]
    b = b if isinstance(b, list) else [b]
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), rtol=0, atol=1e-6)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("build", MODELS, ids=lambda f: f.__name__)
def test_pynn_to_keras(tmp_path, keras, mnist, build, fmt):
    set_random_seed(7)
    model, x, y, loss = build(pynn, mnist)
    model.compile(optimizer=pynn.optimizers.Adam(learning_rate=3e-3), loss=loss,
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / f"m.{fmt}")
    model.save(path)

    theirs = keras.models.load_model(path)
    close(theirs.predict(x, verbose=0), expected)
    assert [l.name for l in theirs.layers] == [l.name for l in model.layers]
    assert type(theirs.optimizer).__name__ == "Adam"
    assert float(theirs.optimizer.learning_rate) == pytest.approx(3e-3)
    assert int(theirs.optimizer.iterations) == model.optimizer.iterations

    ours = pynn.models.load_model(path)
    close(ours.predict(x, verbose=0), expected)
    assert ours.optimizer.iterations == model.optimizer.iterations
    assert len(ours.optimizer.variables) == len(model.optimizer.variables)
    for a, b in zip(ours.optimizer.variables, model.optimizer.variables):
        assert a.name == b.name and np.array_equal(a.numpy(), b.numpy())


def randomize(model, seed):
    """Keras's NumPy backend cannot train: give the model random weights
    instead (positive variances for BatchNormalization)."""
    g = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        value = g.normal(0, 1.0 / np.sqrt(fan_in), shape) if len(shape) > 1 else \
            g.normal(0, 0.2, shape)
        if "variance" in w.path:
            value = g.uniform(0.5, 2.0, shape)
        elif "gamma" in w.path:
            value = 1.0 + value
        w.assign(value.astype(np.float32))


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("build", MODELS, ids=lambda f: f.__name__)
def test_keras_to_pynn(tmp_path, keras, mnist, build, fmt):
    theirs, x, y, loss = build(keras, mnist)
    randomize(theirs, 11)
    theirs.compile(optimizer=keras.optimizers.RMSprop(learning_rate=2e-3), loss=loss,
                   metrics=["accuracy"])
    expected = theirs.predict(x, verbose=0)
    path = str(tmp_path / f"k.{fmt}")
    theirs.save(path)

    ours = pynn.models.load_model(path)
    close(ours.predict(x, verbose=0), expected)
    assert [l.name for l in ours.layers] == [l.name for l in theirs.layers]
    assert isinstance(ours.optimizer, pynn.optimizers.RMSprop)
    assert ours.optimizer.learning_rate == pytest.approx(2e-3)
    ours.fit(x, y, batch_size=32, epochs=1, verbose=0)  # it trains on from there
    assert ours.optimizer.iterations > 0


def test_optimizer_state_crosses_both_ways(tmp_path, keras, mnist):
    set_random_seed(3)
    model, x, y, loss = batchnorm_dropout(pynn, mnist)
    model.compile(optimizer="adam", loss=loss)
    model.fit(x, y, batch_size=50, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras")
    opt = theirs.optimizer
    assert int(opt.iterations) == 8
    weights = model.trainable_weights
    momentum, velocity = model.optimizer._state_arrays()
    sizes = np.cumsum([0] + [w.value.size for w in weights])
    for i, w in enumerate(weights):
        m = np.asarray(opt._momentums[i])
        v = np.asarray(opt._velocities[i])
        assert m.shape == w.shape
        assert np.array_equal(m.reshape(-1), momentum[sizes[i]:sizes[i + 1]])
        assert np.array_equal(v.reshape(-1), velocity[sizes[i]:sizes[i + 1]])

    # and back: state Keras holds (set by hand) arrives in pynn's flat slots
    g = np.random.default_rng(0)
    for var in opt._momentums + opt._velocities:
        var.assign(g.uniform(0, 1, var.shape).astype(np.float32))
    opt.iterations.assign(42)
    theirs.save(tmp_path / "k.keras")
    ours = pynn.models.load_model(tmp_path / "k.keras")
    assert ours.optimizer.iterations == 42
    got_m, got_v = ours.optimizer._state_arrays()
    assert np.array_equal(got_m, np.concatenate([np.asarray(v).reshape(-1)
                                                 for v in opt._momentums]))
    assert np.array_equal(got_v, np.concatenate([np.asarray(v).reshape(-1)
                                                 for v in opt._velocities]))


def test_keras_file_layout(tmp_path, h5py):
    """The zip and its HDF5 file hold what Keras 3 writes, where it writes
    it (checked without Keras)."""
    import json
    import zipfile
    model, x, y, loss = nested(pynn, None)
    model.compile(optimizer=pynn.optimizers.SGD(0.1, momentum=0.9), loss=loss)
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as zf:
        assert zf.namelist() == ["metadata.json", "config.json", "model.weights.h5"]
        config = json.loads(zf.read("config.json"))
        zf.extract("model.weights.h5", tmp_path)
    assert config["class_name"] == "Functional"
    assert config["registered_name"] == "Functional"
    assert config["compile_config"]["optimizer"]["class_name"] == "SGD"
    assert config["compile_config"]["optimizer"]["module"] == "keras.optimizers"
    entries = config["config"]["layers"]
    assert [e["class_name"] for e in entries] == ["InputLayer", "Dense", "Sequential",
                                                  "Functional", "Dense"]
    dense = entries[1]
    assert dense["module"] == "keras.layers" and dense["registered_name"] is None
    assert dense["build_config"] == {"input_shape": [None, 10]}
    assert dense["config"]["kernel_initializer"] == {
        "module": "keras.initializers", "class_name": "GlorotUniform",
        "config": {"seed": None}, "registered_name": None}
    assert dense["config"]["dtype"]["class_name"] == "DTypePolicy"
    assert dense["inbound_nodes"][0]["args"][0]["class_name"] == "__keras_tensor__"
    with h5py.File(tmp_path / "model.weights.h5", "r") as f:
        assert f["layers/dense/vars"].attrs["name"] == entries[1]["name"]
        assert f["layers/dense/vars/0"].shape == (10, 8)
        assert f["layers/sequential/layers/batch_normalization/vars/3"].shape == (6,)
        assert f["layers/functional/layers/dense/vars/1"].shape == (5,)
        assert f["layers/dense_1/vars/0"].shape == (5, 3)
        assert len(f["layers/input_layer/vars"]) == 0
        # iterations, learning rate, one momentum per trainable weight
        assert len(f["optimizer/vars"]) == 2 + len(model.trainable_weights)
