"""Gradients against central finite differences, shared by the tests: a
function of one array (numeric_grad), and whole models (``tests/`` is on sys.path through its
conftest).  Models of any number of inputs and outputs: ``x`` and ``y``
may be lists."""
import numpy as np

from pynn.training import _row_weights


def numeric_grad(f, x, eps=1e-3):
    """Central differences of the scalar function f at x (f takes float32
    arrays; the differences are taken in float64)."""
    x = x.astype(np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f((x + d).astype(np.float32)) - f((x - d).astype(np.float32))) / (2 * eps)
    return g


def _lists(model, x, y):
    xs = model._prepare_inputs(x)
    model._resolve_compile()
    ys = model._prepare_targets(y, xs)
    return xs, ys


def _masks(model, state):
    return state.masks if model._program.has_masks else [None] * len(model._outputs)


def model_loss(model, x, y):
    """The compiled loss (loss_weights applied, summed over outputs) of a
    forward pass in inference mode, sequences and masks weighted as fit
    weighs them."""
    xs, ys = _lists(model, x, y)
    state = model._program.new_state()
    outs = model._program.forward(xs, False, state)
    total = 0.0
    for spec, out, t, mask in zip(model._compiled_outputs, outs, ys, _masks(model, state)):
        if spec.loss is not None:
            rw, rows = _row_weights(out, None, mask)
            per = spec.loss.compute(t, out, rw, None, None, spec.loss.from_logits)
            value = float(per.sum() if rw is None else np.dot(per, rw)) / rows
            total += spec.weight * value / xs[0].shape[0]
    return total


def analytic(model, x, y):
    """Every trainable parameter (the model's flat array) and its gradient
    from one backward pass."""
    xs, ys = _lists(model, x, y)
    params, grads = model._flat_parameters()
    state = model._training_state()
    outs = model._program.forward(xs, True, state)
    out_grads = []
    n = xs[0].shape[0]
    for spec, out, t, mask in zip(model._compiled_outputs, outs, ys, _masks(model, state)):
        if spec.loss is None:
            out_grads.append(None)
            continue
        g = np.empty(out.shape, np.float32)
        rw, rows = _row_weights(out, None, mask)
        spec.loss.compute(t, out, rw, n * rows / spec.weight, g, spec.fused)
        out_grads.append(g)
    if model._program.has_activity:
        model._program.activity_penalty(state, 1.0 / n)
    model._program.backward(state, out_grads, object())
    model._add_weight_penalties()
    return params, grads.copy()


def check_model_gradients(model, x, y, h=1e-3, rtol=5e-2, atol=2e-3, loss_fn=model_loss):
    """Asserts the backward pass's parameter gradients match central
    differences of ``loss_fn``."""
    params, grads = analytic(model, x, y)
    want = np.empty(params.size)
    for i in range(params.size):
        old = params[i]
        params[i] = old + h
        up = loss_fn(model, x, y)
        params[i] = old - h
        down = loss_fn(model, x, y)
        params[i] = old
        want[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grads, want, rtol=rtol, atol=atol)
    return grads
