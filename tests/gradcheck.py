"""Whole-model gradients against central finite differences, shared by the
layer gradient tests (``tests/`` is on sys.path through its conftest)."""
import numpy as np


def model_loss(model, x, y):
    out = model._forward(x, False)
    return float(model.loss.compute(y, out, None, x.shape[0], None, False).sum()) / x.shape[0]


def analytic(model, x, y):
    """Every trainable parameter (the model's flat array) and its gradient
    from one backward pass."""
    params, grads = model._flat_parameters()
    fused, act = model._fusion()
    model._set_emit_logits(act is not None)
    out = model._forward(x, True)
    g = np.empty(out.shape, np.float32)
    model.loss.compute(y, out, None, x.shape[0], g, fused)
    model._backward(g)
    model._set_emit_logits(False)
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
