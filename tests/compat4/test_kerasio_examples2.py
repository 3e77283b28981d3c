"""keras.io's example programs, second sweep (generative, vision, text,
recipes), run with only their imports changed: the patterns that broke,
reproduced in a few lines, against Keras 3 on its NumPy backend where it
runs the same thing, else a property that could fail."""
import numpy as np
import pytest

import pynn

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# --------- trainer_pattern.py: a model built on (28, 28, 1) fed (28, 28)

def rank_model(lib):
    inp = lib.Input((4, 1))
    return lib.Model(inp, lib.layers.Dense(2)(lib.layers.Flatten()(inp)))


def test_a_model_called_on_a_tensor_one_axis_short_adds_it_as_keras(keras):
    ours, ref = rank_model(pynn), rank_model(keras)
    ref.set_weights(ours.get_weights())
    # Symbolic: the graph built on (None, 4, 1) called on (None, 4).
    for lib, m in ((pynn, ours), (keras, ref)):
        assert tuple(m(lib.Input((4,))).shape) == (None, 2)
    # Inside a subclassed model's call, which pynn traces symbolically.
    class Wrap(pynn.Model):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def call(self, x):
            return self.inner(x)

    x = rand(5, 4)
    want = np.asarray(ref(x))
    np.testing.assert_allclose(np.asarray(Wrap(ours)(x)), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_a_model_given_an_extra_last_axis_of_one_drops_it_as_keras(keras):
    def build(lib):
        inp = lib.Input((4,))
        return lib.Model(inp, lib.layers.Dense(3)(inp))

    ours, ref = build(pynn), build(keras)
    ref.set_weights(ours.get_weights())
    x = rand(6, 4, 1)
    want = np.asarray(ref(x))
    assert want.shape == (6, 3)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ours(x)), want, rtol=1e-5, atol=1e-6)
    assert tuple(ours(pynn.Input((4, 1))).shape) == (None, 3)


# ------------ real_nvp.py: validation_split with train_step and test_step

class OwnSteps(pynn.Model):
    """Unsupervised steps, as a flow's: the data is x alone."""

    def __init__(self):
        super().__init__()
        self.dense = pynn.layers.Dense(1)
        self.tracker = pynn.metrics.Mean(name="loss")
        self.seen = {"train": 0, "test": 0}

    @property
    def metrics(self):
        return [self.tracker]

    def call(self, x):
        return self.dense(x)

    def loss_of(self, x):
        return pynn.ops.mean(pynn.ops.square(self(x) - 1.0))

    def train_step(self, data):
        self.seen["train"] += int(data.shape[0])
        with pynn.GradientTape() as tape:
            loss = self.loss_of(data)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}

    def test_step(self, data):
        self.seen["test"] += int(data.shape[0])
        self.tracker.update_state(self.loss_of(data))
        return {"loss": self.tracker.result()}


def test_validation_split_with_a_custom_train_step_holds_out_the_last_samples():
    x = rand(50, 3)
    m = OwnSteps()
    m.compile(optimizer=pynn.optimizers.SGD(0.05))
    h = m.fit(x, batch_size=10, epochs=2, validation_split=0.2, verbose=0)
    # 40 samples trained on per epoch, the last 10 validated on.
    assert m.seen == {"train": 80, "test": 20}
    assert h.history["loss"][1] < h.history["loss"][0]
    # val_loss is the loss of the held-out tail after the epoch's steps.
    want = float(np.mean((m.predict(x[40:], verbose=0) - 1.0) ** 2))
    assert h.history["val_loss"][-1] == pytest.approx(want, rel=1e-5)


def test_validation_split_with_a_custom_train_step_splits_x_and_y_alike():
    class Supervised(pynn.Model):
        def __init__(self):
            super().__init__()
            self.dense = pynn.layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            x, y = data
            assert x.shape[0] == y.shape[0]
            return {"n": float(x.shape[0])}

        def test_step(self, data):
            x, y = data
            # the held-out targets are the last ones: 40 to 49
            return {"first_y": float(np.asarray(y)[0, 0])}

    x, y = rand(50, 3), np.arange(50, dtype=np.float32)[:, None]
    m = Supervised()
    m.compile(optimizer="sgd")
    h = m.fit(x, y, batch_size=50, epochs=1, validation_split=0.2, verbose=0)
    assert h.history["n"] == [40.0]
    assert h.history["val_first_y"] == [40.0]
    with pytest.raises(ValueError, match="validation_split must be in"):
        m.fit(x, y, epochs=1, validation_split=1.5, verbose=0)


