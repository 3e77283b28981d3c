"""Keras 3 and Keras 2 leftovers: variable paths under the model that
built them, StatelessScope / SymbolicScope / RematScope / remat, the
Conv2D(32, 3, 3) habit, and tf.image.resize's 'area', 'gaussian' and
'mitchellcubic'; against Keras 3 on its NumPy backend where it runs the
same thing, else against TensorFlow's definitions."""
import warnings

import numpy as np
import pytest

import pynn
from keras_reference import keras as keras_ref, needs_keras

RNG = np.random.default_rng(5)


# ------------------------------------------------------------ variable paths

def _paths_of_models(k):
    L = k.layers
    out = {}
    m = k.Sequential([k.Input((3,)), L.Dense(2, name="d1"), L.Dense(1, name="d2")], name="seq")
    out["sequential"] = m
    lazy = k.Sequential([L.Dense(2, name="d3")], name="lazy")
    lazy(np.ones((1, 3), "float32"))
    out["lazy"] = lazy
    inner = k.Sequential([L.Dense(2, name="d4")], name="inner")
    out["nested"] = k.Sequential([k.Input((3,)), inner, L.Dense(1, name="d5")], name="outer")
    i = k.Input((3,))
    out["functional"] = k.Model(i, L.Dense(2, name="d6")(i), name="fn")

    class Block(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dense = L.Dense(2, name="d7")

        def build(self, input_shape):
            self.w = self.add_weight(name="w", shape=(2,), initializer="ones")

        def call(self, x):
            return self.dense(x) * self.w
    j = k.Input((3,))
    out["custom layer"] = k.Model(j, Block(name="block")(j), name="fn2")

    class Sub(k.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dense = L.Dense(2, name="d8")
            self.stack = k.Sequential([L.Dense(2, name="d9")], name="stack")

        def call(self, x):
            return self.stack(self.dense(x))
    sub = Sub(name="sub")
    sub(np.ones((2, 3), "float32"))
    out["subclassed"] = sub
    return {key: [v.path for v in model.weights] for key, model in out.items()}


@needs_keras
def test_variable_paths_match_keras():
    ours, theirs = _paths_of_models(pynn), _paths_of_models(keras_ref)
    assert ours["sequential"][0] == "seq/d1/kernel"
    for key in theirs:
        assert sorted(ours[key]) == sorted(theirs[key]), key


@needs_keras
def test_sequential_with_prefixed_paths_saves_both_ways(tmp_path):
    x = RNG.normal(size=(4, 3)).astype("float32")
    model = pynn.Sequential([pynn.Input((3,)), pynn.layers.Dense(4, activation="relu"),
                             pynn.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, x[:, :1], epochs=1, verbose=0)
    for name in ("m.keras", "m.h5"):
        model.save(tmp_path / name)
        back = pynn.models.load_model(tmp_path / name)
        np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0),
                                   rtol=1e-6)
        theirs = keras_ref.models.load_model(tmp_path / name, compile=False)
        np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)),
                                   model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    kmodel = keras_ref.Sequential([keras_ref.Input((3,)), keras_ref.layers.Dense(2)])
    kmodel.save(tmp_path / "k.keras")
    back = pynn.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(x, verbose=0),
                               np.asarray(kmodel.predict(x, verbose=0)), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------ scopes and remat

def _scope_run(k):
    model = k.Sequential([k.Input((3,)), k.layers.Dense(2, kernel_initializer="ones")])
    x = np.arange(6, dtype="float32").reshape(2, 3)
    mapping = [(w, np.full(w.shape, 0.5, "float32")) for w in model.weights]
    with k.StatelessScope(state_mapping=mapping) as scope:
        inside = np.asarray(model(x))
        model.weights[1].assign(np.array([1.0, -1.0], "float32"))
        after_assign = np.asarray(model(x))
    return (inside, after_assign, np.asarray(scope.get_current_value(model.weights[1])),
            [np.asarray(w.numpy() if hasattr(w, "numpy") else w.value)
             for w in model.weights])


