"""Keras/TF names and behaviours: metric objects given to compile are the
ones updated, TensorShape of unknown rank, ..."""
import copy
import pickle

import numpy as np
import pytest

import pynn
from pynn import layers
from keras_reference import keras, needs_keras


def _binary_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, (x[:, 0] - x[:, 1] > 0).astype("float32")


# ------------------------------------------------ metric objects given to compile

def _auc_model(metric):
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[metric])
    return model


def test_compiled_metric_object_holds_the_training_result():
    x, y = _binary_data()
    auc = pynn.metrics.AUC()
    history = _auc_model(auc).fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert float(auc.result()) > 0
    assert float(auc.result()) == pytest.approx(history.history["auc"][-1], rel=1e-6)


def test_compiled_metric_object_after_validation_and_evaluate():
    # as Keras 3: validation (evaluate) resets the compiled metrics and
    # leaves them holding its own result
    x, y = _binary_data()
    xv, yv = _binary_data(32, seed=1)
    auc = pynn.metrics.AUC()
    model = _auc_model(auc)
    history = model.fit(x, y, epochs=1, batch_size=16, verbose=0, validation_data=(xv, yv))
    assert float(auc.result()) == pytest.approx(history.history["val_auc"][-1], rel=1e-6)
    assert history.history["auc"][-1] != history.history["val_auc"][-1]
    logs = model.evaluate(x[:40], y[:40], verbose=0, return_dict=True)
    assert float(auc.result()) == pytest.approx(logs["auc"], rel=1e-6)
    # listing the names leaves the user's metric alone
    before = float(auc.result())
    assert "auc" in model.metrics_names
    assert float(auc.result()) == before


def test_one_metric_object_for_two_outputs_counts_each_once():
    x, y = _binary_data()
    inp = pynn.Input((3,))
    outs = [layers.Dense(1, activation="sigmoid", name=n)(inp) for n in ("a", "b")]
    model = pynn.Model(inp, outs)
    acc = pynn.metrics.BinaryAccuracy()
    model.compile("sgd", "binary_crossentropy", metrics=[acc])
    logs = model.evaluate(x, [y, y], verbose=0, return_dict=True)
    assert float(acc.result()) == pytest.approx(logs["a_binary_accuracy"], rel=1e-6)
    assert 0 <= logs["b_binary_accuracy"] <= 1


# ------------------------------------------------ TensorShape of unknown rank

def test_tensorshape_unknown_rank_as_tensorflow():
    u = pynn.TensorShape(None)
    assert u.rank is None and u.ndims is None and u.dims is None
    assert repr(u) == "TensorShape(None)" and str(u) == "<unknown>"
    assert not bool(u) and not u.is_fully_defined() and u.num_elements() is None
    for f in (u.as_list, lambda: len(u), lambda: list(u)):
        with pytest.raises(ValueError):
            f()
    assert u[0] is None and u[1:].rank is None
    assert u == pynn.TensorShape(None) and u != pynn.TensorShape([])
    assert pynn.TensorShape([]) != u
    assert pynn.TensorShape([2]).concatenate(u).rank is None
    assert pynn.TensorShape(u).rank is None
    assert copy.deepcopy(u).rank is None and pickle.loads(pickle.dumps(u)).rank is None
    assert isinstance(u, pynn.TensorShape)


def test_tensorshape_scalar():
    s = pynn.TensorShape([])
    assert s.rank == 0 and s.as_list() == [] and s.is_fully_defined()
    assert s.num_elements() == 1
    known = pynn.TensorShape([2, None])
    assert copy.deepcopy(known) == known and pickle.loads(pickle.dumps(known)).as_list() == [2, None]


# ------------------------------------------------ Normalization on single elements

@needs_keras
@pytest.mark.parametrize("axis,shape", [(-1, (20, 3)), (None, (20, 3)), (-1, (4, 5, 5, 3)),
                                        ((1, 2), (4, 5, 5, 3))])
def test_normalization_on_one_element_as_keras(axis, shape):
    x = np.random.default_rng(0).normal(2.0, 3.0, size=shape).astype("float32")
    ours, theirs = layers.Normalization(axis=axis), keras.layers.Normalization(axis=axis)
    ours.adapt(x)
    theirs.adapt(x)
    want = np.asarray(theirs(x[0]))
    got = np.asarray(ours(x[0]))
    assert got.shape == want.shape   # (1, ...): the statistics broadcast, as Keras
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_normalization_in_dataset_map_on_single_examples():
    x = np.random.default_rng(1).normal(size=(50, 3)).astype("float32")
    norm = layers.Normalization()
    norm.adapt(pynn.data.Dataset.from_tensor_slices(x))   # rows: batched by 128, as Keras
    np.testing.assert_allclose(norm.mean.numpy(), x.mean(0), rtol=1e-5, atol=1e-6)
    out = list(pynn.data.Dataset.from_tensor_slices(x).map(norm).take(2))
    assert out[0].shape == (1, 3)
    want = (x[1] - x.mean(0)) / x.std(0)
    np.testing.assert_allclose(np.asarray(out[1])[0], want, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="normalization"):
        norm(np.zeros(4, np.float32))   # not an element of the adapted data


