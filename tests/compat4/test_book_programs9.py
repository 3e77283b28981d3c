"""Programs of Laurence Moroney's "AI and Machine Learning for Coders" and
the TensorFlow in Practice notebooks, of "Hands-On Computer Vision with
TensorFlow 2" (Planche & Andres) and of "Practical Deep Learning for
Cloud, Mobile and Edge" (Koul et al.), run with only their imports changed
(``import pynn as tf``), at tiny sizes on synthetic data where the books
download some.  Expected values are the books' printed outputs, Keras 3 on
its NumPy backend, tf.keras 2 where the program relies on it, or NumPy."""
import io
import os

import numpy as np
import pytest

import pynn as tf
from pynn import keras
from keras_reference import keras as real_keras, needs_keras

Image = pytest.importorskip("PIL.Image")


def _image_folders(root, splits, classes, n, size=(40, 40), suffix="png", seed=0):
    rng = np.random.default_rng(seed)
    for split in splits:
        for cls in classes:
            folder = os.path.join(root, split, cls)
            os.makedirs(folder)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
                    os.path.join(folder, f"{cls}{i}.{suffix}"))


# ------------------------------- Moroney ch. 3: horses or humans, callbacks

def test_horses_or_humans_from_directories_stops_at_an_accuracy(tmp_path):
    from pynn.keras.optimizers import RMSprop
    from pynn.keras.preprocessing.image import ImageDataGenerator
    from pynn.keras.preprocessing import image
    _image_folders(str(tmp_path), ["train", "validation"], ["horses", "humans"], 6)
    stopped = []

    class myCallback(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs={}):
            if (logs.get('accuracy') >= 0.0):
                stopped.append((epoch, sorted(logs)))
                print("\nReached the accuracy so cancelling training!")
                self.model.stop_training = True

    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv2D(8, (3, 3), activation='relu', input_shape=(30, 30, 3)),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Conv2D(16, (3, 3), activation='relu'),
        tf.keras.layers.MaxPooling2D(2, 2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(16, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')
    ])
    model.compile(loss='binary_crossentropy', optimizer=RMSprop(learning_rate=0.001),
                  metrics=['accuracy'])
    train_datagen = ImageDataGenerator(
        rescale=1 / 255, rotation_range=40, width_shift_range=0.2, height_shift_range=0.2,
        shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode='nearest')
    train_generator = train_datagen.flow_from_directory(
        str(tmp_path / "train"), target_size=(30, 30), batch_size=4, class_mode='binary')
    validation_datagen = ImageDataGenerator(rescale=1 / 255)
    validation_generator = validation_datagen.flow_from_directory(
        str(tmp_path / "validation"), target_size=(30, 30), batch_size=4, class_mode='binary')
    assert train_generator.class_indices == {'horses': 0, 'humans': 1}
    assert train_generator.samples == 12 and len(train_generator) == 3
    history = model.fit(train_generator, steps_per_epoch=3, epochs=5, verbose=0,
                        validation_data=validation_generator, validation_steps=3,
                        callbacks=[myCallback()])
    # the callback saw the epoch's training and validation logs, and stopped it
    assert stopped == [(0, ['accuracy', 'loss', 'val_accuracy', 'val_loss'])]
    assert history.epoch == [0] and len(history.history['val_accuracy']) == 1
    # the book's single-image prediction
    img = image.load_img(str(tmp_path / "validation" / "horses" / "horses0.png"),
                         target_size=(30, 30))
    x = image.img_to_array(img)
    x = np.expand_dims(x, axis=0)
    images = np.vstack([x])
    classes = model.predict(images, batch_size=10, verbose=0)
    assert classes.shape == (1, 1) and 0.0 <= classes[0] <= 1.0
    np.testing.assert_allclose(classes, model(x).numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------ Moroney ch. 5-6: Tokenizer and sarcasm

def test_tokenizer_example_prints_the_books_values():
    from pynn.keras.preprocessing.text import Tokenizer
    from pynn.keras.preprocessing.sequence import pad_sequences
    sentences = ['I love my dog', 'I love my cat', 'You love my dog!',
                 'Do you think my dog is amazing?']
    tokenizer = Tokenizer(num_words=100, oov_token="<OOV>")
    tokenizer.fit_on_texts(sentences)
    word_index = tokenizer.word_index
    sequences = tokenizer.texts_to_sequences(sentences)
    padded = pad_sequences(sequences, maxlen=5)
    assert word_index == {'<OOV>': 1, 'my': 2, 'love': 3, 'dog': 4, 'i': 5, 'you': 6,
                          'cat': 7, 'do': 8, 'think': 9, 'is': 10, 'amazing': 11}
    assert sequences == [[5, 3, 2, 4], [5, 3, 2, 7], [6, 3, 2, 4], [8, 6, 9, 2, 4, 10, 11]]
    np.testing.assert_array_equal(padded, [[0, 5, 3, 2, 4], [0, 5, 3, 2, 7],
                                           [0, 6, 3, 2, 4], [9, 2, 4, 10, 11]])
    test_seq = tokenizer.texts_to_sequences(['i really love my dog', 'my dog loves my manatee'])
    assert test_seq == [[5, 1, 3, 2, 4], [2, 4, 1, 2, 1]]
    np.testing.assert_array_equal(pad_sequences(test_seq, maxlen=10)[:, :5], 0)


def test_sarcasm_classifier_and_its_embedding_files(tmp_path):
    from pynn.keras.preprocessing.text import Tokenizer
    from pynn.keras.preprocessing.sequence import pad_sequences
    datastore = [
        {"headline": "former versace store clerk sues over secret 'black code' for minority "
                     "shoppers", "is_sarcastic": 0},
        {"headline": "the 'roseanne' revival catches up to our thorny political mood, for "
                     "better and worse", "is_sarcastic": 0},
        {"headline": "mom starting to fear son's web series closest thing she will have to "
                     "grandchild", "is_sarcastic": 1},
        {"headline": "boehner just wants wife to listen, not come up with alternative "
                     "debt-reduction ideas", "is_sarcastic": 1}] * 5
    sentences = []
    labels = []
    for item in datastore:
        sentences.append(item['headline'])
        labels.append(item['is_sarcastic'])
    vocab_size, embedding_dim, max_length = 1000, 16, 32
    trunc_type, padding_type, oov_tok, training_size = 'post', 'post', "<OOV>", 16
    training_sentences = sentences[0:training_size]
    testing_sentences = sentences[training_size:]
    training_labels = np.array(labels[0:training_size])
    testing_labels = np.array(labels[training_size:])
    tokenizer = Tokenizer(num_words=vocab_size, oov_token=oov_tok)
    tokenizer.fit_on_texts(training_sentences)
    word_index = tokenizer.word_index
    training_padded = np.array(pad_sequences(
        tokenizer.texts_to_sequences(training_sentences), maxlen=max_length,
        padding=padding_type, truncating=trunc_type))
    testing_padded = np.array(pad_sequences(
        tokenizer.texts_to_sequences(testing_sentences), maxlen=max_length,
        padding=padding_type, truncating=trunc_type))
    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(vocab_size, embedding_dim),
        tf.keras.layers.GlobalAveragePooling1D(),
        tf.keras.layers.Dense(24, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')
    ])
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    history = model.fit(training_padded, training_labels, epochs=2, verbose=0,
                        validation_data=(testing_padded, testing_labels))
    assert sorted(history.history) == ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    reverse_word_index = dict([(value, key) for (key, value) in word_index.items()])

    def decode_sentence(text):
        return ' '.join([reverse_word_index.get(i, '?') for i in text])
    assert decode_sentence(training_padded[0]).startswith(
        "former versace store clerk sues over secret 'black code' for minority shoppers ?")
    e = model.layers[0]
    weights = e.get_weights()[0]
    assert weights.shape == (vocab_size, embedding_dim)
    out_v = io.open(tmp_path / 'vecs.tsv', 'w', encoding='utf-8')
    out_m = io.open(tmp_path / 'meta.tsv', 'w', encoding='utf-8')
    for word_num in range(1, len(reverse_word_index) + 1):
        word = reverse_word_index[word_num]
        embeddings = weights[word_num]
        out_m.write(word + "\n")
        out_v.write('\t'.join([str(x) for x in embeddings]) + "\n")
    out_v.close()
    out_m.close()
    rows = (tmp_path / 'vecs.tsv').read_text().splitlines()
    assert len(rows) == len(word_index) and len(rows[0].split('\t')) == embedding_dim
    sentence = ["granny starting to fear spiders in the garden might be real",
                "game of thrones season finale showing this sunday night"]
    padded = pad_sequences(tokenizer.texts_to_sequences(sentence), maxlen=max_length,
                           padding=padding_type, truncating=trunc_type)
    assert model.predict(padded, verbose=0).shape == (2, 1)