# ------- text_generation_with_miniature_gpt.py: tf.data.TextLineDataset

def test_text_line_dataset_reads_lines_file_after_file(tmp_path):
    import gzip
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_bytes(b"one two\r\nthree\n\nfour")
    b.write_bytes("caf\u00e9 <br />x\n".encode())
    ds = pynn.data.TextLineDataset([str(a), str(b)])
    want = ["one two", "three", "", "four", "caf\u00e9 <br />x"]
    # (each line a string tensor of its bytes, as TensorFlow's)
    assert next(iter(ds)).numpy() == b"one two"
    assert [s.decode() for s in ds.as_numpy_iterator()] == want
    assert [s.decode() for s in ds.as_numpy_iterator()] == want  # re-iterable
    # a line from each of two files in turn, as tf.data's parallel reads
    both = pynn.data.TextLineDataset([str(a), str(b)], num_parallel_reads=2)
    assert [s.decode() for s in both.as_numpy_iterator()] == \
        ["one two", "caf\u00e9 <br />x", "three", "", "four"]
    z = tmp_path / "c.txt.gz"
    z.write_bytes(gzip.compress(b"p q\nr\n"))
    names = pynn.data.Dataset.from_tensor_slices([str(z)])
    assert [s.decode() for s in pynn.data.TextLineDataset(names, compression_type="GZIP")
            .as_numpy_iterator()] == ["p q", "r"]
    with pytest.raises(ValueError, match="compression_type"):
        pynn.data.TextLineDataset(str(a), compression_type="BZ2")


def test_text_line_dataset_feeds_text_vectorization_in_batches(tmp_path):
    f = tmp_path / "t.txt"
    f.write_text("the cat sat\nthe dog\nthe cat ran far\n")
    ds = pynn.data.TextLineDataset(str(f)).batch(2)
    vec = pynn.layers.TextVectorization(output_mode="int", output_sequence_length=4)
    vec.adapt(ds)
    assert vec.get_vocabulary()[:4] == ["", "[UNK]", "the", "cat"]
    batches = [np.asarray(b) for b in ds.map(lambda t: vec(t))]
    assert [b.shape for b in batches] == [(2, 4), (1, 4)]
    assert batches[0][0].tolist()[:2] == [2, 3]


# --------------- quasi_svm.py: layers.experimental.RandomFourierFeatures

def test_random_fourier_features_approximate_the_gaussian_kernel():
    from pynn.layers.experimental import RandomFourierFeatures
    pynn.utils.set_random_seed(1)
    x = rand(6, 3)
    layer = RandomFourierFeatures(8192, kernel_initializer="gaussian", scale=1.5)
    z = np.asarray(layer(x))
    k = np.asarray(layer.unscaled_kernel) / 1.5
    np.testing.assert_allclose(z, np.cos(x @ k + np.asarray(layer.bias)), atol=1e-5)
    # 2/D z z^T ~ exp(-|x - y|^2 / (2 scale^2))
    exact = np.exp(-((x[:, None] - x[None]) ** 2).sum(-1) / (2 * 1.5 ** 2))
    np.testing.assert_allclose(z @ z.T * 2 / 8192, exact, atol=0.05)
    # nothing trains unless asked; the default scale is sqrt(d / 2)
    assert layer.trainable_weights == []
    auto = RandomFourierFeatures(4)
    auto(rand(2, 8))
    assert float(np.asarray(auto.kernel_scale)[0]) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="unsupported kernel_initializer"):
        RandomFourierFeatures(4, kernel_initializer="cosine")


def test_random_fourier_features_train_their_scale_when_trainable():
    from pynn.layers.experimental import RandomFourierFeatures
    pynn.utils.set_random_seed(2)
    x = rand(64, 4)
    y = (x[:, :1] > 0).astype(np.float32)
    rff = RandomFourierFeatures(256, kernel_initializer="laplacian", scale=3.0, trainable=True)
    model = pynn.Sequential([pynn.Input((4,)), rff, pynn.layers.Dense(1)])
    assert [w.name.split("/")[-1] for w in rff.trainable_weights] == ["kernel_scale"]
    kernel = np.asarray(rff.unscaled_kernel).copy()
    model.compile(pynn.optimizers.Adam(0.05), "hinge")
    h = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert float(np.asarray(rff.kernel_scale)[0]) != pytest.approx(3.0)
    np.testing.assert_array_equal(np.asarray(rff.unscaled_kernel), kernel)
    again = RandomFourierFeatures.from_config(rff.get_config())
    assert (again.output_dim, again.kernel_initializer, again.scale, again.trainable) == \
        (256, "laplacian", 3.0, True)


