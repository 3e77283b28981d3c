"""Keras 3's CTC: ops.ctc_loss (its recursion, impossible alignments
included), its gradient by finite differences, ops.ctc_decode (greedy and
beam search), the CTC loss, and the keras.io captcha OCR pattern: the loss
added in a custom layer, the predictions decoded with ctc_decode."""
import numpy as np
import pytest

import pynn as keras
from pynn import autodiff, layers, ops

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::UserWarning")


def _case(seed=0, batch=4, steps=7, classes=5, labels=3):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, steps, classes)).astype("float32")
    target = rng.integers(1, classes, size=(batch, labels))
    target[0, 1] = target[0, 0]   # a repeated label needs a blank between
    return logits, target, rng


@pytest.mark.parametrize("mask_index", [0, 2])
def test_ctc_loss_matches_keras(keras_ref, mask_index):
    logits, target, _ = _case()
    # padded labels and steps; the last sample's labels cannot fit its two
    # steps (Keras's large finite loss)
    target_length = np.array([3, 2, 3, 1])
    output_length = np.array([7, 5, 7, 2])
    target[3, 1:] = [1, 1]
    target_length[3] = 3
    ours = ops.ctc_loss(target, logits, target_length, output_length, mask_index=mask_index)
    want = np.asarray(keras_ref.ops.ctc_loss(target, logits, target_length, output_length,
                                             mask_index=mask_index))
    assert ours.dtype == np.float32 and ours.shape == (4,)
    np.testing.assert_allclose(ours, want, rtol=1e-5)


def test_ctc_loss_gradient_by_finite_differences():
    logits, target, rng = _case(1, batch=3, steps=5, classes=4, labels=2)
    target_length, output_length = np.array([2, 1, 2]), np.array([5, 4, 5])
    target[2] = [3, 3]
    weights = rng.uniform(0.5, 2.0, size=3)
    tape = autodiff.Tape("ctc test")
    leaf = tape.input(logits)
    with tape.recording():
        losses = autodiff.resolve(ops.ctc_loss(target, leaf, target_length, output_length))
    grad = tape.backward([(losses, weights.astype("float32"))])[id(leaf)]

    def total(x):
        return float(np.dot(weights, ops.ctc_loss(target, x, target_length, output_length)))
    want = np.zeros(logits.shape)
    h = 1e-2
    for index in np.ndindex(logits.shape):
        up, down = logits.copy(), logits.copy()
        up[index] += h
        down[index] -= h
        want[index] = (total(up) - total(down)) / (2 * h)
    np.testing.assert_allclose(grad, want, rtol=2e-3, atol=2e-4)
    # the steps beyond a sample's length get nothing
    assert np.all(grad[1, 4:] == 0)


def test_ctc_loss_refuses_bad_arguments():
    logits, target, _ = _case()
    with pytest.raises(ValueError, match=r"ctc_loss: output must be of shape"):
        ops.ctc_loss(target, logits[0], [3] * 4, [7] * 4)
    with pytest.raises(ValueError, match=r"ctc_loss: target labels must be in \[0, 5\)"):
        ops.ctc_loss(target + 5, logits, [3] * 4, [7] * 4)
    with pytest.raises(ValueError, match=r"output_length must be in \[0, 7\]"):
        ops.ctc_loss(target, logits, [3] * 4, [8] * 4)
    with pytest.raises(ValueError, match=r"target_length must hold one length per sample"):
        ops.ctc_loss(target, logits, [3] * 3, [7] * 4)


@pytest.mark.parametrize("kwargs", [{}, {"merge_repeated": False}, {"mask_index": None},
                                    {"mask_index": 3}])
def test_ctc_greedy_decode_matches_keras(keras_ref, kwargs):
    logits, _, _ = _case(2, batch=5, steps=9, classes=4)
    logits[0, 1] = logits[0, 0]   # a repeat
    lengths = np.array([9, 6, 1, 0, 9])
    paths, scores = ops.ctc_decode(logits, lengths, **kwargs)
    want_paths, want_scores = keras_ref.ops.ctc_decode(logits, lengths, **kwargs)
    np.testing.assert_array_equal(paths, np.asarray(want_paths))
    np.testing.assert_allclose(scores, np.asarray(want_scores), rtol=1e-6)


@pytest.mark.parametrize("kwargs", [{}, {"beam_width": 3, "top_paths": 2},
                                    {"beam_width": 4, "top_paths": 3, "mask_index": None}])
