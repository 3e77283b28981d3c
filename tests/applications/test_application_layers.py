"""The layers the newer applications define, as Keras's applications
define them: InceptionResNetV2's CustomScaleLayer, ConvNeXt's LayerScale
and StochasticDepth.  Outputs equal Keras's on the same inputs and
weights, gradients match finite differences, configs round-trip, bad
input is refused naming the layer."""
import numpy as np
import pytest

import pynn
from gradcheck import check_model_gradients
from pynn import layers
from pynn.applications.convnext import LayerScale, StochasticDepth
from pynn.applications.inception_resnet_v2 import CustomScaleLayer


def _model_of(build, shapes):
    inputs = [pynn.Input(shape=s) for s in shapes]
    x = build(inputs)
    return pynn.Model(inputs if len(inputs) > 1 else inputs[0], x)


def test_custom_scale_layer_matches_keras(keras):
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer as Theirs
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((2, 5, 4, 3)).astype(np.float32) for _ in range(2))
    mine = CustomScaleLayer(0.17)
    got = mine([a, b])
    np.testing.assert_allclose(got, np.asarray(Theirs(0.17)([a, b])), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(got, a + 0.17 * b, rtol=1e-6, atol=1e-6)
    config = mine.get_config()
    assert config["scale"] == 0.17
    again = CustomScaleLayer.from_config(config)
    assert again.scale == 0.17 and again.name == mine.name


def test_custom_scale_layer_gradients():
    pynn.utils.set_random_seed(0)
    x = pynn.Input(shape=(4, 3, 2))
    h0 = layers.Conv2D(2, 1)(x)
    h1 = layers.Conv2D(2, 1)(h0)
    y = CustomScaleLayer(0.3)([h0, h1])
    model = pynn.Model(x, layers.Dense(3)(layers.Flatten()(y)))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(1)
    check_model_gradients(model, rng.standard_normal((3, 4, 3, 2)).astype(np.float32),
                          rng.standard_normal((3, 3)).astype(np.float32))


@pytest.mark.parametrize("call, match", [
    (lambda: CustomScaleLayer("big"), "scale must be a number"),
    (lambda: CustomScaleLayer(0.1)([pynn.Input(shape=(4, 4, 3)), pynn.Input(shape=(4, 4, 2))]),
     r"CustomScaleLayer .*two inputs of one shape.*\(None, 4, 4, 2\)"),
    (lambda: CustomScaleLayer(0.1)(pynn.Input(shape=(4, 4, 3))), "list of two inputs"),
    (lambda: LayerScale(1e-6, 0), "projection_dim must be a positive integer"),
    (lambda: LayerScale(None, 4), "init_values must be a number"),
    (lambda: LayerScale(0.5, 4)(pynn.Input(shape=(3, 3, 5))),
     r"LayerScale .*4 channels.*\(None, 3, 3, 5\)"),
    (lambda: StochasticDepth(1.5), "rate must be a number in"),
])
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_layer_scale_matches_keras(keras):
    from keras.src.applications.convnext import LayerScale as Theirs
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    mine, theirs = LayerScale(1e-6, 4), Theirs(1e-6, 4)
    mine.build(x.shape)
    theirs.build(x.shape)
    np.testing.assert_array_equal(mine.get_weights()[0], np.full(4, 1e-6, np.float32))
    np.testing.assert_allclose(mine.get_weights()[0], np.asarray(theirs.get_weights()[0]))
    gamma = rng.uniform(0.5, 2, 4).astype(np.float32)
    mine.set_weights([gamma])
    theirs.set_weights([gamma])
    np.testing.assert_allclose(mine(x), np.asarray(theirs(x)), rtol=1e-6, atol=1e-7)
    config = mine.get_config()
    assert (config["init_values"], config["projection_dim"]) == (1e-6, 4)
    assert LayerScale.from_config(config).projection_dim == 4


def test_layer_scale_gradients():
    """The factors' and the input's gradients, through a layer called
    twice (its factors' gradients add up over the calls)."""
    pynn.utils.set_random_seed(0)
    scale = LayerScale(0.7, 2)
    x = pynn.Input(shape=(3, 4, 2))
    h = layers.Conv2D(2, 1)(x)
    y = layers.add([scale(h), scale(x)])
    model = pynn.Model(x, layers.Dense(3)(layers.Flatten()(y)))
    model.compile(optimizer="sgd", loss="mse")
    scale.set_weights([np.array([0.6, -1.3], np.float32)])
    rng = np.random.default_rng(3)
    check_model_gradients(model, rng.standard_normal((3, 3, 4, 2)).astype(np.float32),
                          rng.standard_normal((3, 3)).astype(np.float32))


def test_stochastic_depth_drops_whole_samples(keras):
    """The identity at inference; while training each sample is kept whole
    (scaled by 1 / (1 - rate)) or zeroed, as Keras's."""
    layer = StochasticDepth(0.5)
    x = np.random.default_rng(4).uniform(1, 2, (64, 3, 2, 4)).astype(np.float32)
    np.testing.assert_array_equal(layer(x), x)
    pynn.utils.set_random_seed(0)
    y = np.asarray(layer(x, training=True))
    kept = np.all(y != 0, axis=(1, 2, 3))
    assert np.all(kept | np.all(y == 0, axis=(1, 2, 3)))
    np.testing.assert_allclose(y[kept], 2 * x[kept], rtol=1e-6)
    assert 10 < kept.sum() < 54
    config = layer.get_config()
    assert config["drop_path_rate"] == 0.5 and "rate" not in config
    from keras.src.applications.convnext import StochasticDepth as Theirs
    assert set(config) <= set(Theirs(0.5).get_config()) | {"trainable"}
    assert StochasticDepth.from_config(config).drop_path_rate == 0.5


def test_stochastic_depth_gradients():
    pynn.utils.set_random_seed(0)
    drop = StochasticDepth(0.4)
    drop._seed = lambda: 1234
    x = pynn.Input(shape=(3, 2, 2))
    y = layers.add([x, drop(layers.Conv2D(2, 1)(x))])
    model = pynn.Model(x, layers.Dense(3)(layers.Flatten()(y)))
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(5)

    def training_loss(model, x, y):
        state = model._program.new_state()
        out = model._program.forward([x], True, state)[0]
        return float(model.loss.compute(y, out, None, x.shape[0], None, False).sum()) / len(x)

    check_model_gradients(model, rng.standard_normal((6, 3, 2, 2)).astype(np.float32),
                          rng.standard_normal((6, 3)).astype(np.float32),
                          loss_fn=training_loss)


def _small_model():
    """A model with each of the three layers (a residual block as the
    applications write them)."""
    pynn.utils.set_random_seed(0)
    x = pynn.Input(shape=(5, 5, 3))
    h = layers.Conv2D(3, 3, padding="same", name="conv")(x)
    h = LayerScale(0.5, 3, name="scale")(h)
    h = StochasticDepth(0.2, name="drop")(h)
    y = CustomScaleLayer(0.17, name="residual")([x, h])
    model = pynn.Model(x, y)
    model.get_layer("scale").set_weights([np.array([0.5, -1.5, 2.0], np.float32)])
    return model


def test_keras_file_round_trip(keras, tmp_path):
    """pynn's .keras file loads in Keras (which finds the layers in its
    applications' modules) and predicts the same; Keras's file loads back
    in pynn."""
    model = _small_model()
    x = np.random.default_rng(6).standard_normal((2, 5, 5, 3)).astype(np.float32)
    want = model.predict(x, verbose=0)
    path = str(tmp_path / "blocks.keras")
    model.save(path)
    theirs = keras.saving.load_model(path)
    assert [type(l).__name__ for l in theirs.layers[2:]] == ["LayerScale", "StochasticDepth",
                                                             "CustomScaleLayer"]
    np.testing.assert_allclose(np.asarray(theirs.predict(x, verbose=0)), want, rtol=1e-5,
                               atol=1e-6)
    assert theirs.get_layer("drop").drop_path_rate == 0.2
    theirs.save(str(tmp_path / "theirs.keras"))
    again = pynn.models.load_model(str(tmp_path / "theirs.keras"))
    assert isinstance(again.get_layer("residual"), CustomScaleLayer)
    assert again.get_layer("drop").drop_path_rate == 0.2
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)


def test_tflite_export_names_the_layer():
    """The exporter has no form for these layers: it says which one."""
    from pynn.lite import ConversionError, TFLiteConverter
    with pytest.raises(ConversionError, match="'scale'.*LayerScale"):
        TFLiteConverter.from_keras_model(_small_model()).convert()
    x = pynn.Input(shape=(4, 4, 2))
    y = CustomScaleLayer(0.2, name="residual")([x, layers.Conv2D(2, 1)(x)])
    with pytest.raises(ConversionError, match="'residual'.*CustomScaleLayer"):
        TFLiteConverter.from_keras_model(pynn.Model(x, y)).convert()
