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


# ------------------------------------------- Planche & Andres ch. 3-4: LeNet, ResNet

def test_lenet5_model_subclass_built_from_a_tensor_shape(tmp_path):
    from pynn.keras import Model
    from pynn.keras.layers import Conv2D, MaxPooling2D, Flatten, Dense

    class LeNet5(Model):
        def __init__(self, num_classes):
            super(LeNet5, self).__init__()
            self.conv1 = Conv2D(6, kernel_size=(5, 5), padding='same', activation='relu')
            self.conv2 = Conv2D(16, kernel_size=(5, 5), activation='relu')
            self.max_pool = MaxPooling2D(pool_size=(2, 2))
            self.flatten = Flatten()
            self.dense1 = Dense(120, activation='relu')
            self.dense2 = Dense(84, activation='relu')
            self.dense3 = Dense(num_classes, activation='softmax')

        def call(self, inputs):
            x = self.max_pool(self.conv1(inputs))
            x = self.max_pool(self.conv2(x))
            x = self.flatten(x)
            x = self.dense3(self.dense2(self.dense1(x)))
            return x

    input_shape = (28, 28, 1)
    rng = np.random.default_rng(0)
    x_train = rng.random((16, 28, 28, 1), dtype=np.float32)
    y_train = rng.integers(0, 10, 16)
    model = LeNet5(10)
    model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy',
                  metrics=['accuracy'])
    batched_input_shape = tf.TensorShape((None, *input_shape))
    model.build(input_shape=batched_input_shape)
    # the book's summary: 61,706 parameters
    assert model.count_params() == 61706
    callbacks = [tf.keras.callbacks.EarlyStopping(patience=3, monitor='val_loss'),
                 tf.keras.callbacks.TensorBoard(log_dir=str(tmp_path / 'logs'),
                                                histogram_freq=1)]
    history = model.fit(x_train, y_train, batch_size=16, epochs=2, verbose=0,
                        validation_data=(x_train[:8], y_train[:8]), callbacks=callbacks)
    assert len(history.history['val_loss']) == 2
    assert any(files for _, _, files in os.walk(tmp_path / 'logs'))


def test_resnet_blocks_of_the_book_as_layer_and_model_subclasses():
    from pynn.keras import Model
    from pynn.keras.layers import (Activation, BatchNormalization, Conv2D, Dense, Input,
                                   Layer, add)

    class ResidualMerge(Layer):
        def __init__(self, name='block', **kwargs):
            super().__init__(name=name)
            self.shortcut = None
            self.kwargs = kwargs

        def build(self, input_shape):
            x_shape = input_shape[0]
            x_residual_shape = input_shape[1]
            if x_shape[1] == x_residual_shape[1] and x_shape[2] == x_residual_shape[2] and \
                    x_shape[3] == x_residual_shape[3]:
                self.shortcut = lambda x: x
            else:
                strides = (int(round(x_shape[1] / x_residual_shape[1])),
                           int(round(x_shape[2] / x_residual_shape[2])))
                x_residual_channels = x_residual_shape[3]
                self.shortcut = Conv2D(filters=x_residual_channels, kernel_size=(1, 1),
                                       strides=strides, name='shortcut_c')

        def call(self, inputs):
            x, x_residual = inputs
            x_shortcut = self.shortcut(x)
            x_merge = add([x_shortcut, x_residual])
            return x_merge

    class ResidualBlock(Model):
        def __init__(self, filters=16, kernel_size=1, strides=1, activation='relu',
                     kernel_initializer='he_normal',
                     kernel_regularizer=tf.keras.regularizers.l2(1e-4), name='res_basic'):
            super().__init__(name=name)
            self.conv_1 = Conv2D(filters=filters, kernel_size=kernel_size, strides=strides,
                                 padding='same', kernel_initializer=kernel_initializer,
                                 kernel_regularizer=kernel_regularizer, name='cb_1_c')
            self.bn_1 = BatchNormalization(axis=-1, name='cb_1_bn')
            self.act_1 = Activation(activation, name='cb_1_act')
            self.conv_2 = Conv2D(filters=filters, kernel_size=kernel_size, strides=1,
                                 padding='same', kernel_initializer=kernel_initializer,
                                 kernel_regularizer=kernel_regularizer, name='cb_2_c')
            self.bn_2 = BatchNormalization(axis=-1, name='cb_2_bn')
            self.merge = ResidualMerge()
            self.act_2 = Activation(activation, name='block_act')

        def call(self, inputs, training=None):
            x = self.conv_1(inputs)
            x = self.bn_1(x, training=training)
            x = self.act_1(x)
            x = self.conv_2(x)
            x = self.bn_2(x, training=training)
            x = self.merge([inputs, x])
            x = self.act_2(x)
            return x

    inp = Input(shape=(16, 16, 3))
    x = Conv2D(8, 3, padding='same')(inp)
    x = ResidualBlock(filters=8, kernel_size=3, name='rb1')(x)
    x = ResidualBlock(filters=16, kernel_size=3, strides=2, name='rb2')(x)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    out = Dense(3, activation='softmax')(x)
    resnet = Model(inp, out)
    # identity shortcut in rb1; a strided 1x1 convolution (144 weights) in rb2
    assert resnet.get_layer('rb1').count_params() == 2 * (9 * 8 * 8 + 8) + 2 * 4 * 8
    assert resnet.get_layer('rb2').count_params() == \
        (9 * 8 * 16 + 16) + (9 * 16 * 16 + 16) + 2 * 4 * 16 + (8 * 16 + 16)
    assert resnet.get_layer('rb2').output.shape == (None, 8, 8, 16)
    assert len(resnet.losses) == 4  # the four regularized kernels
    resnet.compile(optimizer='adam', loss='sparse_categorical_crossentropy', metrics=['acc'])
    history = resnet.fit(np.random.rand(8, 16, 16, 3), np.arange(8) % 3, epochs=1, verbose=0)
    assert np.isfinite(history.history['loss'][0])