# ------------------------------------------------ callbacks.RemoteMonitor

def _server(status=200):
    import http.server
    import threading
    got = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, self.headers["Content-Type"], self.headers.get("X-Run"),
                        body))
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def _fit_with(callback):
    x, y = _binary_data(16)
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1, activation="sigmoid")])
    model.compile("sgd", "binary_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, epochs=2, batch_size=8, verbose=0, callbacks=[callback])


def test_remote_monitor_posts_each_epoch():
    import json
    import urllib.parse
    server, got = _server()
    try:
        root = f"http://127.0.0.1:{server.server_port}"
        history = _fit_with(pynn.keras.callbacks.RemoteMonitor(root=root,
                                                               headers={"X-Run": "a"}))
        _fit_with(pynn.callbacks.RemoteMonitor(root=root, path="/p", send_as_json=True))
    finally:
        server.shutdown()
        server.server_close()
    assert len(got) == 4
    path, kind, run, body = got[1]
    assert path == "/publish/epoch/end/" and run == "a"
    assert kind == "application/x-www-form-urlencoded"
    sent = json.loads(urllib.parse.parse_qs(body.decode())["data"][0])
    assert sent["epoch"] == 1
    assert sent["loss"] == pytest.approx(history.history["loss"][1])
    assert set(sent) == {"epoch", "loss", "accuracy"}
    path, kind, run, body = got[3]
    assert path == "/p" and kind == "application/json" and run is None
    assert json.loads(body)["epoch"] == 1


def test_remote_monitor_offline_warns_and_training_goes_on():
    import socket
    with socket.socket() as s:   # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor"):
        history = _fit_with(pynn.callbacks.RemoteMonitor(root=f"http://127.0.0.1:{port}"))
    assert len(history.history["loss"]) == 2
    server, got = _server(status=404)   # an error status: reached, no warning
    try:
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            _fit_with(pynn.callbacks.RemoteMonitor(root=f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
        server.server_close()
    assert len(got) == 2


# ------------------------------------------------ RandomWidth and RandomCrop

def test_random_width_factor_sign_as_tf_keras():
    x = np.zeros((1, 10, 12, 3), np.float32)
    widths = {pynn.layers.RandomWidth((0.2, 0.5), seed=s)(x, training=True).shape[2]
              for s in range(6)}
    assert widths and all(14 <= w <= 18 for w in widths)   # positive widens
    widths = {pynn.layers.RandomWidth((-0.5, -0.2), seed=s)(x, training=True).shape[2]
              for s in range(6)}
    assert widths and all(6 <= w <= 9 for w in widths)
    assert pynn.layers.RandomWidth(0.5)(x, training=False).shape == x.shape


@needs_keras
@pytest.mark.parametrize("shape", [(2, 10, 12, 3), (2, 4, 5, 3), (1, 40, 13, 1)])
def test_random_crop_at_inference_is_the_central_aspect_window(shape):
    # Keras's documented inference behaviour (tf.keras 2's, Keras 3's
    # crop_to_aspect_ratio resize): the largest central window of the
    # target's aspect ratio, resized
    x = np.random.default_rng(0).random(shape).astype("float32")
    got = np.asarray(pynn.layers.RandomCrop(6, 8)(x, training=False))
    want = np.asarray(keras.layers.Resizing(6, 8, crop_to_aspect_ratio=True)(x))
    np.testing.assert_allclose(got, want, atol=1e-5)


# ------------------------------------------------ keras.backend (tf.keras 2's K.*)

K = pynn.keras.backend


def _tconv_reference(x, k, out, strides, padding):
    """tf.nn.conv2d_transpose in float64: the adjoint of the convolution of
    an ``out``-sized image (TensorFlow's 'same' padding: the smaller half
    before)."""
    n, h, w, _ = x.shape
    kh, kw, co, _ = k.shape
    pads = [max((size - 1) * s + kk - o, 0) // 2 if padding == "same" else 0
            for size, o, kk, s in zip((h, w), out, (kh, kw), strides)]
    y = np.zeros((n,) + tuple(out) + (co,))
    for p in range(h):
        for q in range(w):
            for a in range(kh):
                for b in range(kw):
                    i, j = p * strides[0] + a - pads[0], q * strides[1] + b - pads[1]
                    if 0 <= i < out[0] and 0 <= j < out[1]:
                        y[:, i, j] += x[:, p, q].astype(np.float64) @ k[a, b].T
    return y


@pytest.mark.parametrize("kernel,strides,padding,out", [
    ((3, 3), (2, 2), "same", (6, 8)), ((3, 3), (2, 2), "same", (5, 7)),
    ((2, 2), (2, 2), "same", (6, 7)), ((3, 2), (2, 3), "valid", (7, 11)),
    ((3, 2), (2, 3), "valid", (8, 13)), ((3, 3), (1, 1), "same", (3, 4))])
def test_k_conv2d_transpose_as_tensorflow(kernel, strides, padding, out):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 3)).astype("float32")
    k = rng.normal(size=kernel + (5, 3)).astype("float32")
    want = _tconv_reference(x, k, out, strides, padding)
    got = K.conv2d_transpose(x, k, (None,) + out + (5,), strides, padding)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-4)
    first = K.conv2d_transpose(x.transpose(0, 3, 1, 2), k, (2, 5) + out, strides, padding,
                               data_format="channels_first")
    np.testing.assert_allclose(np.asarray(first).transpose(0, 2, 3, 1), want, atol=1e-4)


