"""Memory stays bounded: predict and evaluate stream a memory-mapped input
larger than they may hold batch by batch, and repeated calls leak nothing."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pynn
from pynn import layers


def rss_kib(field="VmRSS"):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

STREAM = textwrap.dedent("""
    import sys
    import numpy as np
    import pynn
    from pynn import layers

    def anon():  # memory the process holds itself, not the file's page cache
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("RssAnon:"))

    path, features = sys.argv[1], 512
    x = np.memmap(path, dtype=np.float32, mode="r")
    x = x[: x.size // features * features].reshape(-1, features)
    y = np.zeros(x.shape[0], np.int64)
    model = pynn.Sequential([pynn.Input((features,)), layers.Dense(16, activation="relu"),
                             layers.Dense(4, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.predict(x[:10], verbose=0)
    model.evaluate(x[:10], y[:10], verbose=0)
    before = anon()
    p = model.predict(x, batch_size=8192, verbose=0)
    after_predict = anon()
    loss = model.evaluate(x, y, batch_size=8192, verbose=0)
    after_evaluate = anon()
    assert p.shape == (x.shape[0], 4) and np.isfinite(loss)
    print(x.nbytes, after_predict - before, after_evaluate - before)
""")


@linux
@pytest.mark.slow
def test_a_2gb_memmap_predicts_and_evaluates_in_bounded_memory(tmp_path):
    path = tmp_path / "big.f32"
    with open(path, "wb") as f:  # a sparse file: zeros, no disk written
        f.truncate(2 << 30)
    r = subprocess.run([sys.executable, "-c", STREAM, str(path)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    nbytes, predict_kib, evaluate_kib = map(int, r.stdout.split())
    assert nbytes >= (2 << 30) - 4096
    # the output itself (x.shape[0] x 4 floats, 16 MiB) is the only thing
    # that grows with the input
    assert predict_kib < 200 * 1024, predict_kib
    assert evaluate_kib < 200 * 1024, evaluate_kib


def small_model():
    pynn.utils.set_random_seed(3)
    model = pynn.Sequential([pynn.Input((20,)), layers.Dense(32, activation="relu"),
                             layers.Dropout(0.2), layers.Dense(5, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@linux
def test_ten_thousand_predicts_leave_rss_flat():
    model = small_model()
    x = np.random.default_rng(0).random((8, 20), dtype=np.float32)
    for _ in range(1000):  # warm up: buffers, pools, caches
        model.predict(x, verbose=0)
    before = rss_kib()
    for _ in range(10000):
        model.predict(x, verbose=0)
    grown = rss_kib() - before
    assert grown < 4 * 1024, f"RSS grew by {grown} KiB over 10,000 predict calls"


@linux
def test_a_thousand_fits_on_one_batch_leave_rss_flat():
    model = small_model()
    g = np.random.default_rng(1)
    x, y = g.random((16, 20), dtype=np.float32), g.integers(0, 5, 16)
    for _ in range(100):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    before = rss_kib()
    for _ in range(1000):
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    grown = rss_kib() - before
    assert grown < 8 * 1024, f"RSS grew by {grown} KiB over 1,000 fit calls"