def test_layers_experimental_holds_keras2_names():
    from pynn.layers.experimental import preprocessing
    assert preprocessing.Rescaling is pynn.layers.Rescaling
    assert preprocessing.TextVectorization is pynn.layers.TextVectorization
    assert pynn.layers.experimental.EinsumDense is pynn.layers.EinsumDense


# -------- sklearn_metric_callbacks.py: tf.summary from inside a callback

def _events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    acc.Reload()
    return acc


def test_summary_writes_what_tensorboard_reads(tmp_path):
    pytest.importorskip("tensorboard")
    tf = pynn
    writer = tf.summary.create_file_writer(str(tmp_path / "run"))
    assert tf.summary.scalar("lost", 1.0, step=0) is False  # no default writer
    with writer.as_default():
        for step in range(3):
            assert tf.summary.scalar("score", np.float32(step) / 4, step=step)
        tf.summary.histogram("w", rand(100), step=2)
        tf.summary.text("note", "hello", step=2)
        tf.summary.image("pic", np.ones((2, 4, 5, 1), np.float32), step=2, max_outputs=1)
        with pytest.raises(ValueError, match="no step"):
            tf.summary.scalar("score", 1.0)
        tf.summary.experimental.set_step(7)
        assert tf.summary.scalar("later", pynn.ops.convert_to_tensor(2.5))
        tf.summary.experimental.set_step(None)
        writer.flush()
    assert tf.summary.scalar("lost", 1.0, step=0) is False  # the default is gone again
    acc = _events(tmp_path / "run")
    assert sorted(acc.Tags()["tensors"]) == ["later", "note", "pic", "score", "w"]
    got = [(e.step, float(np.asarray(e.tensor_proto.float_val)[0]))
           for e in acc.Tensors("score")]
    assert got == [(0, 0.0), (1, 0.25), (2, 0.5)]
    assert [(e.step, e.tensor_proto.float_val[0]) for e in acc.Tensors("later")] == [(7, 2.5)]
    assert acc.Tensors("note")[0].tensor_proto.string_val == [b"hello"]
    pic = acc.Tensors("pic")[0].tensor_proto.string_val
    assert pic[:2] == [b"5", b"4"] and len(pic) == 3 and pic[2].startswith(b"\x89PNG")


def test_summary_from_a_callback_each_epoch(tmp_path):
    pytest.importorskip("tensorboard")

    class Logged(pynn.callbacks.Callback):
        def __init__(self, folder):
            super().__init__()
            self.writer = pynn.summary.create_file_writer(folder)

        def on_epoch_end(self, epoch, logs=None):
            with self.writer.as_default():
                pynn.summary.scalar("my_loss", logs["loss"], step=epoch + 1)

    model = pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(1)])
    model.compile("sgd", "mse")
    h = model.fit(rand(32, 3), rand(32, 1), epochs=3, verbose=0,
                  callbacks=[Logged(str(tmp_path / "cb"))])
    got = [(e.step, e.tensor_proto.float_val[0]) for e in _events(tmp_path / "cb")
           .Tensors("my_loss")]
    assert [s for s, _ in got] == [1, 2, 3]
    np.testing.assert_allclose([v for _, v in got], h.history["loss"], rtol=1e-6)


# --------- simsiam.py: tf.keras.experimental's schedule, Keras 2's Rescaling

def test_keras2_experimental_names_of_a_self_supervised_program(keras):
    tf = pynn
    ours = tf.keras.experimental.CosineDecay(initial_learning_rate=0.03, decay_steps=10)
    ref = keras.optimizers.schedules.CosineDecay(initial_learning_rate=0.03, decay_steps=10)
    for step in (0, 3, 10, 12):
        assert float(ours(step)) == pytest.approx(float(ref(step)), rel=1e-6)
    rescale = tf.layers.experimental.preprocessing.Rescaling(scale=1.0 / 127.5, offset=-1)
    x = np.array([[[[0, 127.5, 255]]]], np.float32)
    np.testing.assert_allclose(np.asarray(rescale(x)), [[[[-1, 0, 1]]]], atol=1e-6)


