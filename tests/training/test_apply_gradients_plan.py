"""optimizer.apply_gradients keeps its flat arrays between steps on the
same variables: each step still matches Keras 3 (NumPy backend) on the
same sequence of variables, gradients and assignments, and the flat step
of the same rule on gathered copies wherever the variables, their order,
their values or the optimizer change between steps."""
import numpy as np
import pytest

import pynn
from pynn import layers

from keras_reference import keras, needs_keras  # noqa: E402

SHAPES = [(3, 4), (4,), (4, 2), (2,)]


def _values(seed):
    g = np.random.default_rng(seed)
    return [g.standard_normal(s).astype(np.float32) for s in SHAPES]


def _grads(step):
    g = np.random.default_rng(100 + step)
    return [g.standard_normal(s).astype(np.float32) for s in SHAPES]


def _flat_reference(opt, pairs):
    """(new values, new state per variable) of one step of ``opt``'s rule
    on copies of the variables and of their state, by the flat apply fit
    uses; ``opt`` itself is left as it was."""
    weights = [w for _, w in pairs]
    state = opt._variable_state(weights, "test")
    ref = type(opt).from_config(opt.get_config())
    ref.iterations = int(opt.iterations)
    params = np.concatenate([w.numpy().reshape(-1) for w in weights])
    grads = np.concatenate([np.asarray(g, np.float32).reshape(-1) for g, _ in pairs])
    ref._slots = [np.concatenate([np.array(state[id(w)][1][k]) for w in weights])
                  for k in range(len(opt.slot_names))] or None
    ref.apply(params, grads, shapes=[w.shape for w in weights], variables=weights)
    out, off = [], 0
    for w in weights:
        n = w.value.size
        out.append((params[off:off + n].reshape(w.shape),
                    [s[off:off + n] for s in ref._slots or []]))
        off += n
    return out


def _step_and_check(opt, pairs):
    expected = _flat_reference(opt, pairs)
    opt.apply_gradients(pairs)
    state = opt._variable_state([w for _, w in pairs], "test")
    for (_, w), (value, slots) in zip(pairs, expected):
        np.testing.assert_array_equal(w.numpy(), value)
        for mine, ref in zip(state[id(w)][1], slots):
            np.testing.assert_array_equal(np.asarray(mine).reshape(-1), ref)


@pytest.mark.parametrize("make", [
    lambda: pynn.optimizers.Adam(0.01),
    lambda: pynn.optimizers.SGD(0.1, momentum=0.9, clipnorm=1.0),
    lambda: pynn.optimizers.Adagrad(0.1),
    lambda: pynn.optimizers.RMSprop(0.01, weight_decay=0.1),
])
def test_each_step_is_the_flat_step_whatever_changed_between(make):
    opt = make()
    ws = [pynn.Variable(v) for v in _values(0)]
    step = 0

    def grads_for(chosen):
        nonlocal step
        step += 1
        g = _grads(step)
        return [(g[i], ws[i]) for i in chosen]

    for _ in range(3):  # the same variables: the kept arrays
        _step_and_check(opt, grads_for([0, 1, 2, 3]))
    _step_and_check(opt, grads_for([2, 3, 0, 1]))  # another order
    _step_and_check(opt, grads_for([0, 1, 2, 3]))
    _step_and_check(opt, grads_for([1, 3]))  # a subset
    ws[1].assign(np.full(SHAPES[1], 0.25, np.float32))  # assigned between steps
    _step_and_check(opt, grads_for([0, 1, 2, 3]))
    ws[2].value = np.ones(SHAPES[2], np.float32)  # its array replaced
    _step_and_check(opt, grads_for([0, 1, 2, 3]))
    extra = pynn.Variable(np.ones((5,), np.float32))  # a variable new to it
    g = np.arange(5, dtype=np.float32)
    _step_and_check(opt, grads_for([0, 1, 2, 3]) + [(g, extra)])
    _step_and_check(opt, grads_for([0, 1, 2, 3]) + [(g, extra)])
    assert int(opt.iterations) == 10


