"""A loss compiled with ``reduction="sum"`` trains on, and reports, the
sum of its per-sample losses, as Keras reduces it: evaluate's loss equals
Keras 3's (each batch's sum, the batches weighed by their sizes), and a
training step follows the gradient of the sum (the loss object called on
a GradientTape), where fit used to train and report the mean."""
import numpy as np
import pytest

import pynn


def data():
    g = np.random.default_rng(0)
    x = g.random((10, 4), dtype=np.float32)
    y = (g.random((10, 1)) > 0.5).astype(np.float32)
    w = g.random(10).astype(np.float32) + 0.5
    return x, y, w


def build(module):
    return module.Sequential([module.Input((4,)), module.layers.Dense(1, activation="sigmoid")])


@pytest.mark.parametrize("loss", ["BinaryCrossentropy", "MeanSquaredError"])
def test_evaluate_reports_keras_sums(keras, loss):
    x, y, w = data()
    ours, theirs = build(pynn), build(keras)
    theirs.set_weights(ours.get_weights())
    for module, model in ((pynn, ours), (keras, theirs)):
        model.compile(optimizer="sgd", loss=getattr(module.losses, loss)(reduction="sum"))
    for kwargs in ({}, {"sample_weight": w}):
        np.testing.assert_allclose(ours.evaluate(x, y, batch_size=4, verbose=0, **kwargs),
                                   theirs.evaluate(x, y, batch_size=4, verbose=0, **kwargs),
                                   rtol=1e-5)


def test_a_step_follows_the_gradient_of_the_sum():
    x, y, w = data()
    model = build(pynn)
    model.compile(optimizer=pynn.optimizers.SGD(0.1),
                  loss=pynn.losses.BinaryCrossentropy(reduction="sum"))
    start = [v.copy() for v in model.get_weights()]
    ref = build(pynn)
    ref.set_weights(start)
    loss = pynn.losses.BinaryCrossentropy(reduction="sum")
    with pynn.GradientTape() as tape:
        value = loss(y, ref(x), sample_weight=w)
    grads = tape.gradient(value, ref.trainable_variables)
    reported = model.train_on_batch(x, y, sample_weight=w)
    np.testing.assert_allclose(reported, float(value), rtol=1e-5)
    for after, before, g in zip(model.get_weights(), start, grads):
        np.testing.assert_allclose(after, before - 0.1 * np.asarray(g), rtol=1e-4, atol=1e-6)
    # fit's epoch loss: the batches' sums weighed by their sizes (4, 4, 2)
    model.set_weights(start)
    model.compile(optimizer=pynn.optimizers.SGD(0.0),
                  loss=pynn.losses.BinaryCrossentropy(reduction="sum"))
    logged = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"][0]
    p = build(pynn)
    p.set_weights(start)
    sums = [float(loss(y[s:s + 4], p(x[s:s + 4]))) for s in (0, 4, 8)]
    np.testing.assert_allclose(logged, (4 * sums[0] + 4 * sums[1] + 2 * sums[2]) / 10,
                               rtol=1e-5)
