"""A GradientTape loop binds the same gradients for a model's call on every
step, and the backward plan made for that binding is kept: the gradients
stay those of a model that never took a step, whatever is asked for and
frozen from one step to the next."""
import numpy as np

import pynn
from pynn import layers

G = np.random.default_rng(5)
X = G.random((16, 6), dtype=np.float32)
Y = np.eye(3, dtype=np.float32)[G.integers(0, 3, 16)]


def mlp():
    return pynn.Sequential([pynn.Input(shape=(6,)), layers.Dense(5, activation="relu"),
                            layers.Dense(4, activation="tanh"),
                            layers.Dense(3, activation="softmax")])


def grads(model, sources_of):
    loss_fn = pynn.losses.CategoricalCrossentropy()
    with pynn.GradientTape() as tape:
        loss = loss_fn(Y, model(X, training=True))
    sources = sources_of(model)
    return sources, tape.gradient(loss, sources)


def test_kept_plans_give_a_fresh_models_gradients():
    pynn.utils.set_random_seed(2)
    model = mlp()
    optimizer = pynn.optimizers.SGD(0.5)
    # (a narrow ask first: a plan kept from it would leave the first layers out)
    asks = [lambda m: m.layers[2].trainable_weights, lambda m: m.trainable_weights,
            lambda m: m.layers[0].trainable_weights + [m.layers[2].kernel],
            lambda m: m.trainable_weights, lambda m: m.layers[2].trainable_weights]
    for step, ask in enumerate(asks * 2):
        if step == 5:
            model.layers[1].trainable = False  # taken by the tape at once
        fresh = mlp()
        fresh.set_weights(model.get_weights())
        fresh.layers[1].trainable = model.layers[1].trainable
        sources, got = grads(model, ask)
        _, want = grads(fresh, ask)
        assert len(got) == len(want) == len(sources)
        for g, w in zip(got, want):
            assert (g is None) == (w is None)
            if g is not None:
                np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
        optimizer.apply_gradients([(g, s) for g, s in zip(got, sources) if g is not None])
