"""Compiled inference plans (pynn/models/plan.py, csrc/plan.c): a planned
model's outputs equal the Python inference path's bit for bit (the same
kernels with the same arguments), for every layer kind a plan runs, odd
shapes and batches of 0, 1, 7 and 33 samples; run on every kernel level
(make test runs tests/layers under PYNN_CPU=generic and avx2 too)."""
import numpy as np
import pytest

import pynn
from pynn import layers
from pynn.models.passes import inference_program


def python_path(model, xs):
    """The outputs of the program's step-by-step Python path."""
    prog = inference_program(model)
    return [np.array(o) for o in prog.run(list(xs), prog.new_state(None))]


def planned(model, xs):
    """The outputs of the compiled plan (asserting that one was built)."""
    prog = inference_program(model)
    assert prog.plannable, [type(s.layer).__name__ for s in prog.steps]
    outs = prog.run_planned(list(xs))
    assert outs is not None, "no plan for these shapes"
    return outs


def assert_bitwise(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype == np.float32
        np.testing.assert_array_equal(g.view(np.uint32), w.view(np.uint32))


def randomize_batch_norms(model, seed):
    """Statistics and scales away from their initial values (else a folded
    batch normalization is close to the identity)."""
    g = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            c = layer.moving_mean.shape
            layer.moving_mean.value[...] = g.normal(size=c)
            layer.moving_variance.value[...] = g.uniform(0.2, 2.0, size=c)
            if layer.gamma is not None:
                layer.gamma.value[...] = g.normal(size=c)
            if layer.beta is not None:
                layer.beta.value[...] = g.normal(size=c)


def seq(shape, *stack):
    return pynn.Sequential([pynn.Input(shape)] + list(stack))


MODELS = {
    "mlp": lambda: seq((33,), layers.Dense(7, activation="relu"),
                       layers.Dense(5, activation="tanh"),
                       layers.Dense(3, activation="softmax")),
    "dense_rank3_no_bias": lambda: seq((4, 9), layers.Dense(6, use_bias=False,
                                                            activation="sigmoid")),
    "dense_activations": lambda: seq((13,), layers.Dense(9, activation="elu"),
                                     layers.Dense(9, activation="swish"),
                                     layers.Dense(9, activation="softplus"),
                                     layers.Dense(9, activation="hard_sigmoid"),
                                     layers.Dense(9, activation="relu6"),
                                     layers.Dense(9, activation="leaky_relu")),
    "convnet": lambda: seq((13, 11, 3), layers.Conv2D(5, 3, activation="relu"),
                           layers.MaxPooling2D(), layers.Conv2D(7, (2, 3), padding="same"),
                           layers.AveragePooling2D(2, strides=1, padding="same"),
                           layers.Flatten(), layers.Dropout(0.5),
                           layers.Dense(4, activation="softmax")),
    "conv_strides_dilation": lambda: seq((17, 15, 2),
                                         layers.Conv2D(3, 3, strides=2, padding="same"),
                                         layers.Conv2D(4, 3, dilation_rate=2,
                                                       activation="tanh"),
                                         layers.MaxPooling2D(3, strides=2, padding="same"),
                                         layers.GlobalAveragePooling2D()),
    "conv_bn_folded": lambda: seq((9, 9, 3), layers.Conv2D(6, 3), layers.BatchNormalization(),
                                  layers.ReLU(), layers.Conv2D(5, 3, use_bias=False),
                                  layers.BatchNormalization(scale=False), layers.ReLU(6.0),
                                  layers.GlobalMaxPooling2D()),
    "dense_bn_folded": lambda: seq((11,), layers.Dense(8),
                                   layers.BatchNormalization(center=False),
                                   layers.Activation("relu"), layers.Dense(3)),
    "depthwise_separable": lambda: seq((10, 9, 4),
                                       layers.DepthwiseConv2D(3, depth_multiplier=2,
                                                              padding="same"),
                                       layers.BatchNormalization(),
                                       layers.Activation("relu6"),
                                       layers.SeparableConv2D(5, 3, strides=2,
                                                              activation="relu"),
                                       layers.SeparableConv2D(3, 2, depth_multiplier=2),
                                       layers.BatchNormalization(), layers.ELU()),
    "standalone_bn_and_activations": lambda: seq(
        (7, 5), layers.BatchNormalization(), layers.LeakyReLU(0.1), layers.Softmax(),
        layers.ReLU(max_value=2.5, negative_slope=0.1, threshold=0.2),
        layers.Activation("linear"), layers.Reshape((5, 7)), layers.ELU(alpha=0.5)),
    "conv1d": lambda: seq((19, 3), layers.Conv1D(4, 3, padding="causal", dilation_rate=2,
                                                 activation="relu"),
                          layers.MaxPooling1D(2), layers.Conv1D(5, 2, strides=2),
                          layers.AveragePooling1D(2, padding="same"),
                          layers.GlobalMaxPooling1D()),
    "conv1d_global_avg": lambda: seq((8, 3), layers.Conv1D(4, 3),
                                     layers.GlobalAveragePooling1D()),
    "padding_cropping_2d": lambda: seq((9, 8, 3), layers.ZeroPadding2D(((1, 2), (0, 3))),
                                       layers.Conv2D(4, 3, activation="relu"),
                                       layers.Cropping2D(((1, 0), (2, 1))),
                                       layers.ZeroPadding2D(1)),
    "padding_cropping_1d_3d": lambda: seq((10, 3), layers.ZeroPadding1D((2, 1)),
                                          layers.Conv1D(4, 3), layers.Cropping1D((1, 2)),
                                          layers.Reshape((2, 2, 2, 4)),
                                          layers.ZeroPadding3D(((0, 1), (1, 0), (2, 1))),
                                          layers.Cropping3D(((1, 0), (0, 1), (1, 2)))),
    "rescaling_normalization_prelu": lambda: seq(
        (6, 5, 3), layers.Rescaling(1 / 255.0, offset=-0.5), layers.Rescaling([0.5, 2.0, -3.0]),
        layers.Normalization(mean=[0.1, -0.2, 0.3], variance=[1.5, 0.0, 2.0]),
        layers.Normalization(axis=(1, 2), mean=np.linspace(-1, 1, 30).reshape(6, 5),
                             variance=np.linspace(0.5, 2, 30).reshape(6, 5)),
        layers.Normalization(), layers.Normalization(invert=True),
        layers.PReLU(alpha_initializer="random_normal", shared_axes=[1, 2]),
        layers.Conv2D(4, 2),
        layers.PReLU(alpha_initializer="random_normal")),
}


def merges():
    a, b = pynn.Input((6, 5)), pynn.Input((6, 5))
    d1 = layers.Dense(5, activation="relu")(a)
    d2 = layers.Dense(5)(b)
    s = layers.Add()([d1, d2, a])
    t = layers.Subtract()([s, b])
    m = layers.Multiply()([t, d1])
    mx = layers.Maximum()([m, d2, s])
    mn = layers.Minimum()([mx, a])
    av = layers.Average()([mn, t, d1])
    flat = layers.Flatten()(av)
    return pynn.Model([a, b], [flat, layers.Dense(2)(flat), mx])


def shared_layer_and_outputs():
    """A layer called twice, an output that is an input, one tensor given
    as two outputs, an output that others read."""
    x = pynn.Input((7,))
    dense = layers.Dense(7, activation="tanh")
    h = dense(x)
    h2 = dense(h)
    return pynn.Model(x, [h2, x, h, h, layers.Reshape((7, 1))(h2)])


def nested():
    inner = seq((8, 8, 2), layers.Conv2D(3, 3, activation="relu"), layers.Flatten())
    x = pynn.Input((8, 8, 2))
    return pynn.Model(x, layers.Dense(4)(inner(x)))


def concat_and_broadcast():
    """Inception's concatenations (of the channels, and of another axis)
    and squeeze-and-excitation's rows scaled by a vector per sample, the
    vector first or second, for every merge."""
    x = pynn.Input((7, 6, 4))
    b1 = layers.Conv2D(3, 1, activation="relu")(x)
    b2 = layers.Conv2D(5, 3, padding="same")(x)
    c = layers.Concatenate()([b1, b2, x])
    rows = layers.Concatenate(axis=1)([b1, layers.Conv2D(3, 3, padding="same")(b1), b1])
    se = layers.GlobalAveragePooling2D()(c)
    se = layers.Reshape((1, 1, 12))(layers.Dense(12, activation="sigmoid")(se))
    outs = [layers.Multiply()([c, se]), layers.Multiply()([se, c]),
            layers.Subtract()([se, c]), layers.Add()([c, se]), layers.Average()([c, se]),
            layers.Maximum()([se, c]), layers.Minimum()([c, se])]
    channel = layers.Reshape((1, 1, 12))(layers.Dense(12)(layers.Flatten()(c)))
    outs.append(layers.Multiply()([c, channel]))
    return pynn.Model(x, [layers.Concatenate(axis=2)(outs), rows])


def normalization_adapted():
    pynn.utils.set_random_seed(11)
    g = np.random.default_rng(11)
    norm = layers.Normalization()
    norm.adapt(g.normal(2.0, 3.0, size=(50, 4, 5)).astype(np.float32))
    inverse = layers.Normalization(invert=True)
    inverse.adapt(g.normal(-1.0, 0.5, size=(50, 4, 5)).astype(np.float32))
    return seq((4, 5), norm, layers.Dense(5), inverse)


def symbolic_operations():
    """Arithmetic written on symbolic tensors (TensorOperation layers):
    scalars on either side, a per-channel constant, a squeeze-and-excitation
    product, division and negation."""
    from pynn import ops
    x = pynn.Input((7, 6, 3))
    h = layers.Conv2D(4, 3, activation="relu")(x / 255.0 - 0.5)
    se = layers.Reshape((1, 1, 4))(layers.Dense(4, activation="sigmoid")(
        layers.GlobalAveragePooling2D()(h)))
    h = 2.0 * (h * se) + -h
    h = ops.maximum(h, np.array([0.1, -0.2, 0.3, 0.0], np.float32)) / (se + 1.0)
    h = ops.minimum(1.5, h) - 0.25
    return pynn.Model(x, layers.Flatten()(h))


GRAPHS = {"merges": merges, "concat_and_broadcast": concat_and_broadcast,
          "symbolic_operations": symbolic_operations,
          "normalization_adapted": normalization_adapted, "shared_layer_and_outputs": shared_layer_and_outputs,
          "nested": nested}


def inputs_for(model, batch, seed=0):
    g = np.random.default_rng(seed)
    return [g.normal(size=(batch,) + tuple(t.shape[1:])).astype(np.float32)
            for t in model.inputs]


@pytest.mark.parametrize("batch", [0, 1, 7, 33])
@pytest.mark.parametrize("name", sorted(MODELS) + sorted(GRAPHS))
def test_plan_equals_the_python_path_bit_for_bit(name, batch):
    pynn.utils.set_random_seed(3)
    model = (MODELS.get(name) or GRAPHS[name])()
    randomize_batch_norms(model, 4)
    xs = inputs_for(model, batch)
    want = python_path(model, xs)
    assert_bitwise(planned(model, xs), want)
    # and through the public calls, which take the plan
    outs = model.predict_on_batch(xs if len(xs) > 1 else xs[0])
    outs = outs if isinstance(outs, list) else [outs]
    assert_bitwise([np.asarray(o) for o in outs], want)


def test_predict_over_batches_uses_a_plan_per_shape():
    pynn.utils.set_random_seed(5)
    model = MODELS["convnet"]()
    x = inputs_for(model, 37)[0]
    want = np.concatenate([python_path(model, [x[s:s + 16]])[0] for s in (0, 16, 32)])
    got = model.predict(x, batch_size=16, verbose=0)
    np.testing.assert_array_equal(got, want)
    keys = set(inference_program(model)._plans)
    assert ((16, 13, 11, 3),) in keys and ((5, 13, 11, 3),) in keys


def test_models_built_for_any_size_are_planned_per_input_size():
    """A model whose input leaves sizes unknown gets a plan for each input
    shape it meets, its tensors' sizes worked out step by step."""
    pynn.utils.set_random_seed(8)
    conv = seq((None, None, 3), layers.Conv2D(4, 3, strides=2, padding="same",
                                              activation="relu"),
               layers.ZeroPadding2D(1), layers.MaxPooling2D(), layers.Flatten())
    text = seq((None, 3), layers.Conv1D(5, 3, activation="relu"), layers.GlobalMaxPooling1D(),
               layers.Dense(2))
    for model, shapes in ((conv, [(2, 9, 7, 3), (1, 16, 12, 3)]),
                          (text, [(3, 17, 3), (3, 6, 3)])):
        for shape in shapes:
            x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
            assert_bitwise(planned(model, [x]), python_path(model, [x]))
    keys = set(inference_program(conv)._plans)
    assert ((2, 9, 7, 3),) in keys and ((1, 16, 12, 3),) in keys
    # a known size that does not match is the Python path's to explain
    wrong = np.zeros((2, 9, 7, 4), np.float32)
    assert inference_program(conv).run_planned([wrong]) is None
    with pytest.raises(ValueError, match="expected shape"):
        conv.predict_on_batch(wrong)
