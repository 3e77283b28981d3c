"""tensorflow.org's tutorials and guides run with ``import pynn as tf``
(tiny sizes, synthetic data in place of the downloads): simple_audio,
imbalanced_data, overfit_and_underfit, segmentation, music_generation,
images/transfer_learning, text_classification, style_transfer, deepdream,
pix2pix, cyclegan, the CSV loading tutorial's fonts, structured-data
preprocessing layers; the data, tensor slicing and variable guides; the
migration guides (TF1 vs TF2 shapes and references, checkpoints, fault
tolerance, feature columns, metrics and early stopping).  Each checks
what the notebook shows against TensorFlow's behaviour: dtypes, shapes,
printed forms, and the numbers against NumPy or Keras."""
import gzip
import os
import wave

import numpy as np
import pytest

import pynn as tf
from pynn import keras
from pynn.keras import layers, losses, models, regularizers
from keras_reference import keras as real_keras, needs_keras


# ------------------------------------------------------ tutorials/audio/simple_audio

def _write_wav(path, samples, rate):
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes(pcm.tobytes())


def test_simple_audio_tutorial_spectrograms_train_and_name_the_classes(tmp_path):
    tf.random.set_seed(42)
    np.random.seed(42)
    data_dir = tmp_path / "mini_speech_commands"
    rng = np.random.default_rng(0)
    tones = {"no": 250.0, "up": 1500.0, "yes": 700.0}
    for word, freq in tones.items():
        (data_dir / word).mkdir(parents=True)
        for i in range(8):
            n = 4000 - 150 * i  # shorter files are padded to 4000 samples
            t = np.arange(n) / 4000
            _write_wav(data_dir / word / f"{i:08x}_nohash_0.wav",
                       0.5 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(n), 4000)
    (data_dir / "README.md").write_text("synthetic")

    commands = np.array(tf.io.gfile.listdir(str(data_dir)))
    commands = commands[(commands != "README.md") & (commands != ".DS_Store")]
    assert sorted(commands) == ["no", "up", "yes"]
    train_ds, val_ds = tf.keras.utils.audio_dataset_from_directory(
        directory=data_dir, batch_size=4, validation_split=0.25, seed=0,
        output_sequence_length=4000, subset="both")
    label_names = np.array(train_ds.class_names)
    assert label_names.tolist() == ["no", "up", "yes"]
    audio_spec, label_spec = train_ds.element_spec
    assert audio_spec.shape.as_list() == [None, 4000, 1] and audio_spec.dtype == tf.float32
    assert label_spec.dtype == tf.int32

    def squeeze(audio, labels):
        audio = tf.squeeze(audio, axis=-1)
        return audio, labels

    train_ds = train_ds.map(squeeze, tf.data.AUTOTUNE)
    val_ds = val_ds.map(squeeze, tf.data.AUTOTUNE)
    test_ds = val_ds.shard(num_shards=2, index=0)
    val_ds = val_ds.shard(num_shards=2, index=1)
    for example_audio, example_labels in train_ds.take(1):
        assert example_audio.shape == (4, 4000) and example_labels.shape == (4,)
    assert label_names[[1, 1, 2, 0]].tolist() == ["up", "up", "yes", "no"]

    def get_spectrogram(waveform):
        spectrogram = tf.signal.stft(waveform, frame_length=255, frame_step=128)
        spectrogram = tf.abs(spectrogram)
        spectrogram = spectrogram[..., tf.newaxis]
        return spectrogram

    waveform = example_audio[0]
    spectrogram = get_spectrogram(waveform)
    # 1 + (4000 - 255) // 128 frames of 256 // 2 + 1 bins
    assert spectrogram.shape == (30, 129, 1)
    # each frame's loudest bin is the tone of its class (129 bins over 2 kHz)
    # (the frames of the padding after a shorter file are silent)
    frames = spectrogram.numpy()[:, :, 0]
    sounding = frames.max(axis=1) > 1.0
    assert sounding[:20].all()
    peak = np.argmax(frames[sounding], axis=1)
    freq = tones[str(label_names[example_labels[0]])]
    assert np.all(np.abs(peak - freq / 2000 * 128) <= 1)

    def make_spec_ds(ds):
        return ds.map(map_func=lambda audio, label: (get_spectrogram(audio), label),
                      num_parallel_calls=tf.data.AUTOTUNE)

    train_spectrogram_ds = make_spec_ds(train_ds)
    val_spectrogram_ds = make_spec_ds(val_ds)
    test_spectrogram_ds = make_spec_ds(test_ds)
    for example_spectrograms, example_spect_labels in train_spectrogram_ds.take(1):
        break
    train_spectrogram_ds = train_spectrogram_ds.cache().shuffle(10000).prefetch(tf.data.AUTOTUNE)
    val_spectrogram_ds = val_spectrogram_ds.cache().prefetch(tf.data.AUTOTUNE)
    test_spectrogram_ds = test_spectrogram_ds.cache().prefetch(tf.data.AUTOTUNE)
    input_shape = example_spectrograms.shape[1:]
    num_labels = len(label_names)
    norm_layer = layers.Normalization()
    norm_layer.adapt(data=train_spectrogram_ds.map(map_func=lambda spec, label: spec))
    model = models.Sequential([
        layers.Input(shape=input_shape),
        layers.Resizing(16, 16),
        norm_layer,
        layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(16, activation="relu"),
        layers.Dense(num_labels),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.01),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(train_spectrogram_ds, validation_data=val_spectrogram_ds, epochs=30,
                        callbacks=tf.keras.callbacks.EarlyStopping(verbose=0, patience=40),
                        verbose=0)
    metrics = history.history
    assert sorted(metrics) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert metrics["loss"][-1] < metrics["loss"][0]
    assert max(metrics["accuracy"][-5:]) == 1.0
    result = model.evaluate(test_spectrogram_ds, return_dict=True, verbose=0)
    assert set(result) == {"loss", "accuracy"}
    y_pred = model.predict(test_spectrogram_ds, verbose=0)
    y_pred = tf.argmax(y_pred, axis=1)
    y_true = tf.concat(list(test_spectrogram_ds.map(lambda s, lab: lab)), axis=0)
    confusion_mtx = tf.math.confusion_matrix(y_true, y_pred)
    assert confusion_mtx.shape == (3, 3)
    assert int(tf.reduce_sum(confusion_mtx)) == len(y_true)

    x = tf.io.read_file(str(data_dir / "no/00000000_nohash_0.wav"))
    x, sample_rate = tf.audio.decode_wav(x, desired_channels=1, desired_samples=4000)
    assert int(sample_rate) == 4000 and x.shape == (4000, 1)
    x = tf.squeeze(x, axis=-1)
    x = get_spectrogram(x)[tf.newaxis, ...]
    prediction = model(x)
    probabilities = tf.nn.softmax(prediction[0])
    np.testing.assert_allclose(float(tf.reduce_sum(probabilities)), 1.0, rtol=1e-6)

    # the export module's names: tf.gather of the NumPy array of names
    # gives a string tensor of bytes, as TensorFlow's
    class_ids = tf.argmax(model(x, training=False), axis=-1)
    class_names = tf.gather(label_names, class_ids)
    assert class_names.dtype == tf.string
    assert class_names.numpy().tolist() == [b"no"]
    assert tf.gather(label_names, [2, 0]).numpy().tolist() == [b"yes", b"no"]


# -------------------------------------------- tutorials/structured_data/imbalanced_data

def _imbalanced_metrics(module):
    m = module.metrics
    return [
        m.BinaryCrossentropy(name="cross entropy"),
        m.MeanSquaredError(name="Brier score"),
        m.TruePositives(name="tp"),
        m.FalsePositives(name="fp"),
        m.TrueNegatives(name="tn"),
        m.FalseNegatives(name="fn"),
        m.BinaryAccuracy(name="accuracy"),
        m.Precision(name="precision"),
        m.Recall(name="recall"),
        m.AUC(name="auc"),
        m.AUC(name="prc", curve="PR"),
    ]


def _imbalanced_data():
    rng = np.random.default_rng(0)
    n = 600
    x = rng.standard_normal((n, 6)).astype("float32")
    y = ((x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.standard_normal(n)) > 1.5).astype("int64")
    return x, y


@needs_keras
def test_imbalanced_data_tutorial_metrics_bias_class_weights_and_resampling(tmp_path):
    features, labels = _imbalanced_data()
    neg, pos = np.bincount(labels)
    total = neg + pos
    train_features, val_features, test_features = features[:400], features[400:500], \
        features[500:]
    train_labels = labels[:400].reshape(-1, 1)
    val_labels = labels[400:500].reshape(-1, 1)
    test_labels = labels[500:].reshape(-1, 1)
    bool_train_labels = train_labels[:, 0] != 0

    def make_model(metrics=None, output_bias=None):
        if output_bias is not None:
            output_bias = tf.keras.initializers.Constant(output_bias)
        model = keras.Sequential([
            keras.layers.Dense(16, activation="relu", input_shape=(train_features.shape[-1],)),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1, activation="sigmoid", bias_initializer=output_bias),
        ])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2),
                      loss=keras.losses.BinaryCrossentropy(),
                      metrics=_imbalanced_metrics(keras) if metrics is None else metrics)
        return model

    def early_stopping():
        return tf.keras.callbacks.EarlyStopping(monitor="val_prc", verbose=0, patience=10,
                                                mode="max", restore_best_weights=True)

    # the careful initial bias predicts the positive rate and lowers the loss
    initial_bias = np.log([pos / neg])
    model = make_model(output_bias=initial_bias)
    np.testing.assert_allclose(model.layers[-1].bias.numpy(), initial_bias, rtol=1e-6)
    zero = make_model()
    zero.set_weights(model.get_weights()[:2] + [model.get_weights()[2],
                                                np.zeros(1, np.float32)])
    careful_loss = model.evaluate(train_features, train_labels, batch_size=128, verbose=0)[0]
    zero_loss = zero.evaluate(train_features, train_labels, batch_size=128, verbose=0)[0]
    assert careful_loss < zero_loss
    initial_weights = os.path.join(tmp_path, "initial.weights.h5")
    model.save_weights(initial_weights)

    model = make_model()
    model.load_weights(initial_weights)
    history = model.fit(train_features, train_labels, batch_size=128, epochs=4,
                        callbacks=[early_stopping()],
                        validation_data=(val_features, val_labels), verbose=0)
    names = ["cross entropy", "Brier score", "tp", "fp", "tn", "fn", "accuracy", "precision",
             "recall", "auc", "prc"]
    assert sorted(history.history) == sorted(["loss"] + names + ["val_loss"] +
                                             ["val_" + n for n in names])
    results = model.evaluate(test_features, test_labels, batch_size=128, verbose=0)
    assert model.metrics_names == ["loss"] + names
    got = dict(zip(model.metrics_names, results))
    assert got["tp"] + got["fp"] + got["tn"] + got["fn"] == len(test_labels)

    # every metric as Keras computes it for the same predictions
    predictions = model.predict(test_features, batch_size=128, verbose=0)
    for metric in _imbalanced_metrics(real_keras):
        metric.update_state(test_labels.astype("float32"), predictions)
        np.testing.assert_allclose(got[metric.name], float(metric.result()), rtol=2e-4,
                                   atol=1e-6, err_msg=metric.name)

    # class weights: the weighted model finds more of the rare class
    weight_for_0 = (1 / neg) * (total / 2.0)
    weight_for_1 = (1 / pos) * (total / 2.0)
    weighted_model = make_model()
    weighted_model.load_weights(initial_weights)
    weighted_model.fit(train_features, train_labels, batch_size=128, epochs=4,
                       callbacks=[early_stopping()], validation_data=(val_features, val_labels),
                       class_weight={0: weight_for_0, 1: weight_for_1}, verbose=0)
    weighted = dict(zip(weighted_model.metrics_names,
                        weighted_model.evaluate(test_features, test_labels, batch_size=128,
                                                verbose=0)))
    assert weighted["recall"] >= got["recall"]

    # oversampling with sample_from_datasets: about half of each batch positive
    pos_features = train_features[bool_train_labels]
    neg_features = train_features[~bool_train_labels]
    pos_labels = train_labels[bool_train_labels]
    neg_labels = train_labels[~bool_train_labels]

    def make_ds(features, labels):
        ds = tf.data.Dataset.from_tensor_slices((features, labels))
        ds = ds.shuffle(100000).repeat()
        return ds

    pos_ds = make_ds(pos_features, pos_labels)
    neg_ds = make_ds(neg_features, neg_labels)
    for features, label in pos_ds.take(1):
        assert features.shape == (6,) and label.numpy().tolist() == [1]
    resampled_ds = tf.data.Dataset.sample_from_datasets([pos_ds, neg_ds], weights=[0.5, 0.5])
    resampled_ds = resampled_ds.batch(256).prefetch(2)
    for features, label in resampled_ds.take(1):
        assert 0.35 < label.numpy().mean() < 0.65
    resampled_model = make_model()
    resampled_model.load_weights(initial_weights)
    resampled_model.layers[-1].bias.assign([0])
    val_ds = tf.data.Dataset.from_tensor_slices((val_features, val_labels)).cache()
    val_ds = val_ds.batch(128).prefetch(2)
    resampled_history = resampled_model.fit(resampled_ds, epochs=2, steps_per_epoch=3,
                                            callbacks=[early_stopping()],
                                            validation_data=val_ds, verbose=0)
    assert len(resampled_history.history["val_prc"]) == 2


# --------------------------------------------- tutorials/keras/overfit_and_underfit