# ------- depth_estimation.py / edsr.py: TensorFlow's image-difference ops

def test_image_gradients_total_variation_and_sobel_as_tensorflow_defines_them():
    tf = pynn
    x = rand(2, 5, 6, 3)
    dy, dx = (np.asarray(a) for a in tf.image.image_gradients(x))
    assert dy.shape == dx.shape == x.shape
    np.testing.assert_allclose(dy[:, :-1], x[:, 1:] - x[:, :-1], atol=1e-6)
    np.testing.assert_allclose(dx[:, :, :-1], x[:, :, 1:] - x[:, :, :-1], atol=1e-6)
    assert not dy[:, -1].any() and not dx[:, :, -1].any()
    tv = np.abs(np.diff(x, axis=1)).sum((1, 2, 3)) + np.abs(np.diff(x, axis=2)).sum((1, 2, 3))
    np.testing.assert_allclose(np.asarray(tf.image.total_variation(x)), tv, rtol=1e-5)
    assert float(tf.image.total_variation(x[1])) == pytest.approx(tv[1], rel=1e-5)
    # Sobel with reflected borders: (..., 0) the vertical response, (..., 1) the horizontal
    edges = np.asarray(tf.image.sobel_edges(x))
    p = np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], mode="reflect")
    k = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32)
    want = np.zeros(x.shape + (2,), np.float32)
    for i in range(3):
        for j in range(3):
            window = p[:, i:i + 5, j:j + 6]
            want[..., 0] += k[i, j] * window
            want[..., 1] += k.T[i, j] * window
    np.testing.assert_allclose(edges, want, atol=1e-5)


def test_image_gradients_train_through_a_tape():
    x = pynn.Variable(rand(1, 4, 4, 1))
    g, h = rand(1, 4, 4, 1, seed=1), rand(1, 4, 4, 1, seed=2)
    with pynn.GradientTape() as tape:
        dy, dx = pynn.image.image_gradients(x)
        loss = pynn.reduce_sum(dy * g) + pynn.reduce_sum(dx * h)
    got = np.asarray(tape.gradient(loss, x))
    g, h = g.copy(), h.copy()
    g[:, -1], h[:, :, -1] = 0, 0   # the zero last row and column carry no gradient
    want = -g - h
    want[:, 1:] += g[:, :-1]
    want[:, :, 1:] += h[:, :, :-1]
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_nn_depth_to_space_is_tensorflows_order():
    x = np.arange(2 * 2 * 3 * 8, dtype=np.float32).reshape(2, 2, 3, 8)
    y = np.asarray(pynn.nn.depth_to_space(x, 2))
    assert y.shape == (2, 4, 6, 2)
    for i in range(2):
        for j in range(2):
            # output[b, 2h + i, 2w + j, c] = input[b, h, w, (2i + j) * 2 + c]
            np.testing.assert_array_equal(y[:, i::2, j::2], x[..., (2 * i + j) * 2:(2 * i + j + 1) * 2])
    np.testing.assert_array_equal(np.asarray(pynn.nn.space_to_depth(y, 2)), x)
    with pytest.raises(ValueError, match="NHWC"):
        pynn.nn.depth_to_space(x, 2, data_format="NCHW")


def test_random_fourier_features_keep_in_pynn_files_and_are_refused_in_keras_files(tmp_path):
    from pynn.layers.experimental import RandomFourierFeatures
    model = pynn.Sequential([pynn.Input((5,)), RandomFourierFeatures(16, scale=2.0),
                             pynn.layers.Dense(2)])
    x = rand(3, 5)
    model.save(tmp_path / "m.pynn")
    again = pynn.models.load_model(tmp_path / "m.pynn")
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="RandomFourierFeatures.*cannot write in Keras"):
        model.save(tmp_path / "m.keras")


# ------------- edsr.py: tf.cond in a data pipeline; TF's other control flow

