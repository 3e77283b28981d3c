"""The rest of TensorFlow's names that tensorflow.org's Keras tutorials use
with ``import pynn as tf``: tf.function, tf.shape, eager results of
pynn.ops, tf.dtypes, tf.image, tf.io, tf.strings, initializer aliases,
TensorSpec and element_spec, py_function, TensorArray, tf.config,
tf.print, tf.debugging and tf.linalg.  Values against NumPy float64
formulas of TensorFlow's documented semantics; gradients through a
GradientTape against finite differences."""
import colorsys
import re
import string

import numpy as np
import pytest
from gradcheck import numeric_grad

import pynn as tf
from pynn.tensor import Tensor

RNG = np.random.default_rng(3)
IMG = RNG.uniform(0, 1, size=(5, 7, 3)).astype(np.float32)
BATCH = RNG.uniform(0, 1, size=(2, 6, 4, 3)).astype(np.float32)


def close(got, want, tol=1e-5):
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=tol, atol=tol)


# ------------------------------------------------------------ tf.function

def test_function_decorators_run_the_python_function():
    def body(a):
        return tf.reduce_sum(a * a)
    plain = tf.function(body)

    @tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
    def with_args(a):
        return body(a)
    x = IMG[0]
    assert float(plain(x)) == pytest.approx(float(np.sum(x.astype(np.float64) ** 2)), rel=1e-6)
    assert float(with_args(x)) == float(plain(x))
    assert plain.python_function is body and with_args.__name__ == "with_args"
    assert float(plain.get_concrete_function(x)(x)) == float(plain(x))


def test_function_input_signature_checks_the_inputs():
    @tf.function(input_signature=[tf.TensorSpec(shape=(None, 3), dtype=tf.float32)])
    def double(a):
        return a * 2
    close(double(IMG[0]), IMG[0] * 2.0)
    with pytest.raises(ValueError, match="input_signature"):
        double(np.zeros((2, 4), np.float32))
    assert double.get_concrete_function().structured_input_signature[0][0].shape == \
        tf.TensorShape([None, 3])


def test_decorated_train_step_method_records_on_the_tape():
    # the custom-training tutorials decorate the step of their own model class
    class Trainer:
        def __init__(self):
            self.w = tf.Variable(np.array([1.0, -2.0, 0.5], np.float32))

        @tf.function
        def loss(self, x):
            return tf.reduce_sum(tf.square(self.w * x))

    t = Trainer()
    x = np.array([0.5, 1.0, 2.0], np.float32)
    with tf.GradientTape() as tape:
        value = t.loss(x)
    close(tape.gradient(value, t.w), 2 * np.array([1.0, -2.0, 0.5]) * x ** 2)
    assert isinstance(Trainer.__dict__["loss"], tf.execution.Function)


def test_model_train_step_decorated_with_tf_function_is_used_by_fit():
    class Model(tf.Model):
        @tf.function
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(self(x, training=True) - y))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            return {"my_loss": loss}
    inp = tf.Input((3,))
    model = Model(inp, tf.layers.Dense(1)(inp))
    model.compile(optimizer="sgd")
    history = model.fit(RNG.normal(size=(16, 3)).astype(np.float32),
                        np.ones((16, 1), np.float32), epochs=2, verbose=0)
    assert len(history.history["my_loss"]) == 2


# -------------------------------------------------------------- tf.shape

def test_shape_rank_size_are_int32_tensors():
    s = tf.shape(BATCH)
    assert isinstance(s, Tensor) and s.dtype == np.int32 and s.numpy().tolist() == [2, 6, 4, 3]
    assert int(tf.shape(BATCH)[0]) == 2
    assert tf.rank(BATCH).numpy() == 4 and tf.size(BATCH).numpy() == BATCH.size
    assert tf.size(BATCH).dtype == np.int32


