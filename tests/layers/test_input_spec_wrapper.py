"""InputSpec (checked at every call of a layer that sets ``input_spec``, with
Keras 3's messages) and Wrapper (the base of TimeDistributed,
Bidirectional and SpectralNormalization, and of the user's wrappers)."""
import numpy as np
import pytest
from gradcheck import check_model_gradients

import pynn
from pynn import layers


class Scale(layers.Layer):
    """A user's layer declaring what it takes, as in Keras."""

    def __init__(self, spec=None, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = spec

    def build(self, input_shape):
        self.w = self.add_weight("w", (input_shape[-1],), "ones")
        # build narrows the spec, as Keras's Dense does
        self.input_spec = pynn.InputSpec(min_ndim=2, axes={-1: input_shape[-1]})

    def call(self, x):
        return x * self.w


def test_input_spec_is_keras_s(keras):
    assert pynn.InputSpec is layers.InputSpec
    spec = pynn.InputSpec(dtype="float32", shape=(None, 3), axes={1: 3})
    assert spec.ndim == 2 and spec.shape == (None, 3)
    theirs = keras.InputSpec(dtype="float32", shape=(None, 3), axes={1: 3})
    assert repr(spec) == repr(theirs)
    assert spec.get_config() == {**theirs.get_config(), "shape": (None, 3)}
    assert pynn.InputSpec.from_config(spec.get_config()).get_config() == spec.get_config()
    with pytest.raises(ValueError, match="Axis 3 is greater than the maximum allowed value: 1"):
        pynn.InputSpec(ndim=2, axes={3: 4})
    with pytest.raises(TypeError, match="axes"):
        pynn.InputSpec(axes={"a": 1})


@pytest.mark.parametrize("spec, shape, match", [
    (dict(ndim=3), (4,), r"Input 0 with name 'None' of layer 'scale' is incompatible with the "
                         r"layer: expected ndim=3, found ndim=2. Full shape received: "
                         r"\(B, 4\)"),
    (dict(max_ndim=2), (4, 2), "expected max_ndim=2, found ndim=3"),
    (dict(min_ndim=4), (4, 2), "expected min_ndim=4, found ndim=3"),
    (dict(axes={-1: 5}), (4,), r"expected axis -1 of input shape to have value 5, but received "
                               r"input with shape \(B, 4\)"),
    (dict(shape=(None, 2, 4)), (3, 4), r"expected shape=\(None, 2, 4\), found "
                                       r"shape=\(B, 3, 4\)"),
    (dict(dtype="int32"), (4,), "expected dtype=int32, found dtype=float32"),
])
def test_mismatches_are_refused_as_keras_words_them(spec, shape, match):
    layer = Scale(pynn.InputSpec(**spec), name="scale")
    with pytest.raises(ValueError, match=match.replace("B", "None")):
        layer(pynn.Input(shape))
    with pytest.raises(ValueError, match=match.replace("B", "2")):
        layer(np.zeros((2,) + shape, np.float32))


def test_build_sets_a_narrower_spec_checked_at_later_calls():
    layer = Scale(name="scale")
    y = layer(pynn.Input((3,)))
    assert y.shape == (None, 3)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        layer(pynn.Input((4,)))
    with pytest.raises(ValueError, match="expected min_ndim=2, found ndim=1"):
        layer(np.zeros(3, np.float32))
    np.testing.assert_array_equal(layer(np.ones((2, 3), np.float32)), np.ones((2, 3)))


def test_several_inputs_and_names():
    class Pair(layers.Layer):
        def __init__(self):
            super().__init__(name="pair")
            self.input_spec = [pynn.InputSpec(ndim=2, name="a"),
                               pynn.InputSpec(ndim=3, name="b")]

        def call(self, inputs):
            return inputs[0]
    with pytest.raises(ValueError, match=r"Layer \"pair\" expects 2 named input\(s\) with keys "
                                         r"\['a', 'b'\], but it received 1 input tensors"):
        Pair()(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="Input 1 with name 'b' of layer 'pair'.*ndim=3"):
        Pair()([np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)])
    out = Pair()([np.zeros((2, 3), np.float32), np.zeros((2, 3, 1), np.float32)])
    assert out.shape == (2, 3)


def test_spec_squeezing_the_last_axis():
    class Plain(layers.Layer):
        def __init__(self):
            super().__init__()
            self.input_spec = pynn.InputSpec(shape=(None, 3, 1), allow_last_axis_squeeze=True)

        def call(self, x):
            return x + 1.0
    assert Plain()(np.ones((2, 3), np.float32)).shape == (2, 3)
    assert Plain()(np.ones((2, 3, 1), np.float32)).shape == (2, 3, 1)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 3, 1\), found shape=\(2, 4\)"):
        Plain()(np.ones((2, 4), np.float32))


# ------------------------------------------------------------------- Wrapper

class Doubled(layers.Wrapper):
    """A user's wrapper: the wrapped layer's output, twice, through a layer
    of its own."""

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)
        self.after = layers.Dense(3, name="after")

    def call(self, x):
        return self.after(self.layer(x)) * 2.0


def test_the_wrappers_are_wrappers():
    assert isinstance(layers.TimeDistributed(layers.Dense(2)), layers.Wrapper)
    assert isinstance(layers.Bidirectional(layers.LSTM(2, name="wrapped_lstm")), layers.Wrapper)
    assert isinstance(layers.SpectralNormalization(layers.Dense(2)), layers.Wrapper)
    dense = layers.Dense(2)
    assert layers.TimeDistributed(dense).layer is dense
    with pytest.raises(ValueError, match="Wrapper 'w': expected a layer to wrap, got int"):
        layers.Wrapper(3, name="w")
    wrapper = layers.Wrapper(layers.Dense(2), name="bare")
    with pytest.raises(NotImplementedError, match="'bare'"):
        wrapper(np.ones((1, 3), np.float32))


def test_a_user_wrapper_trains_and_round_trips(tmp_path):
    pynn.utils.set_random_seed(2)
    model = pynn.Sequential([pynn.Input((4,)), Doubled(layers.Dense(3, activation="tanh")),
                             layers.Dense(2)])
    assert ["/".join(w.path.split("/")[-2:]) for w in model.layers[0].weights][2:] == \
        ["after/kernel", "after/bias"]
    model.compile("sgd", "mse")
    g = np.random.default_rng(3)
    x, y = g.standard_normal((3, 4)).astype(np.float32), g.standard_normal((3, 2))
    check_model_gradients(model, x, y.astype(np.float32))
    config = model.layers[0].get_config()
    assert config["layer"]["class_name"] == "Dense"
    again = Doubled.from_config(config)
    assert again.layer.get_config()["units"] == 3
    model.save(tmp_path / "m.pynn")
    loaded = pynn.models.load_model(tmp_path / "m.pynn", custom_objects={"Doubled": Doubled})
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6, atol=1e-6)