# ----------------------------------------- Planche & Andres ch. 7: tf.data images

def test_image_pipeline_from_files_with_augmentations_and_a_tfrecord(tmp_path):
    import glob
    _image_folders(str(tmp_path), ["."], ["cat", "dog"], 3, size=(20, 24), suffix="jpg")
    _image_folders(str(tmp_path), ["png"], ["cat", "dog"], 3, size=(20, 24), seed=1)
    root_folder = str(tmp_path)
    CLASS_NAMES = ["cat", "dog"]

    def get_label(file_path):
        parts = tf.strings.split(file_path, os.path.sep)
        return parts[-2] == CLASS_NAMES

    def parse_function(filename):
        image_string = tf.io.read_file(filename)
        image_decoded = tf.io.decode_jpeg(image_string, channels=3)
        image_float = tf.image.convert_image_dtype(image_decoded, tf.float32)
        image_resized = tf.image.resize(image_float, [16, 16])
        return image_resized

    def load_and_label(filename):
        return parse_function(filename), tf.cast(get_label(filename), tf.float32)

    def augment(image, label):
        image = tf.image.random_flip_left_right(image)
        image = tf.image.random_brightness(image, max_delta=0.1)
        image = tf.image.random_contrast(image, 0.8, 1.2)
        image = tf.image.random_saturation(image, 0.8, 1.2)
        image = tf.image.random_hue(image, 0.05)
        image = tf.image.random_crop(image, [14, 14, 3])
        image = tf.image.resize_with_crop_or_pad(image, 16, 16)
        image = tf.clip_by_value(image, 0.0, 1.0)
        return image, label

    files = tf.data.Dataset.list_files(os.path.join(root_folder, "*", "*.jpg"), shuffle=False)
    names = [f.numpy() for f in files]
    assert len(names) == 6 and all(n.endswith(b".jpg") for n in names)
    image, label = load_and_label(names[0])
    assert image.shape == (16, 16, 3) and image.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(image)) and float(tf.reduce_max(image)) <= 1.0
    np.testing.assert_array_equal(label.numpy(), [1.0, 0.0])  # .../cat/cat0.jpg
    dataset = tf.data.Dataset.list_files(os.path.join(root_folder, "*", "*.jpg"))
    dataset = dataset.map(load_and_label, num_parallel_calls=2)
    dataset = dataset.map(augment, num_parallel_calls=tf.data.experimental.AUTOTUNE)
    dataset = dataset.shuffle(buffer_size=100).repeat().batch(4).prefetch(1)
    images, labels = next(iter(dataset))
    assert images.shape == (4, 16, 16, 3) and labels.shape == (4, 2)
    np.testing.assert_array_equal(labels.numpy().sum(axis=1), 1.0)
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(4, 3, activation='relu', input_shape=(16, 16, 3)),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(2, activation='softmax')])
    model.compile('adam', 'categorical_crossentropy', metrics=['accuracy'])
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history['loss'][0])

    # the same images through a TFRecord file of PNG bytes
    def _bytes_feature(value):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))

    def _int64_feature(value):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    png_files = sorted(glob.glob(os.path.join(root_folder, "png", "*", "*.png")))
    record = str(tmp_path / 'data.tfrecord')
    with tf.io.TFRecordWriter(record) as writer:
        for f in png_files:
            img_bytes = open(f, 'rb').read()
            label = CLASS_NAMES.index(os.path.basename(os.path.dirname(f)))
            features = tf.train.Features(feature={'img': _bytes_feature(img_bytes),
                                                  'label': _int64_feature(label)})
            writer.write(tf.train.Example(features=features).SerializeToString())
    feature_description = {'img': tf.io.FixedLenFeature([], tf.string),
                           'label': tf.io.FixedLenFeature([], tf.int64)}

    def parse_record(example_proto):
        parsed = tf.io.parse_single_example(example_proto, feature_description)
        img = tf.io.decode_png(parsed['img'], channels=3)
        return img, parsed['label']
    decoded = list(tf.data.TFRecordDataset(record).map(parse_record).as_numpy_iterator())
    assert [int(y) for _, y in decoded] == [0, 0, 0, 1, 1, 1]
    for (img, _), f in zip(decoded, png_files):
        np.testing.assert_array_equal(img, np.asarray(Image.open(f)))


# ------------------------------ Planche & Andres ch. 6: FCN-8s, U-Net, a VAE