def test_shape_batch_size_in_traced_layer_and_subclassed_model():
    # the VAE tutorial's sampling: noise of the batch's size drawn in a layer
    class Noise(tf.layers.Layer):
        def call(self, z):
            batch, dim = tf.shape(z)[0], tf.shape(z)[1]
            return z + 0.0 * tf.random.normal(shape=(batch, dim))

    class Net(tf.Model):
        def __init__(self):
            super().__init__()
            self.dense = tf.layers.Dense(2)
            self.noise = Noise()

        def call(self, x):
            return self.noise(self.dense(x)) + tf.zeros((tf.shape(x)[0], 2))

    net = Net()
    for n in (3, 5):
        x = RNG.normal(size=(n, 4)).astype(np.float32)
        assert net(x).shape == (n, 2)
    inp = tf.Input((4,))
    model = tf.Model(inp, Noise()(tf.layers.Dense(2)(inp)))
    assert model.predict(np.ones((7, 4), np.float32), verbose=0).shape == (7, 2)


# ---------------------------------------------------- eager ops results

def test_ops_give_eager_tensors_on_arrays():
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    out = tf.ops.relu(x)
    assert isinstance(out, Tensor) and type(out.numpy()) is np.ndarray
    close(out.numpy(), np.maximum(x, 0))
    assert isinstance(tf.ops.sum(x).numpy(), np.floating)
    assert isinstance(tf.ops.ones((2,)), Tensor)
    # the kernel API keeps plain arrays
    assert type(tf.ops.dense(x, np.ones((4, 2), np.float32), np.zeros(2, np.float32))) is \
        np.ndarray


# ------------------------------------------------------------- tf.dtypes

def test_dtypes():
    assert tf.float32 == np.float32 and tf.float32 == "float32" and tf.int32 != tf.int64
    assert tf.dtypes.float32 is tf.float32 and tf.as_dtype(np.dtype("int64")) is tf.int64
    assert tf.as_dtype(float) is tf.float32 and tf.dtypes.as_dtype("string") is tf.string
    assert tf.float32.name == "float32" and tf.float16.is_floating and tf.uint8.is_unsigned
    assert tf.int32.is_integer and not tf.int32.is_floating and tf.bool.is_bool
    assert tf.int8.min == -128 and tf.uint8.max == 255 and tf.float32.max == np.finfo(
        np.float32).max
    assert tf.float64.as_numpy_dtype is np.float64 and tf.int16.size == 2
    assert repr(tf.float32) == "tf.float32" and hash(tf.float32) == hash("float32")
    assert tf.cast(np.array([1.7, -2.2]), tf.int32).dtype == np.int32
    assert np.zeros(2, tf.uint8).dtype == np.uint8
    assert tf.cast(np.arange(3), tf.float32).dtype == tf.float32


# -------------------------------------------------------------- tf.image

def bilinear64(img, oh, ow):
    """Half-pixel-centre bilinear resize of one HWC image, float64."""
    h, w = img.shape[:2]

    def taps(n_in, n_out):
        c = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(c).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, c - lo
    r0, r1, fr = taps(h, oh)
    c0, c1, fc = taps(w, ow)
    a = img.astype(np.float64)
    top = a[r0][:, c0] * (1 - fc)[None, :, None] + a[r0][:, c1] * fc[None, :, None]
    bot = a[r1][:, c0] * (1 - fc)[None, :, None] + a[r1][:, c1] * fc[None, :, None]
    return top * (1 - fr)[:, None, None] + bot * fr[:, None, None]


