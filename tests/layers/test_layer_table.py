"""Every layer of layer_table.py: Keras's output shape and parameter count,
a predict of that shape, its config round trip (get_config/from_config and
model.save/load_model with its weights), and its output on another batch
size."""
import numpy as np
import pytest

import pynn
from layer_table import CASES, random_weights


def build(case):
    factory, in_shape, _, _ = CASES[case]
    layer = factory(pynn.layers)
    model = pynn.Sequential([pynn.Input(shape=in_shape), layer])
    random_weights(layer)
    return layer, model


@pytest.mark.parametrize("case", sorted(CASES))
def test_shapes_parameters_and_round_trip(case, tmp_path):
    _, in_shape, out_shape, params = CASES[case]
    layer, model = build(case)
    assert layer.output_shape == (None,) + out_shape
    assert layer.count_params() == params == model.count_params()
    x = np.random.default_rng(0).standard_normal((4,) + in_shape).astype(np.float32)
    y = model.predict(x, verbose=0)
    assert y.shape == (4,) + out_shape and np.all(np.isfinite(y))
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), y[:1], rtol=1e-6, atol=1e-6)
    config = layer.get_config()
    again = type(layer).from_config(config)
    assert again.get_config() == {**config, "name": again.name}
    path = str(tmp_path / "model.pynn")
    model.save(path)
    loaded = pynn.models.load_model(path)
    assert type(loaded.layers[0]) is type(layer)
    assert loaded.layers[0].get_config() == config
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), y)


# Layers that take inputs of any rank, as Keras's do.
ANY_RANK = ("relu", "leaky_relu", "elu", "softmax", "prelu", "gaussian",
            "alpha_dropout", "activity_regularization", "layer_normalization",
            "unit_normalization", "group_normalization", "rescaling", "normalization",
            "einsum_dense_left_ellipsis", "einsum_dense_right_ellipsis")


@pytest.mark.parametrize("case", sorted(c for c in CASES if not c.startswith(ANY_RANK)))
def test_bad_input_rank_names_the_layer(case):
    factory, in_shape, _, _ = CASES[case]
    layer = factory(pynn.layers)
    wrong = in_shape + (2, 2, 2) if len(in_shape) != 1 else (2, 2, 2, 2, 2)
    with pytest.raises(ValueError, match=layer.name):
        pynn.Sequential([pynn.Input(shape=wrong), layer])
