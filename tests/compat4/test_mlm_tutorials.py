"""Machine Learning Mastery's Keras tutorials (Jason Brownlee), each run with
only its imports changed to pynn's, at tiny sizes on synthetic data in place
of the downloads: Pima-style MLPs with checkpoints and JSON files, the LSTM
forecasting family, encoder-decoders, stateful LSTMs, word models, GANs,
ensembles, learning-rate callbacks."""
import math
import os
import pickle

import numpy as np
import pytest

import pynn
import pynn as tf
from pynn.keras import backend as K
from pynn.keras.callbacks import Callback, EarlyStopping, LearningRateScheduler, ModelCheckpoint
from pynn.keras.constraints import Constraint, maxnorm
from pynn.keras.layers import (LSTM, Activation, Add, AveragePooling2D, BatchNormalization, Bidirectional, Concatenate,
                               Conv1D, Conv2D, Conv2DTranspose, ConvLSTM2D, Dense, Dropout,
                               Embedding, Flatten, Input, Lambda, Layer, LeakyReLU, MaxPooling1D,
                               RepeatVector, Reshape, SimpleRNN, TimeDistributed, add,
                               UpSampling2D, concatenate)
from pynn.keras.models import Model, Sequential, load_model, model_from_json
from pynn.keras.initializers import RandomNormal
from pynn.keras.optimizers import SGD, Adam, RMSprop
from pynn.keras.preprocessing.sequence import pad_sequences
from pynn.keras.preprocessing.text import Tokenizer, hashing_trick, one_hot, text_to_word_sequence
from pynn.keras.regularizers import l1, l1_l2, l2
from pynn.keras.utils import to_categorical


@pytest.fixture(autouse=True)
def _seed():
    pynn.utils.set_random_seed(1)
    np.random.seed(1)


def _pima(n=60):
    X = np.random.rand(n, 8)
    return X, (X.sum(1) > 4).astype(float)


def split_sequence(sequence, n_steps):
    X, y = list(), list()
    for i in range(len(sequence)):
        end_ix = i + n_steps
        if end_ix > len(sequence) - 1:
            break
        X.append(sequence[i:end_ix])
        y.append(sequence[end_ix])
    return np.array(X), np.array(y)


# --- Pima MLPs: checkpoints, JSON, YAML, dropout with max-norm ---------------

def test_checkpoint_filepath_template_and_best_weights(tmp_path):
    X, y = _pima()
    model = Sequential()
    model.add(Dense(12, input_dim=8, activation='relu'))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    filepath = str(tmp_path / "weights-improvement-{epoch:02d}-{val_accuracy:.2f}.hdf5")
    checkpoint = ModelCheckpoint(filepath, monitor='val_accuracy', verbose=0,
                                 save_best_only=True, mode='max')
    history = model.fit(X, y, validation_split=0.33, epochs=3, batch_size=10,
                        callbacks=[checkpoint], verbose=0)
    names = sorted(os.listdir(tmp_path))
    assert names and names[0].startswith("weights-improvement-01-")
    best = max(history.history['val_accuracy'])
    assert names[-1].endswith("-%.2f.hdf5" % best)
    # "weights.best.hdf5": the best epoch's weights, loaded into a fresh model
    best_path = str(tmp_path / "weights.best.hdf5")
    history = model.fit(X, y, validation_split=0.33, epochs=3, batch_size=10, verbose=0,
                        callbacks=[ModelCheckpoint(best_path, monitor='val_loss',
                                                   save_best_only=True, mode='min')])
    fresh = Sequential([Dense(12, input_dim=8, activation='relu'),
                        Dense(1, activation='sigmoid')])
    fresh.load_weights(best_path)
    fresh.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    # the last third held out: the file holds the epoch of the lowest val_loss
    val_loss = fresh.evaluate(X[40:], y[40:], verbose=0)[0]
    np.testing.assert_allclose(val_loss, min(history.history['val_loss']), rtol=1e-5)


def test_model_to_json_and_back_and_yaml_removed_as_tf(tmp_path):
    X, y = _pima(20)
    model = Sequential([Dense(12, input_dim=8, activation='relu'), Dense(1, activation='sigmoid')])
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    model.fit(X, y, epochs=1, verbose=0)
    (tmp_path / "model.json").write_text(model.to_json())
    model.save_weights(str(tmp_path / "model.h5"))
    loaded_model = model_from_json((tmp_path / "model.json").read_text())
    loaded_model.load_weights(str(tmp_path / "model.h5"))
    loaded_model.compile(loss='binary_crossentropy', optimizer='rmsprop', metrics=['accuracy'])
    np.testing.assert_allclose(loaded_model.predict(X, verbose=0), model.predict(X, verbose=0))
    # TensorFlow 2.6 removed YAML: both names raise RuntimeError saying so
    with pytest.raises(RuntimeError, match=r"to_yaml\(\)` has been removed.*to_json"):
        model.to_yaml()
    from pynn.keras.models import model_from_yaml
    with pytest.raises(RuntimeError, match=r"model_from_yaml\(\)` has been removed"):
        model_from_yaml("x")
    with pytest.raises(RuntimeError, match="removed"):
        tf.keras.models.model_from_yaml("x")


def test_dropout_with_keras2_maxnorm_alias():
    X, y = _pima()
    model = Sequential()
    model.add(Dropout(0.2, input_shape=(8,)))
    model.add(Dense(16, activation='relu', kernel_constraint=maxnorm(1)))
    model.add(Dense(1, activation='sigmoid', kernel_constraint='maxnorm'))
    sgd = SGD(learning_rate=0.5, momentum=0.9)
    model.compile(loss='binary_crossentropy', optimizer=sgd, metrics=['accuracy'])
    model.fit(X, y, epochs=2, batch_size=10, verbose=0)
    norms = np.linalg.norm(model.layers[1].get_weights()[0], axis=0)
    assert norms.max() <= 1.0 + 1e-5
    assert isinstance(model.layers[2].kernel_constraint, tf.keras.constraints.MaxNorm)
    assert tf.keras.constraints.nonneg is tf.keras.constraints.NonNeg
    assert tf.keras.constraints.unitnorm is tf.keras.constraints.UnitNorm


def test_grid_search_with_keras_classifier():
    pytest.importorskip("sklearn")
    from sklearn.model_selection import GridSearchCV
    from pynn.keras.wrappers.scikit_learn import KerasClassifier
    X, y = _pima(30)

    def create_model(optimizer='adam', weight_constraint=1):
        model = Sequential()
        model.add(Dense(4, input_dim=8, kernel_initializer='uniform', activation='relu',
                        kernel_constraint=maxnorm(weight_constraint)))
        model.add(Dense(1, kernel_initializer='uniform', activation='sigmoid'))
        model.compile(loss='binary_crossentropy', optimizer=optimizer, metrics=['accuracy'])
        return model
    model = KerasClassifier(build_fn=create_model, epochs=1, batch_size=10, verbose=0)
    param_grid = dict(optimizer=['SGD', 'Adam'], weight_constraint=[1, 2])
    grid_result = GridSearchCV(estimator=model, param_grid=param_grid, n_jobs=1, cv=2).fit(X, y)
    assert len(grid_result.cv_results_['params']) == 4
    assert 0.0 <= grid_result.best_score_ <= 1.0