# ------------------------------- Moroney ch. 8: poetry with a Bidirectional LSTM

def test_poetry_generator_with_a_dense_layer_of_half_the_vocabulary():
    """``Dense(total_words/2, ...)``: tf.keras 2's Dense cut a float's
    fraction off (Keras 3 refuses it); the notebook's model must build."""
    from pynn.keras.preprocessing.text import Tokenizer
    from pynn.keras.preprocessing.sequence import pad_sequences
    from pynn.keras.layers import Embedding, LSTM, Dense, Bidirectional, Dropout
    from pynn.keras.models import Sequential
    from pynn.keras.optimizers import Adam
    from pynn.keras import regularizers
    data = ("In the town of Athy one Jeremy Lanigan \n Battered away til he hadnt a pound. "
            "\nHis father died and made him a man again \n Left him a farm and ten acres of "
            "ground.")
    tokenizer = Tokenizer()
    corpus = data.lower().split("\n")
    tokenizer.fit_on_texts(corpus)
    total_words = len(tokenizer.word_index) + 1
    assert total_words == 29
    input_sequences = []
    for line in corpus:
        token_list = tokenizer.texts_to_sequences([line])[0]
        for i in range(1, len(token_list)):
            n_gram_sequence = token_list[:i + 1]
            input_sequences.append(n_gram_sequence)
    max_sequence_len = max([len(x) for x in input_sequences])
    input_sequences = np.array(pad_sequences(input_sequences, maxlen=max_sequence_len,
                                             padding='pre'))
    xs, labels = input_sequences[:, :-1], input_sequences[:, -1]
    ys = tf.keras.utils.to_categorical(labels, num_classes=total_words)
    model = Sequential()
    model.add(Embedding(total_words, 16))
    model.add(Bidirectional(LSTM(12, return_sequences=True)))
    model.add(Dropout(0.2))
    model.add(LSTM(8))
    model.add(Dense(total_words / 2, activation='relu',
                    kernel_regularizer=regularizers.l2(0.01)))
    model.add(Dense(total_words, activation='softmax'))
    adam = Adam(learning_rate=0.01)
    model.compile(loss='categorical_crossentropy', optimizer=adam, metrics=['accuracy'])
    model.fit(xs, ys, epochs=1, verbose=0)
    assert model.layers[4].units == 14 and model.layers[4].get_weights()[0].shape == (8, 14)
    assert model.layers[4].get_config()["units"] == 14
    seed_text = "Laurence went to dublin"
    for _ in range(3):
        token_list = tokenizer.texts_to_sequences([seed_text])[0]
        token_list = pad_sequences([token_list], maxlen=max_sequence_len - 1, padding='pre')
        predicted = np.argmax(model.predict(token_list, verbose=0), axis=-1)
        output_word = ""
        for word, index in tokenizer.word_index.items():
            if index == predicted:
                output_word = word
                break
        seed_text += " " + output_word
    words = seed_text.split()
    assert len(words) == 7 and all(w in tokenizer.word_index for w in words[4:])


