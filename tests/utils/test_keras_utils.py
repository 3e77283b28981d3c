"""keras.utils' and keras.backend's small helpers, against Keras 3 on its
NumPy backend: dtypes, uids, clear_session, get_source_inputs, normalize,
split_dataset, step data packing, object serialization, Config, logging,
name_scope and the top-level base classes."""
import io
import logging

import numpy as np
import pytest

import pynn
from pynn import backend, layers, utils


@pytest.fixture(autouse=True)
def _keep_layer_name_counters():
    from pynn.layers.base import _name_counts
    saved = dict(_name_counts)
    yield
    _name_counts.clear()
    _name_counts.update(saved)


DTYPES = [None, "float32", "float16", "float64", "int8", "uint8", "int32", "int64", "uint64",
          "bool", "bfloat16", "string", "complex64", int, float, bool, str, complex, "int",
          np.float32, np.int64, np.dtype("uint16"), np.dtype("float64"), np.bool_]


@pytest.mark.parametrize("dtype", DTYPES, ids=repr)
def test_dtype_functions_match_keras(keras, dtype):
    kb = keras.backend
    assert backend.standardize_dtype(dtype) == kb.standardize_dtype(dtype)
    assert utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype)
    if dtype not in ("string", str):
        assert backend.is_float_dtype(dtype) == kb.is_float_dtype(dtype)
        assert backend.is_int_dtype(dtype) == kb.is_int_dtype(dtype)


def test_bad_dtypes_are_refused_as_in_keras(keras):
    for bad in ("float31", "int128", object, "float"):
        with pytest.raises(ValueError):
            keras.backend.standardize_dtype(bad)
        with pytest.raises(ValueError, match="Invalid dtype"):
            backend.standardize_dtype(bad)
    for unhashable in ([1], {}):
        with pytest.raises(TypeError):
            keras.backend.standardize_dtype(unhashable)
        with pytest.raises(TypeError):
            backend.standardize_dtype(unhashable)


PROMOTIONS = [(), ("float32",), ("int32", "float32"), ("int8", "uint8"), ("int64", "float16"),
              ("uint8", "int"), ("bool", "int"), ("bool", float), (int, float), (int,),
              (float,), ("int32", int), ("int16", float), ("bfloat16", "float16"),
              ("float64", "int32"), ("uint32", "int32"), ("uint64", "int64"), (None, "int8"),
              ("bool", "bool"), ("int8", "int16", "uint16"), ("complex64", "float64"),
              ("float16", float), ("uint8", "uint16"), ("int64", "uint64"),
              (np.float64, np.int8), ("bool", "uint8", float)]


@pytest.mark.parametrize("dtypes", PROMOTIONS, ids=repr)
def test_result_type_matches_keras(keras, dtypes):
    assert backend.result_type(*dtypes) == keras.backend.result_type(*dtypes)


def test_result_type_errors(keras):
    for bad in (("float8_e4m3fn", "float32"), ("string", "int32"), ("bool", "float")):
        with pytest.raises(ValueError):
            keras.backend.result_type(*bad)
        with pytest.raises(ValueError):
            backend.result_type(*bad)


def test_get_uid_backend_and_clear_session(keras):
    assert backend.backend() == keras.backend.backend() == "numpy"
    assert backend.get_uid("zz_prefix") == 1 and backend.get_uid("zz_prefix") == 2
    assert backend.get_uid() == 1
    pynn.utils.clear_session(free_memory=False)
    assert backend.get_uid("zz_prefix") == 1
    # the automatic layer names count with the same counters, as in Keras
    backend.clear_session(free_memory=False)
    assert backend.get_uid("dense") == 1
    assert layers.Dense(2).name == "dense_1"
    assert keras.utils.is_keras_tensor(keras.Input((2,)))
    assert utils.is_keras_tensor(pynn.Input((2,))) and not utils.is_keras_tensor(np.ones(2))