def test_resize_bilinear_nearest_and_aspect_ratio():
    out = tf.image.resize(IMG, [8, 11])
    assert isinstance(out, Tensor) and out.shape == (8, 11, 3) and out.dtype == np.float32
    close(out, bilinear64(IMG, 8, 11))
    close(tf.image.resize(BATCH, (3, 2))[1], bilinear64(BATCH[1], 3, 2))
    u8 = (IMG * 255).astype(np.uint8)
    near = tf.image.resize(u8, (10, 14), method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
    assert near.dtype == np.uint8
    rows = np.minimum(np.floor((np.arange(10) + 0.5) * 5 / 10).astype(int), 4)
    cols = np.minimum(np.floor((np.arange(14) + 0.5) * 7 / 14).astype(int), 6)
    np.testing.assert_array_equal(near, u8[rows][:, cols])
    # 5x7 into 10x10 keeping the ratio: scale min(10/5, 10/7) -> 7x10
    assert tf.image.resize(IMG, (10, 10), preserve_aspect_ratio=True).shape == (7, 10, 3)
    close(tf.image.resize(IMG, (10, 14), antialias=True), bilinear64(IMG, 10, 14))
    with pytest.raises(ValueError, match="method"):
        tf.image.resize(IMG, (4, 4), method="hamming")


def test_resize_with_pad_crop_or_pad_and_boxes():
    out = tf.image.resize_with_pad(IMG, 10, 10)
    # 5x7 scaled by 10/7 -> 7x10 rows, placed at row (10 - 7) // 2 = 1
    assert out.shape == (10, 10, 3)
    close(out[1:8], bilinear64(IMG, 7, 10))
    assert not np.asarray(out[0]).any() and not np.asarray(out[8:]).any()
    cp = tf.image.resize_with_crop_or_pad(IMG, 3, 10)
    want = np.zeros((3, 10, 3))
    want[:, 1:8] = IMG[1:4]
    close(cp, want)
    close(tf.image.central_crop(IMG, 0.5), IMG[1:4, 1:6])
    close(tf.image.crop_to_bounding_box(BATCH, 1, 2, 3, 2), BATCH[:, 1:4, 2:4])
    padded = tf.image.pad_to_bounding_box(IMG, 2, 1, 8, 9)
    want = np.zeros((8, 9, 3))
    want[2:7, 1:8] = IMG
    close(padded, want)
    with pytest.raises(ValueError, match="crop_to_bounding_box"):
        tf.image.crop_to_bounding_box(IMG, 3, 0, 4, 2)


def test_orientation():
    close(tf.image.flip_left_right(IMG), IMG[:, ::-1])
    close(tf.image.flip_up_down(BATCH), BATCH[:, ::-1])
    close(tf.image.rot90(IMG), np.rot90(IMG, 1, axes=(0, 1)))
    close(tf.image.rot90(BATCH, k=3), np.rot90(BATCH, 3, axes=(1, 2)))
    close(tf.image.transpose(IMG), IMG.transpose(1, 0, 2))


def test_colour_adjustments_against_formulas():
    x = IMG.astype(np.float64)
    gray = tf.image.rgb_to_grayscale(IMG)
    close(gray, (x @ [0.2989, 0.5870, 0.1140])[..., None])
    close(tf.image.grayscale_to_rgb(gray), np.repeat(np.asarray(gray), 3, axis=-1))
    close(tf.image.adjust_brightness(IMG, 0.1), x + 0.1)
    mean = x.mean(axis=(0, 1), keepdims=True)
    close(tf.image.adjust_contrast(IMG, 1.7), (x - mean) * 1.7 + mean)
    close(tf.image.adjust_gamma(IMG, 2.0, 1.5), 1.5 * x ** 2)
    n = x.size
    close(tf.image.per_image_standardization(IMG),
          (x - x.mean()) / max(x.std(), 1 / np.sqrt(n)), tol=1e-4)

    def hsv_map(fn):
        out = np.empty_like(x)
        for i, j in np.ndindex(x.shape[:2]):
            out[i, j] = colorsys.hsv_to_rgb(*fn(*colorsys.rgb_to_hsv(*x[i, j])))
        return out
    close(tf.image.adjust_saturation(IMG, 0.4), hsv_map(lambda h, s, v: (h, min(s * 0.4, 1), v)),
          tol=1e-4)
    close(tf.image.adjust_hue(IMG, 0.3), hsv_map(lambda h, s, v: ((h + 0.3) % 1.0, s, v)),
          tol=1e-4)


def test_convert_image_dtype():
    u8 = np.array([[[0, 128, 255]]], np.uint8)
    f = tf.image.convert_image_dtype(u8, tf.float32)
    close(f, u8 / 255.0)
    back = tf.image.convert_image_dtype(np.array([0.0, 0.5, 0.999], np.float32), tf.uint8)
    np.testing.assert_array_equal(back, (np.array([0.0, 0.5, 0.999]) * 255.5).astype(np.uint8))
    np.testing.assert_array_equal(tf.image.convert_image_dtype(u8, tf.int32) >> 23,
                                  u8.astype(np.int32))
    # integer images come back in their dtype, clipped
    np.testing.assert_array_equal(tf.image.adjust_brightness(u8, 0.5), [[[127, 255, 255]]])


def test_random_and_stateless_image_functions():
    flipped = np.asarray(tf.image.random_flip_left_right(np.stack([IMG] * 16), seed=5))
    kinds = {0 if np.array_equal(f, IMG) else 1 if np.array_equal(f, IMG[:, ::-1]) else 2
             for f in flipped}
    assert kinds == {0, 1}
    a = tf.image.stateless_random_flip_up_down(BATCH, seed=(1, 2))
    np.testing.assert_array_equal(a, tf.image.stateless_random_flip_up_down(BATCH, seed=(1, 2)))
    b = tf.image.stateless_random_brightness(IMG, 0.2, seed=[3, 4])
    delta = np.asarray(b) - IMG
    assert np.ptp(delta) < 1e-6 and abs(delta.mean()) <= 0.2
    np.testing.assert_array_equal(b, tf.image.stateless_random_brightness(IMG, 0.2, seed=[3, 4]))
    crop = np.asarray(tf.image.random_crop(IMG, (3, 4, 3)))
    assert any(np.array_equal(crop, IMG[i:i + 3, j:j + 4]) for i in range(3) for j in range(4))
    c = np.asarray(tf.image.stateless_random_crop(IMG, (2, 2, 3), seed=(0, 9)))
    np.testing.assert_array_equal(c, tf.image.stateless_random_crop(IMG, (2, 2, 3), seed=(0, 9)))
    for fn in (lambda: tf.image.random_contrast(IMG, 0.5, 1.5),
               lambda: tf.image.random_saturation(IMG, 0.5, 1.5),
               lambda: tf.image.random_hue(IMG, 0.2),
               lambda: tf.image.random_brightness(IMG, 0.2)):
        assert fn().shape == IMG.shape
    with pytest.raises(ValueError, match="lower < upper"):
        tf.image.random_contrast(IMG, 1.5, 0.5)
    with pytest.raises(ValueError, match="seed must be a pair"):
        tf.image.stateless_random_flip_left_right(IMG, seed=3)


def test_extract_patches_psnr_ssim():
    x = np.arange(2 * 5 * 6 * 2, dtype=np.float32).reshape(2, 5, 6, 2)
    p = tf.image.extract_patches(x, sizes=[1, 2, 3, 1], strides=[1, 2, 3, 1],
                                 rates=[1, 1, 1, 1], padding="VALID")
    assert p.shape == (2, 2, 2, 12)
    np.testing.assert_array_equal(p[1, 1, 0], x[1, 2:4, 0:3].reshape(-1))
    y = BATCH + 0.05 * RNG.normal(size=BATCH.shape).astype(np.float32)
    mse = ((BATCH.astype(np.float64) - y) ** 2).mean(axis=(1, 2, 3))
    close(tf.image.psnr(BATCH, y, max_val=1.0), 20 * np.log10(1.0) - 10 * np.log10(mse),
          tol=1e-4)
    s = tf.image.ssim(np.stack([IMG] * 2), np.stack([IMG] * 2), max_val=1.0, filter_size=3)
    close(s, [1.0, 1.0])


def test_image_functions_record_on_the_tape():
    x0 = RNG.uniform(0, 1, size=(3, 4, 3)).astype(np.float32)

    def f(x):
        y = tf.image.adjust_contrast(tf.image.flip_left_right(tf.image.resize(x, (5, 6))), 1.3)
        return tf.reduce_sum(y * y)
    x = tf.constant(x0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = f(x)
    close(tape.gradient(loss, x), numeric_grad(lambda v: float(f(v)), x0), tol=2e-2)


def test_decode_encode_and_io_files(tmp_path):
    pixels = (IMG * 255).astype(np.uint8)
    path = str(tmp_path / "a.png")
    tf.io.write_file(path, tf.image.encode_png(pixels))
    raw = tf.io.read_file(path)
    assert isinstance(raw.numpy(), bytes) and raw.numpy()[:4] == b"\x89PNG"
    img = tf.io.decode_png(raw, channels=3)
    np.testing.assert_array_equal(img, pixels)
    assert tf.image.decode_image(raw, channels=1).shape == (5, 7, 1)
    close(tf.image.decode_image(raw, dtype=tf.float32), pixels / 255.0)
    assert tf.image.decode_jpeg(tf.image.encode_jpeg(pixels, quality=100)).shape == (5, 7, 3)
    gf = tf.io.gfile
    gf.makedirs(str(tmp_path / "d" / "e"))
    with gf.GFile(str(tmp_path / "d" / "t.txt"), "w") as f:
        f.write("hello")
    assert gf.exists(str(tmp_path / "d" / "t.txt")) and gf.listdir(str(tmp_path / "d")) == \
        ["e", "t.txt"]
    assert gf.glob(str(tmp_path / "*.png")) == [path]


# ------------------------------------------------------------ tf.strings

def test_custom_standardization_in_text_vectorization():
    # the text-classification tutorial's standardize function
    def custom_standardization(input_data):
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
        return tf.strings.regex_replace(stripped_html,
                                        "[%s]" % re.escape(string.punctuation), "")
    layer = tf.layers.TextVectorization(max_tokens=20, standardize=custom_standardization,
                                        output_mode="int", output_sequence_length=4)
    layer.adapt(np.array(["Great film!<br />Great.", "Bad, BAD film"]))
    vocab = layer.get_vocabulary()
    assert "great" in vocab and "bad" in vocab and "br" not in vocab
    ids = np.asarray(layer(np.array(["GREAT bad"])))
    assert ids[0, :2].tolist() == [vocab.index("great"), vocab.index("bad")]


def test_string_functions():
    assert tf.strings.lower("AbC").numpy() == b"abc"
    assert tf.strings.upper(["a", b"b"]).numpy().tolist() == [b"A", b"B"]
    assert tf.strings.strip("  x y ").numpy() == b"x y"
    assert tf.strings.regex_replace("a1b22", r"\d+", "#", replace_global=False).numpy() == \
        b"a#b22"
    assert tf.strings.regex_full_match(["ab", "abc"], "ab").numpy().tolist() == [True, False]
    assert tf.strings.split("a  b c").numpy().tolist() == [b"a", b"b", b"c"]
    rows = tf.strings.split(["a,b", "c"], sep=",")
    assert [r.numpy().tolist() for r in rows] == [[b"a", b"b"], [b"c"]]
    assert tf.strings.join(["a", "b"], separator="-").numpy() == b"a-b"
    assert tf.strings.join([["x", "y"], ["1", "2"]]).numpy().tolist() == [b"x1", b"y2"]
    assert tf.strings.reduce_join([["a", "b"], ["c", "d"]], axis=1,
                                  separator=" ").numpy().tolist() == [b"a b", b"c d"]
    assert tf.strings.reduce_join(["a", "b"]).numpy() == b"ab"
    assert tf.strings.length(["ab", "héllo"]).numpy().tolist() == [2, 6]
    assert tf.strings.length("héllo", unit="UTF8_CHAR").numpy() == 5
    assert tf.strings.substr("hello", 1, 3).numpy() == b"ell"
    assert tf.strings.substr("hello", -2, 2).numpy() == b"lo"
    n = tf.strings.to_number(["1.5", "2"])
    assert n.dtype == np.float32 and n.numpy().tolist() == [1.5, 2.0]
    assert tf.strings.to_number("7", out_type=tf.int32).dtype == np.int32
    assert tf.strings.as_string([3, 2]).numpy().tolist() == [b"3", b"2"]
    assert tf.strings.as_string(3.1415926, precision=3).numpy() == b"3.142"
    assert tf.strings.as_string(np.float32(0.5)).numpy() == b"0.500000"
    assert tf.strings.unicode_split("hé", "UTF-8").numpy().tolist() == [b"h", "é".encode()]


# ----------------------------------------------------- the smaller names

def test_initializer_aliases_in_layers():
    init = tf.random_normal_initializer(0.0, 0.02)
    w = np.asarray(init((200, 50)))
    assert abs(w.mean()) < 0.01 and abs(w.std() - 0.02) < 0.002
    layer = tf.keras.layers.Dense(3, kernel_initializer=tf.zeros_initializer(),
                                  bias_initializer=tf.constant_initializer(0.5))
    out = layer(np.ones((2, 4), np.float32))
    close(out, np.full((2, 3), 0.5))
    assert np.asarray(tf.ones_initializer()((2,))).tolist() == [1.0, 1.0]
    assert tf.keras.initializers.GlorotUniform is tf.initializers.GlorotUniform


def test_tensorspec_and_element_spec():
    x = np.zeros((10, 4), np.float32)
    y = np.arange(10, dtype=np.int64)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    assert ds.element_spec == (tf.TensorSpec((4,), tf.float32), tf.TensorSpec((), tf.int64))
    assert ds.batch(3).element_spec[0] == tf.TensorSpec((None, 4), tf.float32)
    assert ds.batch(3, drop_remainder=True).element_spec[1].shape == (3,)
    assert ds.batch(3).unbatch().element_spec[0].shape == (4,)
    text = tf.data.Dataset.from_tensor_slices(np.array(["a", "b"]))
    assert text.element_spec.dtype == tf.string
    sig = (tf.TensorSpec(shape=(None,), dtype=tf.int32),)
    gen = tf.data.Dataset.from_generator(lambda: iter([(np.arange(3),)]), output_signature=sig)
    assert gen.element_spec == sig
    spec = tf.TensorSpec([None, 4])
    assert spec.is_compatible_with(x) and not spec.is_compatible_with(y)
    assert repr(spec) == "TensorSpec(shape=(None, 4), dtype=tf.float32, name=None)"


def test_random_seed_and_draws():
    tf.random.set_seed(11)
    a = tf.random.normal([3])
    tf.random.set_seed(11)
    np.testing.assert_array_equal(a, tf.random.normal([3]))
    ints = tf.random.uniform([200], minval=2, maxval=5, dtype=tf.int32)
    assert ints.dtype == np.int32 and set(np.asarray(ints).tolist()) == {2, 3, 4}
    u = tf.random.uniform([100], maxval=None)
    assert 0 <= float(np.min(u)) and float(np.max(u)) < 1
    ids = tf.random.categorical(np.log([[0.01, 0.99]]), 50)
    assert ids.shape == (1, 50) and np.asarray(ids).mean() > 0.8
    s = tf.random.shuffle(np.arange(6))
    assert sorted(np.asarray(s).tolist()) == list(range(6))


def test_py_function_numpy_function_and_tensor_array():
    out = tf.py_function(lambda a, b: a * b, [np.float32(2.0), np.float32(3.0)], Tout=tf.float32)
    assert float(out) == 6.0 and out.dtype == np.float32
    seen = []
    res = tf.numpy_function(lambda a: seen.append(type(a)) or (a + 1).astype(np.int64),
                            [np.arange(3)], tf.int32)
    assert seen == [np.ndarray] and res.dtype == np.int32 and res.numpy().tolist() == [1, 2, 3]
    w = tf.Variable(np.array([1.0, 2.0], np.float32))
    with tf.GradientTape() as tape:
        ta = tf.TensorArray(tf.float32, size=0, dynamic_size=True)
        for i in range(3):
            ta = ta.write(i, w * float(i + 1))
        total = tf.reduce_sum(ta.stack())
    assert ta.stack().shape == (3, 2) and int(ta.size()) == 3
    close(tape.gradient(total, w), [6.0, 6.0])
    close(ta.read(1), [2.0, 4.0])
    with pytest.raises(IndexError, match="TensorArray.write"):
        tf.TensorArray(tf.float32, size=2).write(2, 1.0)


def test_config_print_and_debugging(capsys):
    cpus = tf.config.list_physical_devices("CPU")
    assert cpus[0].device_type == "CPU" and cpus[0].name == "/physical_device:CPU:0"
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    tf.config.experimental.set_memory_growth(cpus[0], True)
    assert tf.executing_eagerly()
    tf.print("loss:", tf.constant([1, 2, 3]), 7)
    tf.print("x", tf.range(10), output_stream="stdout")
    captured = capsys.readouterr()
    assert captured.err == "loss: [1 2 3] 7\n"
    assert captured.out == "x [0 1 2 ... 7 8 9]\n"
    # a NumPy array is no tensor: TensorFlow pprint-formats it
    tf.print("x", np.arange(10), output_stream="stdout")
    assert capsys.readouterr().out == "x array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])\n"
    tf.debugging.assert_equal(tf.shape(IMG)[0], 5)
    tf.debugging.assert_near(np.float32(1.0), np.float32(1.0 + 1e-7))
    tf.debugging.assert_shapes([(BATCH, ("N", 6, 4, 3)), (BATCH[:, 0], ("N", 4, 3))])
    with pytest.raises(tf.errors.InvalidArgumentError, match="assert_less.*custom"):
        tf.debugging.assert_less(np.array([1, 5]), 3, message="custom")
    with pytest.raises(ValueError, match="assert_rank"):
        tf.debugging.assert_rank(IMG, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="bad values"):
        tf.debugging.check_numerics(np.array([1.0, np.nan]), "bad values")
    with pytest.raises(tf.errors.InvalidArgumentError, match="assert_shapes"):
        tf.debugging.assert_shapes([(BATCH, ("N", 6)), ])


def test_linalg_against_numpy():
    a = RNG.normal(size=(2, 3, 3)) + 3 * np.eye(3)
    a32 = a.astype(np.float32)
    close(tf.linalg.inv(a32), np.linalg.inv(a), tol=1e-4)
    close(tf.linalg.det(a32), np.linalg.det(a), tol=1e-3)
    close(tf.linalg.matmul(a32, a32, transpose_b=True), a @ a.transpose(0, 2, 1), tol=1e-4)
    close(tf.linalg.matvec(a32, a32[:, 0]), np.einsum("bij,bj->bi", a, a[:, 0]), tol=1e-4)
    close(tf.linalg.diag_part(a32), np.diagonal(a, axis1=-2, axis2=-1))
    close(tf.linalg.diag(np.array([[1.0, 2.0]], np.float32)), [np.diag([1.0, 2.0])])
    close(tf.linalg.trace(a32), np.trace(a, axis1=-2, axis2=-1), tol=1e-4)
    m = np.arange(16, dtype=np.float32).reshape(4, 4)
    i, j = np.indices((4, 4))
    close(tf.linalg.band_part(m, 1, 0), np.where((i - j <= 1) & (j <= i), m, 0))
    close(tf.linalg.band_part(m, -1, 0), np.tril(m))
    close(tf.linalg.eye(3, 2), np.eye(3, 2))
    s, u, v = tf.linalg.svd(a32[0])
    close(np.asarray(u) @ np.diag(np.asarray(s)) @ np.asarray(v).T, a[0], tol=1e-4)
    spd = a[0] @ a[0].T
    close(tf.linalg.logdet(spd.astype(np.float32)), np.linalg.slogdet(spd)[1], tol=1e-3)
    g = [np.array([3.0, 0.0], np.float32), None, np.array([4.0], np.float32)]
    clipped, norm = tf.clip_by_global_norm(g, 1.0)
    assert float(norm) == pytest.approx(5.0)
    close(clipped[0], [0.6, 0.0]) and close(clipped[2], [0.8])
    assert clipped[1] is None
    with pytest.raises(ValueError, match="square"):
        tf.linalg.inv(np.ones((2, 3), np.float32))


def test_variable_keeps_an_integer_initial_values_dtype():
    # an int64 constant's dtype stays (TensorFlow's step counter); a
    # Python integer is int32 and a float float32, as in TensorFlow and
    # keras.Variable in Keras 3
    import pynn as tf
    v = tf.Variable(tf.constant(0, dtype=tf.int64))
    assert v.dtype == "int64" and not v.trainable
    v.assign_add(1)
    assert int(v) == 1 and np.asarray(v.numpy()).dtype == np.int64
    assert tf.Variable(np.array([True, False])).dtype == "bool"
    assert tf.Variable(np.array([1, 2], np.int16)).dtype == "int16"
    w = tf.Variable(0)
    assert w.dtype == "int32" and not w.trainable
    w.assign_add(2)
    assert int(w) == 2 and np.asarray(w.numpy()).dtype == np.int32
    assert tf.Variable([1, 2]).dtype == "int32"
    w = tf.Variable(0.5)
    assert w.dtype == "float32" and w.trainable
    assert tf.Variable(0, dtype=tf.float32).dtype == "float32"
    assert tf.Variable(0, dtype=tf.int64, trainable=False).dtype == "int64"
    assert tf.Variable(0, dtype="int", trainable=False).dtype == "int32"
