"""MultiHeadAttention in TFLite: projections as FULLY_CONNECTED, the
attention as BATCH_MATMUL and SOFTMAX, equal to predict (1e-5, with and
without the XNNPACK delegate) for self- and cross-attention, a causal mask,
the attention scores as an output, other value and output sizes, no
biases, inputs of rank 4; the keras.io time-series transformer whole; a constant
attention mask that differs between the rows of the batch raises naming
the layer (masks carried by the inputs or given as tensors:
test_masked_export; constant ones and full integer: test_export_more)."""
import numpy as np
import pytest

import pynn
from litehelp import convert, op_names, run_all
from pynn import layers
from pynn.utils import set_random_seed


def _check(model, xs):
    data = convert(model)
    want = model.predict(xs if len(xs) > 1 else xs[0], verbose=0)
    want = want if isinstance(want, list) else [want]
    for reference in (False, True):
        for got, w in zip(run_all(data, xs, reference=reference), want):
            np.testing.assert_allclose(got, w, rtol=1e-5, atol=1e-5)
    return data


@pytest.mark.parametrize("case", ["self", "cross_key", "causal_scores", "sizes_no_bias",
                                  "rank_4"])
def test_multi_head_attention_matches_predict(case):
    set_random_seed(1)
    rng = np.random.default_rng(2)
    q_in = pynn.Input((5, 8))
    if case == "self":
        out = layers.MultiHeadAttention(2, 4)(q_in, q_in)
        model, xs = pynn.Model(q_in, out), [rng.normal(size=(3, 5, 8))]
    elif case == "cross_key":
        v_in, k_in = pynn.Input((7, 6)), pynn.Input((7, 3))
        out = layers.MultiHeadAttention(3, 2, value_dim=5)(q_in, v_in, k_in)
        model = pynn.Model([q_in, v_in, k_in], out)
        xs = [rng.normal(size=(2, 5, 8)), rng.normal(size=(2, 7, 6)), rng.normal(size=(2, 7, 3))]
    elif case == "causal_scores":
        out, scores = layers.MultiHeadAttention(2, 4)(q_in, q_in, use_causal_mask=True,
                                                       return_attention_scores=True)
        model, xs = pynn.Model(q_in, [out, scores]), [rng.normal(size=(2, 5, 8))]
    elif case == "sizes_no_bias":
        out = layers.MultiHeadAttention(4, 3, value_dim=2, output_shape=6,
                                        use_bias=False)(q_in, q_in)
        model, xs = pynn.Model(q_in, out), [rng.normal(size=(2, 5, 8))]
    else:  # (MobileViT's: attention over both middle axes)
        q_in = pynn.Input((3, 4, 8))
        out = layers.MultiHeadAttention(2, 4)(q_in, q_in)
        model, xs = pynn.Model(q_in, out), [rng.normal(size=(2, 3, 4, 8))]
    xs = [x.astype(np.float32) for x in xs]
    data = _check(model, xs)
    names = op_names(data)
    assert names.count("FULLY_CONNECTED") == 4 and names.count("BATCH_MATMUL") == 2
    assert names.count("SOFTMAX") == 1 and ("ADD" in names) == (case == "causal_scores")


def test_time_series_transformer_exports_whole():
    """The keras.io time-series classification transformer (functional:
    attention, dropout, layer normalization, Conv1D feed-forward, pooling
    over the channels)."""
    set_random_seed(3)

    def encoder(inputs):
        x = layers.MultiHeadAttention(key_dim=8, num_heads=2, dropout=0.25)(inputs, inputs)
        x = layers.Dropout(0.25)(x)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
        res = x + inputs
        x = layers.Conv1D(filters=4, kernel_size=1, activation="relu")(res)
        x = layers.Dropout(0.25)(x)
        x = layers.Conv1D(filters=inputs.shape[-1], kernel_size=1)(x)
        x = layers.LayerNormalization(epsilon=1e-6)(x)
        return x + res
    inputs = pynn.Input((12, 1))
    x = encoder(encoder(inputs))
    x = layers.GlobalAveragePooling1D(data_format="channels_first")(x)
    x = layers.Dense(8, activation="relu")(x)
    model = pynn.Model(inputs, layers.Dense(2, activation="softmax")(x))
    model.compile("adam", "sparse_categorical_crossentropy")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(16, 12, 1)).astype(np.float32)
    model.fit(x, rng.integers(0, 2, 16), epochs=1, verbose=0)
    _check(model, [x[:3]])


def test_constant_attention_mask_differing_by_row_raises_naming_the_layer():
    # (one mask per row of the batch it was made for: a model of any batch
    # size cannot hold it; one shared by every row exports, test_export_more)
    q_in = pynn.Input((5, 8))
    mask = np.stack([np.tril(np.ones((5, 5))), np.ones((5, 5))])
    out = layers.MultiHeadAttention(2, 4, name="attn")(q_in, q_in, attention_mask=mask)
    with pytest.raises(pynn.lite.ConversionError, match="'attn'.*attention_mask.*rows"):
        convert(pynn.Model(q_in, out))