def test_get_source_inputs_match_keras(keras):
    def graph(k):
        a, b = k.Input((3,), name="a"), k.Input((3,), name="b")
        x = k.layers.Dense(4)(a)
        y = k.layers.Add()([x, k.layers.Dense(4)(b)])
        z = k.layers.Concatenate()([y, x])
        return (a, b), z
    (a, b), z = graph(pynn)
    (ka, kb), kz = graph(keras)
    got = utils.get_source_inputs(z)
    assert [t.name for t in got] == [t.name for t in keras.utils.get_source_inputs(kz)]
    assert got[0] is a and got[1] is b
    assert utils.get_source_inputs(a) == [a]
    assert utils.get_source_inputs(5) == keras.utils.get_source_inputs(5) == 5


@pytest.mark.parametrize("shape,axis,order", [((4, 5), -1, 2), ((4, 5), 1, 1), ((3, 3), 0, 2),
                                              ((2, 3, 4), -1, np.inf), ((6,), -1, 2),
                                              ((3, 4), None, 2)])
def test_normalize_matches_keras(keras, shape, axis, order):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    x[0] = 0  # a zero row keeps its zeros
    np.testing.assert_allclose(utils.normalize(x, axis, order),
                               keras.utils.normalize(x, axis, order), rtol=1e-6, atol=1e-7)


def test_pack_unpack_match_keras(keras):
    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    for args in ((x,), (x, y), (x, y, w), ([x, y],), ((x,),)):
        ours, theirs = utils.pack_x_y_sample_weight(*args), \
            keras.utils.pack_x_y_sample_weight(*args)
        assert type(ours) is type(theirs) and len(ours) == len(theirs) if \
            isinstance(theirs, tuple) else ours is theirs
    for data in (x, (x,), (x, y), [x, y, w], (x, y, w)):
        ours, theirs = utils.unpack_x_y_sample_weight(data), \
            keras.utils.unpack_x_y_sample_weight(data)
        assert [o is t for o, t in zip(ours, theirs)] == [True] * 3
    with pytest.raises(ValueError):
        utils.unpack_x_y_sample_weight((x, y, w, w))


def test_serialize_keras_object_round_trip(keras):
    for make in (lambda k: k.layers.Dense(3, activation="relu", name="d"),
                 lambda k: k.optimizers.Lamb(learning_rate=0.5),
                 lambda k: k.losses.Huber(delta=2.0), lambda k: k.regularizers.L2(0.1)):
        ours = utils.serialize_keras_object(make(pynn))
        theirs = keras.utils.serialize_keras_object(make(keras))
        assert ours["class_name"] == theirs["class_name"]
        assert ours["module"] == theirs["module"]
        back = utils.deserialize_keras_object(ours)
        assert type(back).__name__ == theirs["class_name"]
        # and Keras's form reads in pynn
        assert type(utils.deserialize_keras_object(theirs)).__name__ == theirs["class_name"]


def test_split_dataset_sizes_and_shuffle(keras):
    x = np.arange(20, dtype="float32").reshape(10, 2)
    y = np.arange(10)
    left, right = utils.split_dataset((x, y), left_size=0.8)
    assert len(left) == 8 and len(right) == 2
    lx = np.stack([e[0] for e in left])
    np.testing.assert_array_equal(lx, x[:8])
    assert isinstance(next(iter(right)), tuple)
    left, right = utils.split_dataset(x, left_size=3, right_size=4)
    np.testing.assert_array_equal(np.stack(list(right)), x[-4:])
    assert len(left) == 3
    # shuffled with Python's generator seeded as Keras seeds it
    import random
    order = list(range(10))
    random.Random(7).shuffle(order)
    left, right = utils.split_dataset([x, y], right_size=0.3, shuffle=True, seed=7)
    np.testing.assert_array_equal([int(e[1]) for e in left], order[:7])
    left, _ = utils.split_dataset(pynn.utils.Dataset.from_tensor_slices({"a": x, "b": y}),
                                  left_size=2)
    first = next(iter(left))
    assert set(first) == {"a", "b"} and first["b"] == 0
    for kwargs, err in (({}, ValueError), ({"left_size": 0, "right_size": 0}, ValueError),
                        ({"left_size": 1.5}, ValueError), ({"left_size": 10}, ValueError),
                        ({"left_size": 0.6, "right_size": 0.6}, ValueError),
                        ({"left_size": "a"}, TypeError), ({"left_size": 0.01}, ValueError)):
        with pytest.raises(err):
            utils.split_dataset(x, **kwargs)
    with pytest.raises(ValueError, match="same number of rows"):
        utils.split_dataset([x, y[:3]], left_size=1)
    with pytest.raises(TypeError):
        utils.split_dataset({"a": x}, left_size=1)


