"""keras.io's example programs (vision, structured data, time series,
text, generative), run with only their imports changed: the patterns that
broke, reproduced in a few lines, against Keras 3 on its NumPy backend
where it runs the same thing, else a property that could fail."""
import math

import numpy as np
import pytest

import pynn
from pynn import layers, ops

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def rand(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


# ------------------------- MultiHeadAttention with its attention overridden

def lsa_class(lib, keras_signature):
    """vit_small_ds.py's locality self-attention: a learned temperature in
    place of sqrt(key_dim), through Keras's protected attributes."""

    class LSA(lib.layers.MultiHeadAttention):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tau = lib.Variable(math.sqrt(float(self._key_dim)) * 2.0, trainable=True)

        def attend(self, query, key, value, attention_mask, training):
            query = lib.ops.multiply(query, 1.0 / self.tau)
            scores = lib.ops.einsum(self._dot_product_equation, key, query)
            scores = self._masked_softmax(scores, attention_mask)
            dropped = self._dropout_layer(scores, training=training)
            return lib.ops.einsum(self._combine_equation, dropped, value), scores

    if keras_signature:
        class Override(LSA):
            def _compute_attention(self, query, key, value, attention_mask=None,
                                   training=None, return_attention_scores=False):
                return self.attend(query, key, value, attention_mask, training)
    else:  # the signature the program was written with
        class Override(LSA):
            def _compute_attention(self, query, key, value, attention_mask=None,
                                   training=None):
                return self.attend(query, key, value, attention_mask, training)
    return Override


def test_multi_head_attention_subclass_overriding_compute_attention(keras):
    x = rand(2, 5, 6)
    mask = (1 - np.eye(5, dtype="int8"))[None]
    theirs = lsa_class(keras, True)(num_heads=2, key_dim=3, dropout=0.1)
    want, want_scores = theirs(x, x, attention_mask=mask, return_attention_scores=True)
    ours = lsa_class(pynn, False)(num_heads=2, key_dim=3, dropout=0.1)
    ours(x, x, attention_mask=mask)
    ours.set_weights(theirs.get_weights())
    got, scores = ours(x, x, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)
    # the diagonal is masked: every query attends only to the other steps
    np.testing.assert_array_equal(np.asarray(scores)[:, :, np.arange(5), np.arange(5)], 0)


def test_overridden_attention_trains_its_own_variable():
    lsa = lsa_class(pynn, False)
    inputs = layers.Input((4, 6))
    mask = (1 - ops.eye(4))[None]
    x = lsa(num_heads=2, key_dim=3)(inputs, inputs, attention_mask=ops.cast(mask, "int8"))
    model = pynn.Model(inputs, layers.Dense(1)(layers.Flatten()(x)))
    layer = model.layers[1]
    assert any(w is layer.tau for w in layer.trainable_weights)
    model.compile("adam", "mse")
    before = float(ops.convert_to_numpy(layer.tau))
    model.fit(rand(16, 4, 6), rand(16, 1), epochs=2, verbose=0)
    assert float(ops.convert_to_numpy(layer.tau)) != before