def test_dense_units_fractions_as_tf_keras_2_and_the_limits():
    assert tf.keras.layers.Dense(14.5).units == 14
    assert tf.keras.layers.Dense(np.float32(3.0)).units == 3
    for bad in (0.5, float("inf"), float("nan"), -2.0, "8"):
        with pytest.raises(ValueError, match="units must be a positive integer"):
            tf.keras.layers.Dense(bad)


# ------------------------------------------- Moroney ch. 9-11: time series

def _synthetic_series():
    def trend(time, slope=0):
        return slope * time

    def seasonal_pattern(season_time):
        return np.where(season_time < 0.4, np.cos(season_time * 2 * np.pi),
                        1 / np.exp(3 * season_time))

    def seasonality(time, period, amplitude=1, phase=0):
        season_time = ((time + phase) % period) / period
        return amplitude * seasonal_pattern(season_time)

    def noise(time, noise_level=1, seed=None):
        rnd = np.random.RandomState(seed)
        return rnd.randn(len(time)) * noise_level
    time = np.arange(4 * 365 + 1, dtype="float32")
    series = 10 + trend(time, 0.05) + seasonality(time, period=365, amplitude=40)
    series += noise(time, 5, seed=42)
    return time, series


def test_the_books_window_example_gives_each_window_once():
    dataset = tf.data.Dataset.range(10)
    dataset = dataset.window(5, shift=1, drop_remainder=True)
    dataset = dataset.flat_map(lambda window: window.batch(5))
    dataset = dataset.map(lambda window: (window[:-1], window[-1:]))
    dataset = dataset.shuffle(buffer_size=10)
    dataset = dataset.batch(2).prefetch(1)
    seen = []
    for x, y in dataset:
        assert x.numpy().shape == (2, 4) and y.numpy().shape == (2, 1)
        np.testing.assert_array_equal(y.numpy()[:, 0], x.numpy()[:, -1] + 1)
        seen += [int(r[0]) for r in x.numpy()]
    assert sorted(seen) == [0, 1, 2, 3, 4, 5]


