"""Programs of Raschka & Mirjalili's "Python Machine Learning" 3rd ed.
(chapters 13-17, TensorFlow 2), of Krohn's "Deep Learning Illustrated"
notebooks, of Ganegedara's "TensorFlow 2 in Action" and of Gulli, Kapoor &
Pal's "Deep Learning with TensorFlow and Keras" 3rd ed., run with only their
imports changed (``import pynn as tf``), at tiny sizes on synthetic data
where the books download some.  Expected values are the books' printed
outputs, TensorFlow's documented behaviour, or NumPy."""
import os

import numpy as np
import pytest

import pynn as tf

Image = pytest.importorskip("PIL.Image")


# ------------------------- Raschka ch. 13: tensors and tf.data pipelines

def test_raschka_tensors_and_datasets_of_python_lists_are_tf_dtypes(tmp_path):
    a = [1.2, 3.4, 7.5, 4.1, 5.0, 1.0]
    ds = tf.data.Dataset.from_tensor_slices(a)
    # the book prints <TensorSliceDataset shapes: (), types: tf.float32>
    assert ds.element_spec.dtype == tf.float32
    items = [item for item in ds]
    assert items[0].dtype == np.float32 and len(items) == 6
    ds_batch = ds.batch(3)
    batches = [elem.numpy() for elem in ds_batch]
    np.testing.assert_allclose(batches[1], np.float32([4.1, 5.0, 1.0]))
    assert tf.data.Dataset.from_tensor_slices([1, 2, 3]).element_spec.dtype == tf.int32
    assert tf.data.Dataset.from_tensors([1.5, 2.0]).element_spec.dtype == tf.float32
    # NumPy arrays keep their own dtypes, as in TensorFlow
    spec = tf.data.Dataset.from_tensor_slices((np.zeros(3), np.arange(3))).element_spec
    assert (spec[0].dtype, spec[1].dtype) == (tf.float64, tf.int64)

    tf.random.set_seed(1)
    t_x = tf.random.uniform([4, 3], dtype=tf.float32)
    t_y = tf.range(4)
    ds_x = tf.data.Dataset.from_tensor_slices(t_x)
    ds_y = tf.data.Dataset.from_tensor_slices(t_y)
    ds_joint = tf.data.Dataset.zip((ds_x, ds_y))
    ds_trans = ds_joint.map(lambda x, y: (x*2-1.0, y))
    for (x0, y0), (x1, y1) in zip(ds_joint, ds_trans):
        np.testing.assert_allclose(x1.numpy(), x0.numpy() * 2 - 1, rtol=1e-6)
        assert y0.numpy() == y1.numpy()
    ds = ds_joint.batch(3).repeat(count=2)
    assert [batch_y.numpy().tolist() for _, batch_y in ds] == [[0, 1, 2], [3], [0, 1, 2], [3]]
    ds = ds_joint.repeat(count=2).batch(3)
    assert [batch_x.shape for batch_x, _ in ds] == [(3, 3), (3, 3), (2, 3)]

    # files and labels, decoded and resized in a map
    folder = tmp_path / "cat_dog_images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for n in ["cat-01", "cat-02", "dog-01"]:
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
            folder / f"{n}.jpg")
    file_list = sorted([str(path) for path in folder.glob('*.jpg')])
    labels = [1 if 'dog' in os.path.basename(file) else 0 for file in file_list]
    ds_files_labels = tf.data.Dataset.from_tensor_slices((file_list, labels))

    def load_and_preprocess(path, label):
        image = tf.io.read_file(path)
        image = tf.image.decode_jpeg(image, channels=3)
        image = tf.image.resize(image, [img_height, img_width])
        image /= 255.0
        return image, label
    img_width, img_height = 120, 80
    ds_images_labels = ds_files_labels.map(load_and_preprocess)
    examples = list(ds_images_labels)
    assert [e[0].shape for e in examples] == [(80, 120, 3)] * 3
    assert [int(e[1].numpy()) for e in examples] == [0, 0, 1]
    assert examples[0][1].dtype == np.int32
    assert 0.0 <= examples[0][0].numpy().min() and examples[0][0].numpy().max() <= 1.0


def test_raschka_take_skip_split_of_an_unseeded_shuffle_kept_across_passes():
    # ch. 13's note on reshuffle_each_iteration: with False, take/skip give
    # a train and a test set that never share an element
    ds = tf.data.Dataset.range(15)
    ds = ds.shuffle(15, reshuffle_each_iteration=False)
    ds_train = ds.take(10)
    ds_test = ds.skip(10)
    ds_train = ds_train.shuffle(10).repeat(10)
    ds_test = ds_test.shuffle(5)
    ds_test = ds_test.repeat(10)
    set_train = set()
    for i, item in enumerate(ds_train):
        set_train.add(item.numpy())
    set_test = set()
    for i, item in enumerate(ds_test):
        set_test.add(item.numpy())
    assert len(set_train) == 10 and len(set_test) == 5
    assert set_train | set_test == set(range(15))
    # and with True each pass is drawn anew, so the two overlap (the
    # book's second printout); 10 passes make a miss all but impossible
    tf.random.set_seed(1)
    ds = tf.data.Dataset.range(15).shuffle(15, reshuffle_each_iteration=True)
    seen = {int(v) for v in ds.take(10).repeat(10)}
    assert len(seen) > 10


