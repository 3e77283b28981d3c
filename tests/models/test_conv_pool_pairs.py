"""A first convolution whose output only a max pooling reads takes the
pooling's backward pass in with its own (Program._conv_pool_pairs): the
training it gives must be the bits of the two passes run one by one, and
the pairing must stand aside wherever the pooling's input gradient is
needed or the layers compute their own way."""
import numpy as np
import pytest

import pynn
from pynn import layers, ops


@pytest.fixture(autouse=True)
def one_thread():
    """The bits of a convolution's weight gradient depend on how many
    pieces its samples were cut into, which follows the threads the team
    has (fewer while another process holds a core): one thread makes the
    two runs compared cut them alike."""
    threads = pynn.backend.get_num_threads()
    pynn.backend.set_num_threads(1)
    yield
    pynn.backend.set_num_threads(threads)


def _data(n=96, seed=0):
    g = np.random.default_rng(seed)
    return g.random((n, 16, 16, 1), dtype=np.float32), g.integers(0, 4, n)


def _train(build, pair, x, y, epochs=2):
    """The weights after fit, with the program's conv -> pool pairs kept
    (pair=True) or dropped."""
    pynn.utils.set_random_seed(0)
    model = build()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    if not pair:
        model._program._conv_pools = {}
    model.fit(x, y, batch_size=32, epochs=epochs, verbose=0)
    return model, model.get_weights()


def _same(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def _sequential():
    return pynn.Sequential([pynn.Input((16, 16, 1)),
                            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                            layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(),
                            layers.Flatten(), layers.Dense(4, activation="softmax")])


def _count_fused(monkeypatch):
    calls = []
    real = ops.conv2d_max_pool2d_grad

    def spy(*args, **kwargs):
        done = real(*args, **kwargs)
        calls.append(done)
        return done
    monkeypatch.setattr(ops, "conv2d_max_pool2d_grad", spy)
    return calls


def test_paired_training_is_the_two_passes_bit_for_bit(monkeypatch):
    x, y = _data()
    calls = _count_fused(monkeypatch)
    model, fused = _train(_sequential, True, x, y)
    assert set(model._program._conv_pools) == {1, 3}  # pool steps -> their convolutions
    # only the first layer wants no input gradient; taken where the CPU has
    # the kernel (every x86 machine with AVX2)
    assert len(calls) == 6 and len(set(calls)) == 1
    if pynn.backend.simd_level() != "generic":
        assert calls[0] is True
    _, plain = _train(_sequential, False, x, y)
    _same(fused, plain)
    # on the whole team: the same sums, cut in pieces as the team allows
    pynn.backend.set_num_threads(2)
    _, team = _train(_sequential, True, x, y)
    for u, v in zip(team, plain):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)


def test_functional_pair_and_a_linear_convolution():
    x, y = _data(64, seed=1)

    def build():
        inp = pynn.Input((16, 16, 1))
        h = layers.MaxPooling2D(pool_size=(3, 3))(layers.Conv2D(32, 2)(inp))
        out = layers.Dense(4, activation="softmax")(layers.GlobalAveragePooling2D()(h))
        return pynn.Model(inp, out)
    model, fused = _train(build, True, x, y)
    assert model._program._conv_pools
    _same(fused, _train(build, False, x, y)[1])


@pytest.mark.parametrize("case", ["shared", "read_twice", "frozen", "pool_output"])
def test_pairs_stand_aside(case):
    """A convolution called twice, an output read by two layers, a frozen
    layer, a pooling that is a model output: trained as the two passes."""
    x, y = _data(64, seed=2)

    def build():
        inp = pynn.Input((16, 16, 1))
        conv = layers.Conv2D(32, 3, activation="relu")
        pool = layers.MaxPooling2D()
        first = conv(inp)
        h = pool(first)
        outs = []
        if case == "shared":
            h = layers.Add()([h, pool(conv(inp))])
        elif case == "read_twice":
            h = layers.Add()([h, layers.AveragePooling2D()(first)])
        elif case == "frozen":
            conv.trainable = False
        elif case == "pool_output":
            outs.append(h)
        out = layers.Dense(4, activation="softmax")(layers.Flatten()(h))
        return pynn.Model(inp, [out] + outs if outs else out)

    pynn.utils.set_random_seed(0)
    model = build()
    loss = ["sparse_categorical_crossentropy", "mse"] if case == "pool_output" else \
        "sparse_categorical_crossentropy"
    targets = [y, np.zeros((64, 7, 7, 32), np.float32)] if case == "pool_output" else y
    model.compile(loss=loss, optimizer="sgd")
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, targets, batch_size=32, epochs=1, verbose=0)
    got = model.get_weights()
    pynn.utils.set_random_seed(0)
    plain = build()
    plain.compile(loss=loss, optimizer="sgd")
    plain._program._conv_pools = {}
    plain.fit(x, targets, batch_size=32, epochs=1, verbose=0)
    _same(got, plain.get_weights())
    if case != "frozen":
        assert not np.array_equal(got[0], before[0])  # the convolution trained
    else:
        np.testing.assert_array_equal(got[0], before[0])


def test_gradient_tape_through_the_pair_matches_numpy():
    """tape.gradient of a model's loss through the pair against the two
    passes computed by hand with the ops."""
    x, _ = _data(4, seed=3)
    model = _sequential()
    with pynn.GradientTape() as tape:
        out = model(x, training=True)
        loss = pynn.ops.sum(out * out)
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None for g in grads)
    # the first layer's kernel gradient, from the first pooling's output
    # gradient, by the unfused ops
    conv = model.layers[0]
    y1 = ops.conv2d(x, conv.kernel.numpy(), conv.bias.numpy(), activation="relu")
    p1 = ops.max_pool2d(y1, 2)
    with pynn.GradientTape() as tape2:
        t = pynn.convert_to_tensor(p1)
        tape2.watch(t)
        rest = t
        for layer in model.layers[2:]:
            rest = layer(rest, training=True)
        loss2 = pynn.ops.sum(rest * rest)
    dp1 = np.asarray(tape2.gradient(loss2, t))
    dx = ops.max_pool2d_grad(dp1, y1, p1, 2)
    dk = np.zeros_like(conv.kernel.numpy())
    ops.conv2d_grad(x, conv.kernel.numpy(), dx, kernel_grad=dk, input_grad=False,
                    activation="relu", y=y1)
    np.testing.assert_allclose(np.asarray(grads[0]), dk, rtol=1e-4, atol=1e-5)