def test_fcn8s_on_vgg16_with_the_books_segmentation_loss_and_metrics():
    from pynn.keras.applications.vgg16 import VGG16
    from pynn.keras.layers import Conv2D, Conv2DTranspose, Input, add
    from pynn.keras.models import Model

    def fcn_8s(image_size, ch_in=3, ch_out=3):
        inputs = Input(shape=(*image_size, ch_in), name='input')
        vgg16 = VGG16(include_top=False, weights=None, input_tensor=inputs)
        pool3 = vgg16.get_layer('block3_pool').output
        pool4 = vgg16.get_layer('block4_pool').output
        pool5 = vgg16.get_layer('block5_pool').output
        conv6 = Conv2D(filters=16, kernel_size=7, padding='same', activation='relu',
                       name='conv6')(pool5)
        conv7 = Conv2D(filters=16, kernel_size=1, padding='same', activation='relu',
                       name='conv7')(conv6)
        pool5_class = Conv2D(filters=ch_out, kernel_size=1, padding='same',
                             activation='relu')(conv7)
        pool4_class = Conv2D(filters=ch_out, kernel_size=1, padding='same',
                             activation='relu')(pool4)
        pool5_upsample = Conv2DTranspose(filters=ch_out, kernel_size=4, strides=2,
                                         use_bias=False, padding='same',
                                         activation='relu')(pool5_class)
        fuse_2 = add([pool5_upsample, pool4_class])
        pool3_class = Conv2D(filters=ch_out, kernel_size=1, padding='same',
                             activation='relu')(pool3)
        fuse_2_upsample = Conv2DTranspose(filters=ch_out, kernel_size=4, strides=2,
                                          use_bias=False, padding='same',
                                          activation='relu')(fuse_2)
        fuse_3 = add([fuse_2_upsample, pool3_class])
        outputs = Conv2DTranspose(filters=ch_out, kernel_size=16, strides=8, use_bias=False,
                                  padding='same', activation='softmax')(fuse_3)
        return Model(inputs, outputs)

    def dice_loss(y_true, y_pred, eps=1e-6, spatial_axes=[1, 2], from_logits=False):
        num_classes = y_pred.shape[-1]
        y_true = tf.one_hot(tf.cast(y_true[..., 0], tf.int32), num_classes)
        if from_logits:
            y_pred = tf.nn.softmax(y_pred)
        intersection = tf.reduce_sum(y_true * y_pred, axis=spatial_axes)
        union = tf.reduce_sum(y_true + y_pred, axis=spatial_axes)
        dice = (2. * intersection + eps) / (union + eps)
        return 1. - tf.reduce_mean(dice, axis=-1)

    class SegmentationLoss(tf.keras.losses.Loss):
        def __init__(self, weight_dice=0.5, weight_ce=0.5, from_logits=False,
                     name='segmentation_loss', **kwargs):
            super().__init__(name=name, **kwargs)
            self.weight_dice = weight_dice
            self.weight_ce = weight_ce
            self.from_logits = from_logits
            self.cross_entropy = tf.keras.losses.SparseCategoricalCrossentropy(
                from_logits=from_logits)

        def call(self, y_true, y_pred):
            loss = 0
            if self.weight_dice > 0:
                loss += self.weight_dice * dice_loss(y_true, y_pred,
                                                     from_logits=self.from_logits)
            if self.weight_ce > 0:
                loss += self.weight_ce * tf.reduce_mean(self.cross_entropy(y_true, y_pred))
            return loss

    class SegmentationAccuracy(tf.metrics.Accuracy):
        def __init__(self, name='acc', dtype=None):
            super().__init__(name=name, dtype=dtype)

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = tf.math.argmax(y_pred, axis=-1)
            return super().update_state(y_true[..., 0], y_pred, sample_weight)

    class SegmentationMeanIoU(tf.metrics.MeanIoU):
        def __init__(self, num_classes, name='mIoU', dtype=None):
            super().__init__(num_classes=num_classes, name=name, dtype=dtype)

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_pred = tf.math.argmax(y_pred, axis=-1)
            return super().update_state(y_true[..., 0], y_pred, sample_weight)

    model = fcn_8s((32, 32), ch_out=4)
    assert model.output_shape == (None, 32, 32, 4)
    rng = np.random.default_rng(0)
    x = rng.random((2, 32, 32, 3), dtype=np.float32)
    y = rng.integers(0, 4, (2, 32, 32, 1))
    # the loss and the metrics against NumPy on one prediction
    pred = model.predict(x, verbose=0)
    onehot = np.eye(4)[y[..., 0]]
    dice = (2 * (onehot * pred).sum((1, 2)) + 1e-6) / ((onehot + pred).sum((1, 2)) + 1e-6)
    ce = -np.log(np.take_along_axis(pred, y, -1)).mean()
    expected = np.mean(0.5 * (1 - dice.mean(-1)) + 0.5 * ce)
    np.testing.assert_allclose(float(SegmentationLoss()(y, pred)), expected, rtol=1e-4)
    acc = SegmentationAccuracy()
    acc.update_state(y, pred)
    np.testing.assert_allclose(float(acc.result()),
                               np.mean(pred.argmax(-1) == y[..., 0]), rtol=1e-6)
    model.compile(optimizer='adam', loss=SegmentationLoss(),
                  metrics=[SegmentationAccuracy(), SegmentationMeanIoU(4)])
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert sorted(history.history) == ['acc', 'loss', 'mIoU']
    assert 0.0 <= history.history['mIoU'][0] <= 1.0