# --- LSTM forecasting --------------------------------------------------------

def test_univariate_lstm_family_forecasts():
    raw_seq = [10, 20, 30, 40, 50, 60, 70, 80, 90]
    n_steps, n_features = 3, 1
    X, y = split_sequence(raw_seq, n_steps)
    X = X.reshape((X.shape[0], X.shape[1], n_features))
    x_input = np.array([70, 80, 90]).reshape((1, n_steps, n_features))
    for kind in ("vanilla", "stacked", "bidirectional"):
        model = Sequential()
        if kind == "vanilla":
            model.add(LSTM(20, activation='relu', input_shape=(n_steps, n_features)))
        elif kind == "stacked":
            model.add(LSTM(20, activation='relu', return_sequences=True,
                           input_shape=(n_steps, n_features)))
            model.add(LSTM(20, activation='relu'))
        else:
            model.add(Bidirectional(LSTM(20, activation='relu'),
                                    input_shape=(n_steps, n_features)))
        model.add(Dense(1))
        model.compile(optimizer='adam', loss='mse')
        history = model.fit(X, y, epochs=3, verbose=0)
        assert len(history.history['loss']) == 3
        assert model.predict(x_input, verbose=0).shape == (1, 1)
    # CNN-LSTM: subsequences of two steps, a TimeDistributed CNN reads each
    n_seq, n_steps = 2, 2
    X, y = split_sequence(raw_seq, 4)
    model = Sequential()
    model.add(TimeDistributed(Conv1D(filters=8, kernel_size=1, activation='relu'),
                              input_shape=(None, n_steps, n_features)))
    model.add(TimeDistributed(MaxPooling1D(pool_size=2)))
    model.add(TimeDistributed(Flatten()))
    model.add(LSTM(20, activation='relu'))
    model.add(Dense(1))
    model.compile(optimizer='adam', loss='mse')
    model.fit(X.reshape((X.shape[0], n_seq, n_steps, n_features)), y, epochs=2, verbose=0)
    x_input = np.array([60, 70, 80, 90]).reshape((1, n_seq, n_steps, n_features))
    assert model.predict(x_input, verbose=0).shape == (1, 1)
    # ConvLSTM: rows of one, columns of two steps
    model = Sequential()
    model.add(ConvLSTM2D(filters=8, kernel_size=(1, 2), activation='relu',
                         input_shape=(n_seq, 1, n_steps, n_features)))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(optimizer='adam', loss='mse')
    assert model.output_shape == (None, 1)
    model.fit(X.reshape((X.shape[0], n_seq, 1, n_steps, n_features)), y, epochs=2, verbose=0)
    assert model.predict(x_input.reshape((1, n_seq, 1, n_steps, n_features)),
                         verbose=0).shape == (1, 1)


def test_multi_head_cnn_and_multi_output_for_multivariate_series():
    n_steps = 3
    in_seq1 = np.arange(10, 100, 10, dtype=float)
    in_seq2 = in_seq1 + 5
    out_seq = in_seq1 + in_seq2
    dataset = np.hstack([s.reshape(-1, 1) for s in (in_seq1, in_seq2, out_seq)])
    X = np.array([dataset[i:i + n_steps, :-1] for i in range(len(dataset) - n_steps + 1)])
    y = np.array([dataset[i + n_steps - 1, -1] for i in range(len(dataset) - n_steps + 1)])
    heads, visibles = [], []
    for i in range(2):
        visible = Input(shape=(n_steps, 1))
        cnn = Conv1D(filters=8, kernel_size=2, activation='relu')(visible)
        cnn = MaxPooling1D(pool_size=2)(cnn)
        heads.append(Flatten()(cnn))
        visibles.append(visible)
    merge = concatenate(heads)
    output = Dense(1)(Dense(16, activation='relu')(merge))
    model = Model(inputs=visibles, outputs=output)
    model.compile(optimizer='adam', loss='mse')
    model.fit([X[:, :, 0:1], X[:, :, 1:2]], y, epochs=2, verbose=0)
    assert model.predict([X[:1, :, 0:1], X[:1, :, 1:2]], verbose=0).shape == (1, 1)
    # one output per parallel series
    visible = Input(shape=(n_steps, 3))
    cnn = Flatten()(MaxPooling1D(pool_size=2)(Conv1D(8, 2, activation='relu')(visible)))
    cnn = Dense(16, activation='relu')(cnn)
    outputs = [Dense(1)(cnn) for _ in range(3)]
    model = Model(inputs=visible, outputs=outputs)
    model.compile(optimizer='adam', loss='mse')
    X3 = np.array([dataset[i:i + n_steps] for i in range(len(dataset) - n_steps)])
    y3 = dataset[n_steps:]
    history = model.fit(X3, [y3[:, 0], y3[:, 1], y3[:, 2]], epochs=2, verbose=0)
    assert list(history.history) == ['loss'] + [layer.name + '_loss' for layer in model.layers[-3:]]
    assert [p.shape for p in model.predict(X3[:1], verbose=0)] == [(1, 1)] * 3


def test_encoder_decoder_and_lstm_autoencoder():
    n_steps_in, n_steps_out = 3, 2
    X = np.random.rand(6, n_steps_in, 1)
    y = np.random.rand(6, n_steps_out, 1)
    model = Sequential()
    model.add(LSTM(16, activation='relu', input_shape=(n_steps_in, 1)))
    model.add(RepeatVector(n_steps_out))
    model.add(LSTM(16, activation='relu', return_sequences=True))
    model.add(TimeDistributed(Dense(1)))
    model.compile(optimizer='adam', loss='mse')
    model.fit(X, y, epochs=2, verbose=0)
    assert model.predict(X[:1], verbose=0).shape == (1, n_steps_out, 1)
    # composite autoencoder: reconstruct and predict, then keep the encoder
    sequence = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9])
    n_in = len(sequence)
    sequence = sequence.reshape((1, n_in, 1))
    visible = Input(shape=(n_in, 1))
    encoder = LSTM(16, activation='relu')(visible)
    decoder1 = RepeatVector(n_in)(encoder)
    decoder1 = LSTM(16, activation='relu', return_sequences=True)(decoder1)
    decoder1 = TimeDistributed(Dense(1))(decoder1)
    seq_out = sequence[:, 1:, :]
    decoder2 = RepeatVector(n_in - 1)(encoder)
    decoder2 = LSTM(16, activation='relu', return_sequences=True)(decoder2)
    decoder2 = TimeDistributed(Dense(1))(decoder2)
    model = Model(inputs=visible, outputs=[decoder1, decoder2])
    model.compile(optimizer='adam', loss='mse')
    model.fit(sequence, [sequence, seq_out], epochs=2, verbose=0)
    assert [a.shape for a in model.predict(sequence, verbose=0)] == [(1, 9, 1), (1, 8, 1)]
    encoder_model = Model(inputs=model.inputs, outputs=model.layers[1].output)
    assert encoder_model.predict(sequence, verbose=0).shape == (1, 16)