def windowed_dataset(series, window_size, batch_size, shuffle_buffer):
    dataset = tf.data.Dataset.from_tensor_slices(series)
    dataset = dataset.window(window_size + 1, shift=1, drop_remainder=True)
    dataset = dataset.flat_map(lambda window: window.batch(window_size + 1))
    dataset = dataset.shuffle(shuffle_buffer).map(lambda window: (window[:-1], window[-1]))
    dataset = dataset.batch(batch_size).prefetch(1)
    return dataset


def test_single_layer_regression_on_windows_and_the_naive_forecast():
    time, series = _synthetic_series()
    split_time, window_size = 1000, 20
    x_train, x_valid = series[:split_time], series[split_time:]
    dataset = windowed_dataset(x_train[:200], window_size, 32, 1000)
    x, y = next(iter(dataset))
    assert x.shape == (32, 20) and y.shape == (32,)
    l0 = tf.keras.layers.Dense(1, input_shape=[window_size])
    model = tf.keras.models.Sequential([l0])
    model.compile(loss="mse",
                  optimizer=tf.keras.optimizers.SGD(learning_rate=1e-6, momentum=0.9))
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isfinite(history.history["loss"]).all()
    w, b = l0.get_weights()
    assert w.shape == (20, 1) and b.shape == (1,)
    forecast = model.predict(series[0:window_size][np.newaxis], verbose=0)
    np.testing.assert_allclose(forecast, series[0:window_size][None] @ w + b, rtol=1e-4)
    naive_forecast = series[split_time - 1:-1]
    mse = keras.metrics.mean_squared_error(x_valid, naive_forecast).numpy()
    mae = keras.metrics.mean_absolute_error(x_valid, naive_forecast).numpy()
    np.testing.assert_allclose(mse, np.mean((x_valid - naive_forecast) ** 2), rtol=1e-5)
    np.testing.assert_allclose(mae, np.mean(np.abs(x_valid - naive_forecast)), rtol=1e-5)