def test_config_matches_keras(keras):
    for Config in (utils.Config, keras.utils.Config):
        c = Config(learning_rate=0.1, momentum=0.9)
        c.seed = 123
        c["beta"] = 2
        assert c.seed == 123 and c["learning_rate"] == 0.1 and "beta" in c
        assert list(c) == ["beta", "learning_rate", "momentum", "seed"] and len(c) == 4
        assert c.as_dict() == {"learning_rate": 0.1, "momentum": 0.9, "seed": 123, "beta": 2}
        assert c.to_json() == '{"learning_rate": 0.1, "momentum": 0.9, "seed": 123, "beta": 2}'
        c.freeze()
        assert c.frozen
        for change in (lambda: setattr(c, "x", 1), lambda: c.__setitem__("x", 1),
                       lambda: c.pop("seed"), lambda: c.update(x=1)):
            with pytest.raises(ValueError, match="frozen"):
                change()
        c.unfreeze()
        del c["beta"]
        with pytest.raises(AttributeError, match="Did you mean 'momentum'"):
            c.momentun
        assert repr(c) == "<Config {'learning_rate': 0.1, 'momentum': 0.9, 'seed': 123}>"


def test_interactive_logging_sends_progress_to_the_logger(capsys, caplog):
    assert utils.is_interactive_logging_enabled()
    model = pynn.Sequential([pynn.Input((2,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 2), "float32"), np.ones((8, 1), "float32")
    utils.disable_interactive_logging()
    try:
        assert not utils.is_interactive_logging_enabled()
        with caplog.at_level(logging.INFO, logger="pynn"):
            model.fit(x, y, epochs=2, batch_size=4, verbose=1)
    finally:
        utils.enable_interactive_logging()
    assert capsys.readouterr().out == ""
    lines = [r.getMessage() for r in caplog.records if r.name == "pynn"]
    assert lines[0] == "Epoch 1/2" and lines[1].startswith("2/2") and "loss" in lines[1]
    model.fit(x, y, epochs=1, batch_size=4, verbose=2)
    assert "Epoch 1/1" in capsys.readouterr().out
    bar = utils.Progbar(2, stream=io.StringIO())
    bar.update(2)
    assert bar.stream.getvalue().startswith("2/2")


def test_name_scope_paths_as_keras(keras):
    for k in (pynn, keras):
        with k.name_scope("outer"):
            v = k.Variable(np.ones(2, "float32"), name="v")
            with k.name_scope("inner") as scope:
                w = k.Variable(np.ones(2, "float32"), name="w")
            with k.name_scope("other", override_parent="root"):
                u = k.Variable(np.ones(2, "float32"), name="u")
        assert (v.path, w.path, u.path, scope.name) == \
            ("outer/v", "outer/inner/w", "root/other/u", "inner")
        assert k.Variable(np.ones(1, "float32"), name="z").path == "z"
    caller = object()
    with pynn.name_scope("a", caller=caller):
        with pynn.name_scope("a", caller=caller):
            assert pynn.Variable(np.ones(1, "float32"), name="x").path == "a/x"
    with pytest.raises(ValueError, match="cannot contain"):
        pynn.name_scope("a/b")


def test_top_level_base_classes():
    assert isinstance(pynn.initializers.GlorotUniform(), pynn.Initializer)
    assert isinstance(pynn.regularizers.L2(0.1), pynn.Regularizer)

    class Custom(pynn.Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 2.0, "float32")
    layer = layers.Dense(2, kernel_initializer=Custom())
    layer.build((None, 3))
    np.testing.assert_array_equal(layer.kernel.value, np.full((3, 2), 2.0))