def test_learning_rate_changes_between_steps_are_taken():
    opt = pynn.optimizers.SGD(0.1)
    w = pynn.Variable(np.ones((3,), np.float32))
    g = np.ones((3,), np.float32)
    opt.apply_gradients([(g, w)])
    opt.learning_rate = 0.5
    opt.apply_gradients([(g, w)])
    np.testing.assert_allclose(w.numpy(), 1 - 0.1 - 0.5, rtol=1e-6)
    sched = pynn.optimizers.SGD(pynn.optimizers.schedules.ExponentialDecay(1.0, 1, 0.5))
    v = pynn.Variable(np.zeros((2,), np.float32))
    for _ in range(3):
        sched.apply_gradients([(np.ones((2,), np.float32), v)])
    np.testing.assert_allclose(v.numpy(), -(1 + 0.5 + 0.25), rtol=1e-6)


def test_build_then_steps_and_a_variable_given_twice():
    opt = pynn.optimizers.Adam(0.01)
    ws = [pynn.Variable(v) for v in _values(1)]
    opt.build(ws)
    held = [v.value for v in opt.variables[2:]]  # views of the state, before any step
    _step_and_check(opt, list(zip(_grads(1), ws)))
    _step_and_check(opt, list(zip(_grads(2), ws)))
    # the state Keras's variables list handed out before the steps is the state stepped
    for mine, now in zip(held, opt.variables[2:]):
        np.testing.assert_array_equal(mine, now.value)
    assert np.abs(held[0]).sum() > 0
    with pytest.raises(ValueError, match="more than once"):
        opt.apply_gradients([(_grads(3)[0], ws[0]), (_grads(4)[0], ws[0])])


def test_gradient_of_the_wrong_shape_is_refused_by_name():
    opt = pynn.optimizers.SGD(0.1)
    w = pynn.Variable(np.ones((2, 3), np.float32), name="kern")
    opt.apply_gradients([(np.ones((2, 3), np.float32), w)])
    with pytest.raises(ValueError, match=r"kern.*\(3, 2\).*\(2, 3\)"):
        opt.apply_gradients([(np.ones((3, 2), np.float32), w)])
    before = w.numpy()
    opt.apply_gradients([([[1, 1, 1], [1, 1, 1]], w)])  # a list, an integer array
    np.testing.assert_allclose(w.numpy(), before - 0.1, rtol=1e-6)


def _mlp():
    pynn.utils.set_random_seed(3)
    return pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(5, activation="tanh"),
                            layers.Dense(2)])


def test_custom_steps_around_fit_and_set_weights():
    model = _mlp()
    model.compile(optimizer=pynn.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    opt = model.optimizer
    g = np.random.default_rng(0)
    x, y = g.random((16, 6), dtype=np.float32), g.random((16, 2), dtype=np.float32)

    def pairs(step):
        with pynn.GradientTape() as tape:
            loss = pynn.ops.mean((model(x, training=True) - y) ** 2)
        return list(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))

    _step_and_check(opt, pairs(0))
    _step_and_check(opt, pairs(1))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # rebinds the weights to fit's arrays
    _step_and_check(opt, pairs(2))
    _step_and_check(opt, pairs(3))
    model.set_weights([np.full(w.shape, 0.1, np.float32) for w in model.get_weights()])
    _step_and_check(opt, pairs(4))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    _step_and_check(opt, pairs(5)[::-1])  # fit's order reversed: the weights move out of fit's
    stepped = model.get_weights()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # and fit trains them where they are
    assert all(not np.array_equal(a, b) for a, b in zip(stepped, model.get_weights()))
    _step_and_check(opt, pairs(6)[::-1])
    before = model.get_weights()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@needs_keras
def test_a_custom_loop_matches_keras():
    ours = [pynn.Variable(v) for v in _values(2)]
    theirs = [keras.Variable(v) for v in _values(2)]
    opt = pynn.optimizers.Adam(0.05)
    kopt = keras.optimizers.Adam(0.05)
    opt.build(ours)
    kopt.build(theirs)
    orders = [[0, 1, 2, 3]] * 3 + [[3, 2, 1, 0], [0, 2], [0, 1, 2, 3]]
    for step, order in enumerate(orders):
        if step == 4:
            ours[0].assign(np.full(SHAPES[0], -1.0, np.float32))
            theirs[0].assign(np.full(SHAPES[0], -1.0, np.float32))
        g = _grads(step)
        opt.apply_gradients([(g[i], ours[i]) for i in order])
        kopt.apply_gradients([(g[i], theirs[i]) for i in order])
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a.numpy(), np.asarray(b), rtol=1e-5, atol=1e-6)
    assert int(opt.iterations) == int(kopt.iterations) == len(orders)