def test_bidirectional_lstm_with_lambdas_huber_and_a_learning_rate_sweep():
    time, series = _synthetic_series()
    tf.keras.backend.clear_session()
    tf.random.set_seed(51)
    np.random.seed(51)
    train_set = windowed_dataset(series[:120], 20, batch_size=128, shuffle_buffer=1000)
    model = tf.keras.models.Sequential([
        tf.keras.layers.Lambda(lambda x: tf.expand_dims(x, axis=-1), input_shape=[None]),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(8, return_sequences=True)),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(8)),
        tf.keras.layers.Dense(1),
        tf.keras.layers.Lambda(lambda x: x * 100.0)
    ])
    lr_schedule = tf.keras.callbacks.LearningRateScheduler(
        lambda epoch: 1e-8 * 10 ** (epoch / 20))
    optimizer = tf.keras.optimizers.SGD(learning_rate=1e-8, momentum=0.9)
    model.compile(loss=tf.keras.losses.Huber(), optimizer=optimizer, metrics=["mae"])
    history = model.fit(train_set, epochs=3, callbacks=[lr_schedule], verbose=0)
    # the notebooks plot semilogx(history.history["lr"], history.history["loss"])
    np.testing.assert_allclose(history.history["lr"], 1e-8 * 10 ** (np.arange(3) / 20),
                               rtol=1e-6)
    assert len(history.history["loss"]) == len(history.history["mae"]) == 3
    out = model.predict(series[None, :20], verbose=0)
    assert out.shape == (1, 1)


@needs_keras
def test_huber_loss_as_keras():
    y_true = np.array([[0.0], [1.0], [5.0]], np.float32)
    y_pred = np.array([[0.3], [3.0], [-1.0]], np.float32)
    for delta in (1.0, 2.5):
        ours = tf.keras.losses.Huber(delta=delta)(y_true, y_pred)
        ref = real_keras.losses.Huber(delta=delta)(y_true, y_pred)
        np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-6)


def test_sunspots_conv1d_lstm_with_model_forecast():
    time, series = _synthetic_series()
    window_size = 30

    def windowed_dataset(series, window_size, batch_size, shuffle_buffer):
        series = tf.expand_dims(series, axis=-1)
        ds = tf.data.Dataset.from_tensor_slices(series)
        ds = ds.window(window_size + 1, shift=1, drop_remainder=True)
        ds = ds.flat_map(lambda w: w.batch(window_size + 1))
        ds = ds.shuffle(shuffle_buffer)
        ds = ds.map(lambda w: (w[:-1], w[1:]))
        return ds.batch(batch_size).prefetch(1)

    def model_forecast(model, series, window_size):
        ds = tf.data.Dataset.from_tensor_slices(series)
        ds = ds.window(window_size, shift=1, drop_remainder=True)
        ds = ds.flat_map(lambda w: w.batch(window_size))
        ds = ds.batch(32).prefetch(1)
        forecast = model.predict(ds, verbose=0)
        return forecast

    tf.keras.backend.clear_session()
    train_set = windowed_dataset(series[:100], window_size, batch_size=32, shuffle_buffer=1000)
    x, y = next(iter(train_set))
    assert x.shape == (32, 30, 1) and y.shape == (32, 30, 1)
    np.testing.assert_array_equal(x.numpy()[:, 1:], y.numpy()[:, :-1])
    model = tf.keras.models.Sequential([
        tf.keras.layers.Conv1D(filters=8, kernel_size=5, strides=1, padding="causal",
                               activation="relu", input_shape=[None, 1]),
        tf.keras.layers.LSTM(8, return_sequences=True),
        tf.keras.layers.LSTM(8, return_sequences=True),
        tf.keras.layers.Dense(6, activation="relu"),
        tf.keras.layers.Dense(4, activation="relu"),
        tf.keras.layers.Dense(1),
        tf.keras.layers.Lambda(lambda x: x * 400)
    ])
    optimizer = tf.keras.optimizers.SGD(learning_rate=1e-5, momentum=0.9)
    model.compile(loss=tf.keras.losses.Huber(), optimizer=optimizer, metrics=["mae"])
    model.fit(train_set, epochs=1, verbose=0)
    rnn_forecast = model_forecast(model, series[..., np.newaxis][:70], window_size)
    assert rnn_forecast.shape == (41, 30, 1)
    # the last window's forecast is the model's on that window
    np.testing.assert_allclose(rnn_forecast[-1], model.predict(
        series[None, 40:70, None], verbose=0)[0], rtol=1e-4, atol=1e-4)
    # causal padding: a step's output does not see the steps after it
    a = series[None, :30, None].astype(np.float32)
    b = a.copy()
    b[0, 20:] += 50.0
    pa, pb = model.predict(a, verbose=0), model.predict(b, verbose=0)
    np.testing.assert_allclose(pa[0, :20], pb[0, :20], rtol=1e-5, atol=1e-5)