def test_k_conv2d_transpose_refuses_a_size_it_cannot_make_and_differentiates():
    x = np.ones((1, 3, 4, 3), np.float32)
    k = np.ones((3, 3, 5, 3), np.float32)
    with pytest.raises(ValueError, match="output_shape"):
        K.conv2d_transpose(x, k, (1, 9, 8, 5), (2, 2), "same")
    xv = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_sum(K.conv2d_transpose(xv, k, (1, 5, 7, 5), (2, 2), "same"))
    # each input value reaches the output through the taps that land inside
    grad = np.asarray(tape.gradient(loss, xv))
    units = np.zeros((12, 3, 4, 3), np.float32)
    units[..., 0] = np.eye(12).reshape(12, 3, 4)
    want = _tconv_reference(units, k, (5, 7), (2, 2), "same").sum(axis=(1, 2, 3)).reshape(3, 4)
    np.testing.assert_allclose(grad[0, :, :, 0], want, rtol=1e-5)


@needs_keras
@pytest.mark.parametrize("strides,padding,dilation", [((1, 1, 1), "valid", (1, 1, 1)),
                                                      ((2, 1, 2), "same", (1, 1, 1)),
                                                      ((1, 1, 1), "same", (2, 1, 1))])
def test_k_conv3d_as_keras(strides, padding, dilation):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 5, 6, 7, 3)).astype("float32")
    k = rng.normal(size=(3, 2, 3, 3, 4)).astype("float32")
    want = np.asarray(keras.ops.conv(x, k, strides, padding, dilation_rate=dilation))
    got = np.asarray(K.conv3d(x, k, strides, padding, dilation_rate=dilation))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    first = np.asarray(K.conv3d(x.transpose(0, 4, 1, 2, 3), k, strides, padding,
                                "channels_first", dilation))
    np.testing.assert_allclose(first.transpose(0, 2, 3, 4, 1), want, rtol=1e-4, atol=1e-4)


def test_k_conv3d_gradient():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 4, 3, 3, 2)).astype("float32")
    k = pynn.Variable(rng.normal(size=(2, 2, 2, 2, 3)).astype("float32"))
    with pynn.GradientTape() as tape:
        loss = pynn.reduce_sum(pynn.square(K.conv3d(x, k, (2, 1, 1), "same")))
    grad = np.asarray(tape.gradient(loss, k))
    k0, eps = np.asarray(k.numpy(), np.float64), 1e-3
    for idx in [(0, 0, 0, 0, 0), (1, 1, 0, 1, 2), (0, 1, 1, 0, 1)]:
        def f(v):
            kk = k0.copy()
            kk[idx] = v
            return float(np.sum(np.square(np.asarray(
                K.conv3d(x, kk.astype(np.float32), (2, 1, 1), "same"), np.float64))))
        numeric = (f(k0[idx] + eps) - f(k0[idx] - eps)) / (2 * eps)
        assert grad[idx] == pytest.approx(numeric, rel=2e-2, abs=1e-2)


def test_k_foldl_foldr_and_tf_scan():
    e = np.arange(1, 6, dtype=np.float32)
    assert float(K.foldl(lambda a, x: a + x, e)) == 15.0
    assert float(K.foldr(lambda a, x: a * 2 + x, e, initializer=np.float32(0))) == 129.0
    assert float(pynn.foldl(lambda a, x: a + x[0] * x[1], (e, e),
                            initializer=np.float32(0))) == 55.0
    np.testing.assert_array_equal(pynn.scan(lambda a, x: a + x, e), np.cumsum(e))
    np.testing.assert_array_equal(pynn.scan(lambda a, x: a + x, e, reverse=True),
                                  np.cumsum(e[::-1])[::-1])
    sums, prods = pynn.scan(lambda a, x: (a[0] + x, a[1] * x), e,
                            initializer=(np.float32(0), np.float32(1)))
    np.testing.assert_array_equal(prods, np.cumprod(e))
    with pytest.raises(ValueError, match="first dimension"):
        pynn.foldl(lambda a, x: a, (e, e[:3]))