@needs_keras
def test_stateless_scope_matches_keras_and_leaves_variables_alone():
    ours, theirs = _scope_run(pynn), _scope_run(keras_ref)
    for a, b in zip(ours[:3], theirs[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    kernel, bias = ours[3]
    np.testing.assert_array_equal(kernel, np.ones((3, 2)))   # as before the scope
    np.testing.assert_array_equal(bias, np.zeros(2))


def test_stateless_scope_collects_assignments_and_losses():
    v = pynn.Variable(np.zeros(2, "float32"))

    class Penalized(pynn.layers.Layer):
        def call(self, x):
            self.add_loss(pynn.ops.sum(x))
            return x
    with pynn.StatelessScope(collect_losses=True) as scope:
        v.assign_add(np.ones(2, "float32"))
        v.assign_add(np.ones(2, "float32"))
        np.testing.assert_array_equal(v.numpy(), [2, 2])   # read inside: the new value
        Penalized()(np.ones((2, 2), "float32"))
    np.testing.assert_array_equal(v.numpy(), [0, 0])
    np.testing.assert_array_equal(scope.get_current_value(v), [2, 2])
    assert len(scope.losses) == 1 and float(np.asarray(scope.losses[0])) == 4.0
    with pytest.raises(ValueError, match="shape"):
        pynn.StatelessScope([(v, np.zeros(3, "float32"))])
    with pytest.raises(ValueError, match="Variable instances"):
        pynn.StatelessScope([(np.zeros(2), np.zeros(2))])


def test_symbolic_and_remat_scopes():
    assert not pynn.backend.in_symbolic_scope()
    with pynn.SymbolicScope():
        assert pynn.backend.in_symbolic_scope()
    assert not pynn.backend.in_symbolic_scope()
    with pytest.raises(ValueError, match="Invalid mode"):
        pynn.RematScope(mode="some")
    with pynn.RematScope(mode="full"):
        with pynn.RematScope(mode="larger_than", output_size_threshold=8):
            assert pynn.backend.get_current_remat_mode().output_size_threshold == 8
        assert pynn.backend.get_current_remat_mode().mode == "full"
    assert pynn.backend.get_current_remat_mode() is None


def _remat_model(use_remat, seed=3):
    pynn.utils.set_random_seed(seed)

    class Block(pynn.layers.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.inner = pynn.remat(self.twice) if use_remat else self.twice

        def twice(self, x):
            for _ in range(2):
                x = x + pynn.ops.tanh(x) * 0.1
            return x

        def call(self, x):
            return self.inner(x)
    with pynn.RematScope(mode="full" if use_remat else None):
        inputs = pynn.Input((4,))
        x = pynn.layers.Dense(4, activation="relu")(inputs)
        outputs = pynn.layers.Dense(1)(Block()(x))
    return pynn.Model(inputs, outputs)


def test_remat_gives_the_plain_call_values_and_gradients():
    x = RNG.normal(size=(8, 4)).astype("float32")
    y = RNG.normal(size=(8, 1)).astype("float32")
    plain, remat = _remat_model(False), _remat_model(True)
    remat.set_weights(plain.get_weights())
    np.testing.assert_array_equal(remat.predict(x, verbose=0), plain.predict(x, verbose=0))
    grads = []
    for model in (plain, remat):
        with pynn.GradientTape() as tape:
            loss = pynn.ops.mean((model(x) - y) ** 2)
        grads.append([np.asarray(g) for g in tape.gradient(loss, model.trainable_weights)])
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(g).sum() > 0 for g in grads[0])
    with pytest.raises(TypeError, match="callable"):
        pynn.remat(3)


# ------------------------------------------------------------ Keras 1 habits

def test_conv2d_third_positional_is_strides_with_a_warning():
    with pytest.warns(UserWarning, match=r"Conv2D\(32, \(3, 3\)\)"):
        layer = pynn.layers.Conv2D(32, 3, 3)
    assert layer.kernel_size == (3, 3) and layer.strides == (3, 3)   # Keras 2's reading
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pynn.layers.Conv2D(8, 3, strides=2).strides == (2, 2)
        assert pynn.layers.Conv2D(8, (3, 3), 2).strides == (2, 2)
        # Keras 2 and 3 programs' strides: no warning (Keras 1 wrote squares)
        assert pynn.layers.Conv2D(16, 3, 1).strides == (1, 1)
        assert pynn.layers.Conv2D(16, 3, 2).strides == (2, 2)
        pynn.layers.Conv1D(8, 3, 2)
    out = pynn.Sequential([pynn.Input((9, 9, 1)), pynn.layers.Conv2D(2, 3, 3)])
    assert out.output_shape == (None, 3, 3, 2)


def test_sgd_decay_is_keras2_time_decay():
    w = pynn.Variable(np.array([1.0], "float32"))
    opt = pynn.optimizers.SGD(learning_rate=0.1, decay=0.01)
    want = np.float32(1.0)
    for it in range(6):
        opt.apply_gradients([(np.array([1.0], "float32"), w)])
        want = np.float32(want - np.float32(0.1 / (1 + 0.01 * it)))
        assert float(w.numpy()[0]) == pytest.approx(float(want), abs=1e-7)


# ------------------------------------------------------------ resize methods

def _tf_spans(size_in, size_out, kernel, antialias):
    """TensorFlow's ScaleAndTranslate weights, written out one sample at a
    time from its definition (scale_and_translate_op.cc)."""
    scale = size_out / size_in
    kernel_scale = max(1 / scale, 1.0) if antialias else 1.0
    radius = {"gaussian": 1.5, "mitchellcubic": 2.0}[kernel] * kernel_scale
    w = np.zeros((size_in, size_out))
    for x in range(size_out):
        sample = (x + 0.5) / scale
        if sample < 0 or sample > size_in:
            continue
        lo = min(max(int(np.ceil(sample - radius - 0.5)), 0), size_in - 1)
        hi = min(max(int(np.floor(sample + radius - 0.5)), 0), size_in - 1) + 1
        for s in range(lo, hi):
            t = abs((s + 0.5 - sample) / kernel_scale)
            if kernel == "gaussian":
                w[s, x] = 0.0 if t >= 1.5 else np.exp(-t * t / (2 * 0.25))
            elif t >= 2:
                w[s, x] = 0.0
            elif t >= 1:
                w[s, x] = ((-7 / 18 * t + 2) * t - 10 / 3) * t + 16 / 9
            else:
                w[s, x] = (7 / 6 * t - 2) * t * t + 8 / 9
        w[:, x] /= w[:, x].sum()
    return w


@pytest.mark.parametrize("method", ["gaussian", "mitchellcubic"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("size", [(3, 7), (10, 5), (6, 6)])
def test_tf_kernels_resize_as_tensorflow_defines_them(method, antialias, size):
    x = RNG.normal(size=(2, 6, 5, 3)).astype("float32")
    got = np.asarray(pynn.image.resize(x, size, method=method, antialias=antialias))
    wh = _tf_spans(6, size[0], method, antialias)
    ww = _tf_spans(5, size[1], method, antialias)
    want = np.einsum("bhwc,hi,wj->bijc", x.astype(np.float64), wh, ww)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float32


def test_mitchellcubic_by_hand():
    # [0, 1] grown to 4: the first sample sits 0.25 and 1.25 from the two pixels
    got = np.asarray(pynn.image.resize(np.array([0, 1], "float32").reshape(1, 1, 2, 1),
                                       (1, 4), method="mitchellcubic"))[0, 0, :, 0]
    near = (7 / 6 * 0.25 - 2) * 0.25 ** 2 + 8 / 9
    far = ((-7 / 18 * 1.25 + 2) * 1.25 - 10 / 3) * 1.25 + 16 / 9
    assert got[0] == pytest.approx(far / (near + far), abs=1e-6)
    np.testing.assert_allclose(got, 1 - got[::-1], atol=1e-6)   # symmetric


def test_area_resize():
    x = RNG.normal(size=(1, 6, 8, 2)).astype("float32")
    # shrinking by whole factors: the mean of each block
    got = np.asarray(pynn.image.resize(x, (3, 2), method="area"))
    np.testing.assert_allclose(got, x.reshape(1, 3, 2, 2, 4, 2).mean(axis=(2, 4)), rtol=1e-5,
                               atol=1e-6)
    # growing by whole factors: each pixel repeated
    grown = np.asarray(pynn.image.resize(x, (12, 16), method="area", antialias=True))
    np.testing.assert_allclose(grown, x.repeat(2, axis=1).repeat(2, axis=2), rtol=1e-6)
    # 4 -> 3: each output averages 4/3 of a cell (TensorFlow's ResizeArea)
    row = np.asarray(pynn.image.resize(np.arange(4, dtype="float32").reshape(1, 1, 4, 1),
                                       (1, 3), method="area"))[0, 0, :, 0]
    np.testing.assert_allclose(row, [0.25, 1.5, 2.75], rtol=1e-6)
    same = np.asarray(pynn.image.resize(x, (6, 8), method="area"))
    np.testing.assert_allclose(same, x, rtol=1e-6)
    ints = np.arange(16, dtype="uint8").reshape(1, 4, 4, 1)
    assert np.asarray(pynn.image.resize(ints, (2, 2), method="area")).dtype == np.float32


@pytest.mark.parametrize("method", ["area", "gaussian", "mitchellcubic"])
def test_tf_resize_methods_in_layers_and_their_gradient(method):
    x = RNG.normal(size=(2, 5, 4, 1)).astype("float32")
    layer = pynn.layers.Resizing(3, 6, interpolation=method)
    np.testing.assert_allclose(np.asarray(layer(x)),
                               np.asarray(pynn.image.resize(x, (3, 6), method=method)),
                               rtol=1e-6)
    # the resize is linear: its gradient is the transposed map
    dy = RNG.normal(size=(2, 3, 6, 1)).astype("float32")
    tx = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        loss = pynn.ops.sum(pynn.ops.image.resize(tx, (3, 6), interpolation=method) * dy)
    grad = np.asarray(tape.gradient(loss, tx))
    e = np.zeros_like(x)
    e[1, 2, 3, 0] = 1.0
    resized = np.asarray(pynn.ops.image.resize(e, (3, 6), interpolation=method))
    assert grad[1, 2, 3, 0] == pytest.approx(float((resized * dy).sum()), rel=1e-5)


# ------------------------------------------------------------ int8 EinsumDense

EINSUM_CASES = [("ab,bc->ac", 3, "c", (4,)), ("abc,cd->abd", (5, 6), "d", (5, 4)),
                ("abc,cde->abde", (5, 2, 3), "de", (5, 4)), ("abc,cd->adb", (6, 5), "d", (5, 4)),
                ("abc,bcd->ad", 6, None, (5, 4)), ("abc,cde->aed", (3, 2), "d", (5, 4))]


def _einsum_model(k, equation, output_shape, bias_axes, input_shape):
    i = k.Input(input_shape)
    o = k.layers.EinsumDense(equation, output_shape=output_shape, bias_axes=bias_axes,
                             activation="relu", name="ed")(i)
    return k.Model(i, k.layers.Dense(2, name="head")(o))


@needs_keras
@pytest.mark.parametrize("equation,output_shape,bias_axes,input_shape", EINSUM_CASES)
def test_einsum_dense_int8_matches_keras(tmp_path, equation, output_shape, bias_axes,
                                          input_shape):
    x = RNG.normal(size=(3,) + input_shape).astype("float32")
    theirs = _einsum_model(keras_ref, equation, output_shape, bias_axes, input_shape)
    ours = _einsum_model(pynn, equation, output_shape, bias_axes, input_shape)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs.quantize("int8")
    ours.quantize("int8")
    assert ours.get_layer("ed").quantization_mode == "int8"
    want = {w.path: np.asarray(w.numpy()) for w in theirs.weights}
    got = {w.path: w.numpy() for w in ours.weights}
    assert sorted(want) == sorted(got)
    for path in want:
        assert want[path].shape == got[path].shape, path
        np.testing.assert_allclose(got[path], want[path], rtol=1e-6, err_msg=path)
    np.testing.assert_allclose(ours.predict(x, verbose=0),
                               np.asarray(theirs.predict(x, verbose=0)), rtol=1e-5, atol=1e-5)
    # .keras files: the kernels int8 in the file, read back both ways
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    import h5py
    import io
    import zipfile
    with zipfile.ZipFile(tmp_path / "ours.keras") as z, \
            h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        assert f["layers/einsum_dense/vars/0"].dtype == np.int8
        assert f["layers/dense/vars/0"].dtype == np.int8
    for back in (keras_ref.models.load_model(tmp_path / "ours.keras"),
                 pynn.models.load_model(tmp_path / "theirs.keras"),
                 pynn.models.load_model(tmp_path / "ours.keras")):
        np.testing.assert_allclose(np.asarray(back.predict(x, verbose=0)),
                                   ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_einsum_dense_int8_with_an_ellipsis_and_its_gradient():
    pynn.utils.set_random_seed(1)
    layer = pynn.layers.EinsumDense("...b,bc->...c", output_shape=4, bias_axes="c")
    x = RNG.normal(size=(2, 3, 5)).astype("float32")
    before = np.asarray(layer(x))
    kernel = layer.kernel.numpy()
    layer.quantize("int8")
    scale = 127 / np.abs(kernel).max(axis=0)
    np.testing.assert_array_equal(layer.kernel.numpy(), np.round(kernel * scale))
    assert layer.kernel_scale.shape == (1, 1, 4)   # laid out along the output, as Keras
    np.testing.assert_allclose(layer.kernel_scale.numpy().ravel(), scale, rtol=1e-5)
    after = np.asarray(layer(x))
    np.testing.assert_allclose(after, before, atol=0.05)   # int8's rounding only
    tx = pynn.Variable(x)
    with pynn.GradientTape() as tape:
        loss = pynn.ops.sum(layer(tx))
    grad = np.asarray(tape.gradient(loss, tx))
    float_kernel = layer.kernel.numpy() / layer.kernel_scale.numpy().ravel()
    np.testing.assert_allclose(grad, np.broadcast_to(float_kernel.sum(axis=1), x.shape),
                               rtol=1e-5)
    with pytest.raises(ValueError, match="already quantized"):
        layer.quantize("int8")


# ------------------------------------------------------------ bounding boxes

def _some_boxes(batch=2, n=5, seed=0):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 50, (batch, n, 2))
    wh = rng.uniform(1, 30, (batch, n, 2))
    return np.concatenate([xy, xy + wh], -1).astype("float32")


@needs_keras
def test_bounding_box_utils_match_keras():
    K, P = keras_ref.utils.bounding_boxes, pynn.utils.bounding_boxes
    boxes = _some_boxes()
    for source in P.SUPPORTED_FORMATS:
        given = np.asarray(K.convert_format(boxes.copy(), "xyxy", source, height=60, width=80))
        for target in P.SUPPORTED_FORMATS:
            np.testing.assert_allclose(
                P.convert_format(given, source, target, height=60, width=80),
                np.asarray(K.convert_format(given.copy(), source, target, height=60, width=80)),
                rtol=1e-5, atol=1e-5, err_msg=f"{source} -> {target}")
    labelled = {"boxes": boxes * 2 - 10, "labels": np.arange(10).reshape(2, 5)}
    theirs = K.clip_to_image_size({k: v.copy() for k, v in labelled.items()}, height=60,
                                  width=80)
    ours = P.clip_to_image_size(labelled, height=60, width=80)
    np.testing.assert_allclose(ours["boxes"], np.asarray(theirs["boxes"]))
    np.testing.assert_array_equal(ours["labels"], np.asarray(theirs["labels"]))
    assert (ours["labels"] == -1).any()
    f32 = (lambda *v: np.array(v, "float32"))
    affine = dict(angle=f32(30, -45), translate_x=f32(0.1, -0.2), translate_y=f32(0.05, 0),
                  scale=f32(1.2, 0.8), shear_x=f32(5, 0), shear_y=f32(0, 10), height=60,
                  width=80)
    np.testing.assert_allclose(P.affine_transform(boxes, **affine),
                               np.asarray(K.affine_transform(boxes, **affine)), rtol=1e-5,
                               atol=1e-4)
    np.testing.assert_allclose(P.crop(boxes, 5, 7, 30, 40), np.asarray(K.crop(boxes, 5, 7, 30, 40)))
    np.testing.assert_allclose(P.pad(boxes, 5, 7), np.asarray(K.pad(boxes, 5, 7)))
    anchors, variance = boxes[0], [0.1, 0.1, 0.2, 0.2]
    for fmt in ("center_yxhw", "center_xywh"):
        deltas = P.encode_box_to_deltas(anchors, boxes, "xyxy", "xyxy", fmt, variance=variance)
        np.testing.assert_allclose(deltas, np.asarray(K.encode_box_to_deltas(
            anchors, boxes, "xyxy", "xyxy", fmt, variance=variance)), rtol=1e-5, atol=1e-6)
        back = P.decode_deltas_to_boxes(anchors, deltas, "xyxy", "xywh", fmt, variance=variance)
        np.testing.assert_allclose(back, np.asarray(K.decode_deltas_to_boxes(
            anchors, deltas, "xyxy", "xywh", fmt, variance=variance)), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(back, P.convert_format(boxes, "xyxy", "xywh"), rtol=1e-4,
                                   atol=1e-3)
    for b1, b2 in ((boxes, boxes[0]), (boxes[0], boxes), (boxes[0], boxes[1]),
                   (boxes, boxes[::-1])):
        np.testing.assert_allclose(P.compute_iou(b1, b2, "xyxy"),
                                   np.asarray(K.compute_iou(b1, b2, "xyxy")), rtol=1e-5,
                                   atol=1e-7)
        if b1.ndim == b2.ndim:
            padded = b1.copy()
            padded[..., 0, :] = -1
            np.testing.assert_allclose(
                P.compute_iou(padded, b2, "xyxy", use_masking=True),
                np.asarray(K.compute_iou(padded, b2, "xyxy", use_masking=True)), atol=1e-7)
    rel = dict(bounding_box_format="rel_xyxy", image_shape=(60, 80, 3))
    np.testing.assert_allclose(P.compute_iou(boxes / 80, boxes[::-1] / 80, **rel),
                               np.asarray(K.compute_iou(boxes / 80, boxes[::-1] / 80, **rel)),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(P.compute_ciou(boxes, boxes[::-1], "xyxy"),
                               np.asarray(K.compute_ciou(boxes, boxes[::-1], "xyxy")),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="height"):
        P.convert_format(boxes, "xyxy", "rel_xyxy")
    with pytest.raises(ValueError, match="last dimension of 4"):
        P.convert_format(boxes[..., :3], "xyxy", "yxyx")


IMAGES = np.random.default_rng(1).uniform(0, 255, (2, 20, 30, 3)).astype("float32")
BOXES = np.array([[[2, 3, 10, 12], [20, 5, 29, 19]], [[0, 0, 30, 20], [5, 5, 6, 6]]], "float32")


@needs_keras
@pytest.mark.parametrize("fmt", ["xyxy", "rel_yxyx", "center_xywh"])
@pytest.mark.parametrize("name,kwargs", [("Resizing", dict(height=10, width=15)),
                                         ("CenterCrop", dict(height=10, width=12)),
                                         ("CenterCrop", dict(height=24, width=30))])
def test_deterministic_layers_move_boxes_as_keras(fmt, name, kwargs):
    boxes = pynn.utils.bounding_boxes.convert_format(BOXES, "xyxy", fmt, 20, 30)
    outs = []
    for k in (keras_ref, pynn):
        layer = getattr(k.layers, name)(bounding_box_format=fmt, **kwargs)
        outs.append(layer({"images": IMAGES.copy(),
                           "bounding_boxes": {"boxes": boxes.copy(),
                                              "labels": np.array([[1, 2], [3, 4]])}}))
    theirs, ours = outs
    np.testing.assert_allclose(ours["images"], np.asarray(theirs["images"]), rtol=1e-5,
                               atol=1e-3)
    np.testing.assert_allclose(ours["bounding_boxes"]["boxes"],
                               np.asarray(theirs["bounding_boxes"]["boxes"]), rtol=1e-5,
                               atol=1e-4)
    np.testing.assert_array_equal(ours["bounding_boxes"]["labels"],
                                  np.asarray(theirs["bounding_boxes"]["labels"]))


def _support(mask):
    """The xyxy box of the nonzero pixels of each (h, w) mask."""
    out = []
    for m in mask:
        rows, cols = np.nonzero(m > 0.5)
        out.append([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1] if rows.size
                   else [np.nan] * 4)
    return np.array(out, "float32")


@pytest.mark.parametrize("make", [
    lambda: pynn.layers.RandomFlip(seed=3, bounding_box_format="xyxy"),
    lambda: pynn.layers.RandomRotation(0.1, fill_mode="constant", interpolation="nearest",
                                       seed=4, bounding_box_format="xyxy"),
    lambda: pynn.layers.RandomTranslation(0.2, 0.3, fill_mode="constant",
                                          interpolation="nearest", seed=5,
                                          bounding_box_format="xyxy"),
    lambda: pynn.layers.RandomZoom(0.3, fill_mode="constant", interpolation="nearest", seed=6,
                                   bounding_box_format="xyxy"),
    lambda: pynn.layers.RandomShear(0.2, 0.2, fill_mode="constant", interpolation="nearest",
                                    seed=7, bounding_box_format="xyxy"),
    lambda: pynn.layers.RandomCrop(24, 30, seed=8, bounding_box_format="xyxy"),
    lambda: pynn.layers.Resizing(20, 20, crop_to_aspect_ratio=True, interpolation="nearest",
                                 bounding_box_format="xyxy"),
    lambda: pynn.layers.Resizing(30, 30, pad_to_aspect_ratio=True, interpolation="nearest",
                                 bounding_box_format="xyxy"),
])
def test_boxes_follow_the_images(make):
    """One box per image, drawn into the image as a block of ones: after
    the layer, the box it returns holds that block's pixels."""
    layer = make()
    n, h, w = 6, 32, 40
    rng = np.random.default_rng(2)
    x1, y1 = rng.integers(6, 16, n), rng.integers(6, 12, n)
    x2, y2 = x1 + rng.integers(6, 16, n), y1 + rng.integers(6, 12, n)
    images = np.zeros((n, h, w, 1), "float32")
    for i in range(n):
        images[i, y1[i]:y2[i], x1[i]:x2[i]] = 1.0
    boxes = np.stack([x1, y1, x2, y2], -1)[:, None].astype("float32")
    out = layer({"images": images, "bounding_boxes": {"boxes": boxes,
                                                      "labels": np.ones((n, 1), "int32")}},
                training=True)
    got = out["bounding_boxes"]["boxes"][:, 0]
    want = _support(out["images"][..., 0])
    kept = ~np.isnan(want[:, 0])
    assert kept.sum() >= n // 2
    np.testing.assert_allclose(got[kept], want[kept], atol=1.01)
    # an image whose box left it is labelled -1
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"][:, 0] == -1, ~kept)


def test_box_layers_without_training_a_single_image_and_configs():
    layer = pynn.layers.RandomRotation(0.2, bounding_box_format="xyxy")
    data = {"images": IMAGES[0], "bounding_boxes": {"boxes": BOXES[0],
                                                     "labels": np.array([1, 2])},
            "labels": np.array([7])}
    out = layer(data, training=False)
    np.testing.assert_array_equal(out["images"], IMAGES[0])
    np.testing.assert_array_equal(out["bounding_boxes"]["boxes"], BOXES[0])
    np.testing.assert_array_equal(out["labels"], [7])
    moved = layer(data)   # (training by default, as Keras's augmentation layers)
    assert moved["images"].shape == IMAGES[0].shape
    assert moved["bounding_boxes"]["boxes"].shape == (2, 4)
    config = layer.get_config()
    assert config["bounding_box_format"] == "xyxy"
    assert pynn.layers.RandomRotation.from_config(config).bounding_box_format == "xyxy"
    assert "bounding_box_format" not in pynn.layers.RandomFlip().get_config()
    with pytest.raises(ValueError, match="bounding_box_format"):
        pynn.layers.RandomFlip()({"images": IMAGES, "bounding_boxes": {"boxes": BOXES}})
    with pytest.raises(ValueError, match="not transformed by this layer"):
        pynn.layers.RandomPerspective(bounding_box_format="xyxy")(
            {"images": IMAGES, "bounding_boxes": {"boxes": BOXES}})
    with pytest.raises(ValueError, match=r"\(batch, N, 4\)"):
        pynn.layers.Resizing(4, 4, bounding_box_format="xyxy")(
            {"images": IMAGES, "bounding_boxes": {"boxes": BOXES[0]}})
    kept = pynn.layers.RandomContrast(0.5, bounding_box_format="xyxy")(
        {"images": IMAGES, "bounding_boxes": {"boxes": BOXES, "labels": np.ones((2, 2))}})
    np.testing.assert_array_equal(kept["bounding_boxes"]["boxes"], BOXES)


def test_draw_bounding_boxes():
    images = np.zeros((2, 20, 30, 3), "float32")
    boxes = {"boxes": np.array([[[2, 3, 10, 12]], [[-5, -5, -4, -4]]], "float32"),
             "labels": np.array([[1], [-1]])}
    out = pynn.visualization.draw_bounding_boxes(images, boxes, "xyxy", color=(255, 0, 0),
                                                 line_thickness=1)
    assert out.dtype == np.uint8 and out.shape == images.shape
    red = out[0, ..., 0] > 0
    rows, cols = np.nonzero(red)
    assert (cols.min(), rows.min(), cols.max(), rows.max()) == (2, 3, 10, 12)
    assert not red[5:11, 3:10].any()          # the outline only
    assert not out[1].any()                   # label -1: not drawn
    assert not out[..., 1:].any()
    pytest.importorskip("PIL")
    named = pynn.visualization.draw_bounding_boxes(images, boxes, "xyxy",
                                                   class_mapping={1: "cat"})
    assert (named[0] > 0).sum() > (out[0] > 0).sum()   # the outline and the name


# ------------------------------------------------------------ summary, metrics

def _subclassed_shapes(k, build):
    class Sub(k.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.hidden = k.layers.Dense(4, name="hidden")
            self.out = k.layers.Dense(1, name="out")

        def call(self, x):
            return self.out(self.hidden(x))
    model = Sub()
    build(model)
    lines = []
    model.summary(print_fn=lambda line, *a, **kw: lines.append(line), line_length=80)
    rows = [line for line in "\n".join(lines).splitlines() if "(Dense)" in line]
    return [row.split("\u2502")[2].strip() for row in rows]


@needs_keras
@pytest.mark.parametrize("how", ["call", "evaluate", "predict"])
def test_subclassed_summary_shows_the_batch_it_ran_on(how):
    x = np.ones((40, 3), "float32")
    y = np.ones((40, 1), "float32")

    def build(model):
        if how == "call":
            model(x[:5])
        elif how == "evaluate":
            model.compile(optimizer="sgd", loss="mse")
            model.evaluate(x, y, batch_size=16, verbose=0)
        else:
            model.predict(x, batch_size=8, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = _subclassed_shapes(keras_ref, build)
    ours = _subclassed_shapes(pynn, build)
    assert ours == theirs and theirs[0] == {"call": "(5, 4)", "evaluate": "(16, 4)",
                                            "predict": "(8, 4)"}[how]


def test_subclassed_summary_after_fit_and_build():
    x, y = np.ones((40, 3), "float32"), np.ones((40, 1), "float32")

    def fit(model):
        model.compile(optimizer="sgd", loss="mse")
        model.fit(x, y, batch_size=16, verbose=0)
    assert _subclassed_shapes(pynn, fit) == ["(16, 4)", "(16, 1)"]
    # built from a shape without a batch size: the batch stays unknown
    assert _subclassed_shapes(pynn, lambda m: m.build((None, 3))) == ["(None, 4)", "(None, 1)"]


def test_metrics_lists_per_output_of_the_wrong_length_are_refused():
    inputs = pynn.Input((3,))
    model = pynn.Model(inputs, [pynn.layers.Dense(1, name="a")(inputs),
                                pynn.layers.Dense(2, name="b")(inputs)])
    x = np.ones((4, 3), "float32")
    ys = [np.ones((4, 1), "float32"), np.ones((4, 2), "float32")]
    for metrics in ([["mae"]], [["mae"], ["mse"], ["mape"]]):
        with pytest.raises(ValueError, match=r"2 outputs \['a', 'b'\]"):
            model.compile(optimizer="sgd", loss=["mse", "mse"], metrics=metrics)
            model.evaluate(x, ys, verbose=0)
    # a flat list of another length: every metric on every output, as Keras 2
    model.compile(optimizer="sgd", loss=["mse", "mse"], metrics=["mae"])
    logs = model.evaluate(x, ys, verbose=0, return_dict=True)
    assert {"a_mae", "b_mae"} <= set(logs)


# ------------------------------------------------------------ Keras 2 graph code

def _vae(closure, sampled=False):
    """A VAE as Keras 2's books wrote it: a custom layer computes the loss
    from the decoder's output and the encoder's z_mean and z_log_var,
    which its call reads from the enclosing graph (``closure``), calls
    add_loss(loss, inputs=inputs) and returns its input; compiled with
    loss=None.  Without ``closure`` the same layer takes all four as
    inputs."""
    from pynn import backend as K
    pynn.utils.set_random_seed(0)
    inp = pynn.Input(shape=(8,))
    h = pynn.layers.Dense(6, activation="relu")(inp)
    z_mean = pynn.layers.Dense(2)(h)
    z_log_var = pynn.layers.Dense(2)(h)

    def sampling(args):
        m, lv = args
        noise = K.random_normal(shape=(K.shape(m)[0], 2)) if sampled else 0.5
        return m + K.exp(lv) * noise
    z = pynn.layers.Lambda(sampling)([z_mean, z_log_var])
    decoded = pynn.layers.Dense(8, activation="sigmoid")(z)

    class VariationalLoss(pynn.layers.Layer):
        def vae_loss(self, x, d, zm, zlv):
            xent = pynn.metrics.binary_crossentropy(K.flatten(x), K.flatten(d))
            kl = -5e-1 * K.mean(1 + zlv - K.square(zm) - K.exp(zlv), axis=-1)
            return K.mean(xent + kl)

        def call(self, inputs):
            if closure:
                x, d = inputs
                loss = self.vae_loss(x, d, z_mean, z_log_var)
            else:
                x, d, zm, zlv = inputs
                loss = self.vae_loss(x, d, zm, zlv)
            self.add_loss(loss, inputs=inputs)
            return x
    y = VariationalLoss()([inp, decoded] if closure else [inp, decoded, z_mean, z_log_var])
    model = pynn.Model(inp, y)
    model.compile(optimizer="rmsprop", loss=None)
    return model


def test_a_layer_reading_the_graph_s_tensors_trains_as_if_they_were_its_inputs():
    x = np.random.default_rng(4).random((32, 8)).astype("float32")
    reads, given = _vae(True), _vae(False)
    given.set_weights(reads.get_weights())
    first = reads.get_weights()
    h1 = reads.fit(x, None, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    h2 = given.fit(x, None, epochs=2, batch_size=8, shuffle=False, verbose=0).history
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-6)
    for a, b, before in zip(reads.get_weights(), given.get_weights(), first):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
        assert not np.array_equal(a, before)   # the KL term trains z_log_var's layer too
    np.testing.assert_array_equal(reads.predict(x[:3], verbose=0), x[:3])


def test_keras2_vae_listing_trains_with_random_sampling_and_validation():
    x = np.random.default_rng(5).random((32, 8)).astype("float32")
    model = _vae(True, sampled=True)
    history = model.fit(x=x, y=None, shuffle=True, epochs=2, batch_size=8,
                        validation_data=(x, None), verbose=0).history
    assert len(history["loss"]) == 2 and len(history["val_loss"]) == 2
    assert all(np.isfinite(history["loss"] + history["val_loss"]))


def test_a_lambda_reading_another_branch_of_the_graph():
    from pynn import backend as K
    i, j = pynn.Input((2,)), pynn.Input((2,))
    other = pynn.layers.Dense(2, kernel_initializer="ones", name="other")(j)
    out = pynn.layers.Lambda(
        lambda t: t * other + K.cast(K.shape(other)[0], "float32") + other[:, :1])(i)
    model = pynn.Model([i, j], out)
    xs = [np.full((3, 2), 2.0, "float32"), np.ones((3, 2), "float32")]
    np.testing.assert_allclose(model.predict(xs, verbose=0), np.full((3, 2), 9.0))
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_layer("other").get_weights()[0].copy()
    model.fit(xs, np.zeros((3, 2), "float32"), verbose=0)
    assert not np.allclose(model.get_layer("other").get_weights()[0], before)
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(other)   # outside a call it still has no value
