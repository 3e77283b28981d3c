"""Compiled inference plans across a model's life: weights replaced
(set_weights, load_weights), trained (fit rebinds them to flat buffers,
then updates them in place) or written in place between calls change the
planned outputs as they change the Python path's; a model with a layer a
plan cannot run still predicts through the Python path; bad inputs raise
the same errors; the bridge refuses a plan whose operands leave their
buffers."""
import numpy as np
import pytest

import pynn
from pynn import layers, ops
from pynn.models.passes import inference_program


def python_path(model, x):
    prog = inference_program(model)
    return np.array(prog.run([x], prog.new_state(None))[0])


def convnet():
    pynn.utils.set_random_seed(7)
    model = pynn.Sequential([
        pynn.Input((10, 10, 2)), layers.Conv2D(4, 3, activation="relu"),
        layers.BatchNormalization(), layers.MaxPooling2D(), layers.Flatten(),
        layers.Dense(3, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def data(n=9, seed=1):
    g = np.random.default_rng(seed)
    return g.random((n, 10, 10, 2), dtype=np.float32), g.integers(0, 3, n)


def check(model, x):
    """The public call's output equals the Python path's, through a plan."""
    got = model.predict_on_batch(x)
    np.testing.assert_array_equal(got, python_path(model, x))
    assert inference_program(model)._plans[(x.shape,)] is not None
    return got


def test_set_weights_fit_load_and_in_place_writes_reach_the_plan(tmp_path):
    model = convnet()
    x, y = data()
    first = check(model, x)
    # set_weights writes the arrays in place
    weights = model.get_weights()
    model.set_weights([w * 0.5 for w in weights])
    halved = check(model, x)
    assert not np.array_equal(halved, first)
    # training rebinds every value to a view of a flat buffer, then updates
    # those in place (and the batch normalization's statistics)
    model.fit(x, y, epochs=1, batch_size=3, verbose=0)
    trained = check(model, x)
    assert not np.array_equal(trained, halved)
    model.train_on_batch(x, y)
    assert not np.array_equal(check(model, x), trained)
    # load_weights brings the first weights back
    model.set_weights(weights)
    path = str(tmp_path / "w.weights.pynn")
    model.save_weights(path)
    model.set_weights([w + 1.0 for w in weights])
    model.load_weights(path)
    np.testing.assert_array_equal(check(model, x), first)
    # a write straight into a weight's array (the folded batch
    # normalization's statistics included)
    model.layers[0].kernel.value[0, 0, 0, 0] += 3.0
    model.layers[1].moving_variance.value[...] *= 2.0
    assert not np.array_equal(check(model, x), first)


def test_a_weight_given_a_new_array_rebuilds_the_plan():
    model = convnet()
    x, _ = data()
    check(model, x)
    dense = model.layers[-1]
    dense.kernel.value = np.ascontiguousarray(dense.kernel.value[::-1])
    check(model, x)


def test_graph_changes_plan_again():
    pynn.utils.set_random_seed(2)
    model = pynn.Sequential([pynn.Input((5,)), layers.Dense(4)])
    x = np.random.default_rng(0).random((3, 5), dtype=np.float32)
    assert model.predict_on_batch(x).shape == (3, 4)
    model.add(layers.Dense(2, activation="softmax"))
    out = model.predict_on_batch(x)
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out, python_path(model, x))


class Doubled(layers.Dense):
    """A subclass: plans match layer classes exactly, so it runs in Python."""

    def forward(self, ctx, x, training):
        return super().forward(ctx, x, training) * 2.0


@pytest.mark.parametrize("odd", ["subclass", "lambda", "lstm", "operation"])
def test_models_with_layers_a_plan_cannot_run_predict_through_python(odd):
    pynn.utils.set_random_seed(4)
    if odd == "operation":  # an operation on symbolic tensors a plan does not run
        inp = pynn.Input((5,))
        model = pynn.Model(inp, layers.Dense(2)(ops.exp(layers.Dense(4)(inp))))
        x = np.random.default_rng(0).random((6, 5), dtype=np.float32)
        prog = inference_program(model)
        got = model.predict(x, verbose=0)
        assert prog.plannable and all(p is None for p in prog._plans.values())
        np.testing.assert_array_equal(got, python_path(model, x))
        return
    if odd == "lstm":
        model = pynn.Sequential([pynn.Input((4, 3)), layers.LSTM(5), layers.Dense(2)])
        x = np.random.default_rng(0).random((6, 4, 3), dtype=np.float32)
    else:
        odd_layer = Doubled(4) if odd == "subclass" else layers.Lambda(lambda t: t * 2.0)
        model = pynn.Sequential([pynn.Input((5,)), layers.Dense(4), odd_layer,
                                 layers.Dense(2)])
        x = np.random.default_rng(0).random((6, 5), dtype=np.float32)
    prog = inference_program(model)
    got = model.predict(x, verbose=0)
    assert not prog.plannable and not prog._plans
    np.testing.assert_array_equal(got, python_path(model, x))
    np.testing.assert_array_equal(np.asarray(model(x)), got)


def test_bad_inputs_raise_the_same_errors():
    model = convnet()
    x, _ = data()
    model.predict_on_batch(x)  # planned
    with pytest.raises(ValueError, match="expected shape=.*found shape"):
        model.predict_on_batch(x[:, :9])
    with pytest.raises(ValueError, match="expected shape=.*found shape"):
        model(np.zeros((2, 10, 10, 3), np.float32))
    with pytest.raises(ValueError, match="expected shape=.*found shape"):
        model.predict(np.zeros((2, 10, 10), np.float32), verbose=0)
    with pytest.raises(TypeError, match="numeric"):
        model.predict_on_batch(np.array([["a"]]))
    # other dtypes and layouts are converted, then planned
    np.testing.assert_array_equal(model.predict_on_batch(x.astype(np.float64)),
                                  model.predict_on_batch(x))
    xf = np.asfortranarray(x)
    np.testing.assert_array_equal(model.predict_on_batch(xf), model.predict_on_batch(x))


def test_the_bridge_refuses_operands_outside_their_buffers():
    dense = layers.Dense(3)
    dense.build((None, 4))
    ok = {"kind": 0, "rows": 2, "inner": 4, "cols": 3, "x": (1, 0), "w": (3, 0),
          "b": (4, 0), "y": (2, 0)}
    plan = ops.inference_plan([ok], [(2, 4)], [(2, 3)], 0,
                              [(dense, "kernel"), (dense, "bias")])
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    np.testing.assert_allclose(plan.run([x])[0],
                               x @ dense.kernel.value + dense.bias.value, rtol=1e-6)
    assert plan.run([x[:1]]) is None  # not the planned shape
    bad = [dict(ok, x=(1, 1)),               # runs past the input
           dict(ok, y=(1, 0)),               # writes into an input
           dict(ok, y=(3, 0)),               # writes into a weight
           dict(ok, x=(9, 0)),               # no such buffer
           dict(ok, rows=-1),                # a negative size
           dict(ok, rows=2**62, cols=2**3),  # a size product that overflows
           dict(ok, kind=99),                # an unknown step
           dict(ok, w=None)]                 # a dense layer without a kernel
    for step in bad:
        with pytest.raises(ValueError, match="do not fit"):
            ops.inference_plan([step], [(2, 4)], [(2, 3)], 0,
                               [(dense, "kernel"), (dense, "bias")])
    # the arena: an output that overlaps its input there
    steps = [dict(ok, y=(0, 0)), {"kind": 5, "act": 1, "rows": 2, "cols": 3, "x": (0, 0),
                                  "y": (0, 2)}]
    with pytest.raises(ValueError, match="do not fit"):
        ops.inference_plan(steps, [(2, 4)], [(2, 3)], 6,
                           [(dense, "kernel"), (dense, "bias")])


def test_the_bridge_refuses_copies_shifts_and_broadcasts_outside_their_buffers():
    """Buffers: 0 the arena (24 floats), 1 the input (2 x 6), 2 the output
    (2 x 6), 3 a weight of 3 values."""
    prelu = layers.PReLU()
    prelu.build((None, 3))

    def plan(step):
        return ops.inference_plan([step], [(2, 6)], [(2, 6)], 24, [(prelu, "alpha")])

    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    copy = {"kind": 12, "rows": 2, "cols": 3, "ldx": 6, "ldy": 6, "x": (1, 3), "y": (2, 0)}
    got = plan(copy).run([x])[0]
    np.testing.assert_array_equal(got[:, :3], x[:, 3:])
    rows = {"kind": 14, "act": 2, "rows": 4, "cols": 3, "group_x": 1, "group_x2": 2,
            "x": (1, 0), "x2": (1, 6), "y": (2, 0)}
    np.testing.assert_array_equal(plan(rows).run([x])[0].reshape(4, 3),
                                  x.reshape(4, 3) * np.repeat(x.reshape(4, 3)[2:], 2, 0))
    shift = {"kind": 13, "shift": (2, 1, 1, 2, 3, 1, 1, 2, 0, 0, 1), "x": (1, 0),
             "y": (2, 0)}
    got = plan(shift).run([x])[0].reshape(2, 2, 3)
    np.testing.assert_array_equal(got[:, 1], x.reshape(2, 2, 3)[:, 0])
    assert not got[:, 0].any()
    std = {"kind": 16, "rows": 4, "cols": 3, "eps": 1e-7, "x": (1, 0), "y": (2, 0),
           "w": (0, 0), "mean": (3, 0), "var": (3, 0)}
    plan(std)
    bad = [dict(copy, ldx=2),                       # rows overlapping each other
           dict(copy, x=(1, 4)),                    # the last row runs past the input
           dict(copy, ldy=2**62),                   # a stride that overflows
           dict(rows, group_x2=0),                  # no rows per input row
           dict(rows, group_x2=1),                  # x2 has too few rows
           dict(rows, x2=None),                     # no second input
           dict(shift, shift=(2, 1, 1, 2, 3, 1, 1, 3, 0, 0, 1)),  # an output too large
           dict(shift, shift=(2, 1, 2, 2, 3, 1, 1, 2, 0, 0, 1)),  # an input too large
           dict(std, w=(3, 0)),                     # scratch in a weight
           dict(std, w=(0, 22)),                    # scratch past the arena
           dict(std, mean=None),                    # no statistics
           {"kind": 15, "rows": 4, "cols": 3, "x": (1, 0), "y": (2, 0), "w": (3, 0)},
           {"kind": 17, "rows": 3, "cols": 4, "x": (1, 0), "y": (2, 0), "w": (3, 0)}]
    for step in bad:
        with pytest.raises(ValueError, match="do not fit"):
            plan(step)


def test_repeated_calls_take_the_recorded_plan_and_see_every_change(monkeypatch):
    """After one planned call, predict_on_batch, predict and model(x) on an
    array of a planned shape skip the input checks' Python (what they
    check cannot have changed); an activation set on a built layer, a
    device scope, a training call, NaN and new shapes still take their
    own paths."""
    model = convnet()
    x, _ = data()
    first = check(model, x)
    assert model._planned is not None
    calls = []
    full = type(model)._prepare_inputs
    monkeypatch.setattr(type(model), "_prepare_inputs",
                        lambda self, *a, **k: calls.append(1) or full(self, *a, **k))
    np.testing.assert_array_equal(model.predict_on_batch(x), first)
    np.testing.assert_array_equal(model.predict(x, verbose=0), first)
    out = model(x)
    assert isinstance(out, pynn.Tensor)
    np.testing.assert_array_equal(np.asarray(out), first)
    assert calls == []
    # a NaN raises as the full path's check does
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict_on_batch(bad)
    # a new batch size: the full path, then its own plan
    np.testing.assert_array_equal(model.predict_on_batch(x[:4]), python_path(model, x[:4]))
    assert calls == [1]
    # an activation changed on a built layer: a new program
    model.layers[-1].activation = pynn.activations.get("linear")
    changed = model.predict_on_batch(x)
    np.testing.assert_array_equal(changed, python_path(model, x))
    assert not np.array_equal(changed, first)
    # a device scope: the model's placement is looked at again
    with pynn.device("cpu"):
        np.testing.assert_array_equal(model.predict_on_batch(x), changed)
    # training=True runs the layers in training mode (batch statistics)
    trained_mode = np.asarray(model(x, training=True))
    assert not np.allclose(trained_mode, changed)


def test_recorded_plan_keeps_several_outputs_in_their_structure():
    inp = pynn.Input((5,))
    h = layers.Dense(4, activation="relu")(inp)
    model = pynn.Model(inp, {"a": layers.Dense(2)(h), "b": layers.Dense(3)(h)})
    x = np.random.default_rng(3).random((2, 5), dtype=np.float32)
    first = model.predict_on_batch(x)
    again = model.predict_on_batch(x)
    assert set(again) == {"a", "b"}
    for k in first:
        np.testing.assert_array_equal(again[k], first[k])
    seq = pynn.Sequential([pynn.Input((5,)), layers.Dense(3)])
    seq.predict(x, verbose=0)
    assert isinstance(seq.predict(x, verbose=0), np.ndarray)
