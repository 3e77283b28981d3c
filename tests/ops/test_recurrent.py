"""Recurrent kernels (LSTM, GRU both ways, SimpleRNN) against float64 NumPy
references of Keras 3's equations, their backward passes against central
differences of those references, and the embedding's gather and
scatter-add."""
import numpy as np
import pytest

import pynn
from pynn import ops

rng = np.random.default_rng(0)

ACT = {
    "linear": lambda v: v,
    "relu": lambda v: np.maximum(v, 0),
    "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "hard_sigmoid": lambda v: np.clip(v / 6 + 0.5, 0, 1),
    "tanh": np.tanh,
}
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def reference(cell, x, kernel, rec, bias, h0=None, c0=None, mask=None, dmask=None, rmask=None,
              act="tanh", rec_act="sigmoid", reset_after=True, go_backwards=False,
              return_sequences=False, zero_output_for_mask=False):
    """Keras 3's step equations in float64, with its masking rule (a masked
    step carries the states and outputs the carried h, or zeros)."""
    x, kernel, rec = (np.asarray(a, np.float64) for a in (x, kernel, rec))
    batch, steps, _ = x.shape
    units = rec.shape[0]
    f, g = ACT[act], ACT[rec_act]
    h = np.zeros((batch, units)) if h0 is None else np.asarray(h0, np.float64)
    c = np.zeros((batch, units)) if c0 is None else np.asarray(c0, np.float64)
    b = None if bias is None else np.asarray(bias, np.float64)
    outputs = []
    for t in (range(steps - 1, -1, -1) if go_backwards else range(steps)):
        xt = x[:, t] if dmask is None else x[:, t] * dmask
        hm = h if rmask is None else h * rmask
        cn = c
        if cell == "simple_rnn":
            hn = f(xt @ kernel + hm @ rec + (0 if b is None else b))
        elif cell == "lstm":
            z = xt @ kernel + hm @ rec + (0 if b is None else b)
            i, fg, o = g(z[:, :units]), g(z[:, units:2 * units]), g(z[:, 3 * units:])
            cn = fg * c + i * f(z[:, 2 * units:3 * units])
            hn = o * f(cn)
        else:
            U = units
            if reset_after:
                bx, br = (0, 0) if b is None else (b[0], b[1])
                mx, mh = xt @ kernel + bx, hm @ rec + br
                z, r = g(mx[:, :U] + mh[:, :U]), g(mx[:, U:2 * U] + mh[:, U:2 * U])
                hh = f(mx[:, 2 * U:] + r * mh[:, 2 * U:])
            else:
                mx = xt @ kernel + (0 if b is None else b)
                mh = hm @ rec[:, :2 * U]
                z, r = g(mx[:, :U] + mh[:, :U]), g(mx[:, U:2 * U] + mh[:, U:])
                hh = f(mx[:, 2 * U:] + (r * hm) @ rec[:, 2 * U:])
            hn = z * h + (1 - z) * hh
        if mask is None:
            out, h, c = hn, hn, cn
        else:
            m = np.asarray(mask, bool)[:, t][:, None]
            out = np.where(m, hn, 0.0 if zero_output_for_mask else h)
            h, c = np.where(m, hn, h), np.where(m, cn, c)
        outputs.append(out)
    y = np.stack(outputs, 1) if return_sequences else outputs[-1]
    return y, h, c