def test_ctc_beam_search_decode_matches_keras(keras_ref, kwargs):
    logits, _, _ = _case(3, batch=3, steps=6, classes=4)
    lengths = np.array([6, 4, 6])
    paths, scores = ops.ctc_decode(logits, lengths, strategy="beam_search", **kwargs)
    want_paths, want_scores = keras_ref.ops.ctc_decode(logits, lengths,
                                                      strategy="beam_search", **kwargs)
    np.testing.assert_array_equal(paths, np.asarray(want_paths))
    np.testing.assert_allclose(scores, np.asarray(want_scores), rtol=1e-5)
    with pytest.raises(ValueError, match="strategy must be 'greedy' or 'beam_search'"):
        ops.ctc_decode(logits, lengths, strategy="best")


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
def test_ctc_loss_class_and_function_match_keras(keras_ref, reduction):
    logits, target, rng = _case(4)
    target[1, 2] = 0    # padding: 0 is the blank
    weights = rng.uniform(0, 2, size=4).astype("float32")
    np.testing.assert_allclose(keras.losses.ctc(target, logits),
                               np.asarray(keras_ref.losses.ctc(target, logits)), rtol=1e-5)
    ours = keras.losses.CTC(reduction=reduction)
    theirs = keras_ref.losses.CTC(reduction=reduction)
    for w in (None, weights):
        np.testing.assert_allclose(ours(target, logits, sample_weight=w),
                                   np.asarray(theirs(target, logits, sample_weight=w)),
                                   rtol=1e-5)
    assert ours.get_config() == theirs.get_config()
    assert keras.losses.CTC.from_config(ours.get_config()).get_config() == ours.get_config()
    assert isinstance(keras.losses.get("CTC"), keras.losses.CTC)
    assert keras.losses.get("ctc") is keras.losses.ctc
    with pytest.raises(ValueError, match=r"ctc: logits y_pred must be of shape"):
        keras.losses.ctc(target, logits[0])


class CTCLayer(layers.Layer):
    """The captcha OCR example's layer: adds the CTC loss of its inputs and
    passes the predictions on."""

    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.CTC()

    def call(self, y_true, y_pred):
        self.add_loss(self.loss_fn(y_true, y_pred))
        return y_pred


def _ocr_model(steps, classes, labels):
    image = keras.Input(shape=(steps, 6), name="image")
    label = keras.Input(shape=(labels,), name="label", dtype="float32")
    x = layers.Dense(16, activation="relu")(image)
    x = layers.Dense(classes, name="dense2")(x)
    output = CTCLayer(name="ctc_loss")(label, x)
    model = keras.Model(inputs=[image, label], outputs=output)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    return model


def test_the_captcha_ocr_pattern_trains_and_decodes():
    keras.utils.set_random_seed(0)
    steps, classes, labels = 8, 5, 3
    rng = np.random.default_rng(0)
    target = rng.integers(1, classes, size=(32, labels))
    # no label twice in a row: the toy images could not tell them apart
    target[:, 1] = np.where(target[:, 1] == target[:, 0], target[:, 1] % (classes - 1) + 1,
                            target[:, 1])
    target[:, 2] = np.where(target[:, 2] == target[:, 1], target[:, 2] % (classes - 1) + 1,
                            target[:, 2])
    # each step of the image tells which label it shows
    images = np.zeros((32, steps, 6), "float32")
    for i, row in enumerate(target):
        for t in range(steps):
            images[i, t, row[min(t * labels // steps, labels - 1)]] = 1.0
        images[i, :, 5] = np.arange(steps) / steps
    model = _ocr_model(steps, classes, labels)
    history = model.fit({"image": images, "label": target.astype("float32")}, epochs=30,
                        batch_size=16, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0]
    prediction_model = keras.Model(model.get_layer("image").output,
                                   model.get_layer("dense2").output)
    preds = prediction_model.predict(images, verbose=0)
    decoded, _ = ops.ctc_decode(preds, np.full(len(preds), steps))
    assert decoded.shape == (1, 32, steps)
    assert np.mean(np.all(decoded[0, :, :labels] == target, axis=1)) > 0.5


def test_the_added_ctc_loss_gradient_by_finite_differences():
    keras.utils.set_random_seed(1)
    model = _ocr_model(4, 4, 2)
    rng = np.random.default_rng(1)
    x = {"image": rng.normal(size=(3, 4, 6)).astype("float32"),
         "label": np.array([[1, 2], [3, 3], [2, 0]], "float32")}
    dense = model.get_layer("dense2")
    kernel = dense.kernel.value

    def total():
        with keras.GradientTape() as tape:
            model(x, training=True)
            loss = sum(model.losses)
        return loss, tape
    loss, tape = total()
    grad = np.asarray(tape.gradient(loss, dense.kernel))
    want = np.zeros(kernel.shape)
    h = 1e-2
    for index in np.ndindex(kernel.shape):
        old = kernel[index]
        kernel[index] = old + h
        up = float(total()[0])
        kernel[index] = old - h
        down = float(total()[0])
        kernel[index] = old
        want[index] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad, want, rtol=5e-3, atol=5e-4)


def test_a_model_compiled_without_a_loss_needs_an_added_one():
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)])
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="has no loss: compile was given none and no layer "
                                         "called add_loss"):
        model.fit(np.zeros((4, 3), "float32"), verbose=0)
