"""Work forked onto the thread team because the team is still awake
(a predict stream's moderate steps, a product right after a large one)
gives the same values, bit for bit, as the one-thread run: every output
element is computed by one thread in one order, whoever takes its piece."""
import numpy as np
import pytest

import pynn
from pynn import layers, ops


@pytest.fixture
def two_then_restore():
    before = pynn.get_num_threads()
    yield
    pynn.set_num_threads(before)


def convnet():
    return pynn.Sequential([
        pynn.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dense(10, activation="softmax")])


def test_a_stream_of_one_image_predicts_on_two_threads_equals_one_thread(two_then_restore):
    model = convnet()
    x = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    pynn.set_num_threads(1)
    ref = model.predict_on_batch(x)
    pynn.set_num_threads(2)
    # the plan's 2.4 Mi multiply-adds wake the team; its 13x13x32 -> 64
    # convolution then forks on every run of the stream
    outs = [model.predict_on_batch(x) for _ in range(30)]
    assert all(np.array_equal(o, ref) for o in outs)
    # and the values are the model's: float64 through the same layers
    w = [v.astype(np.float64) for v in model.get_weights()]
    h = np.maximum(_conv(x.astype(np.float64), w[0]) + w[1], 0)
    h = _pool(h)
    h = _pool(np.maximum(_conv(h, w[2]) + w[3], 0))
    logits = h.reshape(1, -1) @ w[4] + w[5]
    p = np.exp(logits - logits.max())
    np.testing.assert_allclose(ref, p / p.sum(), rtol=1e-4, atol=1e-6)


def test_moderate_products_right_after_a_large_one_equal_one_thread(two_then_restore):
    rng = np.random.default_rng(1)
    big = rng.random((512, 512), dtype=np.float32)
    shapes = [(64, 64, 64), (96, 96, 96), (32, 128, 128), (128, 10, 1600)]
    pairs = [(rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32))
             for m, n, k in shapes]
    pynn.set_num_threads(1)
    ref = [ops.matmul(a, b) for a, b in pairs]
    pynn.set_num_threads(2)
    for _ in range(5):
        ops.matmul(big, big)  # forks: the team is awake for what follows
        got = [ops.matmul(a, b) for a, b in pairs]
        for g, r, (a, b) in zip(got, ref, pairs):
            assert np.array_equal(g, r)
            np.testing.assert_allclose(g, a.astype(np.float64) @ b, rtol=1e-5)


def _conv(x, k):
    kh, kw, _, cout = k.shape
    n, h, w, _ = x.shape
    out = np.zeros((n, h - kh + 1, w - kw + 1, cout))
    for i in range(kh):
        for j in range(kw):
            out += np.einsum("nhwc,cd->nhwd", x[:, i:i + h - kh + 1, j:j + w - kw + 1], k[i, j])
    return out


def _pool(x):
    n, h, w, c = x.shape
    x = x[:, :h // 2 * 2, :w // 2 * 2]
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def test_more_threads_than_cores_take_over_shares_and_give_the_same_bits(two_then_restore):
    # Six threads on a machine of two cores or more: threads come late or
    # are held off their core mid-region, and the others take what is left
    # of their shares (pynn_pieces).  Every piece must still be computed
    # once, in its fixed order: the forward values are one thread's, and
    # the gradients (whose partial sums are cut by the thread count) the
    # same in every run, whoever took which piece.
    rng = np.random.default_rng(2)
    a, b = rng.random((300, 257), dtype=np.float32), rng.random((257, 310), dtype=np.float32)
    x = rng.random((32, 28, 28, 3), dtype=np.float32)
    k = rng.standard_normal((3, 3, 3, 16)).astype(np.float32)
    model = convnet()
    imgs = rng.random((24, 28, 28, 1), dtype=np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 24)]

    def forward():
        return [ops.matmul(a, b), ops.conv2d(x, k), ops.max_pool2d(x), ops.relu(x - 0.5),
                model.predict_on_batch(imgs)]

    def gradients():
        with pynn.GradientTape() as tape:
            loss = ops.mean(pynn.losses.categorical_crossentropy(labels, model(imgs)))
        return [np.asarray(g) for g in tape.gradient(loss, model.trainable_variables)]

    pynn.set_num_threads(1)
    ref = forward()
    pynn.set_num_threads(6)
    first = gradients()
    for _ in range(5):
        for got, want in zip(forward() + gradients(), ref + first):
            assert np.array_equal(got, want)
    np.testing.assert_allclose(ref[0], a.astype(np.float64) @ b, rtol=1e-5)


@pytest.mark.parametrize("m, k, n", [(1, 784, 128), (3, 1600, 10), (4, 321, 33), (2, 2000, 64)])
def test_few_rows_of_a_long_b_in_k_slices_give_the_same_bits_on_any_team(two_then_restore,
                                                                             m, k, n):
    # With more than one thread set, one sample through a long layer sums
    # B in k slices (as many as threads set, at most one per 256 rows),
    # added in slice order, whichever threads take them and whether or not
    # the team is awake: the same bits call after call of a stream on each
    # thread count.  (One thread sums B in one go.)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((m, k), dtype=np.float32), rng.standard_normal((k, n),
                                                                              dtype=np.float32)
    pynn.set_num_threads(1)
    one = ops.matmul(a, b)
    pynn.set_num_threads(2)
    ref = ops.matmul(a, b)
    for r in (one, ref):
        np.testing.assert_allclose(r, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
    for threads in (2, 6):
        pynn.set_num_threads(threads)
        ref = ops.matmul(a, b)
        np.testing.assert_allclose(ref, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-4)
        for _ in range(30):
            assert np.array_equal(ops.matmul(a, b), ref)


def test_one_sample_products_from_several_python_threads_at_once(two_then_restore):
    # One sample through a long layer runs on the quick team (cpu.c); one
    # caller posts to it at a time, the others run their slices alone:
    # every caller gets the bits of the thread count set.
    from concurrent.futures import ThreadPoolExecutor
    rng = np.random.default_rng(4)
    a = rng.standard_normal((1, 784), dtype=np.float32)
    b = rng.standard_normal((784, 128), dtype=np.float32)
    pynn.set_num_threads(2)
    ref = ops.matmul(a, b)

    def stream(_):
        return all(np.array_equal(ops.matmul(a, b), ref) for _ in range(200))

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(stream, range(4)))


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_runs_one_sample_products_on_a_team_of_its_own(two_then_restore):
    # The quick team's threads stay in the parent; a child forked after
    # they started starts its own and gets the same bits.
    import os
    rng = np.random.default_rng(5)
    a = rng.standard_normal((1, 784), dtype=np.float32)
    b = rng.standard_normal((784, 128), dtype=np.float32)
    pynn.set_num_threads(2)
    for _ in range(20):
        ref = ops.matmul(a, b)
    pid = os.fork()
    if pid == 0:
        ok = all(np.array_equal(ops.matmul(a, b), ref) for _ in range(50))
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    assert np.array_equal(ops.matmul(a, b), ref)