def _step(w, u):
    def step(x_t, states):
        h = np.tanh(np.asarray(x_t) @ w + np.asarray(states[0]) @ u + np.asarray(states[1]))
        return h, [h]
    return step


@needs_keras
@pytest.mark.parametrize("backwards", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_k_rnn_as_keras(backwards, masked):
    from keras.src.backend.numpy.rnn import rnn as keras_rnn
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 5, 4)).astype("float32")
    w, u = rng.normal(size=(4, 2)).astype("float32"), rng.normal(size=(2, 2)).astype("float32")
    bias = rng.normal(size=(2,)).astype("float32")
    h0 = np.zeros((3, 2), np.float32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 1, 1, 0]], bool) if masked \
        else None
    want = keras_rnn(_step(w, u), x, [h0], go_backwards=backwards, mask=mask,
                     constants=[bias], unroll=True)
    got = K.rnn(_step(w, u), x, [h0], go_backwards=backwards, mask=mask, constants=[bias])
    for a, b in zip(got[:2], want[:2]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got[2][0]), np.asarray(want[2][0]), rtol=1e-5,
                               atol=1e-6)
    last, outs, _ = K.rnn(_step(w, u), x, [h0], mask=mask, constants=[bias],
                          return_all_outputs=False)
    assert np.asarray(outs).shape == (3, 1, 2)
    zeroed = K.rnn(_step(w, u), x, [h0], mask=mask, constants=[bias],
                   zero_output_for_mask=True)[1]
    if masked:
        assert np.all(np.asarray(zeroed)[~mask] == 0)


def test_k_rnn_time_major_and_gradient():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 3, 4)).astype("float32")   # (time, batch, features)
    w = pynn.Variable(rng.normal(size=(4, 2)).astype("float32"))

    def step(x_t, states):
        h = pynn.tanh(pynn.matmul(x_t, w) + states[0])
        return h, [h]
    with pynn.GradientTape() as tape:
        last, outs, states = K.rnn(step, x, [np.zeros((3, 2), np.float32)], time_major=True)
        loss = pynn.reduce_sum(outs)
    assert np.asarray(outs).shape == (5, 3, 2)
    h, want = np.zeros((3, 2)), 0.0
    for t in range(5):
        h = np.tanh(x[t] @ np.asarray(w.numpy(), np.float64) + h)
        want += h.sum()
    assert float(loss) == pytest.approx(want, rel=1e-5)
    assert np.asarray(tape.gradient(loss, w)).shape == (4, 2)


# ------------------------------------------------ tf.lookup

def _vocab_table(num_oov=4):
    vocab = ["cat", "dog", "bird"]
    init = pynn.lookup.KeyValueTensorInitializer(vocab, pynn.range(len(vocab), dtype=pynn.int64))
    return pynn.lookup.StaticVocabularyTable(init, num_oov_buckets=num_oov)


def test_static_hash_table():
    init = pynn.lookup.KeyValueTensorInitializer(pynn.constant(["a", "b", "c"]),
                                                 pynn.constant([7, 8, 9], dtype=pynn.int64))
    table = pynn.lookup.StaticHashTable(init, default_value=-1)
    out = table.lookup(pynn.constant([["a", "z"], ["c", "b"]]))
    assert out.dtype == np.int64 and out.tolist() == [[7, -1], [9, 8]]
    assert table[b"b"].numpy() == 8 and int(table.size()) == 3
    assert table.key_dtype == pynn.string and table.value_dtype == pynn.int64
    keys, values = table.export()
    assert dict(zip(keys.tolist(), values.tolist())) == {b"a": 7, b"b": 8, b"c": 9}
    words = pynn.lookup.StaticHashTable(
        pynn.lookup.KeyValueTensorInitializer([1, 2], ["one", "two"]), "?")
    assert words.lookup(pynn.constant([2, 5])).tolist() == [b"two", b"?"]
    with pytest.raises(TypeError, match="keys must be"):
        table.lookup(pynn.constant([1, 2]))
    with pytest.raises(ValueError, match="two values"):
        pynn.lookup.StaticHashTable(pynn.lookup.KeyValueTensorInitializer(["a", "a"], [1, 2]),
                                    -1)