def test_unet_and_a_vae_whose_loss_is_added_from_symbolic_tensors():
    from pynn.keras import backend as K
    from pynn.keras.layers import (Activation, BatchNormalization, Conv2D, Conv2DTranspose,
                                   Dense, Flatten, Input, Lambda, MaxPooling2D, Reshape,
                                   concatenate)
    from pynn.keras.losses import binary_crossentropy
    from pynn.keras.models import Model

    def unet(x, layer_depth=3, filters_orig=8, kernel_size=3, batchnorm=True,
             final_activation='softmax', num_classes=2):
        filters = filters_orig
        outputs_for_skip = []
        for i in range(layer_depth):
            x_conv = Conv2D(filters, kernel_size, activation=None, padding='same')(x)
            x_conv = BatchNormalization()(x_conv) if batchnorm else x_conv
            x_conv = Activation('relu')(x_conv)
            outputs_for_skip.append(x_conv)
            x = MaxPooling2D(2)(x_conv)
            filters = min(filters * 2, 512)
        x = Conv2D(filters, kernel_size, padding='same', activation='relu')(x)
        for i in range(layer_depth):
            filters = max(filters // 2, filters_orig)
            x = Conv2DTranspose(filters, kernel_size=2, strides=2, padding='same')(x)
            shortcut = outputs_for_skip[-(i + 1)]
            x = concatenate([x, shortcut], axis=-1)
            x = Conv2D(filters, kernel_size, padding='same', activation='relu')(x)
        x = Conv2D(filters=num_classes, kernel_size=(1, 1), activation=final_activation,
                   padding='valid')(x)
        return x

    inputs = Input(shape=(32, 32, 3))
    unet_model = Model(inputs, unet(inputs), name='unet')
    unet_model.compile('adam', 'sparse_categorical_crossentropy', metrics=['accuracy'])
    rng = np.random.default_rng(1)
    x = rng.random((4, 32, 32, 3), dtype=np.float32)
    unet_model.fit(x, rng.integers(0, 2, (4, 32, 32)), epochs=1, verbose=0)
    out = unet_model.predict(x[:1], verbose=0)
    assert out.shape == (1, 32, 32, 2)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)

    latent_dim = 2
    encoder_inputs = tf.keras.Input(shape=(28, 28, 1))
    h = Conv2D(8, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    h = Flatten()(h)
    h = Dense(16, activation="relu")(h)
    z_mean = Dense(latent_dim, name="z_mean")(h)
    z_log_var = Dense(latent_dim, name="z_log_var")(h)

    def sampling(args):
        z_mean, z_log_var = args
        epsilon = K.random_normal(shape=(K.shape(z_mean)[0], latent_dim), mean=0.,
                                  stddev=1.0)
        return z_mean + K.exp(z_log_var / 2) * epsilon
    z = Lambda(sampling, output_shape=(latent_dim,), name='z')([z_mean, z_log_var])
    encoder = Model(encoder_inputs, [z_mean, z_log_var, z], name='encoder')
    latent_inputs = Input(shape=(latent_dim,), name='z_sampling')
    h = Dense(14 * 14 * 8, activation='relu')(latent_inputs)
    h = Reshape((14, 14, 8))(h)
    h = Conv2DTranspose(1, 3, activation='sigmoid', strides=2, padding='same')(h)
    decoder = Model(latent_inputs, h, name='decoder')
    outputs = decoder(encoder(encoder_inputs)[2])
    vae = Model(encoder_inputs, outputs, name='vae')
    reconstruction_loss = binary_crossentropy(K.flatten(encoder_inputs), K.flatten(outputs))
    reconstruction_loss *= 28 * 28
    kl_loss = 1 + z_log_var - K.square(z_mean) - K.exp(z_log_var)
    kl_loss = K.sum(kl_loss, axis=-1)
    kl_loss *= -0.5
    vae.add_loss(K.mean(reconstruction_loss + kl_loss))
    vae.compile(optimizer='adam')
    images = rng.random((8, 28, 28, 1), dtype=np.float32)
    before = vae.evaluate(images, verbose=0, batch_size=8)
    history = vae.fit(images, epochs=2, batch_size=4, verbose=0)
    assert list(history.history) == ['loss'] and np.isfinite(history.history['loss']).all()
    # (the loss of 784 Bernoulli terms of images of uniform noise)
    assert 400 < before < 700
    z_mean_out, z_log_var_out, z_out = encoder.predict(images, verbose=0)
    assert z_mean_out.shape == z_log_var_out.shape == z_out.shape == (8, 2)
    assert decoder.predict(z_out, verbose=0).shape == (8, 28, 28, 1)


# -------------------- Koul et al. ch. 3 & 13, Moroney ch. 12: transfer learning, TFLite

def test_transfer_learning_on_mobilenet_saved_and_run_in_litert(tmp_path):
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    from pynn.keras.applications import MobileNet
    from pynn.keras.applications.mobilenet import preprocess_input
    from pynn.keras.layers import Dense, Dropout, GlobalAveragePooling2D, Input
    from pynn.keras.models import Model, load_model
    from pynn.keras.preprocessing.image import ImageDataGenerator
    IMG_WIDTH, IMG_HEIGHT, NUM_CLASSES, BATCH_SIZE = 32, 32, 2, 4

    def model_maker():
        base_model = MobileNet(include_top=False, input_shape=(IMG_WIDTH, IMG_HEIGHT, 3),
                               weights=None, alpha=0.25)
        for layer in base_model.layers[:]:
            layer.trainable = False
        input = Input(shape=(IMG_WIDTH, IMG_HEIGHT, 3))
        custom_model = base_model(input)
        custom_model = GlobalAveragePooling2D()(custom_model)
        custom_model = Dense(16, activation='relu')(custom_model)
        custom_model = Dropout(0.5)(custom_model)
        predictions = Dense(NUM_CLASSES, activation='softmax')(custom_model)
        return Model(inputs=input, outputs=predictions)
    model = model_maker()
    frozen = [w.copy() for w in model.layers[1].get_weights()]
    model.compile(loss='categorical_crossentropy',
                  optimizer=tf.keras.optimizers.Adam(0.001), metrics=['acc'])
    rng = np.random.default_rng(0)
    x = (rng.random((8, 32, 32, 3)) * 255).astype('float32')
    y = tf.keras.utils.to_categorical(np.arange(8) % 2, 2)
    train_datagen = ImageDataGenerator(preprocessing_function=preprocess_input,
                                       rotation_range=20, width_shift_range=0.2,
                                       height_shift_range=0.2, zoom_range=0.2)
    history = model.fit(train_datagen.flow(x, y, batch_size=BATCH_SIZE), steps_per_epoch=2,
                        epochs=1, validation_data=(preprocess_input(x.copy()), y), verbose=0)
    assert sorted(history.history) == ['acc', 'loss', 'val_acc', 'val_loss']
    # the frozen base kept its weights (its BatchNormalization statistics too)
    for before, after in zip(frozen, model.layers[1].get_weights()):
        np.testing.assert_array_equal(before, after)
    model.save(str(tmp_path / 'model.h5'))
    model2 = load_model(str(tmp_path / 'model.h5'))
    samples = preprocess_input(x[:2].copy())
    expected = model.predict(samples, verbose=0)
    np.testing.assert_allclose(model2.predict(samples, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    tflite_model = converter.convert()
    open(tmp_path / 'model.tflite', 'wb').write(tflite_model)
    interpreter = litert.Interpreter(model_path=str(tmp_path / 'model.tflite'))
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()
    output_details = interpreter.get_output_details()
    assert list(input_details[0]['shape']) == [1, 32, 32, 3]
    interpreter.set_tensor(input_details[0]['index'], samples[:1])
    interpreter.invoke()
    output_data = interpreter.get_tensor(output_details[0]['index'])
    np.testing.assert_allclose(output_data, expected[:1], rtol=1e-4, atol=1e-5)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    tflite_quant_model = converter.convert()
    assert len(tflite_quant_model) < len(tflite_model) / 2
    quant = tf.lite.Interpreter(model_content=tflite_quant_model)
    quant.allocate_tensors()
    quant.set_tensor(quant.get_input_details()[0]['index'], samples[:1])
    quant.invoke()
    np.testing.assert_allclose(quant.get_tensor(quant.get_output_details()[0]['index']),
                               expected[:1], atol=0.05)


def test_hello_world_and_an_int8_model_in_the_tflite_interpreter():
    pytest.importorskip("ai_edge_litert.interpreter")
    from pynn.keras import Sequential
    from pynn.keras.layers import Dense
    l0 = Dense(units=1, input_shape=[1])
    model = Sequential([l0])
    model.compile(optimizer='sgd', loss='mean_squared_error')
    xs = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 4.0], dtype=float)
    ys = np.array([-3.0, -1.0, 1.0, 3.0, 5.0, 7.0], dtype=float)
    model.fit(xs, ys, epochs=60, verbose=0)
    prediction = model.predict([10.0], verbose=0)
    w, b = l0.get_weights()
    np.testing.assert_allclose(prediction, [[10.0 * w[0, 0] + b[0]]], rtol=1e-5)
    assert abs(prediction[0, 0] - 19.0) < 3.0
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    tflite_model = converter.convert()
    interpreter = tf.lite.Interpreter(model_content=tflite_model)
    interpreter.allocate_tensors()
    input_details = interpreter.get_input_details()
    output_details = interpreter.get_output_details()
    to_predict = np.array([[10.0]], dtype=np.float32)
    interpreter.set_tensor(input_details[0]['index'], to_predict)
    interpreter.invoke()
    tflite_results = interpreter.get_tensor(output_details[0]['index'])
    np.testing.assert_allclose(tflite_results, prediction, rtol=1e-5)

    # full integer quantization with a representative dataset, uint8 in and out
    m2 = tf.keras.Sequential([
        tf.keras.layers.Conv2D(4, 3, activation='relu', input_shape=(16, 16, 3)),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(2, activation='softmax')])
    rng = np.random.default_rng(0)
    images = rng.random((8, 16, 16, 3), dtype=np.float32)
    test_batches = tf.data.Dataset.from_tensor_slices((images, np.zeros(8))).batch(1)

    def representative_data_gen():
        for input_value, _ in test_batches.take(100):
            yield [input_value]
    converter = tf.lite.TFLiteConverter.from_keras_model(m2)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_data_gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    out = interpreter.get_output_details()[0]
    assert inp['dtype'] == np.uint8 and out['dtype'] == np.uint8
    scale, zero = inp['quantization']
    interpreter.set_tensor(inp['index'],
                           np.round(images[:1] / scale + zero).clip(0, 255).astype(np.uint8))
    interpreter.invoke()
    out_scale, out_zero = out['quantization']
    got = (interpreter.get_tensor(out['index']).astype(np.float32) - out_zero) * out_scale
    np.testing.assert_allclose(got, m2.predict(images[:1], verbose=0), atol=0.03)


# ------------------------------- Koul et al. ch. 6: the speed checklist's settings

def test_speed_checklist_pipeline_options_mixed_precision_and_xla(tmp_path):
    """The checklist's tf.data and training settings of TensorFlow 2.1 to
    2.3: they speed TensorFlow up and must leave the results alone."""
    for shard in range(2):
        with tf.io.TFRecordWriter(str(tmp_path / f"part{shard}.tfrecord")) as writer:
            for i in range(4):
                value = np.full(3, 10 * shard + i, np.float32)
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    "x": tf.train.Feature(float_list=tf.train.FloatList(value=value)),
                    "y": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 2]))}))
                    .SerializeToString())
    description = {"x": tf.io.FixedLenFeature([3], tf.float32),
                   "y": tf.io.FixedLenFeature([], tf.int64)}

    def parse(record):
        parsed = tf.io.parse_single_example(record, description)
        return parsed["x"], parsed["y"]

    files = tf.data.Dataset.list_files(str(tmp_path / "*.tfrecord"), shuffle=False)
    dataset = files.apply(tf.data.experimental.parallel_interleave(
        tf.data.TFRecordDataset, cycle_length=2, sloppy=True))
    plain = files.interleave(tf.data.TFRecordDataset, cycle_length=2)
    assert list(dataset.as_numpy_iterator()) == list(plain.as_numpy_iterator())
    options = tf.data.Options()
    options.experimental_deterministic = False
    options.experimental_optimization.noop_elimination = True
    options.experimental_optimization.map_vectorization.enabled = True
    options.experimental_optimization.apply_default_optimizations = True
    options.experimental_optimization.map_and_batch_fusion = True
    options.experimental_optimization.map_fusion = True
    options.experimental_optimization.map_and_filter_fusion = True
    options.experimental_optimization.hoist_random_uniform = True
    options.experimental_optimization.autotune = True
    options.experimental_threading.private_threadpool_size = 2
    dataset = dataset.with_options(options)
    dataset = dataset.apply(tf.data.experimental.map_and_batch(parse, batch_size=3))
    dataset = dataset.cache().prefetch(buffer_size=tf.data.experimental.AUTOTUNE)
    batches = list(dataset.as_numpy_iterator())
    assert [len(y) for _, y in batches] == [3, 3, 2]
    # interleaved one record from each file in turn
    np.testing.assert_array_equal(np.concatenate([x for x, _ in batches])[:, 0],
                                  [0, 10, 1, 11, 2, 12, 3, 13])
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]),
                                  [0, 0, 1, 1, 0, 0, 1, 1])
    kept = dataset.options()
    assert kept.experimental_optimization.map_fusion is True
    assert kept.experimental_optimization.map_vectorization.enabled is True
    assert kept.experimental_optimization.parallel_batch is None
    assert kept.threading.private_threadpool_size == 2
    with pytest.raises(TypeError, match="map_fusion must be a bool"):
        options.experimental_optimization.map_fusion = "yes"
    with pytest.raises(AttributeError):
        options.experimental_optimization.no_such_pass = True

    tf.config.optimizer.set_jit(True)
    try:
        assert tf.config.optimizer.get_jit() == "autoclustering"
        policy = tf.keras.mixed_precision.experimental.Policy('mixed_float16')
        tf.keras.mixed_precision.experimental.set_policy(policy)
        try:
            assert tf.keras.mixed_precision.experimental.global_policy().name == \
                "mixed_float16"
            model = tf.keras.Sequential([
                tf.keras.layers.Dense(8, activation="relu", input_shape=(3,)),
                tf.keras.layers.Dense(1),
                tf.keras.layers.Activation("sigmoid", dtype="float32")])
            assert model.layers[0].compute_dtype == "float16"
            assert model.layers[0].dtype == "float32"
            model.compile(optimizer="adam", loss="binary_crossentropy")
            assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
            history = model.fit(dataset, epochs=1, verbose=0)
            assert np.isfinite(history.history["loss"][0])
            assert model.predict(batches[0][0], verbose=0).dtype == np.float32
        finally:
            tf.keras.mixed_precision.experimental.set_policy("float32")
    finally:
        tf.config.optimizer.set_jit(False)
    assert tf.config.optimizer.get_jit() == ""
    with pytest.raises(ValueError, match="loss_scale must be 'auto' or 'dynamic'"):
        tf.keras.mixed_precision.experimental.Policy('mixed_float16', loss_scale=128)