def rand(*shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


# Each case: sizes (batch, steps, features, units) and options; every cell
# runs every case.  Masks: "rows" masks a leading run of one row, every step
# of another and a few scattered steps, "random" draws each step.
CASES = [
    dict(id="plain_seq", size=(3, 17, 5, 7), return_sequences=True),
    dict(id="one_of_each", size=(1, 1, 1, 1)),
    dict(id="masked_rows_h0", size=(3, 2, 5, 33), mask="rows", h0=True,
         return_sequences=True),
    dict(id="backwards_masked_last_h0", size=(3, 17, 5, 7), mask="rows", h0=True,
         go_backwards=True),
    dict(id="dropout_backwards_seq", size=(3, 17, 5, 7), dropout=True, go_backwards=True,
         return_sequences=True),
    dict(id="no_bias_zero_output_seq", size=(3, 17, 1, 7), mask="random", use_bias=False,
         zero_output_for_mask=True, return_sequences=True),
    dict(id="relu_hard_sigmoid", size=(3, 17, 5, 7), act="relu", rec_act="hard_sigmoid",
         return_sequences=True, h0=True),
    dict(id="linear_sigmoid_last", size=(1, 17, 5, 33), act="linear", rec_act="sigmoid",
         mask="random"),
    dict(id="hard_sigmoid_tanh_zero_last", size=(3, 17, 5, 1), act="hard_sigmoid",
         rec_act="tanh", mask="rows", zero_output_for_mask=True),
    dict(id="everything", size=(1, 17, 5, 33), mask="random", dropout=True, h0=True,
         go_backwards=True, return_sequences=True),
    dict(id="threads_split_rows", size=(64, 5, 5, 33), mask="random", dropout=True, h0=True,
         return_sequences=True),
    # products deeper than the GEMM packs in one piece (input + units + 1 and
    # LSTM's 4 * units over 320): the weights are not pre-packed
    dict(id="deep_products", size=(2, 3, 250, 81), mask="random", dropout=True,
         return_sequences=True),
]
CELLS = [("simple_rnn", True), ("lstm", True), ("gru", True), ("gru", False)]
CELL_IDS = ["simple_rnn", "lstm", "gru_reset_after", "gru_reset_before"]


def make_case(cell, reset_after, case):
    batch, steps, features, units = case["size"]
    gates = GATES[cell]
    # weights scaled as Glorot would, so that 17 steps of a linear
    # recurrence neither explode nor vanish
    a = dict(
        x=rand(batch, steps, features, scale=1.0),
        kernel=rand(features, gates * units, scale=0.8 / np.sqrt(features)),
        recurrent_kernel=rand(units, gates * units, scale=0.8 / np.sqrt(units)),
    )
    if case.get("use_bias", True):
        a["bias"] = rand(2, 3 * units) if cell == "gru" and reset_after else rand(gates * units)
    if case.get("h0"):
        a["initial_state"] = [rand(batch, units, scale=1.0) for _ in range(
            2 if cell == "lstm" else 1)]
    if case.get("mask") == "rows":
        m = np.ones((batch, steps), bool)
        m[0, :max(1, steps // 2)] = False          # a leading masked run
        if batch > 1:
            m[1] = False                             # a row masked throughout
        if batch > 2:
            m[2, ::3] = False                        # scattered
        a["mask"] = m
    elif case.get("mask") == "random":
        a["mask"] = rng.random((batch, steps)) < 0.7
    if case.get("dropout"):
        a["dropout_mask"] = ((rng.random((batch, features)) < 0.7) / 0.7).astype(np.float32)
        a["recurrent_dropout_mask"] = ((rng.random((batch, units)) < 0.7) / 0.7).astype(
            np.float32)
    opts = dict(activation=case.get("act", "tanh"),
                go_backwards=case.get("go_backwards", False),
                return_sequences=case.get("return_sequences", False),
                zero_output_for_mask=case.get("zero_output_for_mask", False))
    if cell != "simple_rnn":
        opts["recurrent_activation"] = case.get("rec_act", "sigmoid")
    if cell == "gru":
        opts["reset_after"] = reset_after
    return a, opts


def run_op(cell, a, opts, **kw):
    fn = getattr(ops, cell)
    res = fn(a["x"], a["kernel"], a["recurrent_kernel"], a.get("bias"),
             a.get("initial_state"), a.get("mask"), a.get("dropout_mask"),
             a.get("recurrent_dropout_mask"), **opts, **kw)
    if cell == "lstm":
        y, h, c, trace = res
    else:
        (y, h, trace), c = res, None
    return y, h, c, trace


def run_ref(cell, a, opts):
    s = a.get("initial_state") or [None, None]
    return reference(cell, a["x"], a["kernel"], a["recurrent_kernel"], a.get("bias"),
                     s[0], s[1] if cell == "lstm" else None, a.get("mask"),
                     a.get("dropout_mask"), a.get("recurrent_dropout_mask"),
                     opts["activation"], opts.get("recurrent_activation", "linear"),
                     opts.get("reset_after", True), opts["go_backwards"],
                     opts["return_sequences"], opts["zero_output_for_mask"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
@pytest.mark.parametrize("cell, reset_after", CELLS, ids=CELL_IDS)
def test_forward_matches_float64(cell, reset_after, case):
    a, opts = make_case(cell, reset_after, case)
    want_y, want_h, want_c = run_ref(cell, a, opts)
    for training in (False, True):
        y, h, c, trace = run_op(cell, a, opts, training=training)
        assert y.shape == want_y.shape and y.dtype == np.float32
        np.testing.assert_allclose(y, want_y, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(h, want_h, rtol=1e-5, atol=1e-5)
        if cell == "lstm":
            np.testing.assert_allclose(c, want_c, rtol=1e-5, atol=1e-5)
        assert trace.training == training


def directional(cell, a, opts, name, direction, weights, eps=1e-6):
    """The derivative of sum(weights . outputs) along ``direction`` in
    argument ``name``, by central differences of the float64 reference."""
    def loss(sign):
        b = dict(a)
        b = {k: (np.asarray(v, np.float64) if isinstance(v, np.ndarray) else v)
             for k, v in b.items()}
        if name.startswith("initial_state"):
            k = int(name[-1])
            states = [np.asarray(s, np.float64) for s in a["initial_state"]]
            states[k] = states[k] + sign * eps * direction
            b["initial_state"] = states
        else:
            b[name] = np.asarray(a[name], np.float64) + sign * eps * direction
        y, h, c = run_ref(cell, b, opts)
        return float(np.sum(weights[0] * y) + np.sum(weights[1] * h) +
                     (np.sum(weights[2] * c) if cell == "lstm" else 0.0))
    return (loss(1) - loss(-1)) / (2 * eps)


# Gradients flow from the outputs and the final states together in every
# case, and from each alone in a few.
GRAD_RUNS = [(c, "both") for c in CASES] + [
    (c, source) for c in CASES for source in ("outputs", "states")
    if c["id"] in ("plain_seq", "everything", "masked_rows_h0", "backwards_masked_last_h0")]


@pytest.mark.parametrize("case, source", GRAD_RUNS,
                         ids=[f"{c['id']}-from_{s}" for c, s in GRAD_RUNS])
@pytest.mark.parametrize("cell, reset_after", CELLS, ids=CELL_IDS)
def test_backward_matches_finite_differences(cell, reset_after, case, source):
    a, opts = make_case(cell, reset_after, case)
    y, h, c, trace = run_op(cell, a, opts, training=True)
    dy = rand(*y.shape, scale=1.0) if source != "states" else np.zeros(y.shape, np.float32)
    dh = rand(*h.shape, scale=1.0) if source != "outputs" else np.zeros(h.shape, np.float32)
    dc = rand(*h.shape, scale=1.0) if source != "outputs" else np.zeros(h.shape, np.float32)
    kwargs = dict(dy=None if source == "states" else dy, dh=None if source == "outputs" else dh)
    if cell == "lstm":
        kwargs["dc"] = None if source == "outputs" else dc
    grads = getattr(ops, f"{cell}_grad")(trace, **kwargs)
    weights = (dy.astype(np.float64), dh.astype(np.float64), dc.astype(np.float64))
    checks = [("x", grads.input), ("kernel", grads.kernel),
              ("recurrent_kernel", grads.recurrent_kernel)]
    if "bias" in a:
        checks.append(("bias", grads.bias))
    else:
        assert grads.bias is None
    if "initial_state" in a:
        checks.append(("initial_state0", grads.h0))
        if cell == "lstm":
            checks.append(("initial_state1", grads.c0))
    for name, got in checks:
        target = a["initial_state"][int(name[-1])] if name.startswith("initial_state") \
            else a[name]
        assert got.shape == target.shape, name
        for _ in range(2):
            v = rng.standard_normal(target.shape)
            want = directional(cell, a, opts, name, v, weights)
            analytic = float(np.sum(got.astype(np.float64) * v))
            scale = float(np.sum(np.abs(got.astype(np.float64) * v))) + 1e-3
            assert abs(analytic - want) <= 2e-5 * scale + 1e-6, (name, analytic, want)


@pytest.mark.parametrize("cell, reset_after", CELLS, ids=CELL_IDS)
def test_gradients_elementwise_on_a_small_case(cell, reset_after):
    """Every element of every gradient against its own central difference."""
    case = dict(size=(3, 4, 2, 3), mask="rows", h0=True, dropout=True,
                return_sequences=True)
    a, opts = make_case(cell, reset_after, case)
    y, h, c, trace = run_op(cell, a, opts, training=True)
    dy, dh, dc = rand(*y.shape, scale=1.0), rand(*h.shape, scale=1.0), rand(*h.shape,
                                                                            scale=1.0)
    kw = dict(dc=dc) if cell == "lstm" else {}
    grads = getattr(ops, f"{cell}_grad")(trace, dy, dh, **kw)
    weights = (dy.astype(np.float64), dh.astype(np.float64), dc.astype(np.float64))
    for name, got in [("kernel", grads.kernel), ("recurrent_kernel", grads.recurrent_kernel),
                      ("bias", grads.bias), ("x", grads.input)]:
        want = np.empty(got.shape)
        for idx in np.ndindex(*got.shape):
            e = np.zeros(got.shape)
            e[idx] = 1
            want[idx] = directional(cell, a, opts, name, e, weights)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("cell, reset_after", CELLS, ids=CELL_IDS)
def test_buffers_are_reused_and_results_repeat(cell, reset_after):
    case = dict(size=(5, 9, 4, 6), mask="random", dropout=True, h0=True,
                return_sequences=True)
    a, opts = make_case(cell, reset_after, case)
    y1, h1, c1, t1 = run_op(cell, a, opts, training=True)
    g1 = getattr(ops, f"{cell}_grad")(t1, dy=np.ones_like(y1))
    count = 2 if cell == "lstm" else 1
    out, states = np.empty_like(y1), [np.empty_like(h1) for _ in range(count)]
    kgrad = np.full_like(a["kernel"], np.nan)   # overwritten, never accumulated into
    y2, h2, c2, t2 = run_op(cell, a, opts, training=True, work=t1, out=out,
                            state_out=states)
    assert y2 is out and h2 is states[0] and t2.buffer is t1.buffer
    g2 = getattr(ops, f"{cell}_grad")(t2, dy=np.ones_like(y1), kernel_grad=kgrad)
    assert g2.kernel is kgrad
    np.testing.assert_array_equal(y1, y2)
    for u, v in zip(g1, g2):
        if u is not None:
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("cell, reset_after", CELLS, ids=CELL_IDS)
def test_thread_count_does_not_change_results(cell, reset_after):
    a, opts = make_case(cell, reset_after, dict(size=(64, 6, 5, 33), mask="random",
                                                return_sequences=True))
    threads = pynn.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            pynn.set_num_threads(n)
            y, h, c, trace = run_op(cell, a, opts, training=True)
            grads = getattr(ops, f"{cell}_grad")(trace, dy=np.ones_like(y))
            results.append((y, grads.kernel, grads.recurrent_kernel, grads.input))
    finally:
        pynn.set_num_threads(threads)
    for u, v in zip(*results):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cell, reset_after", CELLS, ids=CELL_IDS)
def test_skipping_input_and_state_gradients_leaves_the_weight_gradients(cell, reset_after):
    a, opts = make_case(cell, reset_after, dict(size=(3, 7, 5, 6), mask="random",
                                                dropout=True, h0=True))
    full = getattr(ops, f"{cell}_grad")(run_op(cell, a, opts, training=True)[3],
                                       dy=np.ones((3, 6), np.float32))
    part = getattr(ops, f"{cell}_grad")(run_op(cell, a, opts, training=True)[3],
                                       dy=np.ones((3, 6), np.float32), input_grad=False,
                                       state_grads=False)
    assert part.input is None and part.h0 is None and part.c0 is None
    for name in ("kernel", "recurrent_kernel", "bias"):
        np.testing.assert_allclose(getattr(part, name), getattr(full, name), rtol=1e-6,
                                   atol=1e-7)


@pytest.mark.parametrize("cell, reset_after", CELLS, ids=CELL_IDS)
def test_an_empty_batch_gives_empty_outputs_and_zero_weight_gradients(cell, reset_after):
    a, opts = make_case(cell, reset_after, dict(size=(1, 4, 3, 5), return_sequences=True))
    a["x"] = a["x"][:0]
    y, h, c, trace = run_op(cell, a, opts, training=True)
    assert y.shape == (0, 4, 5) and h.shape == (0, 5)
    grads = getattr(ops, f"{cell}_grad")(trace, dy=np.zeros((0, 4, 5), np.float32))
    assert grads.input.shape == (0, 4, 3)
    for g in (grads.kernel, grads.recurrent_kernel, grads.bias):
        np.testing.assert_array_equal(g, 0)


def test_all_masked_rows_keep_initial_states_and_get_their_gradient_back():
    batch, steps, features, units = 2, 5, 3, 4
    x = rand(batch, steps, features)
    k, r, b = rand(features, 4 * units), rand(units, 4 * units), rand(4 * units)
    h0, c0 = rand(batch, units), rand(batch, units)
    mask = np.zeros((batch, steps), bool)
    y, h, c, trace = ops.lstm(x, k, r, b, (h0, c0), mask, return_sequences=True,
                              training=True)
    np.testing.assert_array_equal(h, h0)
    np.testing.assert_array_equal(c, c0)
    np.testing.assert_array_equal(y, np.repeat(h0[:, None], steps, 1))
    dy = rand(batch, steps, units)
    g = ops.lstm_grad(trace, dy=dy, dh=np.ones_like(h0))
    np.testing.assert_allclose(g.h0, dy.sum(1) + 1, rtol=1e-6)
    np.testing.assert_array_equal(g.kernel, 0)
    np.testing.assert_array_equal(g.input, 0)


# ------------------------------------------------------------ bad input

def lstm_args(batch=2, steps=3, features=4, units=5):
    return [rand(batch, steps, features), rand(features, 4 * units), rand(units, 4 * units),
            rand(4 * units)]


@pytest.mark.parametrize("change, exc, match", [
    (lambda a, k: a.__setitem__(0, rand(2, 3)), ValueError, "inputs must be"),
    (lambda a, k: a.__setitem__(0, rand(2, 0, 4)), ValueError, "at least one step"),
    (lambda a, k: a.__setitem__(1, rand(3, 20)), ValueError, "kernel must have shape"),
    (lambda a, k: a.__setitem__(2, rand(5, 15)), ValueError, "recurrent_kernel"),
    (lambda a, k: a.__setitem__(3, rand(21)), ValueError, "bias must have shape"),
    (lambda a, k: k.update(mask=np.ones((2, 4), bool)), ValueError, "mask must have shape"),
    (lambda a, k: k.update(mask=np.ones((2, 3), np.float32)), TypeError, "mask must be"),
    (lambda a, k: k.update(dropout_mask=rand(2, 5)), ValueError, "dropout_mask"),
    (lambda a, k: k.update(recurrent_dropout_mask=rand(3, 5)), ValueError,
     "recurrent_dropout_mask"),
    (lambda a, k: k.update(initial_state=(rand(2, 5),)), ValueError, "initial_state"),
    (lambda a, k: k.update(initial_state=(rand(2, 5), rand(2, 6))), ValueError,
     "initial_state"),
    (lambda a, k: k.update(activation="softmax"), ValueError, "activation must be one of"),
    (lambda a, k: k.update(recurrent_activation="swish"), ValueError,
     "recurrent_activation"),
    (lambda a, k: k.update(out=np.empty((2, 3, 5), np.float32)), ValueError, "out"),
    (lambda a, k: k.update(work=np.empty(10, np.float32)), TypeError, "RecurrentTrace"),
    (lambda a, k: a.__setitem__(0, np.array([[["a"]]])), TypeError, "inputs"),
])
def test_lstm_bad_input(change, exc, match):
    args, kwargs = lstm_args(), {}
    change(args, kwargs)
    with pytest.raises(exc, match=match):
        ops.lstm(*args, **kwargs)


def test_activation_none_is_linear():
    args = lstm_args()
    want = ops.lstm(*args, activation="linear", recurrent_activation="linear")[0]
    got = ops.lstm(*args, activation=None, recurrent_activation=None)[0]
    np.testing.assert_array_equal(got, want)


def test_gru_bias_shape_follows_reset_after():
    x, k, r = rand(2, 3, 4), rand(4, 15), rand(5, 15)
    with pytest.raises(ValueError, match=r"bias must have shape \(2, 15\)"):
        ops.gru(x, k, r, rand(15))
    with pytest.raises(ValueError, match=r"bias must have shape \(15,\)"):
        ops.gru(x, k, r, rand(2, 15), reset_after=False)


def test_backward_refuses_a_wrong_or_spent_trace():
    args = lstm_args()
    y, h, c, trace = ops.lstm(*args)
    with pytest.raises(ValueError, match="training=False"):
        ops.lstm_grad(trace, dy=np.ones_like(y))
    y, h, c, trace = ops.lstm(*args, training=True)
    with pytest.raises(ValueError, match="from lstm, not gru"):
        ops.gru_grad(trace, dy=np.ones_like(y))
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.lstm_grad(trace, dy=np.ones((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match="no bias gradient"):
        ops.lstm(*args[:3], training=True)[3] and ops.lstm_grad(
            ops.lstm(*args[:3], training=True)[3], bias_grad=np.empty(20, np.float32))
    ops.lstm_grad(trace, dy=np.ones_like(y))
    with pytest.raises(ValueError, match="already used"):
        ops.lstm_grad(trace, dy=np.ones_like(y))
    with pytest.raises(TypeError, match="RecurrentTrace"):
        ops.lstm_grad(None)


def test_bridge_rejects_an_invalid_description():
    from pynn import _kernels
    with pytest.raises(ValueError, match="invalid layer description"):
        _kernels.rnn_work_size((1, 2, 0, 3, 4, 6, 4, 0, 0, 0, 0, 1))
    with pytest.raises(ValueError, match="invalid layer description"):
        _kernels.rnn_work_size((1, 2, 3, 3, 4, 9, 4, 0, 0, 0, 0, 1))  # softmax
    with pytest.raises(ValueError, match="invalid layer description"):
        _kernels.rnn_work_size((7, 2, 3, 3, 4, 6, 4, 0, 0, 0, 0, 1))  # no such cell
    with pytest.raises(ValueError, match="invalid layer description"):
        _kernels.rnn_work_size((1, 2**40, 2**40, 3, 4, 6, 4, 0, 0, 0, 0, 1))  # overflow
    desc = (1, 2, 3, 4, 5, 6, 4, 0, 0, 0, 0, 1)
    x, k, r = rand(2, 3, 4), rand(4, 20), rand(5, 20)
    y, h, c = (np.empty((2, 5), np.float32) for _ in range(3))
    with pytest.raises(ValueError, match="work buffer"):
        _kernels.rnn_forward("lstm", desc, x, k, r, None, None, None, None, None, None, y, h,
                             c, np.empty(10, np.float32))
    with pytest.raises(ValueError, match="kernel: expected 80 elements"):
        _kernels.rnn_forward("lstm", desc, x, rand(4, 19), r, None, None, None, None, None,
                             None, y, h, c, np.empty(10**4, np.float32))


# ------------------------------------------------------------ embedding

@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.uint8, np.int16, np.uint64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), ()])
def test_embedding_gathers_rows(dtype, shape):
    table = rand(257, 33)
    ids = rng.integers(0, 200, shape).astype(dtype)
    got = ops.embedding(table, ids)
    assert got.shape == shape + (33,)
    np.testing.assert_array_equal(got, table[ids.astype(np.int64)])


def test_embedding_takes_lists_and_out():
    table = rand(10, 3)
    out = np.empty((2, 2, 3), np.float32)
    assert ops.embedding(table, [[1, 2], [9, 0]], out=out) is out
    np.testing.assert_array_equal(out, table[[[1, 2], [9, 0]]])


@pytest.mark.parametrize("ids, match", [
    ([0, 10, 3, 12], r"2 id\(s\) outside \[0, 10\).*smallest 10, largest 12"),
    ([[-1, 5], [-7, 2]], r"2 id\(s\).*smallest -7, largest -1"),
    ([-3, 11], r"smallest -3, largest 11"),
    (np.array([2**40], np.int64), r"largest 1099511627776"),
    (np.array([2**63 + 5], np.uint64), "outside any vocabulary"),
])
def test_embedding_rejects_out_of_range_ids(ids, match):
    with pytest.raises(ValueError, match=match):
        ops.embedding(rand(10, 4), ids)
    with pytest.raises(ValueError, match=match):
        ids_arr = np.asarray(ids)
        ops.embedding_grad(ids_arr, rand(*ids_arr.shape, 4), np.zeros((10, 4), np.float32))


@pytest.mark.parametrize("ids", [np.array([1.0, 2.0]), [0.5], np.array([True, False]),
                                 ["a"]])
def test_embedding_rejects_non_integer_ids(ids):
    with pytest.raises(TypeError, match="ids must be integers"):
        ops.embedding(rand(10, 4), ids)


def test_embedding_rejects_bad_tables_and_outs():
    with pytest.raises(ValueError, match=r"table must be \(vocab, dim\)"):
        ops.embedding(rand(10), [1])
    with pytest.raises(ValueError, match="out must be"):
        ops.embedding(rand(10, 4), [1, 2], out=np.empty((2, 5), np.float32))


def test_embedding_grad_scatters_repeats_and_clears_previous_rows():
    vocab, dim = 50, 7
    grad = np.full((vocab, dim), 123.0, np.float32)   # untouched rows keep this
    prev = np.array([[3, 4, 4], [40, 3, 1]])
    dy0 = rand(2, 3, dim)
    ops.embedding_grad(prev, dy0, grad)
    ids = np.array([[4, 4, 9], [9, 9, 0]], np.int32)  # repeats; 3, 40, 1 go stale
    dy = rand(2, 3, dim)
    assert ops.embedding_grad(ids, dy, grad, previous_ids=prev) is grad
    want = np.full((vocab, dim), 123.0)
    want[[3, 40, 1]] = 0
    want[[4, 9, 0]] = 0
    np.add.at(want, ids.ravel(), dy.reshape(-1, dim).astype(np.float64))
    np.testing.assert_allclose(grad, want, rtol=1e-6)


def test_embedding_grad_is_the_adjoint_of_the_gather():
    table = rand(300, 16)
    ids = rng.integers(0, 300, (64, 20))
    dy = rand(64, 20, 16)
    grad = np.zeros_like(table)
    ops.embedding_grad(ids, dy, grad)
    direction = rand(300, 16)
    lhs = np.sum(ops.embedding(direction, ids).astype(np.float64) * dy)
    assert np.isclose(lhs, np.sum(grad.astype(np.float64) * direction), rtol=1e-5)


def test_embedding_grad_bad_input():
    ids = np.array([1, 2])
    with pytest.raises(ValueError, match="dy must have shape"):
        ops.embedding_grad(ids, rand(2, 5), np.zeros((10, 4), np.float32))
    with pytest.raises(ValueError, match="grad must be a writable C-contiguous float32"):
        ops.embedding_grad(ids, rand(2, 4), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="grad must be"):
        ops.embedding_grad(ids, rand(2, 4), np.zeros((10, 8), np.float32)[:, ::2])
    with pytest.raises(ValueError, match=r"1 id\(s\).*smallest 10"):
        ops.embedding_grad(ids, rand(2, 4), np.zeros((10, 4), np.float32),
                           previous_ids=[3, 10])
    with pytest.raises(TypeError, match="ids must be integers"):
        ops.embedding_grad(ids, rand(2, 4), np.zeros((10, 4), np.float32),
                           previous_ids=[0.5])