def test_static_vocabulary_table_buckets_as_tensorflow():
    table = _vocab_table()
    ids = table.lookup(pynn.constant(["dog", "fish", "cat", "hello"]))
    # unknown words: 3 + Fingerprint64(word) % 4 (tf.strings.to_hash_bucket_fast)
    oov = 3 + pynn.strings.to_hash_bucket_fast(["fish", "hello"], 4)
    assert ids.tolist() == [1, int(oov[0]), 0, int(oov[1])]
    assert int(table.size()) == 7
    ragged = table.lookup(pynn.ragged.constant([["cat", "fish"], ["bird"]]))
    assert ragged.to_list() == [[0, int(oov[0])], [2]]
    only_buckets = pynn.lookup.StaticVocabularyTable(None, 5, lookup_key_dtype=pynn.int64)
    assert only_buckets.lookup(pynn.constant([12], pynn.int64)).tolist() == \
        pynn.strings.to_hash_bucket_fast(["12"], 5).tolist()
    with pytest.raises(ValueError, match="num_oov_buckets"):
        _vocab_table(0)


def test_lookup_tables_in_dataset_map():
    table = _vocab_table()
    ds = pynn.data.Dataset.from_tensor_slices((["cat", "zebra", "bird"], [1, 0, 1]))
    ds = ds.map(lambda w, y: (table.lookup(w), y)).batch(3)
    ids, labels = next(iter(ds))
    assert ids.tolist()[0] == 0 and ids.tolist()[2] == 2 and ids.tolist()[1] >= 3
    assert labels.tolist() == [1, 0, 1]