def test_tf_control_flow_runs_eagerly_with_tensorflows_signatures():
    tf = pynn
    images = np.arange(2 * 3 * 1, dtype=np.float32).reshape(2, 3, 1)

    def maybe_flip(image, flip):
        return tf.cond(flip < 0.5, lambda: image, lambda: tf.image.flip_left_right(image))

    np.testing.assert_array_equal(np.asarray(maybe_flip(images, tf.constant(0.2))), images)
    np.testing.assert_array_equal(np.asarray(maybe_flip(images, tf.constant(0.7))),
                                  images[:, ::-1])
    i, total = tf.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + i), (0, 0))
    assert (int(i), int(total)) == (5, 10)
    assert int(tf.while_loop(lambda i: i < 100, lambda i: i + 1, 0,
                             maximum_iterations=7)) == 7
    branches = [lambda: 10, lambda: 20]
    assert tf.switch_case(1, branches) == 20
    assert tf.switch_case(5, branches) == 20  # (the last branch, as TensorFlow)
    assert tf.switch_case(5, branches, default=lambda: -1) == -1
    pairs = tf.map_fn(lambda t: (t[0] * t[1], t[0]), (np.arange(3.0), np.ones(3)),
                      fn_output_signature=(tf.float32, tf.int32))
    np.testing.assert_array_equal(np.asarray(pairs[0]), [0.0, 1.0, 2.0])
    assert np.asarray(pairs[1]).dtype == np.int32
    x = pynn.Variable(np.array([1.0, 2.0, 3.0], np.float32))
    with pynn.GradientTape() as tape:
        y = tf.reduce_sum(tf.map_fn(lambda v: v * v, x))
    np.testing.assert_allclose(np.asarray(tape.gradient(y, x)), [2.0, 4.0, 6.0])
    with pytest.raises(TypeError, match="callables"):
        tf.cond(True, None, lambda: 1)


def test_a_dataset_map_branching_with_tf_cond():
    tf = pynn
    ds = tf.data.Dataset.from_tensor_slices(np.arange(6, dtype=np.float32)).map(
        lambda v: tf.cond(v > 2.5, lambda: v * 10.0, lambda: v))
    assert [float(v) for v in ds.as_numpy_iterator()] == [0, 1, 2, 30, 40, 50]


# ------------ ctc_asr.py / transformer_asr.py: tf.signal's spectrograms

def test_stft_spectrogram_pipeline_as_tensorflow_defines_it():
    tf = pynn
    audio = rand(1000)
    spectrum = tf.signal.stft(audio, frame_length=200, frame_step=80, fft_length=256)
    assert tuple(spectrum.shape) == (11, 129) and np.asarray(spectrum).dtype == np.complex64
    # frames every 80 samples, each times a periodic Hann window, rfft'd to 256 points
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(200) / 200)
    frames = np.stack([audio[i * 80:i * 80 + 200] for i in range(11)])
    np.testing.assert_allclose(np.asarray(spectrum), np.fft.rfft(frames * window, n=256),
                               rtol=1e-4, atol=1e-4)
    magnitude = tf.math.pow(tf.abs(spectrum), 0.5)
    assert np.asarray(magnitude).dtype == np.float32
    np.testing.assert_allclose(np.asarray(magnitude),
                               np.abs(np.fft.rfft(frames * window, n=256)) ** 0.5, rtol=1e-4)
    # the default fft_length is the enclosing power of two
    assert tuple(tf.signal.stft(audio[None], 100, 50).shape) == (1, 19, 65)
    assert tf.signal.frame(np.arange(10), 4, 3, pad_end=True).tolist() == \
        [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9], [9, 0, 0, 0]]
    # TensorFlow's periodic window lengthens only an even window
    np.testing.assert_allclose(np.asarray(tf.signal.hann_window(8)), np.hanning(9)[:-1],
                               atol=1e-7)
    np.testing.assert_allclose(np.asarray(tf.signal.hann_window(7)), np.hanning(7), atol=1e-7)


def test_mel_weight_matrix_is_htk_triangles_without_dc():
    tf = pynn
    w = np.asarray(tf.signal.linear_to_mel_weight_matrix(8, 129, 16000, 20.0, 8000.0))
    assert w.shape == (129, 8) and not w[0].any() and w.min() >= 0.0
    hz = np.linspace(0, 8000, 129)
    mel = 1127.0 * np.log(1 + hz / 700.0)
    edges = np.linspace(1127.0 * np.log(1 + 20 / 700.0), 1127.0 * np.log(1 + 8000 / 700.0), 10)
    for j in range(8):
        inside = (mel > edges[j]) & (mel < edges[j + 2])
        assert not w[1:][~inside[1:], j].any()
        peak = np.argmax(w[:, j])
        assert edges[j] < mel[peak] < edges[j + 2]
    with pytest.raises(ValueError, match="lower_edge_hertz"):
        tf.signal.linear_to_mel_weight_matrix(8, 129, 16000, 20.0, 9000.0)