def test_overfit_and_underfit_tutorial_csv_schedule_and_regularizers(tmp_path):
    rng = np.random.default_rng(0)
    FEATURES = 28
    table = rng.standard_normal((300, FEATURES))
    target = (table[:, :3].sum(1) > 0).astype(float)
    gz = str(tmp_path / "HIGGS.csv.gz")
    with gzip.open(gz, "wt") as f:
        for t, row in zip(target, table):
            f.write(",".join(["%.18e" % t] + ["%.18e" % v for v in row]) + "\n")

    ds = tf.data.experimental.CsvDataset(gz, [float(), ] * (FEATURES + 1),
                                         compression_type="GZIP")

    def pack_row(*row):
        label = row[0]
        features = tf.stack(row[1:], 1)
        return features, label

    packed_ds = ds.batch(100).map(pack_row).unbatch()
    for features, label in packed_ds.batch(100).take(1):
        np.testing.assert_array_equal(features.numpy(), table[:100].astype(np.float32))
        np.testing.assert_array_equal(label.numpy(), target[:100].astype(np.float32))
    N_VALIDATION, N_TRAIN, BATCH_SIZE = 50, 200, 50
    STEPS_PER_EPOCH = N_TRAIN // BATCH_SIZE
    validate_ds = packed_ds.take(N_VALIDATION).cache().batch(BATCH_SIZE)
    train_ds = packed_ds.skip(N_VALIDATION).take(N_TRAIN).cache()
    train_ds = train_ds.shuffle(N_TRAIN).repeat().batch(BATCH_SIZE)

    lr_schedule = tf.keras.optimizers.schedules.InverseTimeDecay(
        0.001, decay_steps=STEPS_PER_EPOCH * 1000, decay_rate=1, staircase=False)
    # the tutorial plots the schedule over an array of steps
    step = np.linspace(0, 100000)
    lr = lr_schedule(step)
    assert lr.shape == (50,) and lr.dtype == tf.float32
    np.testing.assert_allclose(np.asarray(lr), 0.001 / (1 + step / (STEPS_PER_EPOCH * 1000)),
                               rtol=1e-6)
    assert float(lr_schedule(0).numpy()) == pytest.approx(0.001)

    logdir = tmp_path / "tensorboard_logs"

    def compile_and_fit(model, name, max_epochs=2):
        model.compile(optimizer=tf.keras.optimizers.Adam(lr_schedule),
                      loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[tf.keras.metrics.BinaryCrossentropy(from_logits=True,
                                                                   name="binary_crossentropy"),
                               "accuracy"])
        return model.fit(
            train_ds.map(lambda x, y: (x, tf.expand_dims(y, axis=-1))),
            steps_per_epoch=STEPS_PER_EPOCH, epochs=max_epochs,
            validation_data=validate_ds.map(lambda x, y: (x, tf.expand_dims(y, axis=-1))),
            callbacks=[tf.keras.callbacks.EarlyStopping(monitor="val_binary_crossentropy",
                                                        patience=200),
                       tf.keras.callbacks.TensorBoard(logdir / name)],
            verbose=0)

    tiny_model = tf.keras.Sequential([layers.Dense(16, activation="elu",
                                                   input_shape=(FEATURES,)), layers.Dense(1)])
    history = compile_and_fit(tiny_model, "sizes/Tiny")
    h = history.history
    # the metric is the loss, here computed twice
    np.testing.assert_allclose(h["binary_crossentropy"], h["loss"], rtol=1e-5)
    np.testing.assert_allclose(h["val_binary_crossentropy"], h["val_loss"], rtol=1e-5)
    assert sorted(os.listdir(logdir / "sizes/Tiny")) == ["train", "validation"]

    l2_model = tf.keras.Sequential([
        layers.Dense(32, activation="elu", kernel_regularizer=regularizers.l2(0.001),
                     input_shape=(FEATURES,)),
        layers.Dense(32, activation="elu", kernel_regularizer=regularizers.l2(0.001)),
        layers.Dense(1)])
    compile_and_fit(l2_model, "regularizers/l2", max_epochs=1)
    result = l2_model(features)
    assert result.shape == (100, 1)
    # model.losses: a scalar tensor per regularized kernel, as TensorFlow's
    assert len(l2_model.losses) == 2
    assert all(isinstance(v, tf.Tensor) and v.shape == () and v.dtype == tf.float32
               for v in l2_model.losses)
    regularization_loss = tf.add_n(l2_model.losses)
    want = sum(0.001 * np.sum(np.square(lay.kernel.numpy().astype(np.float64)))
               for lay in l2_model.layers[:2])
    np.testing.assert_allclose(float(regularization_loss), want, rtol=1e-5)


def test_learning_rate_schedules_take_arrays_of_steps_as_tensorflow():
    steps = np.array([0, 5, 10, 15, 40], np.float64)
    s = tf.keras.optimizers.schedules
    cases = [
        (s.ExponentialDecay(0.1, 10, 0.5), 0.1 * 0.5 ** (steps / 10)),
        (s.ExponentialDecay(0.1, 10, 0.5, staircase=True), 0.1 * 0.5 ** np.floor(steps / 10)),
        (s.InverseTimeDecay(0.1, 10, 2.0, staircase=True), 0.1 / (1 + 2 * np.floor(steps / 10))),
        (s.PiecewiseConstantDecay([5, 15], [1.0, 0.5, 0.1]), np.array([1, 1, .5, .5, .1])),
        (s.PolynomialDecay(0.1, 20, 0.01, power=2.0),
         0.09 * (1 - np.minimum(steps, 20) / 20) ** 2 + 0.01),
        (s.CosineDecay(0.1, 20, alpha=0.1),
         0.1 * (0.9 * 0.5 * (1 + np.cos(np.pi * np.minimum(steps, 20) / 20)) + 0.1)),
    ]
    for schedule, want in cases:
        got = schedule(steps)
        assert got.dtype == tf.float32 and got.shape == (5,), type(schedule).__name__
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6,
                                   err_msg=type(schedule).__name__)
        # one step at a time: the same values, as 0-d tensors
        for i, t in enumerate(steps):
            one = schedule(int(t))
            assert one.shape == ()
            np.testing.assert_allclose(float(one), want[i], rtol=1e-6)
    warm = s.CosineDecay(0.0, 10, warmup_target=0.2, warmup_steps=4)
    np.testing.assert_allclose(np.asarray(warm(tf.constant([0.0, 2.0, 4.0, 9.0, 14.0]))),
                               [0.0, 0.1, 0.2, 0.1 * (1 + np.cos(np.pi / 2)), 0.0],
                               rtol=1e-6, atol=1e-8)
    restarts = s.CosineDecayRestarts(0.1, 10, t_mul=2.0)
    got = np.asarray(restarts(np.array([0, 5, 10, 20, 30])))
    np.testing.assert_allclose(got, [0.1, 0.05, 0.1, 0.05, 0.1], rtol=1e-6)
    # an optimizer's rate from a schedule is the schedule at its step
    opt = tf.keras.optimizers.SGD(s.ExponentialDecay(0.1, 10, 0.5))
    opt.iterations.assign(10)
    assert float(opt.learning_rate) == pytest.approx(0.05)


# ------------------------------------------------------ guide/migrate/tf1_vs_tf2