def test_text_file_initializer(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("apple\t10\nbanana\t20\r\ncherry\t30\n")
    lk = pynn.lookup
    by_column = lk.StaticHashTable(lk.TextFileInitializer(str(path), pynn.string, 0,
                                                          pynn.int64, 1), -1)
    assert by_column.lookup(pynn.constant(["banana", "kiwi"])).tolist() == [20, -1]
    by_line = lk.StaticVocabularyTable(lk.TextFileInitializer(
        str(path), pynn.string, lk.TextFileIndex.WHOLE_LINE, pynn.int64,
        lk.TextFileIndex.LINE_NUMBER, value_index_offset=1), 2)
    assert by_line.lookup(pynn.constant(["cherry\t30"])).tolist() == [3]
    reverse = lk.StaticHashTable(lk.TextFileInitializer(path, pynn.int64, 1, pynn.string, 0,
                                                        vocab_size=2), "UNK")
    assert reverse.lookup(pynn.constant([20, 30], pynn.int64)).tolist() == [b"banana", b"UNK"]
    with pytest.raises(ValueError, match="vocab_size"):
        lk.StaticHashTable(lk.TextFileInitializer(path, pynn.string, 0, pynn.int64, 1,
                                                  vocab_size=5), -1)
    with pytest.raises(ValueError, match="columns"):
        lk.StaticHashTable(lk.TextFileInitializer(path, pynn.string, 0, pynn.int64, 2), -1)


def test_mutable_hash_table():
    table = pynn.lookup.experimental.MutableHashTable(pynn.string, pynn.int64, -1)
    table.insert(["x", "y"], [1, 2])
    table.insert(pynn.constant(["x"]), pynn.constant([5], pynn.int64))
    table.remove(["y"])
    assert table.lookup(["x", "y"]).tolist() == [5, -1] and int(table.size()) == 1
    assert table.lookup(["x", "q"], dynamic_default_values=[0, 9]).tolist() == [5, 9]


# ------------------------------------------------ tf.keras 2's OptimizerV2 subclass API

class _Momentum(pynn.keras.optimizers.Optimizer):
    """A momentum optimizer written as tf.keras 2's docs wrote them."""

    def __init__(self, learning_rate=0.01, momentum=0.9, name="MyMomentum", **kwargs):
        super().__init__(name, **kwargs)
        self._set_hyper("learning_rate", kwargs.get("lr", learning_rate))
        self._set_hyper("decay", self._initial_decay)
        self._set_hyper("momentum", momentum)
        self.seen_steps = []

    def _create_slots(self, var_list):
        for var in var_list:
            self.add_slot(var, "m")

    def _resource_apply_dense(self, grad, var, apply_state=None):
        var_device, var_dtype = var.device, var.dtype.base_dtype
        coefficients = ((apply_state or {}).get((var_device, var_dtype))
                        or self._fallback_apply_state(var_device, var_dtype))
        m = self.get_slot(var, "m")
        m.assign(self._get_hyper("momentum", var_dtype) * m + grad)
        var.assign_sub(coefficients["lr_t"] * m)
        self.seen_steps.append(int(self.iterations))

    def get_config(self):
        return {**super().get_config(),
                "momentum": self._serialize_hyperparameter("momentum")}


class _SignSGD(pynn.keras.optimizers.Optimizer):
    def __init__(self, learning_rate=0.1, name="SignSGD", **kwargs):
        super().__init__(name, **kwargs)
        self._set_hyper("learning_rate", learning_rate)

    def _resource_apply_dense(self, grad, var):
        var.assign_sub(self._decayed_lr(var.dtype.base_dtype) * pynn.sign(grad))


def test_optimizer_v2_subclass_steps_as_written():
    opt = _Momentum(0.1, momentum=0.5, decay=0.25)
    w = pynn.Variable(np.array([1.0, -2.0], np.float32))
    b = pynn.Variable(np.array([[0.5]], np.float32))
    want_w, want_b = np.array([1.0, -2.0]), np.array([[0.5]])
    mw, mb = np.zeros(2), np.zeros((1, 1))
    for step in range(3):
        gw, gb = np.array([0.5, 1.0], np.float32) * (step + 1), np.full((1, 1), -1.0, np.float32)
        opt.apply_gradients([(gw, w), (gb, b)])
        lr = 0.1 / (1 + 0.25 * step)   # Keras 2's decay, at the steps taken before
        mw, mb = 0.5 * mw + gw, 0.5 * mb + gb
        want_w, want_b = want_w - lr * mw, want_b - lr * mb
        np.testing.assert_allclose(w.numpy(), want_w, rtol=1e-6)
        np.testing.assert_allclose(b.numpy(), want_b, rtol=1e-6)
    assert opt.seen_steps == [0, 0, 1, 1, 2, 2] and int(opt.iterations) == 3
    np.testing.assert_allclose(opt.get_slot(opt._v2_variables[1][0], "m").numpy(), mw,
                               rtol=1e-6)
    assert opt.get_slot_names() == ["m"]
    assert float(opt.momentum) == 0.5
    opt.momentum = 0.7
    assert float(opt._get_hyper("momentum")) == 0.7
    config = opt.get_config()
    assert config["momentum"] == 0.7 and config["decay"] == 0.25
    again = _Momentum.from_config(config)
    assert float(again.learning_rate) == pytest.approx(0.1) and again._initial_decay == 0.25


def test_optimizer_v2_subclass_trains_a_model():
    x, _ = _binary_data(64)
    y = x @ np.array([[1.0], [2.0], [-1.0]], np.float32)
    for opt in (_Momentum(0.02), _SignSGD(0.05)):
        pynn.utils.set_random_seed(0)
        model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
        model.compile(opt, "mse")
        history = model.fit(x, y, epochs=4, batch_size=16, verbose=0)
        losses = history.history["loss"]
        assert losses[-1] < 0.8 * losses[0]
        assert int(opt.iterations) == 16
    with pytest.raises(KeyError, match="no slot"):
        opt.get_slot(model.layers[0].kernel, "m")


# ------------------------------------------------ feature columns

fc = pynn.feature_column


def _fingerprint_cat64(a, b):
    """TensorFlow's FingerprintCat64, on Python integers."""
    mask, mul = 2 ** 64 - 1, 0xC6A4A7935BD1E995

    def shift_mix(v):
        return v ^ (v >> 47)
    r = (a ^ mul) & mask
    r ^= (shift_mix((b * mul) & mask) * mul) & mask
    r = (r * mul) & mask
    r = (shift_mix(r) * mul) & mask
    return shift_mix(r)


def test_crossed_column_buckets_are_tensorflows():
    # the bins TensorFlow's sparse.cross_hashed gives (Keras's HashedCrossing test)
    features = {"f1": np.array(["A", "B", "A", "B", "A"]),
                "f2": np.array([101, 101, 101, 102, 102])}
    ids = fc.crossed_column(["f1", "f2"], 5)._ids(features)
    np.testing.assert_array_equal(ids.ravel(), [1, 4, 1, 1, 3])
    # integers and ids cross as they are, from the hash key given
    color = fc.categorical_column_with_vocabulary_list("color", ["red", "blue"])
    keyed = fc.crossed_column([color, "n"], 1000, hash_key=12345)
    got = keyed._ids({"color": np.array(["blue", "pink"]), "n": np.array([7, 8])}).ravel()
    want = [_fingerprint_cat64(_fingerprint_cat64(12345, i), n) % 1000
            for i, n in ((1, 7), (2 ** 64 - 1, 8))]     # pink: id -1, crossed as TF does
    assert got.tolist() == want
    nested = fc.crossed_column([fc.crossed_column(["f1", "f2"], 3), "f1"], 5)
    flat = fc.crossed_column(["f1", "f2", "f1"], 5)
    np.testing.assert_array_equal(nested._ids(features), flat._ids(features))
    sparse_rows = fc.crossed_column(["f1", "f2"], 50)._ids(
        {"f1": np.array([["A", ""]]), "f2": np.array([[1, 2]])})
    assert (sparse_rows >= 0).sum() == 2      # an empty string is no value
    with pytest.raises(ValueError, match="bucketize"):
        fc.crossed_column(["f1", "x"], 5)._ids({"f1": features["f1"], "x": np.ones(5)})


def test_categorical_column_with_vocabulary_file(tmp_path):
    path = tmp_path / "colors.txt"
    path.write_text("red\ngreen\nblue\n")
    col = fc.categorical_column_with_vocabulary_file("color", str(path), num_oov_buckets=2)
    ids = col._ids({"color": np.array(["green", "pink", "blue"])}).ravel()
    assert ids[0] == 1 and ids[2] == 2
    assert ids[1] == 3 + int(pynn.strings.to_hash_bucket_fast(["pink"], 2)[0])
    assert col.num_buckets == 5
    short = fc.categorical_column_with_vocabulary_file("color", path, vocabulary_size=2)
    assert short._ids({"color": np.array(["blue", "red"])}).ravel().tolist() == [-1, 0]
    numbers = tmp_path / "codes.txt"
    numbers.write_text("10\n20\n")
    codes = fc.categorical_column_with_vocabulary_file("code", str(numbers), dtype="int64",
                                                       default_value=0)
    assert codes._ids({"code": np.array([20, 30])}).ravel().tolist() == [1, 0]
    layer = layers.DenseFeatures([fc.indicator_column(col)])
    again = layers.DenseFeatures.from_config(layer.get_config())
    features = {"color": np.array(["blue", "red"])}
    np.testing.assert_array_equal(np.asarray(again(features)), np.asarray(layer(features)))
    with pytest.raises(ValueError, match="vocab_size"):
        fc.categorical_column_with_vocabulary_file("color", path, vocabulary_size=9)


def test_shared_embeddings_read_one_table():
    a = fc.categorical_column_with_vocabulary_list("a", ["x", "y", "z"])
    b = fc.categorical_column_with_vocabulary_list("b", ["p", "q", "r"])
    shared = fc.shared_embeddings([b, a], dimension=4)
    assert [c.name for c in shared] == ["b_shared_embedding", "a_shared_embedding"]
    layer = layers.DenseFeatures(shared)
    out = np.asarray(layer({"a": np.array(["x", "z"]), "b": np.array(["q", "x"])}))
    assert out.shape == (2, 8)
    assert [w.name for w in layer.weights] == ["a_b_shared_embedding/embedding_weights"]
    table = layer.weights[0].numpy()
    np.testing.assert_allclose(out[0], np.concatenate([table[0], table[1]]), rtol=1e-6)
    np.testing.assert_allclose(out[1, :4], table[2], rtol=1e-6)
    np.testing.assert_allclose(out[1, 4:], 0.0)          # 'x' is no b value
    model = pynn.Sequential([layers.DenseFeatures(fc.shared_embeddings([a, b], 2)),
                             layers.Dense(1)])
    model.compile("sgd", "mse")
    data = {"a": np.array(["x", "y"]), "b": np.array(["p", "r"])}
    model.predict(data, verbose=0)
    before = model.layers[0].weights[0].numpy()
    model.fit(data, np.array([1.0, 0.0]), epochs=1, verbose=0)
    assert len(model.layers[0].weights) == 1
    assert not np.allclose(model.layers[0].weights[0].numpy(), before)
    c = fc.categorical_column_with_vocabulary_list("c", ["only"])
    with pytest.raises(ValueError, match="same number of buckets"):
        fc.shared_embeddings([a, c], 2)


# ------------------------------------------------ LocallyConnected1D / 2D (tf.keras 2)

def _local_reference(x, kernel, bias, kernel_size, strides):
    """TensorFlow's local_conv in float64: each output position's patch
    (taps in row-major order, then channels) times its own kernel."""
    sizes = x.shape[1:-1]
    out = [(s - k) // st + 1 for s, k, st in zip(sizes, kernel_size, strides)]
    y = np.zeros((x.shape[0],) + tuple(out) + (kernel.shape[-1],))
    for p, pos in enumerate(np.ndindex(*out)):
        index = (slice(None),) + tuple(slice(i * s, i * s + k)
                                       for i, s, k in zip(pos, strides, kernel_size))
        patch = x[index].reshape(x.shape[0], -1).astype(np.float64)
        y[(slice(None),) + pos] = patch @ kernel[p] + (0 if bias is None else bias[pos])
    return y


@pytest.mark.parametrize("rank,kernel_size,strides", [(2, (3, 2), (2, 1)), (1, (3,), (2,)),
                                                      (2, (1, 1), (1, 1))])
def test_locally_connected_forward(rank, kernel_size, strides):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 7, 5, 3)[:rank + 1] + (3,)).astype("float32")
    cls = layers.LocallyConnected2D if rank == 2 else layers.LocallyConnected1D
    layer = cls(4, kernel_size, strides=strides, bias_initializer="random_normal")
    y = np.asarray(layer(x))
    want = _local_reference(x, layer.kernel.numpy(), layer.bias.numpy(), kernel_size, strides)
    np.testing.assert_allclose(y, want, rtol=1e-4, atol=1e-5)
    positions = np.prod(want.shape[1:-1])
    assert layer.kernel.shape == (positions, np.prod(kernel_size) * 3, 4)
    assert layer.bias.shape == want.shape[1:]
    if rank == 2:
        first = layers.LocallyConnected2D(4, kernel_size, strides=strides,
                                          data_format="channels_first", use_bias=False)
        y = np.asarray(first(x.transpose(0, 3, 1, 2)))
        want = _local_reference(x, first.kernel.numpy(), None, kernel_size, strides)
        np.testing.assert_allclose(y.transpose(0, 2, 3, 1), want, rtol=1e-4, atol=1e-5)


