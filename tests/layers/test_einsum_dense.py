"""EinsumDense: against Keras 3 (NumPy backend) in tests/layers/layer_table.py
and tests/saving/test_keras_layers.py; here its gradients against finite
differences, training, configs, bad arguments and TFLite's refusal."""
import numpy as np
import pytest
from gradcheck import check_model_gradients

import pynn
from pynn import layers

STACKS = {
    "matrix": ((5,), lambda: [layers.EinsumDense("ab,bc->ac", 4, bias_axes="c",
                                                 activation="tanh")]),
    "kernel_of_rank_3": ((3, 4), lambda: [
        layers.EinsumDense("abc,cde->abde", (3, 2, 3), bias_axes="de", activation="elu"),
        layers.Reshape((3, 6))]),
    "left_ellipsis": ((2, 3, 4), lambda: [layers.EinsumDense("...b,bc->...c", 3,
                                                             bias_axes="c")]),
    "right_ellipsis": ((3, 2, 2), lambda: [layers.EinsumDense("ab...,bc->ac...", 2,
                                                              bias_axes="c",
                                                              activation="swish")]),
    "summed_input_axis": ((3, 4), lambda: [layers.Dense(4),
                                           layers.EinsumDense("abc,cd->ad", 3, bias_axes="d")]),
    "shared_axis_bias": ((3, 4), lambda: [layers.Dense(4),
                                          layers.EinsumDense("abc,bcd->abd", (3, 2),
                                                             bias_axes="bd")]),
}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_gradients(stack):
    shape, body = STACKS[stack]
    pynn.utils.set_random_seed(4)
    model = pynn.Sequential([pynn.Input(shape), *body(), layers.Flatten(),
                             layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(5).standard_normal((3,) + shape).astype(np.float32)
    check_model_gradients(model, x, np.array([0, 2, 1]))


def test_custom_activation_gradient():
    def scaled_tanh(x):
        return pynn.ops.tanh(x) * 2.0
    model = pynn.Sequential([pynn.Input((3, 4)),
                             layers.EinsumDense("abc,cd->abd", (3, 2), activation=scaled_tanh),
                             layers.Flatten(), layers.Dense(2)])
    model.compile("sgd", "mse")
    g = np.random.default_rng(6)
    check_model_gradients(model, g.standard_normal((3, 3, 4)).astype(np.float32),
                          g.standard_normal((3, 2)).astype(np.float32))


def test_a_projection_trains_and_round_trips(tmp_path):
    pynn.utils.set_random_seed(7)
    model = pynn.Sequential([pynn.Input((6, 4)),
                             layers.EinsumDense("abc,cde->abde", (6, 2, 3), bias_axes="de",
                                                activation="relu"),
                             layers.Reshape((6, 6)), layers.GlobalAveragePooling1D(),
                             layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    g = np.random.default_rng(8)
    y = g.integers(0, 2, 64)
    x = (g.standard_normal((64, 6, 4)) + y[:, None, None]).astype(np.float32)
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    path = tmp_path / "m.pynn"
    model.save(path)
    np.testing.assert_allclose(pynn.models.load_model(path).predict(x, verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_config_round_trip():
    layer = layers.EinsumDense("...b,bc->...c", (5,), bias_axes="c", activation="tanh",
                               kernel_initializer="he_normal", kernel_regularizer="l2")
    config = layer.get_config()
    assert config["equation"] == "...b,bc->...c" and config["output_shape"] == [5]
    assert layers.EinsumDense.from_config(config).get_config() == config


def test_output_shape_fills_in_what_the_input_fixes():
    model = pynn.Sequential([pynn.Input((7, 4)),
                             layers.EinsumDense("abc,cd->abd", (None, 6))])
    assert model.output_shape == (None, 7, 6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(equation="ab->b", output_shape=3), "must have the form"),
    (dict(equation="ab,bc->ac", output_shape=0), "output_shape"),
    (dict(equation="ab,bb->ab", output_shape=3), "once per term"),
    (dict(equation="ab,bcz->ac", output_shape=3), "'z'.*neither"),
    (dict(equation="ab,bc->acz", output_shape=(3, 2)), "'z'.*neither"),
    (dict(equation="ab,bc->ac", output_shape=3, bias_axes="b"), "bias_axes"),
    (dict(equation=5, output_shape=3), "equation must be a string"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=f"EinsumDense.*{match}"):
        layers.EinsumDense(**kwargs)


def test_bad_shapes():
    with pytest.raises(ValueError, match="EinsumDense.*rank 3, got rank 2"):
        pynn.Sequential([pynn.Input((4,)), layers.EinsumDense("abc,cd->abd", (None, 2))])
    with pytest.raises(ValueError, match="EinsumDense.*has 2 sizes"):
        pynn.Sequential([pynn.Input((4,)), layers.EinsumDense("ab,bc->ac", (2, 3))])
    with pytest.raises(ValueError, match="EinsumDense.*gives 5 for the axis 'b'"):
        pynn.Sequential([pynn.Input((7, 4)), layers.EinsumDense("abc,cd->abd", (5, 2))])


def test_tflite_refuses_an_equation_summing_an_input_axis_by_name():
    # (the dense-like equations export: tests/tflite/test_export_sweep.py)
    model = pynn.Sequential([pynn.Input((2, 4)),
                             layers.EinsumDense("abc,cd->ad", 3, name="proj")])
    with pytest.raises(pynn.lite.ConversionError,
                       match="'proj'.*EinsumDense.*no TensorFlow Lite form"):
        pynn.lite.TFLiteConverter.from_keras_model(model).convert()