def test_wav_bytes_to_padded_spectrogram_as_transformer_asr_reads_them(tmp_path):
    tf = pynn
    stereo = np.stack([np.linspace(-0.5, 0.5, 300), np.full(300, 0.25)], 1)
    path = str(tmp_path / "a.wav")
    tf.io.write_file(path, tf.audio.encode_wav(stereo, 16000))
    audio, rate = tf.audio.decode_wav(tf.io.read_file(path))
    assert int(rate) == 16000 and tuple(audio.shape) == (300, 2)
    np.testing.assert_allclose(np.asarray(audio), stereo, atol=1 / 32768)
    # desired_channels keeps the first channels or repeats the last;
    # desired_samples cuts or pads with zeros
    mono, _ = tf.audio.decode_wav(tf.io.read_file(path), 1, 200)
    assert tuple(mono.shape) == (200, 1)
    three, _ = tf.audio.decode_wav(tf.io.read_file(path), desired_channels=3,
                                   desired_samples=310)
    three = np.asarray(three)
    np.testing.assert_array_equal(three[:, 2], three[:, 1])
    assert not three[300:].any()
    x = tf.math.pow(tf.abs(tf.signal.stft(tf.squeeze(mono, axis=-1), 100, 40, 128)), 0.5)
    padded = tf.pad(x, tf.constant([[0, 10], [0, 0]]), "CONSTANT")[:12, :]
    assert tuple(padded.shape) == (12, 65)
    assert tuple(x.shape) == (3, 65)  # 1 + (200 - 100) // 40 frames
    np.testing.assert_array_equal(np.asarray(padded)[:3], np.asarray(x))
    assert not np.asarray(padded)[3:].any()
    m = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(tf.pad(m, [[1, 1], [2, 2]], "REFLECT")),
                                  np.pad(m, [(1, 1), (2, 2)], mode="reflect"))
    np.testing.assert_array_equal(np.asarray(tf.pad(m, [[0, 0], [1, 1]], "SYMMETRIC")),
                                  np.pad(m, [(0, 0), (1, 1)], mode="symmetric"))
    np.testing.assert_array_equal(np.asarray(tf.pad(m, [[0, 1], [0, 0]], constant_values=7)),
                                  [[0, 1, 2], [3, 4, 5], [7, 7, 7]])
    with pytest.raises(ValueError, match="paddings must be 2"):
        tf.pad(m, [[1, 1]])


# ---------- transformer_asr.py: a step unpacking dict batches for its call

class DictSteps(pynn.Model):
    """A call on [source, target] and steps that read {"source", "target"}."""

    def __init__(self):
        super().__init__()
        self.dense = pynn.layers.Dense(3)
        self.tracker = pynn.metrics.Mean(name="loss")

    @property
    def metrics(self):
        return [self.tracker]

    def call(self, inputs):
        source, target = inputs[0], inputs[1]
        return self.dense(source) + pynn.ops.cast(target, "float32")

    def _loss(self, batch):
        preds = self([batch["source"], batch["target"]])
        return pynn.ops.mean(pynn.ops.square(preds - 1.0))

    def train_step(self, batch):
        with pynn.GradientTape() as tape:
            loss = self._loss(batch)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}

    def test_step(self, batch):
        self.tracker.update_state(self._loss(batch))
        return {"loss": self.tracker.result()}

    def predict_step(self, batch):
        return self([batch["source"], batch["target"]])