def test_locally_connected_gradients_and_file(tmp_path):
    from gradcheck import check_model_gradients
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 5, 4, 2)).astype("float32")
    y = rng.normal(size=(3, 1)).astype("float32")
    model = pynn.Sequential([pynn.Input((5, 4, 2)),
                             layers.LocallyConnected2D(2, (2, 2), strides=(2, 1),
                                                       activation="tanh"),
                             layers.Flatten(), layers.Dense(1)])
    model.compile("sgd", "mse")
    check_model_gradients(model, x, y)
    seq = pynn.Sequential([pynn.Input((6, 3)), layers.LocallyConnected1D(2, 3),
                           layers.Flatten(), layers.Dense(1)])
    seq.compile("sgd", "mse")
    check_model_gradients(seq, rng.normal(size=(3, 6, 3)).astype("float32"), y)
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "local.pynn")
    model.save(path)
    again = pynn.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    assert again.layers[0].get_config()["strides"] == [2, 1]
    with pytest.raises(Exception, match="LocallyConnected2D"):   # no TFLite form: refused
        pynn.lite.TFLiteConverter.from_keras_model(model).convert()
    with pytest.raises(ValueError, match="padding"):
        layers.LocallyConnected2D(2, 3, padding="same")
    with pytest.raises(ValueError, match="does not fit"):
        layers.LocallyConnected1D(2, 5)(np.zeros((1, 3, 2), np.float32))


