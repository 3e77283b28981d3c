"""Whole-model gradients against central finite differences, shared by the
layer and graph gradient tests (``tests/`` is on sys.path through its
conftest).  Models of any number of inputs and outputs: ``x`` and ``y``
may be lists."""
import numpy as np


def _lists(model, x, y):
    xs = model._prepare_inputs(x)
    model._resolve_compile()
    ys = model._prepare_targets(y, xs[0].shape[0])
    return xs, ys


def model_loss(model, x, y):
    """The compiled loss (loss_weights applied, summed over outputs) of a
    forward pass in inference mode."""
    xs, ys = _lists(model, x, y)
    outs = model._program.forward(xs, False, model._program.new_state())
    total = 0.0
    for spec, out, t in zip(model._compiled_outputs, outs, ys):
        if spec.loss is not None:
            per = spec.loss.compute(t, out, None, None, None, spec.loss.from_logits)
            total += spec.weight * float(per.sum()) / xs[0].shape[0]
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
    for spec, out, t in zip(model._compiled_outputs, outs, ys):
        if spec.loss is None:
            out_grads.append(None)
            continue
        g = np.empty(out.shape, np.float32)
        spec.loss.compute(t, out, None, n / spec.weight, g, spec.fused)
        out_grads.append(g)
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