# ------------------------- TF in Practice, course 3: IMDB subwords, padded_batch

def test_imdb_subwords_padded_batch_with_the_datasets_output_shapes():
    """``padded_batch(BATCH_SIZE, tf.compat.v1.data.get_output_shapes(ds))``:
    the shapes a generator's output_shapes declared, kept through shuffle,
    pad each batch to its longest review."""
    lengths = [3, 8, 5, 4, 7, 6, 3, 5, 8, 4]

    def gen():
        rng = np.random.default_rng(0)
        for i, n in enumerate(lengths):
            yield rng.integers(1, 50, n), i % 2
    train_data = tf.data.Dataset.from_generator(
        gen, output_types=(tf.int64, tf.int64), output_shapes=((None,), ()))
    BUFFER_SIZE, BATCH_SIZE = 10, 4
    train_dataset = train_data.shuffle(BUFFER_SIZE)
    shapes = tf.compat.v1.data.get_output_shapes(train_dataset)
    assert shapes == (tf.TensorShape([None]), tf.TensorShape([]))
    assert tf.compat.v1.data.get_output_types(train_dataset) == (tf.int64, tf.int64)
    assert tf.compat.v1.data.get_output_classes(train_dataset) == (tf.Tensor, tf.Tensor)
    train_dataset = train_dataset.padded_batch(BATCH_SIZE, shapes)
    assert tf.compat.v1.data.get_output_shapes(train_dataset) == \
        (tf.TensorShape([None, None]), tf.TensorShape([None]))
    batches = list(train_dataset.as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    for x, _ in batches:
        assert x.shape[1] == max(np.count_nonzero(row) for row in x)
    test_dataset = train_data.padded_batch(BATCH_SIZE)
    model = tf.keras.Sequential([
        tf.keras.layers.Embedding(50, 8),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(8, return_sequences=True)),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(4)),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    history = model.fit(train_dataset, epochs=1, validation_data=test_dataset, verbose=0)
    assert sorted(history.history) == ['accuracy', 'loss', 'val_accuracy', 'val_loss']
    with pytest.raises(TypeError, match="get_output_shapes: expected a tf.data Dataset"):
        tf.compat.v1.data.get_output_shapes(np.zeros(3))


def test_a_known_element_spec_follows_the_dataset_through_its_stages():
    ds = tf.data.Dataset.from_generator(
        lambda: iter([np.zeros(2), np.zeros(5)]),
        output_signature=tf.TensorSpec(shape=(None,), dtype=tf.float32))
    spec = tf.TensorSpec(shape=(None,), dtype=tf.float32)
    for derived in (ds.shuffle(4), ds.repeat(2), ds.take(1), ds.skip(1), ds.cache(),
                    ds.prefetch(1), ds.filter(lambda x: True), ds.shard(2, 0)):
        assert derived.element_spec == spec
    assert ds.batch(3, drop_remainder=True).element_spec == \
        tf.TensorSpec((3, None), tf.float32)
    assert ds.padded_batch(2, padded_shapes=[6]).element_spec == \
        tf.TensorSpec((None, 6), tf.float32)
    # a map makes new elements: their spec is read from the first again
    assert ds.map(lambda x: x[:1]).element_spec == tf.TensorSpec((1,), tf.float32)