class _Keras3Momentum(pynn.keras.optimizers.Optimizer):
    """A custom optimizer written as Keras 3 has them written."""

    def __init__(self, learning_rate=0.01, momentum=0.9, name="k3_momentum", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.momentum = momentum
        self.seen_steps = []

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.m = [self.add_variable_from_reference(v, "m") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        m = self.m[self._get_variable_index(variable)]
        self.assign(m, pynn.ops.add(pynn.ops.multiply(self.momentum, m), gradient))
        self.assign_sub(variable, pynn.ops.multiply(learning_rate, m))
        self.seen_steps.append(int(self.iterations))

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum}


def test_keras3_optimizer_subclass_steps_and_trains():
    opt = _Keras3Momentum(0.1, momentum=0.5, clipvalue=2.0)
    w = pynn.Variable(np.array([1.0, 2.0], np.float32))
    opt.build([w])
    m, want = np.zeros(2), np.array([1.0, 2.0])
    for step in range(3):
        g = np.array([1.0, 5.0], np.float32)
        opt.apply_gradients([(g, w)])
        m = 0.5 * m + np.clip(g, -2, 2)     # (clipped first, as Keras does)
        want = want - 0.1 * m
        np.testing.assert_allclose(w.numpy(), want, rtol=1e-6)
    assert opt.seen_steps == [0, 1, 2] and int(opt.iterations) == 3
    x, _ = _binary_data(64)
    y = x @ np.array([[1.0], [2.0], [-1.0]], np.float32)
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
    model.compile(_Keras3Momentum(0.02), "mse")
    losses = model.fit(x, y, epochs=4, batch_size=16, verbose=0).history["loss"]
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("ext", ["pynn", "keras"])
def test_custom_optimizers_come_back_from_files(tmp_path, ext):
    x, _ = _binary_data(32)
    y = x.sum(axis=1, keepdims=True)
    for opt in (_Momentum(0.05, momentum=0.8), _Keras3Momentum(0.05, momentum=0.7)):
        model = pynn.Sequential([pynn.Input((3,)), layers.Dense(1)])
        model.compile(opt, "mse")
        model.fit(x, y, epochs=1, verbose=0)
        path = str(tmp_path / f"model.{ext}")
        model.save(path)
        again = pynn.models.load_model(path, custom_objects={type(opt).__name__: type(opt)})
        assert type(again.optimizer) is type(opt)
        assert float(again.optimizer.learning_rate) == pytest.approx(0.05)
        assert float(again.optimizer.momentum) == pytest.approx(float(opt.momentum))
        again.fit(x, y, epochs=1, verbose=0)
