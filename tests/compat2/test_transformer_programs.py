"""Deep Learning with Python 11's Transformer programs with only their
imports changed (tiny synthetic data): the encoder for text
classification with a PositionalEmbedding layer (its own compute_mask and
get_config, saved and loaded), and the sequence-to-sequence decoder with
a causal mask."""
import numpy as np

import pynn as keras
from pynn import layers


class TransformerEncoder(layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.dense_dim, self.num_heads = embed_dim, dense_dim, num_heads
        self.attention = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential([layers.Dense(dense_dim, activation="relu"),
                                            layers.Dense(embed_dim)])
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()

    def call(self, inputs, mask=None):
        if mask is not None:
            mask = mask[:, np.newaxis, :]
        attention_output = self.attention(inputs, inputs, attention_mask=mask)
        proj_input = self.layernorm_1(inputs + attention_output)
        proj_output = self.dense_proj(proj_input)
        return self.layernorm_2(proj_input + proj_output)

    def get_config(self):
        config = super().get_config()
        config.update({"embed_dim": self.embed_dim, "num_heads": self.num_heads,
                       "dense_dim": self.dense_dim})
        return config


class TransformerDecoder(layers.Layer):
    def __init__(self, embed_dim, dense_dim, num_heads, **kwargs):
        super().__init__(**kwargs)
        self.embed_dim, self.dense_dim, self.num_heads = embed_dim, dense_dim, num_heads
        self.attention_1 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.attention_2 = layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
        self.dense_proj = keras.Sequential([layers.Dense(dense_dim, activation="relu"),
                                            layers.Dense(embed_dim)])
        self.layernorm_1 = layers.LayerNormalization()
        self.layernorm_2 = layers.LayerNormalization()
        self.layernorm_3 = layers.LayerNormalization()
        self.supports_masking = True

    def call(self, inputs, encoder_outputs=None, mask=None):
        if encoder_outputs is None:
            inputs, encoder_outputs = inputs
        attention_output_1 = self.attention_1(query=inputs, value=inputs, key=inputs,
                                              use_causal_mask=True)
        attention_output_1 = self.layernorm_1(inputs + attention_output_1)
        attention_output_2 = self.attention_2(query=attention_output_1, value=encoder_outputs,
                                              key=encoder_outputs)
        attention_output_2 = self.layernorm_2(attention_output_1 + attention_output_2)
        proj_output = self.dense_proj(attention_output_2)
        return self.layernorm_3(attention_output_2 + proj_output)


class PositionalEmbedding(layers.Layer):
    def __init__(self, sequence_length, input_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.token_embeddings = layers.Embedding(input_dim=input_dim, output_dim=output_dim)
        self.position_embeddings = layers.Embedding(input_dim=sequence_length,
                                                    output_dim=output_dim)
        self.sequence_length, self.input_dim, self.output_dim = \
            sequence_length, input_dim, output_dim

    def call(self, inputs):
        length = keras.ops.shape(inputs)[-1]
        positions = np.arange(0, length, 1)
        return self.token_embeddings(inputs) + self.position_embeddings(positions)

    def compute_mask(self, inputs, mask=None):
        return keras.ops.not_equal(inputs, 0)

    def get_config(self):
        config = super().get_config()
        config.update({"output_dim": self.output_dim, "sequence_length": self.sequence_length,
                       "input_dim": self.input_dim})
        return config


VOCAB, LENGTH, EMBED, DENSE, HEADS = 50, 8, 8, 16, 2


def test_transformer_encoder_classifies_saves_and_loads(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = PositionalEmbedding(LENGTH, VOCAB, EMBED)(inputs)
    x = TransformerEncoder(EMBED, DENSE, HEADS)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="binary_crossentropy", metrics=["accuracy"])
    # the encoder's parameters: Keras's count for these sizes
    assert model.layers[2].count_params() == 4 * (EMBED * HEADS * EMBED + HEADS * EMBED) \
        - HEADS * EMBED + EMBED + (EMBED * DENSE + DENSE + DENSE * EMBED + EMBED) + 4 * EMBED
    rng = np.random.default_rng(0)
    x_train = rng.integers(1, VOCAB, (64, LENGTH))
    x_train[:32, 6:] = 0
    y_train = (x_train[:, 0] > VOCAB // 2).astype("float32")
    position_table = model.layers[1].position_embeddings.embeddings.numpy()
    history = model.fit(x_train, y_train, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # the position embedding, called on constant positions, trains too
    assert not np.allclose(model.layers[1].position_embeddings.embeddings.numpy(),
                           position_table)
    path = tmp_path / "encoder.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={
        "TransformerEncoder": TransformerEncoder, "PositionalEmbedding": PositionalEmbedding})
    np.testing.assert_allclose(loaded.predict(x_train[:4], verbose=0),
                               model.predict(x_train[:4], verbose=0), rtol=1e-5, atol=1e-6)
    # batches of other lengths run (the dense projection was built from data)
    assert model.predict(x_train[:3, :5], verbose=0).shape == (3, 1)


def test_transformer_decoder_with_causal_mask_trains():
    keras.utils.set_random_seed(1)
    encoder_inputs = keras.Input(shape=(None,), dtype="int64", name="english")
    x = PositionalEmbedding(LENGTH, VOCAB, EMBED)(encoder_inputs)
    encoder_outputs = TransformerEncoder(EMBED, DENSE, HEADS)(x)
    decoder_inputs = keras.Input(shape=(None,), dtype="int64", name="spanish")
    x = PositionalEmbedding(LENGTH, VOCAB, EMBED)(decoder_inputs)
    x = TransformerDecoder(EMBED, DENSE, HEADS)([x, encoder_outputs])
    x = layers.Dropout(0.5)(x)
    decoder_outputs = layers.Dense(VOCAB, activation="softmax")(x)
    transformer = keras.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    transformer.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"])
    rng = np.random.default_rng(0)
    source = rng.integers(1, VOCAB, (32, LENGTH))
    target = np.concatenate([np.ones((32, 1), np.int64), source[:, :-1]], axis=1)
    history = transformer.fit({"english": source, "spanish": target}, source, epochs=6,
                              batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    # causal: a decoder step's prediction does not read later target steps
    probe = target[:2].copy()
    before = transformer.predict([source[:2], probe], verbose=0)[:, :3]
    probe[:, 3:] = rng.integers(1, VOCAB, (2, LENGTH - 3))
    after = transformer.predict([source[:2], probe], verbose=0)[:, :3]
    np.testing.assert_allclose(before, after, rtol=1e-5, atol=1e-6)
