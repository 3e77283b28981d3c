"""keras.activations.get against Keras 3 on its NumPy backend: the
function of a name, the same values for the same arrays, and the name
back from serialize."""
import os

import numpy as np
import pytest

import pynn
from pynn import activations, layers

os.environ.setdefault("KERAS_BACKEND", "numpy")
try:
    import keras
except Exception as e:  # missing, or a backend that cannot load here
    keras, reason = None, f"Keras 3 is not available ({type(e).__name__}: {e})"
else:
    reason = ""

needs_keras = pytest.mark.skipif(keras is None, reason=reason)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 5, 7)).astype(np.float32)

NAMES = ["relu", "relu6", "leaky_relu", "elu", "sigmoid", "hard_sigmoid", "tanh", "softmax",
         "softplus", "swish", "silu", "hard_swish", "hard_silu", "linear", "selu", "gelu",
         "exponential", "mish"]


@needs_keras
@pytest.mark.parametrize("name", NAMES)
def test_activations_get_returns_keras_function(name):
    fn = activations.get(name)
    assert callable(fn)
    want = keras.activations.get(name)
    atol = 1e-3 if name == "gelu" else 2e-6  # Keras's gelu is erf-exact
    np.testing.assert_allclose(fn(X), np.asarray(want(X)), rtol=1e-5, atol=atol)
    assert activations.serialize(fn) in (keras.activations.serialize(want),
                                         activations.canonical(name))
    assert activations.canonical(fn) == activations.canonical(name)


def test_activations_get_of_none_and_of_functions():
    assert activations.get(None) is activations.linear
    assert activations.get(activations.relu) is activations.relu
    assert activations.get("silu") is activations.swish

    def custom(x):
        return x * 2
    assert activations.get(custom) is custom
    with pytest.raises(ValueError, match="Unknown activation 'nope'"):
        activations.get("nope")


def test_layers_built_with_a_function_from_get_save_its_name(tmp_path):
    model = pynn.Sequential([pynn.Input(shape=(4,)),
                             layers.Dense(3, activation=activations.get("sigmoid")),
                             layers.Dense(2, activation=activations.get("relu"))])
    assert [l.get_config()["activation"] for l in model.layers] == ["sigmoid", "relu"]
    assert model.layers[0].activation == "sigmoid"  # the fused kernel
    x = RNG.normal(size=(5, 4)).astype(np.float32)
    model.save(tmp_path / "m.pynn")
    loaded = pynn.models.load_model(tmp_path / "m.pynn")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