def test_return_sequences_and_return_state():
    inputs1 = Input(shape=(3, 1))
    lstm1, state_h, state_c = LSTM(1, return_sequences=True, return_state=True)(inputs1)
    model = Model(inputs=inputs1, outputs=[lstm1, state_h, state_c])
    data = np.array([0.1, 0.2, 0.3]).reshape((1, 3, 1))
    seq, h, c = model.predict(data, verbose=0)
    assert seq.shape == (1, 3, 1) and h.shape == (1, 1) and c.shape == (1, 1)
    np.testing.assert_allclose(seq[:, -1], h, rtol=1e-6)


def test_seq2seq_training_model_and_step_by_step_inference_agree():
    n_input = n_output = 6
    n_units = 8
    encoder_inputs = Input(shape=(None, n_input))
    encoder = LSTM(n_units, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    encoder_states = [state_h, state_c]
    decoder_inputs = Input(shape=(None, n_output))
    decoder_lstm = LSTM(n_units, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = Dense(n_output, activation='softmax')
    decoder_outputs = decoder_dense(decoder_outputs)
    model = Model([encoder_inputs, decoder_inputs], decoder_outputs)
    encoder_model = Model(encoder_inputs, encoder_states)
    decoder_state_input_h = Input(shape=(n_units,))
    decoder_state_input_c = Input(shape=(n_units,))
    decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
    decoder_outputs, state_h, state_c = decoder_lstm(decoder_inputs,
                                                     initial_state=decoder_states_inputs)
    decoder_outputs = decoder_dense(decoder_outputs)
    decoder_model = Model([decoder_inputs] + decoder_states_inputs,
                          [decoder_outputs] + [state_h, state_c])
    model.compile(optimizer='adam', loss='categorical_crossentropy', metrics=['accuracy'])
    X1 = to_categorical(np.random.randint(0, n_input, (10, 5)), n_input)
    X2 = to_categorical(np.random.randint(0, n_input, (10, 3)), n_input)
    y = to_categorical(np.random.randint(0, n_input, (10, 3)), n_input)
    model.fit([X1, X2], y, epochs=2, verbose=0)
    full = model.predict([X1[:1], X2[:1]], verbose=0)
    state = encoder_model.predict(X1[:1], verbose=0)
    steps = []
    for t in range(3):
        yhat, h, c = decoder_model.predict([X2[:1, t:t + 1]] + state, verbose=0)
        state = [h, c]
        steps.append(yhat[0, 0])
    np.testing.assert_allclose(np.array(steps), full[0], atol=1e-5)


def test_stateful_lstm_epochs_in_a_loop_and_batch_size_change():
    X = np.random.rand(9, 1, 1)
    y = np.random.rand(9, 1)
    n_batch = 3
    model = Sequential()
    model.add(LSTM(4, batch_input_shape=(n_batch, X.shape[1], X.shape[2]), stateful=True,
                   return_sequences=True))
    model.add(LSTM(4, batch_input_shape=(n_batch, X.shape[1], X.shape[2]), stateful=True))
    model.add(Dense(1))
    model.compile(loss='mean_squared_error', optimizer='adam')
    for i in range(2):
        model.fit(X, y, epochs=1, batch_size=n_batch, verbose=0, shuffle=False)
        model.reset_states()
    p1 = model.predict(X, batch_size=n_batch, verbose=0)
    model.reset_states()
    np.testing.assert_allclose(model.predict(X, batch_size=n_batch, verbose=0), p1, rtol=1e-6)
    with pytest.raises(ValueError, match="stateful with a batch size of 3"):
        model.predict(X[:1], batch_size=1, verbose=0)
    # re-define the network for one-sample batches and copy the weights
    new_model = Sequential()
    new_model.add(LSTM(4, batch_input_shape=(1, 1, 1), stateful=True, return_sequences=True))
    new_model.add(LSTM(4, stateful=True))
    new_model.add(Dense(1))
    new_model.set_weights(model.get_weights())
    new_model.compile(loss='mean_squared_error', optimizer='adam')
    yhat = new_model.predict(X[0].reshape(1, 1, 1), batch_size=1, verbose=0)
    # both start from zero states: the first sample's forecast is the same
    np.testing.assert_allclose(yhat[0, 0], p1[0, 0], rtol=1e-5)


# --- NLP ---------------------------------------------------------------------

DOCS = ['Well done!', 'Good work', 'Great effort', 'nice work', 'Excellent!', 'Weak',
        'Poor effort!', 'not good', 'poor work', 'Could have done better.']
LABELS = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0, 0])


def test_word_embeddings_with_one_hot_and_pretrained_table():
    vocab_size = 50
    encoded_docs = [one_hot(d, vocab_size) for d in DOCS]
    assert all(1 <= i < vocab_size for doc in encoded_docs for i in doc)
    padded_docs = pad_sequences(encoded_docs, maxlen=4, padding='post')
    model = Sequential()
    with pytest.warns(UserWarning, match="input_length"):
        model.add(Embedding(vocab_size, 8, input_length=4))
    model.add(Flatten())
    model.add(Dense(1, activation='sigmoid'))
    model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
    model.fit(padded_docs, LABELS, epochs=3, verbose=0)
    assert 0 <= model.evaluate(padded_docs, LABELS, verbose=0)[1] <= 1
    t = Tokenizer()
    t.fit_on_texts(DOCS)
    vocab_size = len(t.word_index) + 1
    embedding_matrix = np.random.rand(vocab_size, 10)
    e = Embedding(vocab_size, 10, weights=[embedding_matrix], trainable=False)
    model = Sequential([e, Flatten(), Dense(1, activation='sigmoid')])
    model.compile(optimizer='adam', loss='binary_crossentropy', metrics=['accuracy'])
    model.fit(pad_sequences(t.texts_to_sequences(DOCS), maxlen=4, padding='post'), LABELS,
              epochs=1, verbose=0)
    np.testing.assert_array_equal(model.layers[0].get_weights()[0],
                                  embedding_matrix.astype(np.float32))
    text = 'The quick brown fox jumped over the lazy dog.'
    words = set(text_to_word_sequence(text))
    assert len(words) == 8
    hashed = hashing_trick(text, round(len(words) * 1.3), hash_function='md5')
    assert len(hashed) == 9 and hashed[0] == hashed[6]       # "the" twice
    assert t.document_count == 10 and t.word_counts['work'] == 3
    matrix = t.texts_to_matrix(['Well done!', 'Good work'], mode='count')
    assert matrix.shape == (2, vocab_size) and matrix.sum() == 4


