"""The attention layers of the transformer chapters (Deep Learning with
Python 11-12, Géron 16, keras.io's transformer examples) against Keras 3
on its NumPy backend: Keras's weights set into pynn's layers give Keras's
outputs and attention scores, with and without masks; and they train."""

import numpy as np
import pytest

import pynn
from pynn import layers

from keras_reference import keras, needs_keras  # noqa: E402
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _copy_weights(src, dst):
    dst.set_weights([np.asarray(w) for w in src.get_weights()])


@needs_keras
def test_multi_head_attention_matches_keras():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 5, 6)).astype("float32")
    v = rng.normal(size=(2, 7, 4)).astype("float32")
    k_layer = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2)
    k_out, k_scores = k_layer(q, v, return_attention_scores=True)
    p_layer = layers.MultiHeadAttention(num_heads=3, key_dim=4, value_dim=2)
    p_layer(q, v)
    assert [w.shape for w in p_layer.weights] == [tuple(w.shape) for w in k_layer.weights]
    _copy_weights(k_layer, p_layer)
    out, scores = p_layer(q, v, return_attention_scores=True)
    np.testing.assert_allclose(out, np.asarray(k_out), atol=1e-5)
    np.testing.assert_allclose(scores, np.asarray(k_scores), atol=1e-6)

    x = rng.normal(size=(2, 5, 6)).astype("float32")
    k_self = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    k_causal = k_self(x, x, use_causal_mask=True)
    p_self = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    p_self(x, x)
    _copy_weights(k_self, p_self)
    np.testing.assert_allclose(p_self(x, x, use_causal_mask=True), np.asarray(k_causal),
                               atol=1e-5)
    mask = rng.random((2, 5, 5)) > 0.3
    np.testing.assert_allclose(p_self(x, x, attention_mask=mask),
                               np.asarray(k_self(x, x, attention_mask=mask)), atol=1e-5)
    # the causal mask really masks: the first step sees only itself
    first = p_self(x, x, use_causal_mask=True)[:, 0]
    changed = x.copy()
    changed[:, 1:] += 1.0
    np.testing.assert_allclose(p_self(changed, changed, use_causal_mask=True)[:, 0], first,
                               atol=1e-6)


@needs_keras
@pytest.mark.parametrize("name, kwargs", [("Attention", {}),
                                          ("Attention", {"use_scale": True,
                                                         "score_mode": "concat"}),
                                          ("AdditiveAttention", {})])
def test_dense_attention_matches_keras(name, kwargs):
    rng = np.random.default_rng(1)
    q = rng.normal(size=(2, 4, 3)).astype("float32")
    v = rng.normal(size=(2, 6, 3)).astype("float32")
    q_mask, v_mask = rng.random((2, 4)) > 0.3, rng.random((2, 6)) > 0.3
    k_layer = getattr(keras.layers, name)(**kwargs)
    k_layer([q, v])
    k_layer.set_weights([np.asarray(w) + 0.5 for w in k_layer.get_weights()])
    p_layer = getattr(layers, name)(**kwargs)
    p_layer([q, v])
    _copy_weights(k_layer, p_layer)
    np.testing.assert_allclose(p_layer([q, v], mask=[q_mask, v_mask]),
                               np.asarray(k_layer([q, v], mask=[q_mask, v_mask])), atol=1e-5)
    out, scores = p_layer([q, q], use_causal_mask=True, return_attention_scores=True)
    k_out, k_scores = k_layer([q, q], use_causal_mask=True, return_attention_scores=True)
    np.testing.assert_allclose(out, np.asarray(k_out), atol=1e-5)
    np.testing.assert_allclose(scores, np.asarray(k_scores), atol=1e-6)


def _finite_difference_check(model, x, y, weight, index, eps=1e-2):
    """The gradient of one weight entry from a GradientTape against central
    differences of the same loss."""
    def loss_value():
        return float(np.mean(np.square(model(x) - y)))
    with pynn.GradientTape() as tape:
        loss = pynn.ops.mean(pynn.ops.square(model(x) - y))
    grad = tape.gradient(loss, weight)
    saved = weight.numpy()
    bumped = saved.copy()
    bumped[index] += eps
    weight.assign(bumped)
    up = loss_value()
    bumped[index] -= 2 * eps
    weight.assign(bumped)
    down = loss_value()
    weight.assign(saved)
    np.testing.assert_allclose(grad[index], (up - down) / (2 * eps), rtol=2e-2, atol=1e-4)


def test_attention_layers_train_in_graphs_with_masks():
    pynn.utils.set_random_seed(3)
    tokens = pynn.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(30, 8, mask_zero=True)(tokens)
    x = layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.1)(x, x)
    context = layers.Attention()([x, x])
    x = layers.GlobalAveragePooling1D()(layers.Concatenate()([x, context]))
    model = pynn.Model(tokens, layers.Dense(1)(x))
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 30, (16, 6))
    ids[:, 4:] = 0
    y = rng.normal(size=(16, 1)).astype("float32")
    # padding changes nothing: the masks reach the attention and the pooling
    np.testing.assert_allclose(model.predict(ids, verbose=0),
                               model.predict(ids[:, :4], verbose=0), atol=1e-5)
    mha = model.layers[2]
    _finite_difference_check(model, ids, y, mha.query_kernel, (1, 0, 2))
    model.compile("adam", "mse")
    before = model.evaluate(ids, y, verbose=0)
    model.fit(ids, y, epochs=20, verbose=0)
    assert model.evaluate(ids, y, verbose=0) < before


def test_attention_graph_options_survive_a_pynn_file(tmp_path):
    pynn.utils.set_random_seed(4)
    x = pynn.Input(shape=(4, 6))
    y = layers.MultiHeadAttention(2, 3)(x, x, use_causal_mask=True)
    y = layers.AdditiveAttention()([y, x], use_causal_mask=True)
    model = pynn.Model(x, y)
    data = np.random.default_rng(0).random((2, 4, 6)).astype("float32")
    path = tmp_path / "attention.pynn"
    model.save(path)
    loaded = pynn.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(data, verbose=0), model.predict(data, verbose=0),
                               rtol=1e-6)
    # the causal mask came back: the first step ignores the later ones
    changed = data.copy()
    changed[:, 1:] += 1.0
    np.testing.assert_allclose(loaded.predict(changed, verbose=0)[:, 0],
                               loaded.predict(data, verbose=0)[:, 0], atol=1e-6)
    with pytest.raises(TypeError, match="call it with query and value"):
        layers.MultiHeadAttention(2, 3)(data)
