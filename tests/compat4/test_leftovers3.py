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