def test_word_level_model_with_keras2_input_length_1_on_a_vector_of_ids(tmp_path):
    # "one word in, one word out": the ids are a vector, the Embedding says
    # input_length=1, an LSTM reads its output (tf.keras 2 made the vector
    # a column)
    text = ("jack and jill went up the hill to fetch a pail of water jack fell down "
            "and broke his crown and jill came tumbling after")
    tokenizer = Tokenizer()
    tokenizer.fit_on_texts([text])
    encoded = tokenizer.texts_to_sequences([text])[0]
    vocab_size = len(tokenizer.word_index) + 1
    sequences = np.array([encoded[i - 1:i + 1] for i in range(1, len(encoded))])
    X, y = sequences[:, 0], to_categorical(sequences[:, 1], num_classes=vocab_size)
    model = Sequential()
    with pytest.warns(UserWarning, match="input_length"):
        model.add(Embedding(vocab_size, 10, input_length=1))
    model.add(LSTM(16))
    model.add(Dense(vocab_size, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    model.fit(X, y, epochs=2, verbose=0)
    assert model.input_shape == (None, 1)
    encoded = np.array(tokenizer.texts_to_sequences(['jack'])[0])
    yhat = np.argmax(model.predict(encoded, verbose=0), axis=-1)
    assert yhat.shape == (1,)
    np.testing.assert_allclose(model.predict(encoded[:, None], verbose=0),
                               model.predict(encoded, verbose=0))
    model.save(str(tmp_path / 'model.h5'))
    with open(tmp_path / 'tokenizer.pkl', 'wb') as f:
        pickle.dump(tokenizer, f)
    with open(tmp_path / 'tokenizer.pkl', 'rb') as f:
        tokenizer2 = pickle.load(f)
    assert tokenizer2.texts_to_sequences(['jack fell']) == \
        tokenizer.texts_to_sequences(['jack fell'])
    np.testing.assert_allclose(load_model(str(tmp_path / 'model.h5')).predict(encoded, verbose=0),
                               model.predict(encoded, verbose=0), rtol=1e-6)
    # the Keras 3 reading is kept where input_length is not given
    plain = Sequential([Embedding(vocab_size, 4), Dense(2)])
    assert plain.predict(X[:3], verbose=0).shape == (3, 2)


def test_char_level_text_generation():
    raw_text = "sing a song of sixpence, a pocket full of rye. four and twenty blackbirds"
    length = 10
    sequences = [raw_text[i - length:i + 1] for i in range(length, len(raw_text))]
    chars = sorted(list(set(raw_text)))
    mapping = dict((c, i) for i, c in enumerate(chars))
    seqs = np.array([[mapping[c] for c in s] for s in sequences])
    X = np.array([to_categorical(x, num_classes=len(mapping)) for x in seqs[:, :-1]])
    y = to_categorical(seqs[:, -1], num_classes=len(mapping))
    model = Sequential()
    model.add(LSTM(24, input_shape=(X.shape[1], X.shape[2])))
    model.add(Dense(len(mapping), activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    model.fit(X, y, epochs=2, verbose=0)
    in_text = 'Sing a son'
    for _ in range(3):
        encoded = pad_sequences([[mapping[c] for c in in_text.lower()]], maxlen=length,
                                truncating='pre')
        encoded = to_categorical(encoded, num_classes=len(mapping))
        assert encoded.shape == (1, length, len(mapping))
        yhat = int(np.argmax(model.predict(encoded, verbose=0), axis=-1)[0])
        in_text += chars[yhat]
    assert len(in_text) == 13


def test_caption_merge_model_and_custom_attention_layer():
    inputs1 = Input(shape=(64,))
    fe2 = Dense(16, activation='relu')(Dropout(0.5)(inputs1))
    inputs2 = Input(shape=(5,))
    se1 = Embedding(20, 16, mask_zero=True)(inputs2)
    se3 = LSTM(16)(Dropout(0.5)(se1))
    decoder2 = Dense(16, activation='relu')(add([fe2, se3]))
    outputs = Dense(20, activation='softmax')(decoder2)
    model = Model(inputs=[inputs1, inputs2], outputs=outputs)
    model.compile(loss='categorical_crossentropy', optimizer='adam')
    X1, X2 = np.random.rand(8, 64), np.random.randint(0, 20, (8, 5))
    model.fit([X1, X2], to_categorical(np.random.randint(0, 20, 8), 20), epochs=1, verbose=0)
    assert model.predict([X1[:1], X2[:1]], verbose=0).shape == (1, 20)

    class attention(Layer):
        def __init__(self, **kwargs):
            super(attention, self).__init__(**kwargs)

        def build(self, input_shape):
            self.W = self.add_weight(name='attention_weight', shape=(input_shape[-1], 1),
                                     initializer='random_normal', trainable=True)
            self.b = self.add_weight(name='attention_bias', shape=(input_shape[1], 1),
                                     initializer='zeros', trainable=True)
            super(attention, self).build(input_shape)

        def call(self, x):
            e = K.tanh(K.dot(x, self.W) + self.b)
            e = K.squeeze(e, axis=-1)
            alpha = K.expand_dims(K.softmax(e), axis=-1)
            return K.sum(x * alpha, axis=1)
    x = Input(shape=(5, 1))
    rnn = SimpleRNN(8, return_sequences=True, activation='tanh')(x)
    model = Model(x, Dense(1, activation='tanh')(attention()(rnn)))
    model.compile(loss='mse', optimizer='adam')
    assert model.count_params() == 80 + 8 + 5 + 9
    h = model.fit(np.random.rand(16, 5, 1), np.random.rand(16), epochs=3, batch_size=4, verbose=0)
    assert h.history['loss'][-1] < h.history['loss'][0]


# --- GANs ----------------------------------------------------------------------

def test_1d_gan_discriminator_trains_alone_frozen_in_the_composite():
    def define_discriminator(n_inputs=2):
        model = Sequential()
        model.add(Dense(25, activation='relu', kernel_initializer='he_uniform',
                        input_dim=n_inputs))
        model.add(Dense(1, activation='sigmoid'))
        model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
        return model

    def define_generator(latent_dim, n_outputs=2):
        model = Sequential()
        model.add(Dense(15, activation='relu', kernel_initializer='he_uniform',
                        input_dim=latent_dim))
        model.add(Dense(n_outputs, activation='linear'))
        return model

    def define_gan(generator, discriminator):
        discriminator.trainable = False
        model = Sequential()
        model.add(generator)
        model.add(discriminator)
        model.compile(loss='binary_crossentropy', optimizer='adam')
        return model
    latent_dim = 5
    d, g = define_discriminator(), define_generator(latent_dim)
    gan = define_gan(g, d)
    for _ in range(2):
        X1 = np.random.rand(16) - 0.5
        x_real = np.hstack((X1.reshape(16, 1), (X1 * X1).reshape(16, 1)))
        before = [w.copy() for w in d.get_weights()]
        loss, acc = d.train_on_batch(x_real, np.ones((16, 1)))
        # compiled while trainable: it still trains on its own
        assert any(not np.array_equal(a, b) for a, b in zip(before, d.get_weights()))
        x_fake = g.predict(np.random.randn(16, latent_dim), verbose=0)
        d.train_on_batch(x_fake, np.zeros((16, 1)))
        d_before = [w.copy() for w in d.get_weights()]
        g_before = [w.copy() for w in g.get_weights()]
        gan.train_on_batch(np.random.randn(16, latent_dim), np.ones((16, 1)))
        assert all(np.array_equal(a, b) for a, b in zip(d_before, d.get_weights()))
        assert any(not np.array_equal(a, b) for a, b in zip(g_before, g.get_weights()))
    assert gan.count_params() == d.count_params() + g.count_params()


def test_dcgan_and_conditional_gan(tmp_path):
    def define_discriminator(in_shape=(8, 8, 1)):
        model = Sequential()
        model.add(Conv2D(8, (3, 3), strides=(2, 2), padding='same', input_shape=in_shape))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Dropout(0.4))
        model.add(Flatten())
        model.add(Dense(1, activation='sigmoid'))
        model.compile(loss='binary_crossentropy', optimizer=Adam(lr=0.0002, beta_1=0.5),
                      metrics=['accuracy'])
        return model

    def define_generator(latent_dim):
        model = Sequential()
        model.add(Dense(8 * 2 * 2, input_dim=latent_dim))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Reshape((2, 2, 8)))
        model.add(Conv2DTranspose(8, (4, 4), strides=(2, 2), padding='same'))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Conv2DTranspose(8, (4, 4), strides=(2, 2), padding='same'))
        model.add(LeakyReLU(alpha=0.2))
        model.add(Conv2D(1, (3, 3), activation='tanh', padding='same'))
        return model
    d, g = define_discriminator(), define_generator(4)
    assert g.output_shape == (None, 8, 8, 1)
    d.trainable = False
    gan = Sequential([g, d])
    gan.compile(loss='binary_crossentropy', optimizer=Adam(lr=0.0002, beta_1=0.5))
    d_loss, _ = d.train_on_batch(np.random.rand(8, 8, 8, 1) * 2 - 1, np.ones((8, 1)))
    g_loss = gan.train_on_batch(np.random.randn(8, 4), np.ones((8, 1)))
    assert np.isfinite(d_loss) and np.isfinite(g_loss)
    filename = str(tmp_path / ('generator_model_%03d.h5' % 1))
    g.save(filename)
    z = np.random.randn(2, 4)
    np.testing.assert_allclose(load_model(filename).predict(z, verbose=0),
                               g.predict(z, verbose=0), atol=1e-6)
    # conditional: the class label through an Embedding, as a feature map
    n_classes = 3
    in_label = Input(shape=(1,))
    li = Reshape((8, 8, 1))(Dense(64)(Embedding(n_classes, 10)(in_label)))
    in_image = Input(shape=(8, 8, 1))
    fe = LeakyReLU(alpha=0.2)(Conv2D(8, (3, 3), strides=(2, 2), padding='same')(
        Concatenate()([in_image, li])))
    out_layer = Dense(1, activation='sigmoid')(Dropout(0.4)(Flatten()(fe)))
    cd = Model([in_image, in_label], out_layer)
    cd.compile(loss='binary_crossentropy', optimizer=Adam(lr=0.0002, beta_1=0.5),
               metrics=['accuracy'])
    in_label = Input(shape=(1,))
    li = Reshape((4, 4, 1))(Dense(16)(Embedding(n_classes, 10)(in_label)))
    in_lat = Input(shape=(4,))
    gen = Reshape((4, 4, 8))(LeakyReLU(alpha=0.2)(Dense(8 * 4 * 4)(in_lat)))
    gen = LeakyReLU(alpha=0.2)(Conv2DTranspose(8, (4, 4), strides=(2, 2), padding='same')(
        Concatenate()([gen, li])))
    cg = Model([in_lat, in_label], Conv2D(1, (3, 3), activation='tanh', padding='same')(gen))
    cd.trainable = False
    gen_noise, gen_label = cg.input
    cgan = Model([gen_noise, gen_label], cd([cg.output, gen_label]))
    cgan.compile(loss='binary_crossentropy', optimizer=Adam(lr=0.0002, beta_1=0.5))
    labels = np.random.randint(0, n_classes, 8)
    loss, acc = cd.train_on_batch([np.random.rand(8, 8, 8, 1), labels], np.ones((8, 1)))
    before = [w.copy() for w in cd.get_weights()]
    assert np.isfinite(cgan.train_on_batch([np.random.randn(8, 4), labels], np.ones((8, 1))))
    assert all(np.array_equal(a, b) for a, b in zip(before, cd.get_weights()))


class InstanceNormalization(Layer):
    """The hand-written instance normalization of the CycleGAN tutorial."""

    def __init__(self, axis=-1, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.axis, self.epsilon = axis, epsilon

    def build(self, input_shape):
        self.gamma = self.add_weight(shape=(input_shape[-1],), initializer='ones', name='gamma')
        self.beta = self.add_weight(shape=(input_shape[-1],), initializer='zeros', name='beta')

    def call(self, inputs):
        mean = K.mean(inputs, axis=[1, 2], keepdims=True)
        std = K.std(inputs, axis=[1, 2], keepdims=True) + self.epsilon
        return self.gamma * (inputs - mean) / std + self.beta

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, epsilon=self.epsilon)
        return config


def test_pix2pix_patchgan_with_hand_written_instance_norm(tmp_path):
    in_src_image, in_target_image = Input(shape=(8, 8, 3)), Input(shape=(8, 8, 3))
    merged = Concatenate()([in_src_image, in_target_image])
    d = LeakyReLU(alpha=0.2)(Conv2D(8, (4, 4), strides=(2, 2), padding='same')(merged))
    d = LeakyReLU(alpha=0.2)(InstanceNormalization(axis=-1)(Conv2D(8, (4, 4), padding='same')(d)))
    patch_out = Activation('sigmoid')(Conv2D(1, (4, 4), padding='same')(d))
    d_model = Model([in_src_image, in_target_image], patch_out)
    d_model.compile(loss='binary_crossentropy', optimizer=Adam(lr=0.0002, beta_1=0.5),
                    loss_weights=[0.5])
    in_image = Input(shape=(8, 8, 3))
    e1 = LeakyReLU(alpha=0.2)(Conv2D(8, (4, 4), strides=(2, 2), padding='same')(in_image))
    e2 = Conv2D(16, (4, 4), strides=(2, 2), padding='same')(e1)
    e2 = LeakyReLU(alpha=0.2)(BatchNormalization()(e2, training=True))
    d1 = Conv2DTranspose(8, (4, 4), strides=(2, 2), padding='same')(e2)
    d1 = Dropout(0.5)(BatchNormalization()(d1, training=True), training=True)
    d1 = Activation('relu')(Concatenate()([d1, e1]))
    out_image = Activation('tanh')(Conv2DTranspose(3, (4, 4), strides=(2, 2),
                                                   padding='same')(d1))
    g_model = Model(in_image, out_image)
    for layer in d_model.layers:
        if not isinstance(layer, BatchNormalization):
            layer.trainable = False
    in_src = Input(shape=(8, 8, 3))
    gen_out = g_model(in_src)
    model = Model(in_src, [d_model([in_src, gen_out]), gen_out])
    model.compile(loss=['binary_crossentropy', 'mae'], optimizer=Adam(lr=0.0002, beta_1=0.5),
                  loss_weights=[1, 100])
    X1, X2 = np.random.rand(2, 8, 8, 3) * 2 - 1, np.random.rand(2, 8, 8, 3) * 2 - 1
    n_patch = d_model.output_shape[1]
    y_real = np.ones((2, n_patch, n_patch, 1))
    d_loss = d_model.train_on_batch([X1, X2], y_real)
    # loss_weights=[0.5] halves the one loss (about log 2 / 2 at the start)
    assert 0.2 < d_loss < 0.5
    before = [w.copy() for w in d_model.get_weights()]
    g_loss, d_part, l1_part = model.train_on_batch(X1, [y_real, X2])
    np.testing.assert_allclose(g_loss, d_part + 100 * l1_part, rtol=1e-4)
    assert all(np.array_equal(a, b) for a, b in zip(before, d_model.get_weights()))
    d_model.save(str(tmp_path / 'd.h5'))
    cust = {'InstanceNormalization': InstanceNormalization}
    loaded = load_model(str(tmp_path / 'd.h5'), cust, compile=False)
    np.testing.assert_allclose(loaded.predict([X1, X2], verbose=0),
                               d_model.predict([X1, X2], verbose=0), atol=1e-5)


def test_vae_with_lambda_sampling_and_add_loss():
    latent_dim = 2
    inputs = Input(shape=(16,), name='encoder_input')
    x = Dense(8, activation='relu')(inputs)
    z_mean = Dense(latent_dim, name='z_mean')(x)
    z_log_var = Dense(latent_dim, name='z_log_var')(x)

    def sampling(args):
        z_mean, z_log_var = args
        batch = K.shape(z_mean)[0]
        dim = K.int_shape(z_mean)[1]
        epsilon = K.random_normal(shape=(batch, dim))
        return z_mean + K.exp(0.5 * z_log_var) * epsilon
    z = Lambda(sampling, output_shape=(latent_dim,), name='z')([z_mean, z_log_var])
    encoder = Model(inputs, [z_mean, z_log_var, z], name='encoder')
    latent_inputs = Input(shape=(latent_dim,), name='z_sampling')
    decoder = Model(latent_inputs,
                    Dense(16, activation='sigmoid')(Dense(8, activation='relu')(latent_inputs)),
                    name='decoder')
    outputs = decoder(encoder(inputs)[2])
    vae = Model(inputs, outputs, name='vae_mlp')
    from pynn.keras.losses import mse
    reconstruction_loss = mse(inputs, outputs) * 16
    kl_loss = -0.5 * K.sum(1 + z_log_var - K.square(z_mean) - K.exp(z_log_var), axis=-1)
    vae.add_loss(K.mean(reconstruction_loss + kl_loss))
    vae.compile(optimizer='adam')
    X = np.random.rand(32, 16).astype('float32')
    history = vae.fit(X, epochs=2, batch_size=8, validation_data=(X, None), verbose=0)
    assert set(history.history) == {'loss', 'val_loss'}
    assert encoder.predict(X[:3], verbose=0)[2].shape == (3, 2)


# --- ensembles, layer-wise pretraining, learning rates -----------------------

def _blobs():
    X = np.random.rand(30, 2).astype('float32')
    return X, to_categorical(np.random.randint(0, 3, 30), 3)


def _fit_member(X, y):
    model = Sequential()
    model.add(Dense(8, input_dim=2, activation='relu'))
    model.add(Dense(3, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    model.fit(X, y, epochs=1, verbose=0)
    return model


def test_stacking_ensemble_renames_loaded_members_with_private_name(tmp_path):
    X, y = _blobs()
    for i in range(3):
        _fit_member(X, y).save(str(tmp_path / ('model_%d.h5' % (i + 1))))
    members = [load_model(str(tmp_path / ('model_%d.h5' % (i + 1)))) for i in range(3)]
    for i, model in enumerate(members):
        for layer in model.layers:
            layer.trainable = False
            layer._name = 'ensemble_' + str(i + 1) + '_' + layer.name
    assert members[1].layers[0].name.startswith('ensemble_2_dense')
    assert members[1].layers[0]._name == members[1].layers[0].name
    ensemble_visible = [model.input for model in members]
    merge = concatenate([model.output for model in members])
    output = Dense(3, activation='softmax')(Dense(10, activation='relu')(merge))
    model = Model(inputs=ensemble_visible, outputs=output)
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    names = [layer.name for layer in model.layers]
    assert sum(n.startswith('ensemble_') for n in names) == 6
    assert model.get_layer(names[3]) is members[0].layers[0]
    frozen = [w.copy() for w in members[0].get_weights()]
    model.fit([X] * 3, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(frozen, members[0].get_weights()))
    assert model.predict([X] * 3, verbose=0).shape == (30, 3)
    model.save(str(tmp_path / 'stacked.h5'))
    again = load_model(str(tmp_path / 'stacked.h5'))
    assert [layer.name for layer in again.layers] == names


def test_greedy_layer_wise_pretraining_pop_and_re_add_output():
    X, y = _blobs()
    model = Sequential()
    model.add(Dense(10, input_dim=2, activation='relu', kernel_initializer='he_uniform'))
    model.add(Dense(3, activation='softmax'))
    model.compile(loss='categorical_crossentropy', optimizer='sgd', metrics=['accuracy'])
    model.fit(X, y, epochs=1, verbose=0)
    for n in range(2):
        output_layer = model.layers[-1]
        model.pop()
        for layer in model.layers:
            layer.trainable = False
        model.add(Dense(10, activation='relu', kernel_initializer='he_uniform'))
        model.add(output_layer)
        model.compile(loss='categorical_crossentropy', optimizer='sgd', metrics=['accuracy'])
        first = model.layers[0].get_weights()[0].copy()
        model.fit(X, y, epochs=1, verbose=0)
        np.testing.assert_array_equal(first, model.layers[0].get_weights()[0])
        assert len(model.layers) == 3 + n
    assert model.layers[-1] is output_layer


def test_snapshot_ensemble_sets_lr_and_lr_monitor_reads_it(tmp_path):
    X, y = _blobs()

    class SnapshotEnsemble(Callback):
        def __init__(self, n_epochs, n_cycles, lrate_max):
            self.epochs, self.cycles, self.lr_max = n_epochs, n_cycles, lrate_max
            self.lrates = list()

        def on_epoch_begin(self, epoch, logs={}):
            epochs_per_cycle = math.floor(self.epochs / self.cycles)
            cos_inner = (math.pi * (epoch % epochs_per_cycle)) / epochs_per_cycle
            lr = self.lr_max / 2 * (math.cos(cos_inner) + 1)
            K.set_value(self.model.optimizer.lr, lr)
            self.lrates.append(lr)

        def on_epoch_end(self, epoch, logs={}):
            epochs_per_cycle = math.floor(self.epochs / self.cycles)
            if epoch != 0 and (epoch + 1) % epochs_per_cycle == 0:
                self.model.save(str(tmp_path / ("snapshot_model_%d.h5" %
                                                int((epoch + 1) / epochs_per_cycle))))
    model = _fit_member(X, y)
    model.compile(loss='categorical_crossentropy', optimizer=SGD(momentum=0.9),
                  metrics=['accuracy'])
    ca = SnapshotEnsemble(4, 2, 0.01)
    model.fit(X, y, validation_data=(X, y), epochs=4, verbose=0, callbacks=[ca])
    np.testing.assert_allclose(ca.lrates, [0.01, 0.005, 0.01, 0.005], rtol=1e-6)
    assert float(K.get_value(model.optimizer.lr)) == pytest.approx(0.005)
    assert sorted(os.listdir(tmp_path)) == ['snapshot_model_1.h5', 'snapshot_model_2.h5']

    def step_decay(epoch):
        return 0.1 * math.pow(0.5, math.floor((1 + epoch) / 1.0))

    class LearningRateMonitor(Callback):
        def on_train_begin(self, logs={}):
            self.lrates = list()

        def on_epoch_end(self, epoch, logs={}):
            self.lrates.append(float(K.get_value(self.model.optimizer.lr)))
    lm = LearningRateMonitor()
    model.compile(loss='categorical_crossentropy', optimizer=SGD(lr=0.1, momentum=0.9))
    model.fit(X, y, epochs=3, verbose=0, callbacks=[LearningRateScheduler(step_decay), lm])
    np.testing.assert_allclose(lm.lrates, [0.05, 0.025, 0.0125], rtol=1e-6)


def test_regularization_batchnorm_clipping_and_learning_curves():
    X = np.random.rand(40, 2)
    y = (X[:, 0] > X[:, 1]).astype(float)
    model = Sequential()
    model.add(Dense(10, input_dim=2, activation='relu',
                    kernel_regularizer=l1_l2(l1=0.01, l2=0.01)))
    model.add(BatchNormalization())
    model.add(Dense(10, kernel_regularizer=l2(0.001), activity_regularizer=l1(0.0001)))
    model.add(BatchNormalization())
    model.add(Activation('relu'))
    model.add(Dense(1, activation='sigmoid'))
    model.compile(loss='binary_crossentropy', metrics=['accuracy'],
                  optimizer=SGD(lr=0.01, momentum=0.9, clipnorm=1.0))
    history = model.fit(X, y, validation_data=(X, y), epochs=2, verbose=0)
    assert sorted(history.history) == ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    # the reported loss holds the penalties: above the bare cross-entropy
    bce = tf.keras.losses.binary_crossentropy(y[:, None], model.predict(X, verbose=0))
    assert model.evaluate(X, y, verbose=0)[0] > float(np.mean(bce))
    model.compile(loss='mean_squared_error', optimizer=SGD(lr=0.01, momentum=0.9, clipvalue=0.5))
    es = EarlyStopping(monitor='val_loss', mode='min', patience=1)
    history = model.fit(X, y, validation_data=(X, y), epochs=2, verbose=0, callbacks=[es])
    assert len(history.history['loss']) == len(history.history['val_loss']) >= 1


# --- progressive growing GAN, WGAN, semi-supervised GAN ----------------------

class WeightedSum(Add):
    """The progressive GAN's fade-in: Add with its _merge_function replaced."""

    def __init__(self, alpha=0.0, **kwargs):
        super(WeightedSum, self).__init__(**kwargs)
        self.alpha = K.variable(alpha, name='ws_alpha')

    def _merge_function(self, inputs):
        assert (len(inputs) == 2)
        return ((1.0 - self.alpha) * inputs[0]) + (self.alpha * inputs[1])


class PixelNormalization(Layer):
    def call(self, inputs):
        mean_values = K.mean(inputs ** 2.0, axis=-1, keepdims=True)
        mean_values += 1.0e-8
        return inputs / K.sqrt(mean_values)

    def compute_output_shape(self, input_shape):
        return input_shape


class MinibatchStdev(Layer):
    def call(self, inputs):
        mean = K.mean(inputs, axis=0, keepdims=True)
        mean_sq_diff = K.mean(K.square(inputs - mean), axis=0, keepdims=True)
        mean_sq_diff += 1e-8
        mean_pix = K.mean(K.sqrt(mean_sq_diff), keepdims=True)
        shape = K.shape(inputs)
        output = K.tile(mean_pix, (shape[0], shape[1], shape[2], 1))
        return K.concatenate([inputs, output], axis=-1)

    def compute_output_shape(self, input_shape):
        input_shape = list(input_shape)
        input_shape[-1] += 1
        return tuple(input_shape)


def wasserstein_loss(y_true, y_pred):
    return K.mean(y_true * y_pred)


def test_progressive_gan_fade_in_merge_function_and_custom_layers():
    in_image = Input(shape=(8, 8, 3))
    old = AveragePooling2D()(in_image)
    new = AveragePooling2D()(Conv2D(3, (1, 1))(UpSampling2D()(old)))
    merged = WeightedSum()([old, new])
    d = Conv2D(4, (1, 1), padding='same')(merged)
    d = MinibatchStdev()(LeakyReLU(alpha=0.2)(d))
    d = PixelNormalization()(Conv2D(4, (3, 3), padding='same')(d))
    out_class = Dense(1)(Flatten()(LeakyReLU(alpha=0.2)(d)))
    model = Model(in_image, out_class)
    model.compile(loss=wasserstein_loss,
                  optimizer=Adam(lr=0.001, beta_1=0, beta_2=0.99, epsilon=10e-8))
    def first(cls):
        return next(layer for layer in model.layers if isinstance(layer, cls))
    assert first(MinibatchStdev).output_shape == (None, 4, 4, 5)
    x = np.random.rand(2, 8, 8, 3).astype('float32')
    fade = Model(in_image, merged)
    old_only, new_only = Model(in_image, old).predict(x, verbose=0), \
        Model(in_image, new).predict(x, verbose=0)
    np.testing.assert_allclose(fade.predict(x, verbose=0), old_only, atol=1e-6)

    def update_fadein(models, step, n_steps):
        alpha = step / float(n_steps - 1)
        for m in models:
            for layer in m.layers:
                if isinstance(layer, WeightedSum):
                    K.set_value(layer.alpha, alpha)
    update_fadein([model], 1, 3)
    np.testing.assert_allclose(fade.predict(x, verbose=0), (old_only + new_only) / 2, atol=1e-6)
    update_fadein([model], 2, 3)
    np.testing.assert_allclose(fade.predict(x, verbose=0), new_only, atol=1e-6)
    # the gradient reaches the layers before the fade-in, on the new path
    conv = first(Conv2D)
    assert conv.input_shape == (None, 8, 8, 3)
    before = conv.get_weights()[0].copy()
    assert np.isfinite(model.train_on_batch(x, -np.ones((2, 1))))
    assert not np.array_equal(before, conv.get_weights()[0])
    # pixel norm: each pixel's channel vector has unit root-mean-square
    pixels = Model(in_image, first(PixelNormalization).output).predict(x, verbose=0)
    np.testing.assert_allclose(np.sqrt(np.mean(pixels ** 2, axis=-1)), 1.0, rtol=1e-3)


def test_wgan_critic_clip_constraint_and_semi_supervised_shared_layers():
    class ClipConstraint(Constraint):
        def __init__(self, clip_value):
            self.clip_value = clip_value

        def __call__(self, weights):
            return K.clip(weights, -self.clip_value, self.clip_value)

        def get_config(self):
            return {'clip_value': self.clip_value}
    model = Sequential()
    model.add(Conv2D(8, (4, 4), strides=(2, 2), padding='same', input_shape=(8, 8, 1),
                     kernel_initializer=RandomNormal(stddev=0.5),
                     kernel_constraint=ClipConstraint(0.01)))
    model.add(BatchNormalization())
    model.add(LeakyReLU(alpha=0.2))
    model.add(Flatten())
    model.add(Dense(1))
    model.compile(loss=wasserstein_loss, optimizer=RMSprop(lr=0.00005))
    loss = model.train_on_batch(np.random.rand(4, 8, 8, 1), -np.ones((4, 1)))
    assert np.isfinite(loss)
    assert np.abs(model.layers[0].get_weights()[0]).max() <= 0.01 + 1e-7

    def custom_activation(output):
        logexpsum = K.sum(K.exp(output), axis=-1, keepdims=True)
        return logexpsum / (logexpsum + 1.0)
    in_image = Input(shape=(8, 8, 1))
    fe = LeakyReLU(alpha=0.2)(Conv2D(8, (3, 3), strides=(2, 2), padding='same')(in_image))
    fe = Dense(3)(Dropout(0.4)(Flatten()(fe)))
    c_model = Model(in_image, Activation('softmax')(fe))
    c_model.compile(loss='sparse_categorical_crossentropy', metrics=['accuracy'],
                    optimizer=Adam(lr=0.0002, beta_1=0.5))
    d_model = Model(in_image, Lambda(custom_activation)(fe))
    d_model.compile(loss='binary_crossentropy', optimizer=Adam(lr=0.0002, beta_1=0.5))
    X = np.random.rand(4, 8, 8, 1)
    c_model.train_on_batch(X, np.array([0, 1, 2, 1]))
    before = [w.copy() for w in c_model.get_weights()]
    d_model.train_on_batch(X, np.ones((4, 1)))
    # the two heads share the feature layers: training one moves the other
    assert all(not np.array_equal(a, b) for a, b in zip(before, c_model.get_weights()))
    logits = Model(in_image, fe).predict(X, verbose=0)
    z = np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(d_model.predict(X, verbose=0), z / (z + 1), rtol=1e-5)


# --- metrics -------------------------------------------------------------------

def test_regression_metrics_by_tf_keras_2_names_and_custom_rmse(tmp_path):
    def rmse(y_true, y_pred):
        return K.sqrt(K.mean(K.square(y_pred - y_true), axis=-1))
    X = np.random.rand(20, 3)
    y = np.stack([X.sum(1), X[:, 0] - X[:, 1]], axis=1)
    model = Sequential([Dense(4, input_dim=3), Dense(2)])
    model.compile(loss='mse', optimizer='adam',
                  metrics=['mse', 'mae', 'mape', 'cosine_proximity', rmse])
    history = model.fit(X, y, epochs=2, batch_size=len(X), verbose=0)
    assert list(history.history) == ['loss', 'mse', 'mae', 'mape', 'cosine_proximity', 'rmse']
    _, mse, mae, mape, cosine, r = model.evaluate(X, y, batch_size=len(X), verbose=0)
    p = model.predict(X, verbose=0).astype(np.float64)
    np.testing.assert_allclose(mse, np.mean((p - y) ** 2), rtol=1e-4)
    np.testing.assert_allclose(mae, np.mean(np.abs(p - y)), rtol=1e-4)
    # tf.keras 2's cosine_proximity metric is the (positive) cosine similarity
    unit = np.linalg.norm
    expected = np.mean(np.sum(p * y, 1) / (unit(p, axis=1) * unit(y, axis=1)))
    np.testing.assert_allclose(cosine, expected, rtol=1e-4)
    np.testing.assert_allclose(r, np.mean(np.sqrt(np.mean((p - y) ** 2, axis=1))), rtol=1e-4)
    model.compile(loss='mse', optimizer='adam', metrics=['cosine'])
    model.save(str(tmp_path / 'm.h5'))
    again = load_model(str(tmp_path / 'm.h5'))
    np.testing.assert_allclose(again.evaluate(X, y, batch_size=len(X), verbose=0)[1], cosine,
                               rtol=1e-4)