# ------------------- Planche & Andres ch. 6: upsampling with a transposed convolution

@needs_keras
@pytest.mark.parametrize("padding, strides, output_shape, output_padding", [
    ("SAME", 2, (2, 8, 10, 6), None), ("VALID", 2, (2, 9, 11, 6), None),
    ("VALID", [1, 2, 2, 1], (2, 10, 12, 6), 1), ("SAME", 1, (2, 4, 5, 6), None)])
def test_tf_nn_conv2d_transpose_as_keras(padding, strides, output_shape, output_padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    filters = rng.standard_normal((3, 3, 6, 3)).astype(np.float32)  # (h, w, out, in)
    ours = tf.nn.conv2d_transpose(x, filters, output_shape, strides=strides, padding=padding)
    step = strides if isinstance(strides, int) else strides[1]
    ref = real_keras.ops.conv_transpose(x, filters, strides=step, padding=padding.lower(),
                                        output_padding=output_padding)
    assert ours.shape == output_shape
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_tf_nn_conv2d_transpose_gradient_and_bad_shapes():
    rng = np.random.default_rng(1)
    x = tf.Variable(rng.standard_normal((1, 3, 3, 2)).astype(np.float32))
    k = tf.Variable(rng.standard_normal((3, 3, 4, 2)).astype(np.float32))
    with tf.GradientTape() as tape:
        y = tf.nn.conv2d_transpose(x, k, tf.constant([1, 6, 6, 4]), strides=2, padding="SAME")
        loss = tf.reduce_sum(y * y)
    gx, gk = tape.gradient(loss, [x, k])
    # conv2d is the transposed convolution's adjoint: <T(x), y> == <x, conv2d(y)>
    probe = rng.standard_normal((1, 6, 6, 4)).astype(np.float32)
    lhs = np.sum(np.asarray(tf.nn.conv2d_transpose(x, k, [1, 6, 6, 4], 2, "SAME")) * probe)
    rhs = np.sum(x.numpy() * np.asarray(tf.nn.conv2d(probe, k.numpy(), 2, "SAME")))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-4)
    # d loss / d x = conv2d(2 y, k)
    np.testing.assert_allclose(np.asarray(gx), np.asarray(tf.nn.conv2d(2 * y.numpy(), k.numpy(),
                                                                       2, "SAME")),
                               rtol=1e-4, atol=1e-4)
    assert gk.shape == (3, 3, 4, 2)
    with pytest.raises(ValueError, match="does not fit x of shape"):
        tf.nn.conv2d_transpose(x, k, [1, 9, 9, 4], strides=2, padding="SAME")
    with pytest.raises(ValueError, match="padding must be 'SAME' or 'VALID'"):
        tf.nn.conv2d_transpose(x, k, [1, 6, 6, 4], strides=2, padding="FULL")