def test_custom_steps_get_dict_batches_the_call_never_sees():
    ds = pynn.data.Dataset.from_tensor_slices(
        {"source": rand(8, 4), "target": np.zeros((8, 3), np.int32)}).batch(4)
    model = DictSteps()
    model.compile(optimizer=pynn.optimizers.SGD(0.1))
    h = model.fit(ds, validation_data=ds, epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    assert len(h.history["val_loss"]) == 3
    again = DictSteps()
    again.compile(optimizer="sgd")
    assert np.isfinite(again.evaluate(ds, verbose=0))
    assert DictSteps().predict(ds, verbose=0).shape == (8, 3)


# ------------- speaker_recognition_using_cnn.py: an FFT's magnitudes

def test_fft_of_a_complex_signal_built_from_real_audio():
    tf = pynn
    audio = rand(2, 16, 1)

    def audio_to_fft(audio):
        audio = tf.squeeze(audio, axis=-1)
        fft = tf.signal.fft(tf.cast(tf.complex(real=audio, imag=tf.zeros_like(audio)),
                                    tf.complex64))
        fft = tf.expand_dims(fft, axis=-1)
        return tf.math.abs(fft[:, : (audio.shape[1] // 2), :])

    got = np.asarray(audio_to_fft(tf.convert_to_tensor(audio)))
    assert got.shape == (2, 8, 1) and got.dtype == np.float32
    np.testing.assert_allclose(got[..., 0], np.abs(np.fft.fft(audio[..., 0]))[:, :8],
                               rtol=1e-5, atol=1e-5)
    z = tf.complex(np.float32([1, 2]), np.float32([3, 4]))
    np.testing.assert_array_equal(np.asarray(tf.math.real(z)), [1, 2])
    np.testing.assert_array_equal(np.asarray(tf.math.imag(z)), [3, 4])
    with pytest.raises(TypeError, match="floats of one dtype"):
        tf.complex(np.float32([1]), np.float64([1]))


# ------- video_classification.py: a recurrent layer given mask= a tensor

def masked_gru_model(lib):
    class Masked(lib.Model):
        def __init__(self):
            super().__init__()
            self.gru = lib.layers.GRU(4)
            self.out = lib.layers.Dense(2)

        def call(self, x):
            mask = lib.ops.not_equal(x[..., 0], 0.0)
            return self.out(self.gru(x, mask=mask))
    return Masked()


def test_a_mask_computed_in_a_subclassed_call_masks_as_in_keras(keras):
    x = rand(3, 5, 2)
    x[:, 3:] = 0.0
    ours, ref = masked_gru_model(pynn), masked_gru_model(keras)
    ours(x)
    ref(x)
    weights = [rand(*w.shape, seed=i) * 0.5 for i, w in enumerate(ours.get_weights())]
    ours.set_weights(weights)
    ref.set_weights(weights)
    want = np.asarray(ref(x))
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-4, atol=1e-5)
    moved = x.copy()
    moved[:, 3:, 1] = 7.0  # masked steps: nothing they hold reaches the output
    np.testing.assert_allclose(ours.predict(moved, verbose=0), want, rtol=1e-4, atol=1e-5)


def test_a_symbolic_mask_argument_in_a_graph_masks_the_call_not_dropped():
    frames = pynn.Input((6, 8))
    mask = pynn.Input((6,), dtype="bool")
    model = pynn.Model([frames, mask], pynn.layers.GRU(4)(frames, mask=mask))
    x, keep = rand(2, 6, 8), np.ones((2, 6), bool)
    keep[:, 4:] = False
    want = model.predict([x, keep], verbose=0)
    x[:, 4:] = 9.0  # masked steps: nothing they hold reaches the output
    np.testing.assert_allclose(model.predict([x, keep], verbose=0), want, atol=1e-6)


# ------------------- reproducibility_recipes.py: the same seed, the same run

def test_a_seeded_run_with_dropout_and_a_shuffled_dataset_repeats_exactly():
    tf = pynn

    def run():
        pynn.utils.set_random_seed(812)
        tf.config.experimental.enable_op_determinism()
        x = np.random.random((32, 6)).astype(np.float32)
        y = np.random.randint(0, 3, 32)
        ds = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(32).batch(8)
        model = pynn.Sequential([pynn.Input((6,)), pynn.layers.Dense(8, activation="relu"),
                                 pynn.layers.Dropout(0.3), pynn.layers.Dense(3)])
        model.compile("adam", pynn.losses.SparseCategoricalCrossentropy(from_logits=True))
        h = model.fit(ds, epochs=2, verbose=0)
        first = [float(pynn.initializers.GlorotNormal(seed=42)(shape=(1, 1))[0, 0])
                 for _ in range(2)]
        return h.history["loss"], model.get_weights(), first

    (l1, w1, i1), (l2, w2, i2) = run(), run()
    assert l1 == l2 and i1 == i2 and i1[0] == i1[1]
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)