def test_tf1_vs_tf2_guide_shapes_dimensions_and_references():
    shape = tf.TensorShape([16, None, 256])
    assert shape[0] == 16 and shape[1] is None
    assert list(shape) == [16, None, 256]
    Dimension = tf.compat.v1.Dimension
    dim = Dimension(None) if shape.rank is None else shape.dims[0]
    assert isinstance(dim, Dimension) and dim.value == 16 and repr(dim) == "Dimension(16)"
    assert dim.is_compatible_with(16) and not dim.is_compatible_with(8)
    assert [d.value for d in shape.dims] == [16, None, 256]
    assert str(shape.dims[1]) == "?"
    unknown = Dimension(None)
    assert unknown.is_compatible_with(5) and unknown.value is None
    assert (unknown == 5) is None and (Dimension(3) == 3) is True
    assert (Dimension(3) + 4).value == 7 and (unknown + 4).value is None
    assert (10 // Dimension(3)).value == 3
    assert Dimension(4).merge_with(None).value == 4
    with pytest.raises(ValueError, match="not compatible"):
        Dimension(4).assert_is_compatible_with(Dimension(5))
    with pytest.raises(ValueError, match=">= 0"):
        Dimension(-1)
    assert tf.compat.dimension_value(shape.dims[2]) == 256
    assert tf.compat.dimension_value(7) == 7
    assert tf.compat.dimension_at_index(shape, 1).value is None
    assert tf.compat.dimension_at_index(tf.TensorShape(None), 3).value is None
    assert tf.TensorShape(shape.dims) == shape
    # TensorShape(None) has no dims
    assert tf.TensorShape(None).dims is None
    # a shape is true when its rank is known, as the guide prints
    assert [bool(tf.TensorShape(s)) for s in ([], [0], [1], [None], [1, 10, 100],
                                              [None, None, None])] == [True] * 6
    assert bool(tf.TensorShape(None)) is False
    assert bool(tf.constant(3.0).shape) is True
    with pytest.raises(AttributeError, match="'int' object has no attribute 'value'"):
        tf.TensorShape([16, None, 256])[0].value
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute"):
        tf.TensorShape([16, None, 256])[1].assert_is_compatible_with(256)

    x = tf.Variable(0.0)
    c = tf.constant(2.0)
    tensor_set = set([x.ref(), c.ref()])
    assert x.ref() in tensor_set and c.ref() in tensor_set
    assert tf.Variable(0.0).ref() not in tensor_set
    referenced_var = x.ref().deref()
    assert referenced_var is x
    assert c.ref().deref() is c
    assert repr(x.ref()).startswith("<Reference wrapping <tf.Variable")
    by_ref = {x.ref(): "x"}
    assert by_ref[x.ref()] == "x"


# ------------------------------------------------------ tutorials/images/segmentation

def _upsample(filters, size, apply_dropout=False):
    # tensorflow_examples' pix2pix.upsample, which the tutorial imports
    initializer = tf.random_normal_initializer(0., 0.02)
    result = tf.keras.Sequential()
    result.add(tf.keras.layers.Conv2DTranspose(filters, size, strides=2, padding="same",
                                               kernel_initializer=initializer, use_bias=False))
    result.add(tf.keras.layers.BatchNormalization())
    if apply_dropout:
        result.add(tf.keras.layers.Dropout(0.5))
    result.add(tf.keras.layers.ReLU())
    return result


def test_segmentation_tutorial_unet_on_a_frozen_mobilenet_and_pixel_weights():
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    S = 32
    images = rng.integers(0, 256, (12, 40, 40, 3)).astype("uint8")
    trimaps = rng.integers(1, 4, (12, 40, 40, 1)).astype("uint8")
    dataset = {
        "train": tf.data.Dataset.from_tensor_slices({"image": images[:8],
                                                     "segmentation_mask": trimaps[:8]}),
        "test": tf.data.Dataset.from_tensor_slices({"image": images[8:],
                                                    "segmentation_mask": trimaps[8:]})}

    def normalize(input_image, input_mask):
        input_image = tf.cast(input_image, tf.float32) / 255.0
        input_mask -= 1
        return input_image, input_mask

    def load_image(datapoint):
        input_image = tf.image.resize(datapoint["image"], (S, S))
        input_mask = tf.image.resize(datapoint["segmentation_mask"], (S, S),
                                     method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        input_image, input_mask = normalize(input_image, input_mask)
        return input_image, input_mask

    train_images = dataset["train"].map(load_image, num_parallel_calls=tf.data.AUTOTUNE)
    test_images = dataset["test"].map(load_image, num_parallel_calls=tf.data.AUTOTUNE)
    image_spec, mask_spec = train_images.element_spec
    # (nearest-neighbour resizing keeps the mask's uint8)
    assert mask_spec.dtype == tf.uint8 and mask_spec.shape.as_list() == [S, S, 1]
    first_image, first_mask = next(iter(train_images))
    assert sorted(np.unique(first_mask.numpy())) == [0, 1, 2]

    class Augment(tf.keras.layers.Layer):
        def __init__(self, seed=42):
            super().__init__()
            self.augment_inputs = tf.keras.layers.RandomFlip(mode="horizontal", seed=seed)
            self.augment_labels = tf.keras.layers.RandomFlip(mode="horizontal", seed=seed)

        def call(self, inputs, labels):
            inputs = self.augment_inputs(inputs)
            labels = self.augment_labels(labels)
            return inputs, labels

    train_batches = (train_images.cache().shuffle(100).batch(4).repeat().map(Augment())
                     .prefetch(buffer_size=tf.data.AUTOTUNE))
    test_batches = test_images.batch(4)
    for images_, masks_ in train_batches.take(1):
        # the same seed flips an image and its mask alike: the mask's values
        # stay the classes of the pixels they were
        assert images_.shape == (4, S, S, 3) and masks_.shape == (4, S, S, 1)
        assert set(np.unique(masks_.numpy())) <= {0.0, 1.0, 2.0}

    base_model = tf.keras.applications.MobileNetV2(input_shape=[S, S, 3], include_top=False,
                                                   weights=None, alpha=0.35)
    layer_names = ["block_1_expand_relu", "block_3_expand_relu", "block_6_expand_relu",
                   "block_13_expand_relu", "block_16_project"]
    base_model_outputs = [base_model.get_layer(name).output for name in layer_names]
    assert [tuple(o.shape[1:3]) for o in base_model_outputs] == \
        [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    down_stack = tf.keras.Model(inputs=base_model.input, outputs=base_model_outputs)
    down_stack.trainable = False
    up_stack = [_upsample(32, 3), _upsample(16, 3), _upsample(8, 3), _upsample(8, 3)]

    def unet_model(output_channels: int):
        inputs = tf.keras.layers.Input(shape=[S, S, 3])
        skips = down_stack(inputs)
        x = skips[-1]
        skips = reversed(skips[:-1])
        for up, skip in zip(up_stack, skips):
            x = up(x)
            concat = tf.keras.layers.Concatenate()
            x = concat([x, skip])
        last = tf.keras.layers.Conv2DTranspose(filters=output_channels, kernel_size=3,
                                               strides=2, padding="same")
        x = last(x)
        return tf.keras.Model(inputs=inputs, outputs=x)

    model = unet_model(output_channels=3)
    model.compile(optimizer="adam",
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    frozen = [w.numpy().copy() for w in down_stack.weights]

    def create_mask(pred_mask):
        pred_mask = tf.math.argmax(pred_mask, axis=-1)
        pred_mask = pred_mask[..., tf.newaxis]
        return pred_mask[0]

    predicted = create_mask(model.predict(first_image[tf.newaxis, ...], verbose=0))
    assert predicted.shape == (S, S, 1)
    history = model.fit(train_batches, epochs=2, steps_per_epoch=2, validation_steps=1,
                        validation_data=test_batches, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    # the frozen encoder (its batch statistics too) is left as it was
    for before, w in zip(frozen, down_stack.weights):
        np.testing.assert_array_equal(before, w.numpy())

    label = np.array([0, 0])
    prediction = np.array([[-3., 0], [-3, 0]])
    loss = tf.keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction=tf.keras.losses.Reduction.NONE)
    np.testing.assert_allclose(loss(label, prediction, [1, 10]).numpy(),
                               [np.log1p(np.e ** 3), 10 * np.log1p(np.e ** 3)], rtol=1e-6)

    def add_sample_weights(image, label):
        class_weights = tf.constant([2.0, 2.0, 1.0])
        class_weights = class_weights / tf.reduce_sum(class_weights)
        sample_weights = tf.gather(class_weights, indices=tf.cast(label, tf.int32))
        return image, label, sample_weights

    spec = train_batches.map(add_sample_weights).element_spec
    assert [s.shape.as_list() for s in spec] == [[None, S, S, 3], [None, S, S, 1],
                                                 [None, S, S, 1]]
    # the per-pixel weights weigh each pixel's loss (summed over the pixels
    # and divided by their number, as Keras's sum_over_batch_size)
    x, y, w = next(iter(test_batches.map(add_sample_weights)))
    logits = model.predict(x, verbose=0).astype(np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    pixel = -np.take_along_axis(log_p, y.numpy().astype(int), axis=-1)
    want = float((pixel * w.numpy()).sum() / pixel.size)
    got = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-4)
    weighted_model = unet_model(3)
    weighted_model.compile(optimizer="adam",
                           loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                           metrics=["accuracy"])
    h = weighted_model.fit(train_batches.map(add_sample_weights), epochs=1, steps_per_epoch=2,
                           verbose=0)
    assert np.isfinite(h.history["loss"][0])


# ------------------------------------------------------ tutorials/audio/music_generation

def test_music_generation_tutorial_windows_dict_outputs_and_sampling(tmp_path):
    tf.random.set_seed(42)
    np.random.seed(42)
    rng = np.random.default_rng(0)
    n_notes = 80
    all_notes = {"pitch": rng.integers(40, 80, n_notes), "step": rng.uniform(0, 0.5, n_notes),
                 "duration": rng.uniform(0.1, 1.0, n_notes)}
    key_order = ["pitch", "step", "duration"]
    train_notes = np.stack([all_notes[key] for key in key_order], axis=1)
    notes_ds = tf.data.Dataset.from_tensor_slices(train_notes)
    assert notes_ds.element_spec.shape.as_list() == [3]
    assert notes_ds.element_spec.dtype == tf.float64
    seq_length, vocab_size = 10, 128

    def create_sequences(dataset, seq_length, vocab_size=128):
        seq_length = seq_length + 1
        windows = dataset.window(seq_length, shift=1, stride=1, drop_remainder=True)
        flatten = lambda x: x.batch(seq_length, drop_remainder=True)  # noqa: E731
        sequences = windows.flat_map(flatten)

        def scale_pitch(x):
            x = x / [vocab_size, 1.0, 1.0]
            return x

        def split_labels(sequences):
            inputs = sequences[:-1]
            labels_dense = sequences[-1]
            labels = {key: labels_dense[i] for i, key in enumerate(key_order)}
            return scale_pitch(inputs), labels

        return sequences.map(split_labels, num_parallel_calls=tf.data.AUTOTUNE)

    seq_ds = create_sequences(notes_ds, seq_length, vocab_size)
    pairs = list(seq_ds)
    assert len(pairs) == n_notes - seq_length
    for start in (0, 7, len(pairs) - 1):
        seq, target = pairs[start]
        np.testing.assert_allclose(seq.numpy(), train_notes[start:start + seq_length] /
                                   [vocab_size, 1.0, 1.0])
        assert {k: float(v) for k, v in target.items()} == \
            dict(zip(key_order, train_notes[start + seq_length].tolist()))
    train_ds = (seq_ds.shuffle(n_notes - seq_length).batch(16, drop_remainder=True).cache()
                .prefetch(tf.data.experimental.AUTOTUNE))
    seq_spec, target_spec = train_ds.element_spec
    assert seq_spec.shape.as_list() == [16, seq_length, 3]
    assert sorted(target_spec) == sorted(key_order)

    def mse_with_positive_pressure(y_true, y_pred):
        mse = (y_true - y_pred) ** 2
        positive_pressure = 10 * tf.maximum(-y_pred, 0.0)
        return tf.reduce_mean(mse + positive_pressure)

    inputs = tf.keras.Input((seq_length, 3))
    x = tf.keras.layers.LSTM(16)(inputs)
    outputs = {"pitch": tf.keras.layers.Dense(128, name="pitch")(x),
               "step": tf.keras.layers.Dense(1, name="step")(x),
               "duration": tf.keras.layers.Dense(1, name="duration")(x)}
    model = tf.keras.Model(inputs, outputs)
    loss = {"pitch": tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "step": mse_with_positive_pressure, "duration": mse_with_positive_pressure}
    optimizer = tf.keras.optimizers.Adam(learning_rate=0.005)
    model.compile(loss=loss, optimizer=optimizer)
    losses = model.evaluate(train_ds, return_dict=True, verbose=0)
    assert sorted(losses) == ["duration_loss", "loss", "pitch_loss", "step_loss"]
    np.testing.assert_allclose(losses["loss"], losses["pitch_loss"] + losses["step_loss"] +
                               losses["duration_loss"], rtol=1e-5)
    # the pitch loss of untrained logits is about log(128)
    assert abs(losses["pitch_loss"] - np.log(128)) < 1.0
    # one batch's losses, by hand from the model's predictions
    seq_batch, target_batch = next(iter(train_ds))
    pred = model.predict(seq_batch, verbose=0)
    step_pred = pred["step"][:, 0].astype(np.float64)
    want_step = np.mean((target_batch["step"].numpy() - step_pred) ** 2 +
                        10 * np.maximum(-step_pred, 0))
    got = model.evaluate(seq_batch, target_batch, return_dict=True, verbose=0)
    np.testing.assert_allclose(got["step_loss"], want_step, rtol=1e-4)

    model.compile(loss=loss, loss_weights={"pitch": 0.05, "step": 1.0, "duration": 1.0},
                  optimizer=optimizer)
    weighted = model.evaluate(train_ds, return_dict=True, verbose=0)
    np.testing.assert_allclose(weighted["loss"], 0.05 * losses["pitch_loss"] +
                               losses["step_loss"] + losses["duration_loss"], rtol=1e-5)
    checkpoints = tmp_path / "training_checkpoints"
    callbacks = [
        tf.keras.callbacks.ModelCheckpoint(filepath=str(checkpoints / "ckpt_{epoch}"),
                                           save_weights_only=True),
        tf.keras.callbacks.EarlyStopping(monitor="loss", patience=5, verbose=0,
                                         restore_best_weights=True)]
    history = model.fit(train_ds, epochs=3, callbacks=callbacks, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert {"ckpt_1.index", "ckpt_3.index", "checkpoint"} <= set(os.listdir(checkpoints))

    def predict_next_note(notes, model, temperature=1.0):
        inputs = tf.expand_dims(notes, 0)
        predictions = model.predict(inputs, verbose=0)
        pitch_logits = predictions["pitch"]
        step = predictions["step"]
        duration = predictions["duration"]
        pitch_logits /= temperature
        pitch = tf.random.categorical(pitch_logits, num_samples=1)
        pitch = tf.squeeze(pitch, axis=-1)
        duration = tf.squeeze(duration, axis=-1)
        step = tf.squeeze(step, axis=-1)
        step = tf.maximum(0, step)
        duration = tf.maximum(0, duration)
        return int(pitch), float(step), float(duration)

    input_notes = train_notes[:seq_length] / np.array([vocab_size, 1, 1])
    generated, prev_start = [], 0
    for _ in range(4):
        pitch, step, duration = predict_next_note(input_notes, model, 2.0)
        assert 0 <= pitch < 128 and step >= 0 and duration >= 0
        start = prev_start + step
        generated.append((pitch, step, duration, start, start + duration))
        input_notes = np.delete(input_notes, 0, axis=0)
        input_notes = np.append(input_notes, np.expand_dims((pitch, step, duration), 0), axis=0)
        prev_start = start
    assert len(generated) == 4 and input_notes.shape == (seq_length, 3)
    # a checkpoint of an earlier epoch loads back into the model
    model.load_weights(str(checkpoints / "ckpt_1"))


# --------------------------------------------------- tutorials/images/transfer_learning

def _write_images(folder, classes, per_class, size, rng):
    for c, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 120, size + (3,)).astype(np.uint8)
            pixels[..., c] += 120  # each class its own tint
            tf.io.write_file(str(folder / name / f"{i}.png"), tf.io.encode_png(pixels))


@needs_keras
def test_transfer_learning_tutorial_frozen_base_then_fine_tuning(tmp_path):
    tf.keras.utils.set_random_seed(1)
    rng = np.random.default_rng(0)
    _write_images(tmp_path / "train", ["cats", "dogs"], 12, (40, 40), rng)
    _write_images(tmp_path / "validation", ["cats", "dogs"], 10, (40, 40), rng)
    BATCH_SIZE, IMG_SIZE = 4, (32, 32)
    train_dataset = tf.keras.utils.image_dataset_from_directory(
        str(tmp_path / "train"), shuffle=True, batch_size=BATCH_SIZE, image_size=IMG_SIZE)
    validation_dataset = tf.keras.utils.image_dataset_from_directory(
        str(tmp_path / "validation"), shuffle=True, batch_size=BATCH_SIZE, image_size=IMG_SIZE)
    assert train_dataset.class_names == ["cats", "dogs"]
    val_batches = tf.data.experimental.cardinality(validation_dataset)
    assert int(val_batches) == 5
    test_dataset = validation_dataset.take(val_batches // 5)
    validation_dataset = validation_dataset.skip(val_batches // 5)
    assert int(tf.data.experimental.cardinality(validation_dataset)) == 4
    assert int(tf.data.experimental.cardinality(test_dataset)) == 1
    # (a count given as a tensor, as the cardinality is)
    numbers = tf.data.Dataset.range(10)
    n = numbers.cardinality()
    assert [b.tolist() for b in numbers.batch(n // 4).take(n // 5)] == [[0, 1], [2, 3]]
    assert len(list(numbers.shuffle(n).repeat(tf.constant(2)).skip(n // 2))) == 15
    AUTOTUNE = tf.data.AUTOTUNE
    train_dataset = train_dataset.prefetch(buffer_size=AUTOTUNE)
    validation_dataset = validation_dataset.prefetch(buffer_size=AUTOTUNE)
    test_dataset = test_dataset.prefetch(buffer_size=AUTOTUNE)
    data_augmentation = tf.keras.Sequential([tf.keras.layers.RandomFlip("horizontal"),
                                             tf.keras.layers.RandomRotation(0.2)])
    preprocess_input = tf.keras.applications.mobilenet_v2.preprocess_input
    rescale = tf.keras.layers.Rescaling(1. / 127.5, offset=-1)
    np.testing.assert_allclose(rescale(np.array([[0.0, 255.0]])).numpy(), [[-1, 1]])
    IMG_SHAPE = IMG_SIZE + (3,)
    base_model = tf.keras.applications.MobileNetV2(input_shape=IMG_SHAPE, include_top=False,
                                                   weights=None, alpha=0.35)
    image_batch, label_batch = next(iter(train_dataset))
    feature_batch = base_model(image_batch)
    assert feature_batch.shape == (4, 1, 1, 1280)
    base_model.trainable = False
    global_average_layer = tf.keras.layers.GlobalAveragePooling2D()
    feature_batch_average = global_average_layer(feature_batch)
    assert feature_batch_average.shape == (4, 1280)
    prediction_layer = tf.keras.layers.Dense(1, activation="sigmoid")
    assert prediction_layer(feature_batch_average).shape == (4, 1)
    inputs = tf.keras.Input(shape=IMG_SHAPE)
    x = data_augmentation(inputs)
    x = preprocess_input(x)
    x = base_model(x, training=False)
    x = global_average_layer(x)
    x = tf.keras.layers.Dropout(0.2)(x)
    outputs = prediction_layer(x)
    model = tf.keras.Model(inputs, outputs)
    assert len(model.trainable_variables) == 2
    base_learning_rate = 0.001
    model.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=base_learning_rate),
                  loss=tf.keras.losses.BinaryCrossentropy(),
                  metrics=[tf.keras.metrics.BinaryAccuracy(threshold=0.5, name="accuracy")])
    loss0, accuracy0 = model.evaluate(validation_dataset, verbose=0)
    assert 0 <= accuracy0 <= 1 and np.isfinite(loss0)
    initial_epochs = 2
    frozen = [w.numpy().copy() for w in base_model.weights]
    history = model.fit(train_dataset, epochs=initial_epochs,
                        validation_data=validation_dataset, verbose=0)
    for before, w in zip(frozen, base_model.weights):
        np.testing.assert_array_equal(before, w.numpy())

    base_model.trainable = True
    fine_tune_at = 100
    for layer in base_model.layers[:fine_tune_at]:
        layer.trainable = False
    # as many variables train as in Keras's MobileNetV2 frozen the same way
    reference = real_keras.applications.MobileNetV2(input_shape=IMG_SHAPE, include_top=False,
                                                    weights=None, alpha=0.35)
    assert len(base_model.layers) == len(reference.layers)
    for layer in reference.layers[:fine_tune_at]:
        layer.trainable = False
    assert len(base_model.trainable_variables) == len(reference.trainable_variables)
    model.compile(loss=tf.keras.losses.BinaryCrossentropy(),
                  optimizer=tf.keras.optimizers.RMSprop(learning_rate=base_learning_rate / 10),
                  metrics=[tf.keras.metrics.BinaryAccuracy(threshold=0.5, name="accuracy")])
    assert len(model.trainable_variables) == len(reference.trainable_variables) + 2
    moving = [w.numpy().copy() for w in base_model.non_trainable_weights if "moving" in w.name]
    assert moving
    kernel_before = base_model.layers[-3].trainable_weights[0].numpy().copy()
    history_fine = model.fit(train_dataset, epochs=initial_epochs + 2,
                             initial_epoch=len(history.epoch),
                             validation_data=validation_dataset, verbose=0)
    assert history_fine.epoch == [2, 3]
    # the base runs in inference mode (training=False): its batch statistics
    # stay, while its unfrozen kernels learn
    after = [w.numpy() for w in base_model.non_trainable_weights if "moving" in w.name]
    for before, now in zip(moving, after):
        np.testing.assert_array_equal(before, now)
    assert not np.array_equal(kernel_before, base_model.layers[-3].trainable_weights[0].numpy())
    loss, accuracy = model.evaluate(test_dataset, verbose=0)
    image_batch, label_batch = test_dataset.as_numpy_iterator().next()
    predictions = model.predict_on_batch(image_batch).flatten()
    predictions = tf.where(predictions < 0.5, 0, 1)
    assert predictions.numpy().shape == label_batch.shape
    assert set(predictions.numpy().tolist()) <= {0, 1}


# ------------------------------------------------------------------ guide/data

def test_data_guide_element_dtypes_and_specs_as_tensorflow():
    dataset = tf.data.Dataset.from_tensor_slices([8, 3, 0, 8, 2, 1])
    # Python ints convert as tf.constant converts them: int32
    assert dataset.element_spec == tf.TensorSpec(shape=(), dtype=tf.int32)
    assert [int(e.numpy()) for e in dataset] == [8, 3, 0, 8, 2, 1]
    total = dataset.reduce(0, lambda state, value: state + value)
    assert int(total.numpy()) == 22 and total.dtype == tf.int32
    floats = tf.data.Dataset.from_tensor_slices(([[1., 1.5], [2., 2.5]], [0, 1]))
    assert [s.dtype for s in floats.element_spec] == [tf.float32, tf.int32]
    # NumPy arrays keep their dtype
    assert tf.data.Dataset.from_tensor_slices(np.array([8, 3])).element_spec.dtype == tf.int64
    assert tf.data.Dataset.from_tensors([1, 2, 3]).element_spec == \
        tf.TensorSpec(shape=(3,), dtype=tf.int32)
    dataset1 = tf.data.Dataset.from_tensor_slices(tf.random.uniform([4, 10]))
    dataset2 = tf.data.Dataset.from_tensor_slices(
        (tf.random.uniform([4]), tf.random.uniform([4, 100], maxval=100, dtype=tf.int32)))
    dataset3 = tf.data.Dataset.zip((dataset1, dataset2))
    assert dataset3.element_spec == (tf.TensorSpec((10,), tf.float32),
                                     (tf.TensorSpec((), tf.float32),
                                      tf.TensorSpec((100,), tf.int32)))
    dataset4 = tf.data.Dataset.from_tensors(
        tf.SparseTensor(indices=[[0, 0], [1, 2]], values=[1, 2], dense_shape=[3, 4]))
    spec = dataset4.element_spec
    assert isinstance(spec, tf.SparseTensorSpec)
    assert repr(spec) == "SparseTensorSpec(TensorShape([3, 4]), tf.int32)"
    assert spec.value_type is tf.SparseTensor
    sparse = next(iter(dataset4))
    np.testing.assert_array_equal(tf.sparse.to_dense(sparse).numpy(),
                                  [[1, 0, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0]])
    rows = tf.data.Dataset.from_tensor_slices(
        tf.SparseTensor(indices=[[0, 0], [1, 2]], values=[1.5, 2.0], dense_shape=[3, 4]))
    assert rows.element_spec == tf.SparseTensorSpec([4], tf.float32)
    assert rows.batch(2).element_spec == tf.SparseTensorSpec([None, 4], tf.float32)
    assert tf.data.Dataset.from_tensors(["a", "b"]).element_spec.dtype == tf.string
    assert next(iter(tf.data.Dataset.from_tensors(["a", "b"]))).numpy().tolist() == [b"a", b"b"]


def test_data_guide_text_lines_csv_files_and_time_series_windows(tmp_path):
    for name in ["cowper.txt", "derby.txt", "butler.txt"]:
        (tmp_path / name).write_text("".join(f"{name} line {i}\n" for i in range(4)))
    file_paths = [str(tmp_path / n) for n in ["cowper.txt", "derby.txt", "butler.txt"]]
    dataset = tf.data.TextLineDataset(file_paths)
    first = [line.numpy() for line in dataset.take(5)]
    # lines are string tensors of bytes, as TensorFlow's
    assert first == [b"cowper.txt line 0", b"cowper.txt line 1", b"cowper.txt line 2",
                     b"cowper.txt line 3", b"derby.txt line 0"]
    assert dataset.element_spec == tf.TensorSpec((), tf.string)
    files_ds = tf.data.Dataset.from_tensor_slices(file_paths)
    lines_ds = files_ds.interleave(tf.data.TextLineDataset, cycle_length=3)
    assert [line.numpy() for line in lines_ds.take(4)] == \
        [b"cowper.txt line 0", b"derby.txt line 0", b"butler.txt line 0", b"cowper.txt line 1"]

    titanic_file = tmp_path / "train.csv"
    titanic_file.write_text("survived,sex,fare\n0,male,7.25\n1,female,71.28\n1,female,7.93\n"
                            "0,male,8.46\n")
    titanic_lines = tf.data.TextLineDataset(str(titanic_file))

    def survived(line):
        return tf.not_equal(tf.strings.substr(line, 0, 1), "0")

    survivors = titanic_lines.skip(1).filter(survived)
    assert [line.numpy() for line in survivors] == [b"1,female,71.28", b"1,female,7.93"]
    assert [b.shape[0] for b in titanic_lines.repeat(3).batch(4)] == [4, 4, 4, 3]
    assert [b.shape[0] for b in titanic_lines.batch(4).repeat(3)] == [4, 1, 4, 1, 4, 1]
    counter = tf.data.experimental.Counter()
    n, line_batch = next(iter(tf.data.Dataset.zip((counter, titanic_lines)).batch(5)))
    assert n.numpy().tolist() == [0, 1, 2, 3, 4] and line_batch.dtype == tf.string
    assert line_batch.numpy()[0] == b"survived,sex,fare"

    missing = tmp_path / "missing.csv"
    missing.write_text("1,2,3,4\n,2,3,4\n1,,3,4\n1,2,,4\n1,2,3,\n,,,\n")
    dataset = tf.data.experimental.CsvDataset(str(missing), [999, 999, 999, 999])
    dataset = dataset.map(lambda *items: tf.stack(items))
    assert dataset.element_spec == tf.TensorSpec((4,), tf.int32)
    assert [line.numpy().tolist() for line in dataset] == [
        [1, 2, 3, 4], [999, 2, 3, 4], [1, 999, 3, 4], [1, 2, 999, 4], [1, 2, 3, 999],
        [999, 999, 999, 999]]
    dataset = tf.data.experimental.CsvDataset(str(missing), [999, 999], select_cols=[1, 3])
    assert [[int(v) for v in line] for line in dataset] == \
        [[2, 4], [2, 4], [999, 4], [2, 4], [2, 999], [999, 999]]

    range_ds = tf.data.Dataset.range(100000)
    batches = range_ds.batch(15, drop_remainder=True)
    features, label = next(iter(batches.map(lambda batch: (batch[:-5], batch[-5:]))))
    assert features.numpy().tolist() == list(range(10)) and \
        label.numpy().tolist() == list(range(10, 15))
    features = range_ds.batch(10, drop_remainder=True)
    labels = range_ds.batch(10).skip(1).map(lambda labels: labels[:3])
    pairs = [(f.numpy().tolist(), lab.numpy().tolist())
             for f, lab in tf.data.Dataset.zip((features, labels)).take(2)]
    assert pairs == [(list(range(10)), [10, 11, 12]), (list(range(10, 20)), [20, 21, 22])]
    windows = range_ds.window(5, shift=1)
    assert [int(x) for x in windows.flat_map(lambda x: x).take(12)] == \
        [0, 1, 2, 3, 4, 1, 2, 3, 4, 5, 2, 3]
    strided = range_ds.window(10, shift=5, stride=3).flat_map(
        lambda sub: sub.batch(10, drop_remainder=True))
    assert [e.numpy().tolist() for e in strided.take(2)] == \
        [list(range(0, 30, 3)), list(range(5, 35, 3))]


def test_data_guide_class_counts_by_reduce_and_rejection_resampling(tmp_path):
    rng = np.random.default_rng(0)
    csv_path = tmp_path / "creditcard.csv"
    rows = ["V0,V1,V2,Class"] + [",".join(["%.3f" % v for v in rng.standard_normal(3)] +
                                          [str(int(i % 10 == 0))]) for i in range(200)]
    csv_path.write_text("\n".join(rows) + "\n")
    creditcard_ds = tf.data.experimental.make_csv_dataset(
        str(csv_path), batch_size=40, label_name="Class", num_epochs=1, shuffle=False,
        column_defaults=[float()] * 3 + [int()])

    def count(counts, batch):
        features, labels = batch
        class_1 = tf.cast(labels == 1, tf.int32)
        class_0 = tf.cast(labels == 0, tf.int32)
        counts["class_0"] += tf.reduce_sum(class_0)
        counts["class_1"] += tf.reduce_sum(class_1)
        return counts

    counts = creditcard_ds.take(5).reduce(initial_state={"class_0": 0, "class_1": 0},
                                          reduce_func=count)
    assert int(counts["class_0"].numpy()) == 180 and int(counts["class_1"].numpy()) == 20
    counts = np.array([counts["class_0"].numpy(), counts["class_1"].numpy()]).astype(np.float32)
    fractions = counts / counts.sum()
    np.testing.assert_allclose(fractions, [0.9, 0.1])
    positive_ds = creditcard_ds.unbatch().filter(lambda features, label: label == 1).repeat()
    for features, label in positive_ds.batch(10).take(1):
        assert label.numpy().tolist() == [1] * 10
    resample_ds = creditcard_ds.repeat().unbatch().rejection_resample(
        lambda features, label: label, target_dist=[0.5, 0.5], initial_dist=fractions).batch(10)
    balanced_ds = resample_ds.map(lambda extra_label, features_and_label: features_and_label)
    seen = np.concatenate([labels.numpy() for _, labels in balanced_ds.take(20)])
    assert 0.3 < seen.mean() < 0.7


# ------------------------------------------------------------ guide/tensor_slicing

def test_tensor_slicing_guide_scatters_keep_the_tensors_dtype():
    t1 = tf.constant([0, 1, 2, 3, 4, 5, 6, 7])
    assert tf.slice(t1, begin=[1], size=[3]).numpy().tolist() == [1, 2, 3]
    assert t1[-3:].numpy().tolist() == [5, 6, 7] and t1[::3].numpy().tolist() == [0, 3, 6]
    t3 = tf.constant([[[1, 3, 5, 7], [9, 11, 13, 15]], [[17, 19, 21, 23], [25, 27, 29, 31]]])
    assert tf.slice(t3, begin=[1, 1, 0], size=[1, 1, 2]).numpy().tolist() == [[[25, 27]]]
    alphabet = tf.constant(list("abcdefghijklmnopqrstuvwxyz"))
    assert tf.gather(alphabet, indices=[2, 0, 19, 18]).numpy().tolist() == \
        [b"c", b"a", b"t", b"s"]
    t5 = np.reshape(np.arange(18), [2, 3, 3])
    assert tf.gather_nd(t5, indices=[[0, 0, 0], [1, 2, 1]]).numpy().tolist() == [0, 16]
    assert tf.gather_nd(t5, indices=[[[0, 0], [0, 2]], [[1, 0], [1, 2]]]).shape == (2, 2, 3)
    t6 = tf.constant([10])
    scattered = tf.scatter_nd(indices=tf.constant([[1], [3], [5], [7], [9]]),
                              updates=tf.constant([2, 4, 6, 8, 10]), shape=t6)
    assert scattered.numpy().tolist() == [0, 2, 0, 4, 0, 6, 0, 8, 0, 10]
    assert scattered.dtype == tf.int32
    t2 = tf.constant([[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11, 12, 13, 14],
                      [15, 16, 17, 18, 19]])
    new_indices = tf.constant([[0, 2], [2, 1], [3, 3]])
    t7 = tf.gather_nd(t2, indices=new_indices)
    t8 = tf.scatter_nd(indices=new_indices, updates=t7, shape=tf.constant([4, 5]))
    t9 = tf.SparseTensor(indices=[[0, 2], [2, 1], [3, 3]], values=[2, 11, 18],
                         dense_shape=[4, 5])
    assert t9.dtype == tf.int32
    # printed as TensorFlow prints it
    assert str(t9) == (
        "SparseTensor(indices=tf.Tensor(\n[[0 2]\n [2 1]\n [3 3]], shape=(3, 2), dtype=int64), "
        "values=tf.Tensor([ 2 11 18], shape=(3,), dtype=int32), "
        "dense_shape=tf.Tensor([4 5], shape=(2,), dtype=int64))")
    np.testing.assert_array_equal(tf.sparse.to_dense(t9).numpy(), t8.numpy())
    t11 = tf.constant([[2, 7, 0], [9, 0, 1], [0, 3, 8]])
    # the updates (Python ints) take the tensor's dtype, int32
    t12 = tf.tensor_scatter_nd_add(t11, indices=[[0, 2], [1, 1], [2, 0]], updates=[6, 5, 4])
    assert t12.dtype == tf.int32
    assert t12.numpy().tolist() == [[2, 7, 6], [9, 5, 1], [4, 3, 8]]
    t13 = tf.tensor_scatter_nd_sub(
        t11, indices=[[0, 0], [0, 1], [1, 0], [1, 1], [1, 2], [2, 1], [2, 2]],
        updates=[1, 7, 9, -1, 1, 3, 7])
    assert t13.dtype == tf.int32 and t13.numpy().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    t14 = tf.constant([[-2, -7, 0], [-9, 0, 1], [0, -3, -8]])
    t15 = tf.tensor_scatter_nd_min(t14, indices=[[0, 2], [1, 1], [2, 0]], updates=[-6, -5, -4])
    assert t15.dtype == tf.int32
    assert t15.numpy().tolist() == [[-2, -7, -6], [-9, -5, 1], [-4, -3, -8]]
    t16 = tf.tensor_scatter_nd_max(t14, indices=[[0, 2], [1, 1], [2, 0]], updates=[6, 5, 4])
    assert t16.numpy().tolist() == [[-2, -7, 6], [-9, 5, 1], [4, -3, -8]]
    updated = tf.tensor_scatter_nd_update(t11, [[1, 1]], [42])
    assert updated.dtype == tf.int32 and updated.numpy()[1, 1] == 42
    # a float tensor's updates (Python floats) stay float32, and differentiable
    v = tf.Variable([1.0, 2.0, 3.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.tensor_scatter_nd_add(v * 1.0, [[0], [2]], v[:2] * 2.0) ** 2)
    # out = [3 v0, v1, v2 + 2 v1]
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), [18.0, 32.0, 14.0])


# ------------------------------------------------- tutorials/keras/text_classification

def test_text_classification_tutorial_reviews_from_folders_and_an_exported_model(tmp_path):
    import re
    import shutil
    import string
    tf.keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    good = ["great", "wonderful", "loved", "excellent", "superb"]
    bad = ["terrible", "awful", "boring", "hated", "dull"]
    filler = ["the", "movie", "was", "a", "film", "plot", "actor"]
    for split in ["train", "test"]:
        for label, words in [("pos", good), ("neg", bad)]:
            folder = tmp_path / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(20):
                tokens = list(rng.choice(filler, 6)) + list(rng.choice(words, 2))
                rng.shuffle(tokens)
                (folder / f"{i}_7.txt").write_text(
                    " ".join(tokens).capitalize() + ".<br /><br />" +
                    " ".join(rng.choice(filler, 3)) + "!")
    (tmp_path / "aclImdb" / "train" / "unsup").mkdir()
    (tmp_path / "aclImdb" / "train" / "unsup" / "0_0.txt").write_text("unlabelled")
    train_dir = str(tmp_path / "aclImdb" / "train")
    test_dir = str(tmp_path / "aclImdb" / "test")
    shutil.rmtree(os.path.join(train_dir, "unsup"))
    raw_train_ds = tf.keras.utils.text_dataset_from_directory(
        train_dir, batch_size=8, validation_split=0.2, subset="training", seed=42)
    raw_val_ds = tf.keras.utils.text_dataset_from_directory(
        train_dir, batch_size=8, validation_split=0.2, subset="validation", seed=42)
    raw_test_ds = tf.keras.utils.text_dataset_from_directory(test_dir, batch_size=8)
    assert raw_train_ds.class_names == ["neg", "pos"]
    for text_batch, label_batch in raw_train_ds.take(1):
        review = text_batch.numpy()[0]
        assert isinstance(review, bytes) and b"<br /><br />" in review
        assert label_batch.dtype == tf.int32

    def custom_standardization(input_data):
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
        return tf.strings.regex_replace(stripped_html, "[%s]" % re.escape(string.punctuation),
                                        "")

    vectorize_layer = layers.TextVectorization(standardize=custom_standardization,
                                               max_tokens=100, output_mode="int",
                                               output_sequence_length=20)
    vectorize_layer.adapt(raw_train_ds.map(lambda x, y: x))
    vocabulary = vectorize_layer.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"] and len(vocabulary) == 2 + 7 + 10
    assert set(vocabulary[2:]) == set(good + bad + filler)

    def vectorize_text(text, label):
        text = tf.expand_dims(text, -1)
        return vectorize_layer(text), label

    text_batch, label_batch = next(iter(raw_train_ds))
    first_review, first_label = text_batch[0], label_batch[0]
    assert raw_train_ds.class_names[first_label] in ("neg", "pos")
    ids, _ = vectorize_text(first_review, first_label)
    assert ids.shape == (1, 20) and ids.dtype == tf.int64
    words = custom_standardization(first_review).numpy().decode().split()
    assert [vocabulary[i] for i in ids.numpy()[0, :len(words)]] == words
    train_ds = raw_train_ds.map(vectorize_text).cache().prefetch(buffer_size=tf.data.AUTOTUNE)
    val_ds = raw_val_ds.map(vectorize_text).cache().prefetch(buffer_size=tf.data.AUTOTUNE)
    test_ds = raw_test_ds.map(vectorize_text).cache().prefetch(buffer_size=tf.data.AUTOTUNE)
    model = tf.keras.Sequential([
        layers.Embedding(100, 8), layers.Dropout(0.2), layers.GlobalAveragePooling1D(),
        layers.Dropout(0.2), layers.Dense(1)])
    model.compile(loss=losses.BinaryCrossentropy(from_logits=True),
                  optimizer=tf.keras.optimizers.Adam(0.05),
                  metrics=[tf.metrics.BinaryAccuracy(threshold=0.0)])
    history = model.fit(train_ds, validation_data=val_ds, epochs=10, verbose=0)
    assert sorted(history.history) == ["binary_accuracy", "loss", "val_binary_accuracy",
                                       "val_loss"]
    loss, accuracy = model.evaluate(test_ds, verbose=0)
    assert accuracy >= 0.9
    export_model = tf.keras.Sequential([vectorize_layer, model, layers.Activation("sigmoid")])
    export_model.compile(loss=losses.BinaryCrossentropy(from_logits=False), optimizer="adam",
                         metrics=["accuracy"])
    metrics = export_model.evaluate(raw_test_ds, return_dict=True, verbose=0)
    np.testing.assert_allclose(metrics["accuracy"], accuracy)
    examples = tf.constant(["The movie was great!", "The movie was okay.",
                            "The movie was terrible..."])
    scores = export_model.predict(examples, verbose=0)
    assert scores.shape == (3, 1)
    assert scores[0, 0] > 0.5 > scores[2, 0]


# ---------------------------------------------- tutorials/generative/style_transfer

def test_style_transfer_tutorial_optimizes_an_image_variable():
    tf.keras.utils.set_random_seed(0)

    def load_img(seed):
        img = np.random.default_rng(seed).integers(0, 256, (40, 30, 3)).astype(np.uint8)
        img = tf.image.convert_image_dtype(img, tf.float32)
        max_dim = 32
        shape = tf.cast(tf.shape(img)[:-1], tf.float32)
        long_dim = max(shape)
        scale = max_dim / long_dim
        new_shape = tf.cast(shape * scale, tf.int32)
        img = tf.image.resize(img, new_shape)
        return img[tf.newaxis, :]

    content_image, style_image = load_img(1), load_img(2)
    assert content_image.shape == (1, 32, 24, 3) and content_image.dtype == tf.float32
    vgg = tf.keras.applications.VGG19(include_top=False, weights=None)
    content_layers = ["block5_conv2"]
    style_layers = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                    "block5_conv1"]
    num_content_layers, num_style_layers = len(content_layers), len(style_layers)

    def vgg_layers(layer_names):
        vgg.trainable = False
        outputs = [vgg.get_layer(name).output for name in layer_names]
        return tf.keras.Model([vgg.input], outputs)

    style_outputs = vgg_layers(style_layers)(style_image * 255)
    assert [o.numpy().shape for o in style_outputs] == [
        (1, 32, 24, 64), (1, 16, 12, 128), (1, 8, 6, 256), (1, 4, 3, 512), (1, 2, 1, 512)]

    def gram_matrix(input_tensor):
        result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
        input_shape = tf.shape(input_tensor)
        num_locations = tf.cast(input_shape[1] * input_shape[2], tf.float32)
        return result / (num_locations)

    class StyleContentModel(tf.keras.models.Model):
        def __init__(self, style_layers, content_layers):
            super(StyleContentModel, self).__init__()
            self.vgg = vgg_layers(style_layers + content_layers)
            self.style_layers = style_layers
            self.content_layers = content_layers
            self.num_style_layers = len(style_layers)
            self.vgg.trainable = False

        def call(self, inputs):
            inputs = inputs * 255.0
            preprocessed_input = tf.keras.applications.vgg19.preprocess_input(inputs)
            outputs = self.vgg(preprocessed_input)
            style_outputs, content_outputs = (outputs[:self.num_style_layers],
                                              outputs[self.num_style_layers:])
            style_outputs = [gram_matrix(style_output) for style_output in style_outputs]
            content_dict = {name: value for name, value in zip(self.content_layers,
                                                               content_outputs)}
            style_dict = {name: value for name, value in zip(self.style_layers, style_outputs)}
            return {"content": content_dict, "style": style_dict}

    extractor = StyleContentModel(style_layers, content_layers)
    results = extractor(tf.constant(content_image))
    assert sorted(results) == ["content", "style"]
    assert results["style"]["block2_conv1"].shape == (1, 128, 128)
    assert results["content"]["block5_conv2"].shape == (1, 2, 1, 512)
    # the Gram matrix of the first style layer, by NumPy
    first = vgg_layers(["block1_conv1"])(
        tf.keras.applications.vgg19.preprocess_input(content_image * 255.0)).numpy()
    want = np.einsum("bijc,bijd->bcd", first.astype(np.float64), first) / (32 * 24)
    np.testing.assert_allclose(results["style"]["block1_conv1"].numpy(), want, rtol=2e-4,
                               atol=1e-3)
    style_targets = extractor(style_image)["style"]
    content_targets = extractor(content_image)["content"]
    image = tf.Variable(content_image)

    def clip_0_1(image):
        return tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0)

    opt = tf.keras.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)
    style_weight, content_weight, total_variation_weight = 1e-2, 1e4, 30

    def style_content_loss(outputs):
        style_outputs = outputs["style"]
        content_outputs = outputs["content"]
        style_loss = tf.add_n([tf.reduce_mean((style_outputs[name] - style_targets[name]) ** 2)
                               for name in style_outputs.keys()])
        style_loss *= style_weight / num_style_layers
        content_loss = tf.add_n([tf.reduce_mean((content_outputs[name] -
                                                 content_targets[name]) ** 2)
                                 for name in content_outputs.keys()])
        content_loss *= content_weight / num_content_layers
        return style_loss + content_loss

    losses_seen = []

    @tf.function()
    def train_step(image):
        with tf.GradientTape() as tape:
            outputs = extractor(image)
            loss = style_content_loss(outputs)
            loss += total_variation_weight * tf.image.total_variation(image)
        grad = tape.gradient(loss, image)
        assert grad.shape == (1, 32, 24, 3)
        opt.apply_gradients([(grad, image)])
        image.assign(clip_0_1(image))
        losses_seen.append(float(tf.reduce_sum(loss)))

    vgg_weights = [w.numpy().copy() for w in vgg.weights[:2]]
    for _ in range(3):
        train_step(image)
    assert losses_seen[-1] < losses_seen[0]
    assert not np.array_equal(image.numpy(), content_image.numpy())
    assert image.numpy().min() >= 0.0 and image.numpy().max() <= 1.0
    for before, w in zip(vgg_weights, vgg.weights[:2]):
        np.testing.assert_array_equal(before, w.numpy())

    def high_pass_x_y(image):
        x_var = image[:, :, 1:, :] - image[:, :, :-1, :]
        y_var = image[:, 1:, :, :] - image[:, :-1, :, :]
        return x_var, y_var

    def total_variation_loss(image):
        x_deltas, y_deltas = high_pass_x_y(image)
        return tf.reduce_sum(tf.abs(x_deltas)) + tf.reduce_sum(tf.abs(y_deltas))

    np.testing.assert_allclose(total_variation_loss(image).numpy(),
                               tf.image.total_variation(image).numpy()[0], rtol=1e-5)
    assert tf.image.sobel_edges(content_image).shape == (1, 32, 24, 3, 2)


# --------------------------------------------------- tutorials/generative/deepdream

def test_deepdream_tutorial_gradient_ascent_in_a_module_with_a_signature():
    tf.keras.utils.set_random_seed(0)
    original_img = np.random.default_rng(0).integers(0, 256, (90, 100, 3)).astype(np.uint8)

    def deprocess(img):
        img = 255 * (img + 1.0) / 2.0
        return tf.cast(img, tf.uint8)

    base_model = tf.keras.applications.InceptionV3(include_top=False, weights=None)
    names = ["mixed3", "mixed5"]
    dream_layers = [base_model.get_layer(name).output for name in names]
    dream_model = tf.keras.Model(inputs=base_model.input, outputs=dream_layers)

    def calc_loss(img, model):
        img_batch = tf.expand_dims(img, axis=0)
        layer_activations = model(img_batch)
        if len(layer_activations) == 1:
            layer_activations = [layer_activations]
        losses = []
        for act in layer_activations:
            loss = tf.math.reduce_mean(act)
            losses.append(loss)
        return tf.reduce_sum(losses)

    class DeepDream(tf.Module):
        def __init__(self, model):
            self.model = model

        @tf.function(input_signature=(tf.TensorSpec(shape=[None, None, 3], dtype=tf.float32),
                                      tf.TensorSpec(shape=[], dtype=tf.int32),
                                      tf.TensorSpec(shape=[], dtype=tf.float32),))
        def __call__(self, img, steps, step_size):
            loss = tf.constant(0.0)
            for n in tf.range(steps):
                with tf.GradientTape() as tape:
                    tape.watch(img)
                    loss = calc_loss(img, self.model)
                gradients = tape.gradient(loss, img)
                gradients /= tf.math.reduce_std(gradients) + 1e-8
                img = img + gradients * step_size
                img = tf.clip_by_value(img, -1, 1)
            return loss, img

    deepdream = DeepDream(dream_model)
    img = tf.convert_to_tensor(tf.keras.applications.inception_v3.preprocess_input(
        original_img.astype("float32")))
    start = float(calc_loss(img, dream_model))
    loss, dreamed = deepdream(img, tf.constant(3), tf.constant(0.05))
    assert dreamed.shape == (90, 100, 3)
    # gradient ascent excites the layers: the loss grows step by step
    assert float(calc_loss(dreamed, dream_model)) > float(loss) > start
    assert float(tf.reduce_max(tf.abs(dreamed))) <= 1.0
    result = deprocess(dreamed)
    assert result.dtype == tf.uint8 and result.shape == (90, 100, 3)
    # another size fits the signature's [None, None, 3]; another rank does not
    deepdream(tf.image.resize(img, (117, 130)), tf.constant(1), tf.constant(0.01))
    with pytest.raises((TypeError, ValueError)):
        deepdream(img[tf.newaxis], tf.constant(1), tf.constant(0.01))

    def random_roll(img, maxroll):
        shift = tf.random.uniform(shape=[2], minval=-maxroll, maxval=maxroll, dtype=tf.int32)
        img_rolled = tf.roll(img, shift=shift, axis=[0, 1])
        return shift, img_rolled

    shift, img_rolled = random_roll(np.array(original_img), 50)
    assert shift.dtype == tf.int32 and np.all(np.abs(shift.numpy()) < 50)
    np.testing.assert_array_equal(img_rolled.numpy(),
                                  np.roll(original_img, shift.numpy(), axis=(0, 1)))

    class TiledGradients(tf.Module):
        def __init__(self, model):
            self.model = model

        @tf.function(input_signature=(tf.TensorSpec(shape=[None, None, 3], dtype=tf.float32),
                                      tf.TensorSpec(shape=[2], dtype=tf.int32),
                                      tf.TensorSpec(shape=[], dtype=tf.int32),))
        def __call__(self, img, img_size, tile_size=512):
            shift, img_rolled = random_roll(img, tile_size)
            gradients = tf.zeros_like(img_rolled)
            xs = tf.range(0, img_size[1], tile_size)[:-1]
            if not tf.cast(len(xs), bool):
                xs = tf.constant([0])
            ys = tf.range(0, img_size[0], tile_size)[:-1]
            if not tf.cast(len(ys), bool):
                ys = tf.constant([0])
            for x in xs:
                for y in ys:
                    with tf.GradientTape() as tape:
                        tape.watch(img_rolled)
                        img_tile = img_rolled[y:y + tile_size, x:x + tile_size]
                        loss = calc_loss(img_tile, self.model)
                    gradients = gradients + tape.gradient(loss, img_rolled)
            gradients = tf.roll(gradients, shift=-shift, axis=[0, 1])
            gradients /= tf.math.reduce_std(gradients) + 1e-8
            return gradients

    get_tiled_gradients = TiledGradients(dream_model)
    gradients = get_tiled_gradients(img, tf.shape(img)[:-1], tf.constant(80))
    assert gradients.shape == (90, 100, 3)
    # (normalized to std / (std + 1e-8): just under 1 for the small raw gradients)
    assert 0.99 < float(tf.math.reduce_std(gradients)) <= 1.0


# ----------------------------------------------------- tutorials/generative/pix2pix

def test_pix2pix_tutorial_two_tapes_summaries_and_checkpoints(tmp_path):
    import datetime
    tf.keras.utils.set_random_seed(0)
    PATH = tmp_path / "facades"
    rng = np.random.default_rng(0)
    for split, n in [("train", 3), ("test", 2)]:
        (PATH / split).mkdir(parents=True)
        for i in range(n):
            tf.io.write_file(str(PATH / split / f"{i}.jpg"), tf.io.encode_jpeg(
                rng.integers(0, 256, (40, 80, 3)).astype(np.uint8)))
    IMG_HEIGHT = IMG_WIDTH = 32

    def load(image_file):
        image = tf.io.read_file(image_file)
        image = tf.io.decode_jpeg(image)
        w = tf.shape(image)[1]
        w = w // 2
        input_image = image[:, w:, :]
        real_image = image[:, :w, :]
        return tf.cast(input_image, tf.float32), tf.cast(real_image, tf.float32)

    inp, re = load(str(PATH / "train/1.jpg"))
    assert inp.shape == (40, 40, 3) and re.shape == (40, 40, 3)

    def resize(input_image, real_image, height, width):
        input_image = tf.image.resize(input_image, [height, width],
                                      method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        real_image = tf.image.resize(real_image, [height, width],
                                     method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
        return input_image, real_image

    def random_crop(input_image, real_image):
        stacked_image = tf.stack([input_image, real_image], axis=0)
        cropped_image = tf.image.random_crop(stacked_image,
                                             size=[2, IMG_HEIGHT, IMG_WIDTH, 3])
        return cropped_image[0], cropped_image[1]

    def normalize(input_image, real_image):
        return (input_image / 127.5) - 1, (real_image / 127.5) - 1

    @tf.function()
    def random_jitter(input_image, real_image):
        input_image, real_image = resize(input_image, real_image, 36, 36)
        input_image, real_image = random_crop(input_image, real_image)
        if tf.random.uniform(()) > 0.5:
            input_image = tf.image.flip_left_right(input_image)
            real_image = tf.image.flip_left_right(real_image)
        return input_image, real_image

    # the input and its target are cropped (and mirrored) alike
    same = tf.constant(np.arange(40 * 40 * 3, dtype=np.float32).reshape(40, 40, 3))
    for _ in range(3):
        a, b = random_jitter(same, same)
        assert a.shape == (32, 32, 3)
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    def load_image_train(image_file):
        input_image, real_image = load(image_file)
        input_image, real_image = random_jitter(input_image, real_image)
        return normalize(input_image, real_image)

    def load_image_test(image_file):
        input_image, real_image = load(image_file)
        input_image, real_image = resize(input_image, real_image, IMG_HEIGHT, IMG_WIDTH)
        return normalize(input_image, real_image)

    train_dataset = tf.data.Dataset.list_files(str(PATH / "train/*.jpg"))
    train_dataset = train_dataset.map(load_image_train, num_parallel_calls=tf.data.AUTOTUNE)
    train_dataset = train_dataset.shuffle(400).batch(1)
    try:
        test_dataset = tf.data.Dataset.list_files(str(PATH / "val/*.jpg"))
    except tf.errors.InvalidArgumentError:
        test_dataset = tf.data.Dataset.list_files(str(PATH / "test/*.jpg"))
    test_dataset = test_dataset.map(load_image_test).batch(1)
    assert [s.shape.as_list() for s in train_dataset.element_spec] == [[None, 32, 32, 3]] * 2

    def downsample(filters, size, apply_batchnorm=True):
        initializer = tf.random_normal_initializer(0., 0.02)
        result = tf.keras.Sequential()
        result.add(tf.keras.layers.Conv2D(filters, size, strides=2, padding="same",
                                          kernel_initializer=initializer, use_bias=False))
        if apply_batchnorm:
            result.add(tf.keras.layers.BatchNormalization())
        result.add(tf.keras.layers.LeakyReLU())
        return result

    def Generator():
        inputs = tf.keras.layers.Input(shape=[32, 32, 3])
        down_stack = [downsample(8, 4, apply_batchnorm=False), downsample(16, 4),
                      downsample(16, 4), downsample(16, 4), downsample(16, 4)]
        up_stack = [_upsample(16, 4, apply_dropout=True), _upsample(16, 4), _upsample(16, 4),
                    _upsample(8, 4)]
        last = tf.keras.layers.Conv2DTranspose(
            3, 4, strides=2, padding="same",
            kernel_initializer=tf.random_normal_initializer(0., 0.02), activation="tanh")
        x = inputs
        skips = []
        for down in down_stack:
            x = down(x)
            skips.append(x)
        skips = reversed(skips[:-1])
        for up, skip in zip(up_stack, skips):
            x = up(x)
            x = tf.keras.layers.Concatenate()([x, skip])
        x = last(x)
        return tf.keras.Model(inputs=inputs, outputs=x)

    def Discriminator():
        initializer = tf.random_normal_initializer(0., 0.02)
        inp = tf.keras.layers.Input(shape=[32, 32, 3], name="input_image")
        tar = tf.keras.layers.Input(shape=[32, 32, 3], name="target_image")
        x = tf.keras.layers.concatenate([inp, tar])
        down3 = downsample(16, 4)(downsample(16, 4)(downsample(8, 4, False)(x)))
        zero_pad1 = tf.keras.layers.ZeroPadding2D()(down3)
        conv = tf.keras.layers.Conv2D(16, 4, strides=1, kernel_initializer=initializer,
                                      use_bias=False)(zero_pad1)
        leaky_relu = tf.keras.layers.LeakyReLU()(tf.keras.layers.BatchNormalization()(conv))
        zero_pad2 = tf.keras.layers.ZeroPadding2D()(leaky_relu)
        last = tf.keras.layers.Conv2D(1, 4, strides=1, kernel_initializer=initializer)(zero_pad2)
        return tf.keras.Model(inputs=[inp, tar], outputs=last)

    generator, discriminator = Generator(), Discriminator()
    example = next(iter(test_dataset))[0]
    gen_output = generator(example, training=False)
    assert gen_output.shape == (1, 32, 32, 3)
    assert discriminator([example, gen_output], training=False).shape == (1, 2, 2, 1)
    LAMBDA = 100
    loss_object = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def generator_loss(disc_generated_output, gen_output, target):
        gan_loss = loss_object(tf.ones_like(disc_generated_output), disc_generated_output)
        l1_loss = tf.reduce_mean(tf.abs(target - gen_output))
        return gan_loss + (LAMBDA * l1_loss), gan_loss, l1_loss

    def discriminator_loss(disc_real_output, disc_generated_output):
        real_loss = loss_object(tf.ones_like(disc_real_output), disc_real_output)
        generated_loss = loss_object(tf.zeros_like(disc_generated_output),
                                     disc_generated_output)
        return real_loss + generated_loss

    generator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    discriminator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    checkpoint_dir = str(tmp_path / "training_checkpoints")
    checkpoint_prefix = os.path.join(checkpoint_dir, "ckpt")
    checkpoint = tf.train.Checkpoint(generator_optimizer=generator_optimizer,
                                     discriminator_optimizer=discriminator_optimizer,
                                     generator=generator, discriminator=discriminator)
    log_dir = str(tmp_path / "logs") + "/"
    summary_writer = tf.summary.create_file_writer(
        log_dir + "fit/" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    results = []

    @tf.function
    def train_step(input_image, target, step):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            gen_output = generator(input_image, training=True)
            disc_real_output = discriminator([input_image, target], training=True)
            disc_generated_output = discriminator([input_image, gen_output], training=True)
            gen_total_loss, gen_gan_loss, gen_l1_loss = generator_loss(
                disc_generated_output, gen_output, target)
            disc_loss = discriminator_loss(disc_real_output, disc_generated_output)
        generator_gradients = gen_tape.gradient(gen_total_loss, generator.trainable_variables)
        discriminator_gradients = disc_tape.gradient(disc_loss,
                                                     discriminator.trainable_variables)
        # each tape differentiates its own loss: the generator's loss reaches
        # the discriminator's weights too, the discriminator's not the generator's
        assert all(g is not None for g in generator_gradients)
        generator_optimizer.apply_gradients(zip(generator_gradients,
                                                generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(discriminator_gradients,
                                                    discriminator.trainable_variables))
        with summary_writer.as_default():
            tf.summary.scalar("gen_total_loss", gen_total_loss, step=step // 1000)
            tf.summary.scalar("disc_loss", disc_loss, step=step // 1000)
        return gen_total_loss, disc_loss

    steps_seen = []
    for step, (input_image, target) in train_dataset.repeat().take(4).enumerate():
        if (step) % 1000 == 0:
            assert f"Step: {step // 1000}k" == "Step: 0k"
        steps_seen.append(int(step))
        results.append(train_step(input_image, target, step))
        if (step + 1) % 2 == 0:
            checkpoint.save(file_prefix=checkpoint_prefix)
    assert steps_seen == [0, 1, 2, 3]
    gen_total, disc = results[0]
    # the losses come back as tensors
    assert repr(gen_total).startswith("<tf.Tensor: shape=(), dtype=float32, numpy=")
    assert str(disc).startswith("tf.Tensor(") and np.isfinite(float(disc))
    assert generator_optimizer.iterations.numpy() == 4
    assert tf.train.latest_checkpoint(checkpoint_dir).endswith("ckpt-2")
    saved = [w.numpy().copy() for w in generator.weights]
    for w in generator.trainable_weights:
        w.assign(w.numpy() * 0)
    checkpoint.restore(tf.train.latest_checkpoint(checkpoint_dir))
    for before, w in zip(saved, generator.weights):
        np.testing.assert_array_equal(before, w.numpy())
    assert len(os.listdir(log_dir + "fit")) == 1


# ---------------------------------------------- guide/migrate/migrating_checkpoints

def test_migrating_checkpoints_guide_reads_tf2_checkpoints_by_key(tmp_path):
    def checkpoint_values(save_path):
        reader = tf.train.load_checkpoint(save_path)
        shapes = reader.get_variable_to_shape_map()
        dtypes = reader.get_variable_to_dtype_map()
        return {key: (shapes[key], dtypes[key].name, reader.get_tensor(key)) for key in shapes}

    a = tf.Variable(5.0, name="a")
    b = tf.Variable(6.0, name="b")
    with tf.name_scope("scoped"):
        c = tf.Variable(7.0, name="c")
    ckpt = tf.train.Checkpoint(variables=[a, b, c])
    save_path_v2 = ckpt.save(str(tmp_path / "tf2-ckpt"))
    assert save_path_v2.endswith("tf2-ckpt-1")
    reader = tf.train.load_checkpoint(save_path_v2)
    # TensorFlow's keys of the values name the attribute path
    for i, want in enumerate([5.0, 6.0, 7.0]):
        assert reader.get_tensor(f"variables/{i}/.ATTRIBUTES/VARIABLE_VALUE") == want
    values = checkpoint_values(save_path_v2)
    assert values["save_counter"][1:] == ("int64", 1)

    a, b, c = tf.Variable(0.), tf.Variable(0.), tf.Variable(0.)
    root = ckpt = tf.train.Checkpoint(variables=[a, b, c])
    assert type(root).__name__ == "Checkpoint" and root.variables[0] is a
    module = tf.Module()
    module.d = tf.Variable(0.)
    test_ckpt = tf.train.Checkpoint(v={"a": a, "b": b}, c=c, module=module)
    test_ckpt_path = test_ckpt.save(str(tmp_path / "root-tf2-ckpt"))
    reader = tf.train.load_checkpoint(test_ckpt_path)
    for key in ("v/a", "v/b", "c", "module/d"):
        assert reader.get_tensor(key + "/.ATTRIBUTES/VARIABLE_VALUE") == 0.0

    ckpt = tf.train.Checkpoint(unscoped=[a, b], scoped=[c])
    a.assign(1.)
    b.assign(2.)
    c.assign(3.)
    tf2_ckpt_path = ckpt.save(str(tmp_path / "tf2-ckpt"))
    for v in (a, b, c):
        v.assign(0.)
    ckpt.restore(tf2_ckpt_path).assert_consumed().run_restore_ops()
    restored = [a.numpy(), b.numpy(), c.numpy()]
    # a scalar variable's numpy() is a NumPy scalar, as TensorFlow's
    assert restored == [1.0, 2.0, 3.0]
    assert all(type(v) is np.float32 for v in restored)
    assert type(tf.Variable([1.0, 2.0]).numpy()) is np.ndarray


# ------------------------------------------------- guide/migrate/fault_tolerance

def test_fault_tolerance_guide_backup_every_n_steps_counts_across_epochs(tmp_path):
    import json
    rng = np.random.default_rng(0)
    x_train = rng.random((200, 6, 6)).astype("float32")
    y_train = rng.integers(0, 10, 200)
    x_test, y_test = x_train[:40], y_train[:40]

    def create_model():
        return tf.keras.models.Sequential([
            tf.keras.layers.Flatten(input_shape=(6, 6)),
            tf.keras.layers.Dense(16, activation="relu"),
            tf.keras.layers.Dropout(0.2),
            tf.keras.layers.Dense(10)])

    loss = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    class InterruptAtStep(tf.keras.callbacks.Callback):
        def __init__(self, interrupting_step=14):
            self.total_step_count = 0
            self.interrupting_step = interrupting_step

        def on_batch_begin(self, batch, logs=None):
            self.total_step_count += 1

        def on_batch_end(self, batch, logs=None):
            if self.total_step_count == self.interrupting_step:
                raise RuntimeError("Interruption")

    def run(callbacks):
        tf.keras.utils.set_random_seed(7)
        model = create_model()
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        history = model.fit(x=x_train, y=y_train, epochs=4, steps_per_epoch=5, batch_size=40,
                            validation_data=(x_test, y_test), callbacks=callbacks, verbose=0)
        return model, history

    uninterrupted, _ = run([])
    log_dir_2 = str(tmp_path / "backup")
    backup_restore_callback = tf.keras.callbacks.BackupAndRestore(backup_dir=log_dir_2,
                                                                  save_freq=3)
    with pytest.raises(RuntimeError, match="Interruption"):
        run([backup_restore_callback, InterruptAtStep()])
    # every 3 steps counted over the epochs (5 steps each): the last backup
    # before step 14 is step 12, the 2nd of epoch 2
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert (meta["epoch"], meta["batch"]) == (2, 2)
    resumed, history = run([backup_restore_callback])
    assert history.epoch == [2, 3]
    assert resumed.optimizer.iterations.numpy() == 20
    for a, b in zip(uninterrupted.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not os.path.exists(log_dir_2)


# ------------------------------------------------------------------ guide/variable

def test_variable_guide_reads_of_a_variable_are_tensors_of_their_own():
    my_tensor = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    my_variable = tf.Variable(my_tensor)
    assert tf.Variable([False, False, False, True]).dtype == tf.bool
    viewed = tf.convert_to_tensor(my_variable)
    assert isinstance(viewed, tf.Tensor) and not isinstance(viewed, tf.Variable)
    assert str(viewed) == "tf.Tensor(\n[[1. 2.]\n [3. 4.]], shape=(2, 2), dtype=float32)"
    assert tf.math.argmax(my_variable).numpy().tolist() == [1, 1]
    reshaped = tf.reshape(my_variable, [1, 4])
    assert str(reshaped) == "tf.Tensor([[1. 2. 3. 4.]], shape=(1, 4), dtype=float32)"
    reads = [viewed, reshaped, tf.transpose(my_variable), tf.squeeze(my_variable),
             tf.expand_dims(my_variable, 0), tf.identity(my_variable),
             tf.stop_gradient(my_variable), tf.keras.ops.reshape(my_variable, (4,))]
    # each read holds the value it read: a later assign leaves it as it was
    my_variable.assign([[9.0, 9.0], [9.0, 9.0]])
    for read in reads:
        assert isinstance(read, tf.Tensor)
        assert sorted(np.asarray(read).reshape(-1).tolist()) == [1.0, 2.0, 3.0, 4.0]
    a = tf.Variable([2.0, 3.0])
    a.assign([1, 2])
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        a.assign([1.0, 2.0, 3.0])
    a = tf.Variable([2.0, 3.0])
    b = tf.Variable(a)
    a.assign([5, 6])
    assert a.numpy().tolist() == [5.0, 6.0] and b.numpy().tolist() == [2.0, 3.0]
    assert a.assign_add([2, 3]).numpy().tolist() == [7.0, 9.0]
    assert a.assign_sub([7, 9]).numpy().tolist() == [0.0, 0.0]
    step_counter = tf.Variable(1, trainable=False)
    assert not step_counter.trainable
    with tf.device("CPU:0"):
        a = tf.Variable([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        b = tf.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
        c = tf.matmul(a, b)
    assert c.numpy().tolist() == [[22.0, 28.0], [49.0, 64.0]]
    # on a tape the reads stay differentiable
    v = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(tf.identity(v) * tf.convert_to_tensor(v) * tf.reshape(v, [2, 2]))
    np.testing.assert_allclose(tape.gradient(y, v).numpy(), 3 * v.numpy() ** 2)
    # an integer variable's read keeps its dtype
    assert tf.convert_to_tensor(tf.Variable(3, dtype=tf.int64)).dtype == tf.int64


# ------------------------------------------------------ tutorials/load_data/csv (fonts)

def test_load_csv_tutorial_font_files_as_images_and_rows(tmp_path):
    import re
    rng = np.random.default_rng(0)
    cols = ["font", "fontVariant", "m_label", "strength", "italic", "orientation", "m_top",
            "m_left", "originalH", "originalW", "h", "w"] + \
        [f"r{r}c{c}" for r in range(20) for c in range(20)]
    pixels = {}
    (tmp_path / "fonts").mkdir()
    for name in ["AGENCY", "ARIAL", "BAITI", "BELL"]:
        lines = [",".join(cols)]
        for i in range(3):
            values = rng.integers(0, 256, 400)
            pixels[(name, 65 + i)] = values.reshape(20, 20)
            lines.append(",".join([name, "scanned", str(65 + i), "0.4", "0", "0.0", "35", "21",
                                   "51", "22", "20", "20"] + [str(v) for v in values]))
        (tmp_path / "fonts" / f"{name}.csv").write_text("\n".join(lines) + "\n")
    pattern = str(tmp_path / "fonts" / "*.csv")
    fonts_ds = tf.data.experimental.make_csv_dataset(file_pattern=pattern, batch_size=5,
                                                     num_epochs=1, num_parallel_reads=20)
    features = next(iter(fonts_ds))
    assert len(features) == 412
    assert features["font"].dtype == tf.string and features["m_label"].dtype == tf.int32
    assert features["strength"].dtype == tf.float32 and features["r0c0"].shape == (5,)

    def make_images(features):
        image = [None] * 400
        new_feats = {}
        for name, value in features.items():
            match = re.match(r"r(\d+)c(\d+)", name)
            if match:
                image[int(match.group(1)) * 20 + int(match.group(2))] = value
            else:
                new_feats[name] = value
        image = tf.stack(image, axis=0)
        image = tf.reshape(image, [20, 20, -1])
        new_feats["image"] = image
        return new_feats

    for features in fonts_ds.map(make_images).take(1):
        break
    assert features["image"].shape == (20, 20, 5)
    for n in range(5):
        key = (features["font"][n].numpy().decode(), int(features["m_label"][n]))
        np.testing.assert_array_equal(features["image"][..., n].numpy(), pixels[key])
    font_csvs = sorted(str(p) for p in (tmp_path / "fonts").glob("*.csv"))
    font_line = (tmp_path / "fonts" / "AGENCY.csv").read_text().splitlines()[1]
    num_font_features = font_line.count(",") + 1
    font_column_types = [str(), str()] + [float()] * (num_font_features - 2)
    simple_font_ds = tf.data.experimental.CsvDataset(font_csvs, record_defaults=font_column_types,
                                                     header=True)
    # string fields are string tensors of bytes, as TensorFlow's
    names = [row[0].numpy() for row in simple_font_ds.take(4)]
    assert names == [b"AGENCY"] * 3 + [b"ARIAL"] and all(type(n) is bytes for n in names)
    font_files = tf.data.Dataset.list_files(pattern)

    def make_font_csv_ds(path):
        return tf.data.experimental.CsvDataset(path, record_defaults=font_column_types,
                                               header=True)

    font_rows = font_files.interleave(make_font_csv_ds, cycle_length=3)
    rows = [(row[0].numpy().decode(), chr(int(row[2].numpy()))) for row in font_rows.take(6)]
    # three files at a time, a row from each in turn
    assert [c for _, c in rows] == ["A", "A", "A", "B", "B", "B"]
    assert len({f for f, _ in rows[:3]}) == 3
    fonts_lines = font_files.interleave(lambda fname: tf.data.TextLineDataset(fname).skip(1),
                                        cycle_length=100).batch(8)
    fonts_fast = fonts_lines.map(lambda x: tf.io.decode_csv(x, record_defaults=font_column_types))
    batch = next(iter(fonts_fast))
    assert len(batch) == 412 and batch[0].shape == (8,) and batch[0].dtype == tf.string
    assert batch[2].dtype == tf.float32


# ---------------------------------------------------- tutorials/generative/cyclegan

class _InstanceNormalization(tf.keras.layers.Layer):
    # tensorflow_examples' pix2pix.InstanceNormalization, which the tutorial uses
    def __init__(self, epsilon=1e-5):
        super().__init__()
        self.epsilon = epsilon

    def build(self, input_shape):
        self.scale = self.add_weight(name="scale", shape=input_shape[-1:],
                                     initializer=tf.random_normal_initializer(1., 0.02),
                                     trainable=True)
        self.offset = self.add_weight(name="offset", shape=input_shape[-1:],
                                      initializer="zeros", trainable=True)

    def call(self, x):
        mean, variance = tf.nn.moments(x, axes=[1, 2], keepdims=True)
        inv = tf.math.rsqrt(variance + self.epsilon)
        normalized = (x - mean) * inv
        return self.scale * normalized + self.offset


def test_cyclegan_tutorial_persistent_tape_over_models_called_several_times():
    tf.keras.utils.set_random_seed(0)

    def generator():
        inputs = tf.keras.layers.Input(shape=[8, 8, 3])
        x = tf.keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False)(inputs)
        x = tf.keras.layers.LeakyReLU()(_InstanceNormalization()(x))
        x = tf.keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same",
                                            activation="tanh")(x)
        return tf.keras.Model(inputs, x)

    def discriminator():
        inputs = tf.keras.layers.Input(shape=[8, 8, 3])
        x = tf.keras.layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
        x = tf.keras.layers.LeakyReLU()(_InstanceNormalization()(x))
        return tf.keras.Model(inputs, tf.keras.layers.Conv2D(1, 3, padding="same")(x))

    generator_g, generator_f = generator(), generator()
    discriminator_x, discriminator_y = discriminator(), discriminator()
    LAMBDA = 10
    loss_obj = tf.keras.losses.BinaryCrossentropy(from_logits=True)

    def discriminator_loss(real, generated):
        real_loss = loss_obj(tf.ones_like(real), real)
        generated_loss = loss_obj(tf.zeros_like(generated), generated)
        return (real_loss + generated_loss) * 0.5

    def generator_loss(generated):
        return loss_obj(tf.ones_like(generated), generated)

    def calc_cycle_loss(real_image, cycled_image):
        return LAMBDA * tf.reduce_mean(tf.abs(real_image - cycled_image))

    def identity_loss(real_image, same_image):
        return LAMBDA * 0.5 * tf.reduce_mean(tf.abs(real_image - same_image))

    def losses(real_x, real_y):
        fake_y = generator_g(real_x, training=True)
        cycled_x = generator_f(fake_y, training=True)
        fake_x = generator_f(real_y, training=True)
        cycled_y = generator_g(fake_x, training=True)
        same_x = generator_f(real_x, training=True)
        same_y = generator_g(real_y, training=True)
        disc_real_x = discriminator_x(real_x, training=True)
        disc_real_y = discriminator_y(real_y, training=True)
        disc_fake_x = discriminator_x(fake_x, training=True)
        disc_fake_y = discriminator_y(fake_y, training=True)
        total_cycle_loss = calc_cycle_loss(real_x, cycled_x) + calc_cycle_loss(real_y, cycled_y)
        total_gen_g_loss = generator_loss(disc_fake_y) + total_cycle_loss + \
            identity_loss(real_y, same_y)
        total_gen_f_loss = generator_loss(disc_fake_x) + total_cycle_loss + \
            identity_loss(real_x, same_x)
        return (total_gen_g_loss, total_gen_f_loss,
                discriminator_loss(disc_real_x, disc_fake_x),
                discriminator_loss(disc_real_y, disc_fake_y))

    rng = np.random.default_rng(1)
    real_x = tf.constant(rng.uniform(-1, 1, (2, 8, 8, 3)).astype("float32"))
    real_y = tf.constant(rng.uniform(-1, 1, (2, 8, 8, 3)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        total_gen_g_loss, total_gen_f_loss, disc_x_loss, disc_y_loss = losses(real_x, real_y)
    generator_g_gradients = tape.gradient(total_gen_g_loss, generator_g.trainable_variables)
    generator_f_gradients = tape.gradient(total_gen_f_loss, generator_f.trainable_variables)
    discriminator_x_gradients = tape.gradient(disc_x_loss, discriminator_x.trainable_variables)
    discriminator_y_gradients = tape.gradient(disc_y_loss, discriminator_y.trainable_variables)
    del tape
    assert len(generator_g_gradients) == len(generator_g.trainable_variables) == 5
    for grads in (generator_g_gradients, generator_f_gradients, discriminator_x_gradients,
                  discriminator_y_gradients):
        assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)

    # generator G is called three times in the loss: its gradient sums the
    # three calls' (the directional derivative by central differences)
    direction = [np.random.default_rng(2).standard_normal(v.shape).astype("float32")
                 for v in generator_g.trainable_variables]
    start = [v.numpy().copy() for v in generator_g.trainable_variables]

    def loss_at(t):
        for v, s, d in zip(generator_g.trainable_variables, start, direction):
            v.assign(s + t * d)
        return float(losses(real_x, real_y)[0])

    h = 1e-2
    numeric = (loss_at(h) - loss_at(-h)) / (2 * h)
    loss_at(0.0)
    analytic = sum(float(np.sum(g.numpy() * d)) for g, d in zip(generator_g_gradients,
                                                                 direction))
    np.testing.assert_allclose(analytic, numeric, rtol=3e-2)

    optimizers = [tf.keras.optimizers.Adam(2e-4, beta_1=0.5) for _ in range(4)]
    ckpt = tf.train.Checkpoint(generator_g=generator_g, generator_f=generator_f,
                               discriminator_x=discriminator_x,
                               discriminator_y=discriminator_y,
                               generator_g_optimizer=optimizers[0])
    for opt, grads, model in zip(optimizers, [generator_g_gradients, generator_f_gradients,
                                              discriminator_x_gradients,
                                              discriminator_y_gradients],
                                 [generator_g, generator_f, discriminator_x, discriminator_y]):
        opt.apply_gradients(zip(grads, model.trainable_variables))
        assert int(opt.iterations.numpy()) == 1
    assert not np.allclose(start[0], generator_g.trainable_variables[0].numpy())
    assert ckpt.generator_g is generator_g


# ------------------------------------ tutorials/structured_data/preprocessing_layers

def test_structured_data_preprocessing_layers_tutorial_end_to_end(tmp_path):
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = 120
    columns = {
        "Type": rng.choice(["Cat", "Dog"], n), "Age": rng.integers(1, 12, n),
        "Breed1": rng.choice(["Tabby", "Mixed Breed", "Domestic"], n),
        "Gender": rng.choice(["Male", "Female"], n),
        "Color1": rng.choice(["Black", "White", "Brown"], n),
        "Color2": rng.choice(["White", "No Color"], n),
        "MaturitySize": rng.choice(["Small", "Medium"], n),
        "FurLength": rng.choice(["Short", "Long"], n),
        "Vaccinated": rng.choice(["Yes", "No"], n), "Sterilized": rng.choice(["Yes", "No"], n),
        "Health": rng.choice(["Healthy", "Minor Injury"], n),
        "Fee": rng.integers(0, 200, n), "PhotoAmt": rng.integers(0, 10, n).astype(float)}
    columns["target"] = (columns["Type"] == "Cat").astype("int64")

    def df_to_dataset(dataframe, shuffle=True, batch_size=32):
        df = dict(dataframe)
        labels = df.pop("target")
        df = {key: value[:, tf.newaxis] for key, value in dataframe.items()}
        ds = tf.data.Dataset.from_tensor_slices((dict(df), labels))
        if shuffle:
            ds = ds.shuffle(buffer_size=len(labels))
        ds = ds.batch(batch_size)
        ds = ds.prefetch(batch_size)
        return ds

    def rows(lo, hi):
        return {k: v[lo:hi] for k, v in columns.items()}

    train, val, test = rows(0, 96), rows(96, 108), rows(108, 120)
    train_ds = df_to_dataset(train, batch_size=5)
    [(train_features, label_batch)] = train_ds.take(1)
    assert train_features["Age"].shape == (5, 1) and label_batch.shape == (5,)
    assert train_features["Type"].dtype == tf.string

    def get_normalization_layer(name, dataset):
        normalizer = layers.Normalization(axis=None)
        feature_ds = dataset.map(lambda x, y: x[name])
        normalizer.adapt(feature_ds)
        return normalizer

    layer = get_normalization_layer("PhotoAmt", train_ds)
    photo = train["PhotoAmt"]
    np.testing.assert_allclose(layer(train_features["PhotoAmt"]).numpy(),
                               (train_features["PhotoAmt"].numpy() - photo.mean()) /
                               photo.std(), rtol=1e-4, atol=1e-5)

    def get_category_encoding_layer(name, dataset, dtype, max_tokens=None):
        if dtype == "string":
            index = layers.StringLookup(max_tokens=max_tokens)
        else:
            index = layers.IntegerLookup(max_tokens=max_tokens)
        feature_ds = dataset.map(lambda x, y: x[name])
        index.adapt(feature_ds)
        encoder = layers.CategoryEncoding(num_tokens=index.vocabulary_size())
        return lambda feature: encoder(index(feature))

    type_encoded = get_category_encoding_layer("Type", train_ds, "string")(
        train_features["Type"]).numpy()
    # one [UNK] slot and the two types, most frequent first
    assert type_encoded.shape == (5, 3) and (type_encoded.sum(axis=1) == 1).all()
    age_encoded = get_category_encoding_layer("Age", train_ds, "int64", max_tokens=5)(
        train_features["Age"])
    assert age_encoded.shape == (5, 5)

    train_ds = df_to_dataset(train, batch_size=32)
    val_ds = df_to_dataset(val, shuffle=False, batch_size=32)
    test_ds = df_to_dataset(test, shuffle=False, batch_size=32)
    all_inputs, encoded_features = {}, []
    for header in ["PhotoAmt", "Fee"]:
        numeric_col = tf.keras.Input(shape=(1,), name=header)
        encoded_features.append(get_normalization_layer(header, train_ds)(numeric_col))
        all_inputs[header] = numeric_col
    age_col = tf.keras.Input(shape=(1,), name="Age", dtype="int64")
    encoded_features.append(get_category_encoding_layer("Age", train_ds, "int64",
                                                        max_tokens=5)(age_col))
    all_inputs["Age"] = age_col
    categorical_cols = ["Type", "Color1", "Color2", "Gender", "MaturitySize", "FurLength",
                        "Vaccinated", "Sterilized", "Health", "Breed1"]
    for header in categorical_cols:
        categorical_col = tf.keras.Input(shape=(1,), name=header, dtype="string")
        encoding_layer = get_category_encoding_layer(header, train_ds, "string", max_tokens=5)
        encoded_features.append(encoding_layer(categorical_col))
        all_inputs[header] = categorical_col
    all_features = tf.keras.layers.concatenate(encoded_features)
    x = tf.keras.layers.Dense(32, activation="relu")(all_features)
    x = tf.keras.layers.Dropout(0.5)(x)
    output = tf.keras.layers.Dense(1)(x)
    model = tf.keras.Model(all_inputs, output)
    model.compile(optimizer=tf.keras.optimizers.Adam(0.02),
                  loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=["accuracy"], run_eagerly=True)
    model.fit(train_ds, epochs=8, validation_data=val_ds, verbose=0)
    result = model.evaluate(test_ds, return_dict=True, verbose=0)
    # the target is the type: learnt
    assert result["accuracy"] >= 0.9
    model.save(str(tmp_path / "my_pet_classifier.keras"))
    reloaded_model = tf.keras.models.load_model(str(tmp_path / "my_pet_classifier.keras"))
    sample = {"Type": "Cat", "Age": 3, "Breed1": "Tabby", "Gender": "Male",
              "Color1": "Black", "Color2": "White", "MaturitySize": "Small",
              "FurLength": "Short", "Vaccinated": "No", "Sterilized": "No",
              "Health": "Healthy", "Fee": 100, "PhotoAmt": 2}
    input_dict = {name: tf.convert_to_tensor([value]) for name, value in sample.items()}
    assert input_dict["Type"].dtype == tf.string
    predictions = reloaded_model.predict(input_dict, verbose=0)
    np.testing.assert_allclose(predictions, model.predict(input_dict, verbose=0), rtol=1e-5)
    prob = tf.nn.sigmoid(predictions[0])
    assert float(prob) > 0.5
    dog = dict(input_dict, Type=tf.convert_to_tensor(["Dog"]))
    assert float(tf.nn.sigmoid(reloaded_model.predict(dog, verbose=0)[0])) < 0.5


# ------------------------------------------ guide/migrate/migrating_feature_columns

def test_migrating_feature_columns_guide_with_preprocessing_layers(tmp_path):
    import warnings
    tf.keras.utils.set_random_seed(0)
    input_dict = {"foo": tf.constant([1]), "bar": tf.constant([0]), "baz": tf.constant([-1])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the dict's keys are not the inputs' names)
        inputs = {"foo": tf.keras.Input(shape=()), "bar": tf.keras.Input(shape=()),
                  "baz": tf.keras.Input(shape=())}
        # a layer called on a dict's values, joining along the batch axis
        outputs = tf.keras.layers.Concatenate()(inputs.values())
        model = tf.keras.Model(inputs=inputs, outputs=outputs)
    assert model(input_dict).numpy().tolist() == [1.0, 0.0, -1.0]
    one_hot_layer = tf.keras.layers.CategoryEncoding(num_tokens=3, output_mode="one_hot")
    assert one_hot_layer([0, 1, 2]).numpy().tolist() == np.eye(3).tolist()
    normalization_layer = tf.keras.layers.Normalization(mean=2.0, variance=1.0)
    assert normalization_layer(tf.constant([[0.], [1.], [2.]])).numpy().tolist() == \
        [[-2.0], [-1.0], [0.0]]
    discretization_layer = tf.keras.layers.Discretization(bin_boundaries=[1, 4, 5])
    one_hot_layer = tf.keras.layers.CategoryEncoding(num_tokens=4, output_mode="one_hot")
    assert one_hot_layer(discretization_layer([1., 2., 3., 4., 5.])).numpy().argmax(1).tolist() \
        == [1, 1, 1, 2, 3]
    ids = tf.constant([[5, 11, 5, 17, 17]])
    weights = tf.constant([[0.5, 1.5, 0.7, 1.8, 0.2]])
    count_layer = tf.keras.layers.CategoryEncoding(num_tokens=20, output_mode="count",
                                                   sparse=True)
    counted = count_layer(ids, count_weights=weights)
    assert isinstance(counted, tf.SparseTensor) and counted.shape == (1, 20)
    assert counted.indices.numpy().tolist() == [[0, 5], [0, 11], [0, 17]]
    np.testing.assert_allclose(counted.values.numpy(), [1.2, 1.5, 2.0], rtol=1e-6)
    dense = tf.sparse.to_dense(counted).numpy()
    assert dense.shape == (1, 20) and dense[0, 11] == np.float32(1.5)
    assert count_layer.get_config()["sparse"] is True
    weights = weights / tf.reduce_sum(weights, axis=-1, keepdims=True)
    embedding_layer = tf.keras.layers.Dense(4, use_bias=False)
    embedded = embedding_layer(count_layer(ids, count_weights=weights))
    # the sparse counts times the kernel, as the dense ones
    np.testing.assert_allclose(
        embedded.numpy(), tf.sparse.to_dense(count_layer(ids, count_weights=weights)).numpy() @
        embedding_layer.kernel.numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="sparse=True"):
        count_layer(tf.keras.Input(shape=(5,), dtype="int64"))

    features = {"type": [0, 1, 1], "size": ["small", "small", "medium"],
                "weight": [2.7, 1.8, 1.6]}
    labels = [1, 1, 0]
    predict_features = {"type": [0], "size": ["foo"], "weight": [-0.7]}
    vocab = ["small", "medium", "large"]
    inputs = {"type": tf.keras.Input(shape=(), dtype="int64"),
              "size": tf.keras.Input(shape=(), dtype="string"),
              "weight": tf.keras.Input(shape=(), dtype="float32")}
    outputs = {
        "type": tf.keras.layers.CategoryEncoding(3, output_mode="one_hot")(inputs["type"]),
        "size": tf.keras.layers.StringLookup(vocabulary=vocab)(inputs["size"]),
        "weight": tf.keras.layers.Normalization(axis=None, mean=2.0, variance=1.0)(
            inputs["weight"])}
    preprocessing_model = tf.keras.Model(inputs, outputs)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(1)
    dataset = dataset.map(lambda x, y: (preprocessing_model(x), y),
                          num_parallel_calls=tf.data.AUTOTUNE)
    first, label = next(dataset.take(1).as_numpy_iterator())
    assert first["type"].tolist() == [[1.0, 0.0, 0.0]] and first["size"].tolist() == [1]
    np.testing.assert_allclose(first["weight"], [0.7], rtol=1e-5)
    inputs = {"type": tf.keras.Input(shape=(3,), dtype="float32"),
              "size": tf.keras.Input(shape=(), dtype="int64"),
              "weight": tf.keras.Input(shape=(), dtype="float32")}
    embedding = tf.keras.layers.Embedding(len(vocab), 4)
    outputs = tf.keras.layers.Concatenate()([inputs["type"], embedding(inputs["size"]),
                                            tf.expand_dims(inputs["weight"], -1)])
    outputs = tf.keras.layers.Dense(1)(outputs)
    training_model = tf.keras.Model(inputs, outputs)
    training_model.compile(loss=tf.keras.losses.BinaryCrossentropy(from_logits=True))
    training_model.fit(dataset, verbose=0)
    inputs = preprocessing_model.input
    outputs = training_model(preprocessing_model(inputs))
    inference_model = tf.keras.Model(inputs, outputs)
    predict_dataset = tf.data.Dataset.from_tensor_slices(predict_features).batch(1)
    predicted = inference_model.predict(predict_dataset, verbose=0)
    assert predicted.shape == (1, 1)
    inference_model.save(str(tmp_path / "model.keras"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        restored_model = tf.keras.models.load_model(str(tmp_path / "model.keras"))
    np.testing.assert_allclose(restored_model.predict(predict_dataset, verbose=0), predicted,
                               rtol=1e-5)


# ------------------------------- guide/migrate/metrics_optimizers and early_stopping

def test_migration_guides_metrics_of_an_argmax_model_and_a_custom_early_stop():
    features = [[1., 1.5], [2., 2.5], [3., 3.5]]
    labels = [0, 0, 1]
    eval_features = [[4., 4.5], [5., 5.5], [6., 6.5]]
    eval_labels = [0, 1, 1]
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(1)
    eval_dataset = tf.data.Dataset.from_tensor_slices((eval_features, eval_labels)).batch(1)
    assert len(list(dataset)) == 3
    inputs = tf.keras.Input((2,))
    logits = tf.keras.layers.Dense(2)(inputs)
    predictions = tf.math.argmax(input=logits, axis=1)
    model = tf.keras.models.Model(inputs, predictions)
    optimizer = tf.keras.optimizers.Adagrad(learning_rate=0.05)
    model.compile(optimizer, loss="mse", metrics=[tf.keras.metrics.Accuracy()])
    result = model.evaluate(eval_dataset, return_dict=True, verbose=0)
    predicted = model.predict(eval_dataset, verbose=0)
    want = np.mean(np.asarray(predicted) == np.asarray(eval_labels))
    np.testing.assert_allclose(result["accuracy"], want)
    np.testing.assert_allclose(result["loss"],
                               np.mean((np.asarray(predicted) - eval_labels) ** 2))
    accuracy = tf.keras.metrics.Accuracy()
    accuracy.update_state(y_true=[0, 0, 1, 1], y_pred=[0, 0, 0, 1])
    assert accuracy.result().numpy() == np.float32(0.75)
    accuracy.update_state(y_true=[0, 0, 1, 1], y_pred=[0, 0, 0, 0])
    accuracy.update_state(y_true=[0, 0, 1, 1], y_pred=[1, 1, 0, 0])
    np.testing.assert_allclose(accuracy.result().numpy(), 5 / 12, rtol=1e-6)

    # early stopping written by hand in a custom loop
    tf.keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((64, 6, 6)).astype("float32")
    y = rng.integers(0, 10, 64)
    ds_train = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    ds_test = tf.data.Dataset.from_tensor_slices((x[:32], y[:32])).batch(16)
    model = tf.keras.models.Sequential([tf.keras.layers.Flatten(input_shape=(6, 6)),
                                        tf.keras.layers.Dense(16, activation="relu"),
                                        tf.keras.layers.Dense(10)])
    optimizer = tf.keras.optimizers.Adam(0.005)
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    train_acc_metric = tf.keras.metrics.SparseCategoricalAccuracy()
    val_loss_metric = tf.keras.metrics.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss_value = loss_fn(y, logits)
        grads = tape.gradient(loss_value, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        train_acc_metric.update_state(y, logits)
        return loss_value

    @tf.function
    def test_step(x, y):
        val_loss_metric.update_state(y, model(x, training=False))

    patience, wait, best, epochs_run, val_losses = 2, 0, float("inf"), 0, []
    for epoch in range(20):
        epochs_run += 1
        for x_batch_train, y_batch_train in ds_train:
            loss_value = train_step(x_batch_train, y_batch_train)
        assert "%.4f" % loss_value.numpy()
        train_acc_metric.reset_states()
        for x_batch_val, y_batch_val in ds_test:
            test_step(x_batch_val, y_batch_val)
        val_loss = val_loss_metric.result()
        val_losses.append(float(val_loss))
        val_loss_metric.reset_states()
        wait += 1
        if val_loss < best:
            best = val_loss
            wait = 0
        if wait >= patience:
            break
    # the validation loss (on training rows) falls at first, and the loop
    # stops once it has not improved for two epochs or after 20
    assert val_losses[1] < val_losses[0]
    assert epochs_run == 20 or val_losses[-1] >= min(val_losses[:-2])