# ---------------------- Planche & Andres ch. 7: augmenting with compression artefacts

def test_jpeg_quality_augmentation_in_a_pipeline():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (16, 20, 3), dtype=np.uint8)
    low = tf.image.adjust_jpeg_quality(pixels, 30)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=30)
    np.testing.assert_array_equal(np.asarray(low), np.asarray(Image.open(buffer)))
    assert low.dtype == np.uint8
    # a float image comes back a float image, through uint8 (values 0 to 1)
    image = pixels.astype(np.float32) / 255.0
    back = tf.image.adjust_jpeg_quality(image, 30)
    assert back.dtype == np.float32
    np.testing.assert_allclose(np.asarray(back), np.asarray(low) / 255.0, atol=1e-6)
    # higher quality, smaller error
    errors = [np.abs(np.asarray(tf.image.adjust_jpeg_quality(image, q)) - image).mean()
              for q in (10, 50, 95)]
    assert errors[0] > errors[1] > errors[2]
    gray = tf.image.adjust_jpeg_quality(pixels[..., :1], 60)
    assert gray.shape == (16, 20, 1)

    def augment(image, label):
        image = tf.image.random_jpeg_quality(image, 60, 100)
        return image, label
    dataset = tf.data.Dataset.from_tensor_slices((np.stack([image, image]), [0, 1]))
    out = list(dataset.map(augment).as_numpy_iterator())
    assert [o[0].shape for o in out] == [(16, 20, 3)] * 2 and [o[1] for o in out] == [0, 1]
    a = tf.image.stateless_random_jpeg_quality(image, 40, 90, seed=(1, 2))
    b = tf.image.stateless_random_jpeg_quality(image, 40, 90, seed=(1, 2))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="min_jpeg_quality must be less than"):
        tf.image.random_jpeg_quality(image, 90, 90)
    with pytest.raises(ValueError, match="between 0 and 100"):
        tf.image.random_jpeg_quality(image, 50, 101)
    with pytest.raises(ValueError, match=r"expected one image of shape .* got shape \(1, 16"):
        tf.image.adjust_jpeg_quality(image[None], 50)