def test_raschka_linear_regression_by_gradient_tape_and_by_fit_and_iris_h5(tmp_path):
    X_train = np.arange(10).reshape((10, 1))
    y_train = np.array([1.0, 1.3, 3.1, 2.0, 5.0, 6.3, 6.6, 7.4, 8.0, 9.0])
    X_train_norm = (X_train - np.mean(X_train))/np.std(X_train)
    ds_train_orig = tf.data.Dataset.from_tensor_slices(
        (tf.cast(X_train_norm, tf.float32), tf.cast(y_train, tf.float32)))

    class MyModel(tf.keras.Model):
        def __init__(self):
            super(MyModel, self).__init__()
            self.w = tf.Variable(0.0, name='weight')
            self.b = tf.Variable(0.0, name='bias')

        def call(self, x):
            return self.w*x + self.b
    model = MyModel()
    model.build(input_shape=(None, 1))
    assert model.count_params() == 2

    def loss_fn(y_true, y_pred):
        return tf.reduce_mean(tf.square(y_true - y_pred))
    assert float(loss_fn(tf.convert_to_tensor([1.0]), tf.convert_to_tensor([1.5]))) == 0.25

    def train(model, inputs, outputs, learning_rate):
        with tf.GradientTape() as tape:
            current_loss = loss_fn(model(inputs), outputs)
        dW, db = tape.gradient(current_loss, [model.w, model.b])
        model.w.assign_sub(learning_rate * dW)
        model.b.assign_sub(learning_rate * db)
    tf.random.set_seed(1)
    num_epochs, batch_size, learning_rate = 20, 1, 0.001
    steps_per_epoch = int(np.ceil(len(y_train) / batch_size))
    ds_train = ds_train_orig.shuffle(buffer_size=len(y_train))
    ds_train = ds_train.repeat(count=None)
    ds_train = ds_train.batch(1)
    w, b = 0.0, 0.0
    for i, batch in enumerate(ds_train):
        if i >= steps_per_epoch * num_epochs:
            break
        bx, by = batch
        # the same step in float64
        x, y = float(bx.numpy()[0, 0]), float(by.numpy()[0])
        pred = w * x + b
        w, b = w - learning_rate * 2 * (pred - y) * x, b - learning_rate * 2 * (pred - y)
        train(model, bx, by, learning_rate=learning_rate)
    np.testing.assert_allclose([model.w.numpy(), model.b.numpy()], [w, b], rtol=1e-4)

    tf.random.set_seed(1)
    model = MyModel()
    model.compile(optimizer='sgd', loss=loss_fn, metrics=['mae', 'mse'])
    hist = model.fit(X_train_norm, y_train, epochs=2, batch_size=batch_size, verbose=0)
    assert hist.history['loss'][1] < hist.history['loss'][0]
    np.testing.assert_allclose(hist.history['loss'], hist.history['mse'], rtol=1e-5)

    # iris from a dict-of-features dataset, split by take/skip of a shuffle
    rng = np.random.default_rng(0)
    iris = {'train': tf.data.Dataset.from_tensor_slices(
        {'features': rng.normal(size=(150, 4)).astype(np.float32),
         'label': rng.integers(0, 3, 150)})}
    ds_orig = iris['train']
    ds_orig = ds_orig.shuffle(150, reshuffle_each_iteration=False)
    ds_train_orig = ds_orig.take(100)
    ds_test = ds_orig.skip(100)
    ds_train_orig = ds_train_orig.map(lambda x: (x['features'], x['label']))
    ds_test = ds_test.map(lambda x: (x['features'], x['label']))
    iris_model = tf.keras.Sequential([
        tf.keras.layers.Dense(16, activation='sigmoid', name='fc1', input_shape=(4,)),
        tf.keras.layers.Dense(3, name='fc2', activation='softmax')])
    iris_model.compile(optimizer='adam', loss='sparse_categorical_crossentropy',
                       metrics=['accuracy'])
    training_size, batch_size = 100, 2
    steps_per_epoch = np.ceil(training_size / batch_size)
    ds_train = ds_train_orig.shuffle(buffer_size=training_size)
    ds_train = ds_train.repeat()
    ds_train = ds_train.batch(batch_size=batch_size)
    ds_train = ds_train.prefetch(buffer_size=1000)
    history = iris_model.fit(ds_train, epochs=2, steps_per_epoch=steps_per_epoch, verbose=0)
    assert len(history.history['loss']) == 2
    results = iris_model.evaluate(ds_test.batch(50), verbose=0)
    path = str(tmp_path / 'iris-classifier.h5')
    iris_model.save(path, overwrite=True, include_optimizer=True, save_format='h5')
    iris_model_new = tf.keras.models.load_model(path)
    # the test split is the same on every pass, so the reloaded model's
    # score is the same
    np.testing.assert_allclose(iris_model_new.evaluate(ds_test.batch(50), verbose=0),
                               results, rtol=1e-5)
    labels_train = [item[1].numpy() for item in ds_train_orig]
    labels_test = [item[1].numpy() for item in ds_test]
    assert (len(labels_train), len(labels_test)) == (100, 50)