def test_backup_and_restore_under_its_tf_2_3_name(tmp_path):
    """``tf.keras.callbacks.experimental.BackupAndRestore`` (TensorFlow 2.3
    to 2.7): an interrupted fit resumes at the epoch it stopped in."""
    class Interrupt(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise RuntimeError("interrupted")

    x = np.random.default_rng(0).random((8, 3), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True)

    def make():
        tf.keras.utils.set_random_seed(0)
        model = tf.keras.Sequential([tf.keras.layers.Dense(1, input_shape=(3,))])
        model.compile("sgd", "mse")
        return model
    backup = tf.keras.callbacks.experimental.BackupAndRestore(backup_dir=str(tmp_path))
    with pytest.raises(RuntimeError, match="interrupted"):
        make().fit(x, y, epochs=4, verbose=0, callbacks=[backup, Interrupt()])
    history = make().fit(x, y, epochs=4, verbose=0, callbacks=[
        tf.keras.callbacks.experimental.BackupAndRestore(backup_dir=str(tmp_path))])
    assert history.epoch == [2, 3]


# -------------------- Planche & Andres ch. 6: image restoration scored by MS-SSIM

def _ms_ssim_reference(a, b, max_val, weights, size=11, sigma=1.5, k1=0.01, k2=0.03):
    """TensorFlow's ssim_multiscale in NumPy float64, image pair by pair."""
    from numpy.lib.stride_tricks import sliding_window_view
    g = np.arange(size) - (size - 1) / 2
    g = np.exp(-g ** 2 / (2 * sigma ** 2))
    window = np.outer(g, g) / np.outer(g, g).sum()

    def blur(v):  # (h, w, c), valid
        return np.einsum("ijcxy,xy->ijc", sliding_window_view(v, (size, size), axis=(0, 1)),
                         window)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    out = []
    for x, y in zip(a.astype(np.float64), b.astype(np.float64)):
        terms = []
        for k in range(len(weights)):
            if k:
                x, y = (np.pad(v, ((0, v.shape[0] % 2), (0, v.shape[1] % 2), (0, 0)),
                               mode="symmetric") for v in (x, y))
                x, y = (v.reshape(v.shape[0] // 2, 2, v.shape[1] // 2, 2, -1).mean((1, 3))
                        for v in (x, y))
            mx, my = blur(x), blur(y)
            lum = (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)
            cs = (2 * (blur(x * y) - mx * my) + c2) / \
                (blur(x * x) + blur(y * y) - mx ** 2 - my ** 2 + c2)
            terms.append(np.maximum(cs.mean((0, 1)), 0))
        terms[-1] = np.maximum((lum * cs).mean((0, 1)), 0)
        out.append(np.prod([t ** w for t, w in zip(terms, weights)], axis=0).mean())
    return np.array(out)


def test_ssim_multiscale_of_a_denoised_image_against_numpy():
    rng = np.random.default_rng(0)
    clean = rng.random((1, 181, 177, 3)).astype(np.float32)
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)
    weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    ours = tf.image.ssim_multiscale(clean, noisy, max_val=1.0)
    assert ours.shape == (1,)
    np.testing.assert_allclose(np.asarray(ours), _ms_ssim_reference(clean, noisy, 1.0, weights),
                               rtol=2e-4)
    np.testing.assert_allclose(np.asarray(tf.image.ssim_multiscale(clean, clean, 1.0)), 1.0,
                               rtol=1e-5)
    # other scales and a smaller window; 0-255 images
    small = tf.image.ssim_multiscale(clean[:, :41, :37] * 255, noisy[:, :41, :37] * 255, 255,
                                     power_factors=(0.3, 0.7), filter_size=5)
    np.testing.assert_allclose(np.asarray(small), _ms_ssim_reference(
        clean[:, :41, :37] * 255, noisy[:, :41, :37] * 255, 255, (0.3, 0.7), size=5),
        rtol=2e-4)
    # 1 - MS-SSIM as a restoration loss: its gradient lowers it
    restored = tf.Variable(noisy[:1, :48, :48])
    target = clean[:1, :48, :48]
    with tf.GradientTape() as tape:
        loss = 1.0 - tf.reduce_mean(tf.image.ssim_multiscale(
            target, restored, 1.0, power_factors=(0.5, 0.5), filter_size=7))
    grad = tape.gradient(loss, restored)
    assert grad.shape == restored.shape
    stepped = restored.numpy() - 20.0 * np.asarray(grad)
    after = 1.0 - float(tf.image.ssim_multiscale(target, stepped, 1.0, power_factors=(0.5, 0.5),
                                                 filter_size=7)[0])
    assert after < float(loss)
    with pytest.raises(ValueError, match="smaller than filter_size 11"):
        tf.image.ssim_multiscale(clean[:, :64, :64], noisy[:, :64, :64], 1.0)


def test_int8_model_evaluated_batch_by_batch_in_the_interpreter():
    """Moroney ch. 12: the quantized model scored on ``test_batches`` with
    ``interpreter.set_tensor(input_index, img)`` straight from the dataset."""
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(4, 3, activation='relu', input_shape=(16, 16, 3)),
        tf.keras.layers.GlobalAveragePooling2D(),
        tf.keras.layers.Dense(2, activation='softmax')])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 20, 20, 3)).astype(np.uint8)

    def format_image(image, label):
        image = tf.image.resize(image, (16, 16)) / 255.0
        return image, label
    test_batches = tf.data.Dataset.from_tensor_slices((images, np.arange(6))).map(
        format_image).batch(1)

    def representative_data_gen():
        for input_value, _ in test_batches.take(100):
            yield [input_value]
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative_data_gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    tflite_model = converter.convert()
    interpreter = tf.lite.Interpreter(model_content=tflite_model)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    predictions = []
    test_labels = []
    for img, label in test_batches.take(100):
        interpreter.set_tensor(input_index, img)
        interpreter.invoke()
        predictions.append(interpreter.get_tensor(output_index))
        test_labels.append(label.numpy()[0])
    assert test_labels == list(range(6))
    np.testing.assert_allclose(np.concatenate(predictions),
                               model.predict(test_batches, verbose=0), atol=0.02)
