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


# --------------------- Raschka ch. 14: tf.function, variables, Keras models

def test_raschka_tf_function_on_python_integers_and_variables_of_each_dtype():
    def compute_z(a, b, c):
        r1 = tf.subtract(a, b)
        r2 = tf.multiply(2, r1)
        z = tf.add(r2, c)
        return z
    # the book prints "Rank 1 Inputs: [1]": Python ints are int32 tensors
    for f in (compute_z, tf.function(compute_z)):
        assert int(f(1, 2, 3)) == 1
        rank1 = f([1], [2], [3])
        assert rank1.dtype == np.int32 and rank1.numpy().tolist() == [1]
        assert f([[1]], [[2]], [[3]]).numpy().tolist() == [[1]]
    assert tf.subtract([1.0], [2]).dtype == np.float32

    sig = tf.function(compute_z, input_signature=(tf.TensorSpec(shape=[None], dtype=tf.int32),
                                                  tf.TensorSpec(shape=[None], dtype=tf.int32),
                                                  tf.TensorSpec(shape=[None], dtype=tf.int32),))
    assert sig([1, 2], [2, 4], [3, 6]).numpy().tolist() == [1, 2]
    with pytest.raises(Exception, match="input_signature"):
        sig(1, 2, 3)

    a = tf.Variable(initial_value=3.14, name='var_a')
    b = tf.Variable(initial_value=[1, 2, 3], name='var_b')
    c = tf.Variable(initial_value=[True, False], dtype=tf.bool)
    d = tf.Variable(initial_value=['abc'], dtype=tf.string)
    # as the book prints them (TensorFlow's names end in ':0')
    assert repr(a) == "<tf.Variable 'var_a' shape=() dtype=float32, numpy=3.14>"
    assert repr(b).endswith("shape=(3,) dtype=int32, numpy=array([1, 2, 3], dtype=int32)>")
    assert repr(c).endswith("shape=(2,) dtype=bool, numpy=array([ True, False])>")
    assert repr(d).endswith("shape=(1,) dtype=string, numpy=array([b'abc'], dtype=object)>")
    assert d.dtype == tf.string and d.numpy().tolist() == [b'abc']
    d.assign(['xyz'])
    assert d.numpy().tolist() == [b'xyz']
    with pytest.raises(TypeError, match="string variable"):
        tf.Variable([1], dtype=tf.string)
    w = tf.Variable([1, 2, 3], trainable=False)
    assert w.assign([3, 1, 4], read_value=True).numpy().tolist() == [3, 1, 4]
    w.assign_add([2, -1, 2], read_value=False)
    assert w.value().numpy().tolist() == [5, 0, 6]

    class MyModule(tf.Module):
        def __init__(self):
            init = tf.keras.initializers.GlorotNormal()
            self.w1 = tf.Variable(init(shape=(2, 3)), trainable=True)
            self.w2 = tf.Variable(init(shape=(1, 2)), trainable=False)
    m = MyModule()
    assert [v.shape for v in m.variables] == [(2, 3), (1, 2)]
    assert [v.shape for v in m.trainable_variables] == [(2, 3)]

    w = tf.Variable(1.0)
    b = tf.Variable(0.5)
    x = tf.convert_to_tensor([1.4])
    y = tf.convert_to_tensor([2.1])
    with tf.GradientTape(persistent=True) as tape:
        z = tf.add(tf.multiply(w, x), b)
        loss = tf.reduce_sum(tf.square(y - z))
    dloss_dw = tape.gradient(loss, w)
    dloss_db = tape.gradient(loss, b)
    np.testing.assert_allclose([float(dloss_dw), float(dloss_db)], [-0.56, -0.4], rtol=1e-5)
    optimizer = tf.keras.optimizers.SGD()
    optimizer.apply_gradients(zip([dloss_dw, dloss_db], [w, b]))
    np.testing.assert_allclose([w.numpy(), b.numpy()], [1.0056, 0.504], rtol=1e-6)


def test_raschka_xor_models_with_an_uncalled_l1_regularizer_and_a_noisy_layer():
    model = tf.keras.Sequential()
    model.add(tf.keras.layers.Dense(
        units=16, activation=tf.keras.activations.relu,
        kernel_initializer=tf.keras.initializers.GlorotNormal(),
        bias_initializer=tf.keras.initializers.Constant(2.0)))
    model.add(tf.keras.layers.Dense(
        units=32, activation=tf.keras.activations.sigmoid,
        kernel_regularizer=tf.keras.regularizers.l1))
    model.build(input_shape=(None, 4))
    assert model.count_params() == 624
    model.compile(optimizer=tf.keras.optimizers.SGD(learning_rate=0.001),
                  loss=tf.keras.losses.BinaryCrossentropy(),
                  metrics=[tf.keras.metrics.Accuracy(), tf.keras.metrics.Precision(),
                           tf.keras.metrics.Recall()])
    # the regularizer given uncalled is l1(0.01), as Keras's class
    kernel = model.layers[1].kernel.numpy()
    np.testing.assert_allclose(float(tf.add_n(model.losses)), 0.01 * np.abs(kernel).sum(),
                               rtol=1e-5)
    assert tf.keras.regularizers.get(tf.keras.regularizers.l2).get_config() == {"l2": 0.01}
    xs = np.random.default_rng(0).uniform(-1, 1, (8, 4)).astype(np.float32)
    model.fit(xs, np.ones((8, 32), np.float32), epochs=1, verbose=0)

    tf.random.set_seed(1)
    np.random.seed(1)
    x = np.random.uniform(low=-1, high=1, size=(200, 2))
    y = np.ones(len(x))
    y[x[:, 0] * x[:, 1] < 0] = 0
    x_train, y_train, x_valid, y_valid = x[:100, :], y[:100], x[100:, :], y[100:]

    class NoisyLinear(tf.keras.layers.Layer):
        def __init__(self, output_dim, noise_stddev=0.1, **kwargs):
            self.output_dim = output_dim
            self.noise_stddev = noise_stddev
            super(NoisyLinear, self).__init__(**kwargs)

        def build(self, input_shape):
            self.w = self.add_weight(name='weights', shape=(input_shape[1], self.output_dim),
                                     initializer='random_normal', trainable=True)
            self.b = self.add_weight(shape=(self.output_dim,), initializer='zeros',
                                     trainable=True)

        def call(self, inputs, training=False):
            if training:
                batch = tf.shape(inputs)[0]
                dim = tf.shape(inputs)[1]
                noise = tf.random.normal(shape=(batch, dim), mean=0.0,
                                         stddev=self.noise_stddev)
                noisy_inputs = tf.add(inputs, noise)
            else:
                noisy_inputs = inputs
            z = tf.matmul(noisy_inputs, self.w) + self.b
            return tf.keras.activations.relu(z)

        def get_config(self):
            config = super(NoisyLinear, self).get_config()
            config.update({'output_dim': self.output_dim, 'noise_stddev': self.noise_stddev})
            return config
    noisy_layer = NoisyLinear(4)
    noisy_layer.build(input_shape=(None, 4))
    x0 = tf.zeros(shape=(1, 4))
    assert noisy_layer(x0, training=False).numpy().tolist() == [[0.0] * 4]
    new_layer = NoisyLinear.from_config(noisy_layer.get_config())
    assert new_layer(x0, training=True).shape == (1, 4)
    model = tf.keras.Sequential([
        NoisyLinear(4, noise_stddev=0.1),
        tf.keras.layers.Dense(units=4, activation='relu'),
        tf.keras.layers.Dense(units=4, activation='relu'),
        tf.keras.layers.Dense(units=1, activation='sigmoid')])
    model.build(input_shape=(None, 2))
    assert model.count_params() == 12 + 20 + 20 + 5
    model.compile(optimizer=tf.keras.optimizers.SGD(), loss=tf.keras.losses.BinaryCrossentropy(),
                  metrics=[tf.keras.metrics.BinaryAccuracy()])
    hist = model.fit(x_train, y_train, validation_data=(x_valid, y_valid), epochs=2,
                     batch_size=2, verbose=0)
    assert sorted(hist.history) == ['binary_accuracy', 'loss', 'val_binary_accuracy',
                                    'val_loss']
    # plot_decision_regions's call: predict on a grid of points
    xx, yy = np.meshgrid(np.arange(-1, 1, 0.1), np.arange(-1, 1, 0.1))
    assert model.predict(np.array([xx.ravel(), yy.ravel()]).T, verbose=0).shape == (400, 1)


# ---------------------------- Raschka ch. 15: losses, the smile classifier

def test_raschka_losses_with_probabilities_and_logits_print_the_books_values():
    bce_probas = tf.keras.losses.BinaryCrossentropy(from_logits=False)
    bce_logits = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    logits = tf.constant([0.8])
    probas = tf.keras.activations.sigmoid(logits)
    assert '{:.4f}'.format(bce_probas(y_true=[1], y_pred=probas)) == '0.3711'
    assert '{:.4f}'.format(bce_logits(y_true=[1], y_pred=logits)) == '0.3711'
    cce_probas = tf.keras.losses.CategoricalCrossentropy(from_logits=False)
    cce_logits = tf.keras.losses.CategoricalCrossentropy(from_logits=True)
    logits = tf.constant([[1.5, 0.8, 2.1]])
    probas = tf.keras.activations.softmax(logits)
    assert '{:.4f}'.format(cce_probas(y_true=[[0, 0, 1]], y_pred=probas)) == '0.5996'
    assert '{:.4f}'.format(cce_logits(y_true=[[0, 0, 1]], y_pred=logits)) == '0.5996'
    sp_cce_logits = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert '{:.4f}'.format(sp_cce_logits(y_true=[2], y_pred=logits)) == '0.5996'


def test_raschka_celeba_smile_classifier_with_tf_image_augmentation(tmp_path):
    rng = np.random.default_rng(0)

    def fake(n):
        # CelebA's tfds features, at 44 x 36 instead of 218 x 178
        return tf.data.Dataset.from_tensor_slices({
            'image': rng.integers(0, 255, (n, 44, 36, 3), dtype=np.uint8),
            'attributes': {'Male': rng.integers(0, 2, n).astype(bool),
                           'Smiling': rng.integers(0, 2, n).astype(bool)}})
    celeba = {'train': fake(40), 'validation': fake(10), 'test': fake(10)}
    celeba_train, celeba_valid, celeba_test = (celeba['train'], celeba['validation'],
                                               celeba['test'])
    celeba_train = celeba_train.take(32)
    celeba_valid = celeba_valid.take(8)
    examples = []
    for example in celeba_train.take(5):
        examples.append(example['image'])
    img_cropped = tf.image.crop_to_bounding_box(examples[0], 5, 2, 30, 30)
    img_flipped = tf.image.flip_left_right(examples[1])
    img_adj_contrast = tf.image.adjust_contrast(examples[2], contrast_factor=2)
    img_adj_brightness = tf.image.adjust_brightness(examples[3], delta=0.3)
    img_center_crop = tf.image.central_crop(examples[4], 0.7)
    img_resized = tf.image.resize(img_center_crop, size=(44, 36))
    np.testing.assert_array_equal(img_cropped, np.asarray(examples[0])[5:35, 2:32])
    np.testing.assert_array_equal(img_flipped, np.asarray(examples[1])[:, ::-1])
    # uint8 images are adjusted in [0, 1] and saturated back, as TensorFlow
    x3 = np.asarray(examples[3]) / 255.0
    np.testing.assert_allclose(np.asarray(img_adj_brightness, np.float64),
                               np.floor(np.clip(x3 + 0.3, 0, 1) * 255.5), atol=1)
    x2 = np.asarray(examples[2], np.float64) / 255.0
    mean = x2.mean(axis=(0, 1))
    np.testing.assert_allclose(np.asarray(img_adj_contrast, np.float64),
                               np.floor(np.clip((x2 - mean) * 2 + mean, 0, 1) * 255.5), atol=1)
    assert img_adj_contrast.dtype == np.uint8 and img_center_crop.shape == (32, 26, 3)
    assert img_resized.shape == (44, 36, 3) and img_resized.dtype == np.float32

    def preprocess(example, size=(64, 64), mode='train'):
        image = example['image']
        label = example['attributes']['Male']
        if mode == 'train':
            image_cropped = tf.image.random_crop(image, size=(36, 36, 3))
            image_resized = tf.image.resize(image_cropped, size=size)
            image_flip = tf.image.random_flip_left_right(image_resized)
            return (image_flip/255.0, tf.cast(label, tf.int32))
        else:
            image_cropped = tf.image.crop_to_bounding_box(
                image, offset_height=4, offset_width=0, target_height=36, target_width=36)
            image_resized = tf.image.resize(image_cropped, size=size)
            return (image_resized/255.0, tf.cast(label, tf.int32))
    tf.random.set_seed(1)
    ds = celeba_train.shuffle(1000, reshuffle_each_iteration=False)
    ds = ds.take(2).repeat(5)
    ds = ds.map(lambda x: preprocess(x, size=(36, 36), mode='train'))
    labels = [int(example[1].numpy()) for example in ds]
    # the same two faces five times over, each time cropped anew
    assert labels == labels[:2] * 5

    BATCH_SIZE, BUFFER_SIZE, IMAGE_SIZE = 8, 1000, (16, 16)
    steps_per_epoch = np.ceil(32/BATCH_SIZE)
    ds_train = celeba_train.map(lambda x: preprocess(x, size=IMAGE_SIZE, mode='train'))
    ds_train = ds_train.shuffle(buffer_size=BUFFER_SIZE).repeat()
    ds_train = ds_train.batch(BATCH_SIZE)
    ds_valid = celeba_valid.map(lambda x: preprocess(x, size=IMAGE_SIZE, mode='eval'))
    ds_valid = ds_valid.batch(BATCH_SIZE)
    model = tf.keras.Sequential([
        tf.keras.layers.Conv2D(8, (3, 3), padding='same', activation='relu'),
        tf.keras.layers.MaxPooling2D((2, 2)),
        tf.keras.layers.Dropout(rate=0.5),
        tf.keras.layers.Conv2D(16, (3, 3), padding='same', activation='relu'),
        tf.keras.layers.MaxPooling2D((2, 2)),
        tf.keras.layers.Dropout(rate=0.5),
        tf.keras.layers.Conv2D(16, (3, 3), padding='same', activation='relu'),
        tf.keras.layers.MaxPooling2D((2, 2)),
        tf.keras.layers.Conv2D(32, (3, 3), padding='same', activation='relu'),
    ])
    assert model.compute_output_shape(input_shape=(None, 16, 16, 3)) == (None, 2, 2, 32)
    model.add(tf.keras.layers.GlobalAveragePooling2D())
    assert model.compute_output_shape(input_shape=(None, 16, 16, 3)) == (None, 32)
    model.add(tf.keras.layers.Dense(1, activation=None))
    tf.random.set_seed(1)
    model.build(input_shape=(None, 16, 16, 3))
    model.compile(optimizer=tf.keras.optimizers.Adam(),
                  loss=tf.keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=['accuracy'])
    history = model.fit(ds_train, validation_data=ds_valid, epochs=1,
                        steps_per_epoch=steps_per_epoch, verbose=0)
    hist = history.history
    history = model.fit(ds_train, validation_data=ds_valid, epochs=2, initial_epoch=1,
                        steps_per_epoch=steps_per_epoch, verbose=0)
    hist2 = history.history
    assert len(hist['loss'] + hist2['loss']) == 2 and 'val_accuracy' in hist2
    ds_test = celeba_test.map(lambda x: preprocess(x, size=IMAGE_SIZE, mode='eval')).batch(32)
    ds = ds_test.unbatch().take(10)
    pred_logits = model.predict(ds.batch(10), verbose=0)
    probas = tf.sigmoid(pred_logits)
    probas = probas.numpy().flatten()*100
    assert probas.shape == (10,) and ((0 <= probas) & (probas <= 100)).all()
    np.testing.assert_allclose(pred_logits, model.predict(np.stack([e[0] for e in ds]),
                                                          verbose=0), rtol=1e-5, atol=1e-6)
    model.save(str(tmp_path / 'celeba-cnn.h5'))
    reloaded = tf.keras.models.load_model(str(tmp_path / 'celeba-cnn.h5'))
    np.testing.assert_allclose(reloaded.predict(ds.batch(10), verbose=0), pred_logits,
                               rtol=1e-5, atol=1e-6)


# ------------------- Raschka ch. 16: RNNs for sentiment and character text

def test_raschka_simple_rnn_by_hand_and_tf_print_of_numpy_values(capsys):
    tf.random.set_seed(1)
    rnn_layer = tf.keras.layers.SimpleRNN(units=2, use_bias=True, return_sequences=True)
    rnn_layer.build(input_shape=(None, None, 5))
    w_xh, w_oo, b_h = rnn_layer.weights
    assert (w_xh.shape, w_oo.shape, b_h.shape) == ((5, 2), (2, 2), (2,))
    x_seq = tf.convert_to_tensor([[1.0]*5, [2.0]*5, [3.0]*5], dtype=tf.float32)
    output = rnn_layer(tf.reshape(x_seq, shape=(1, 3, 5)))
    out_man = []
    for t in range(len(x_seq)):
        xt = tf.reshape(x_seq[t], (1, 5))
        ht = tf.matmul(xt, w_xh) + b_h
        if t > 0:
            prev_o = out_man[t-1]
        else:
            prev_o = tf.zeros(shape=(ht.shape))
        ot = ht + tf.matmul(prev_o, w_oo)
        ot = tf.math.tanh(ot)
        out_man.append(ot)
        np.testing.assert_allclose(ot.numpy()[0], output[0][t].numpy(), rtol=1e-5, atol=1e-6)

    # tf.print formats tensors, and other Python objects as pprint does:
    # the book prints "array([[0, 0, 1, 2, 0, 0, 0, 0, 1, 0]])" for
    # samples.numpy() and "b'In 1974, ...' 1" for a review's bytes
    tf.random.set_seed(1)
    logits = [[1.0, 1.0, 1.0]]
    np.testing.assert_allclose(tf.math.softmax(logits).numpy()[0], [1 / 3] * 3, rtol=1e-6)
    samples = tf.random.categorical(logits=logits, num_samples=10)
    tf.print(samples.numpy())
    tf.print(b'In 1974, the teenager', tf.constant(1))
    tf.print(samples)
    tf.print('dL/dw:', tf.constant(-0.56), [tf.constant([1, 2]), 3], {'a': 1.5})
    tf.print(tf.constant(['ab', 'c']), tf.constant('x'), np.float32(0.5))
    err = capsys.readouterr().err.splitlines()
    assert err[0] == repr(samples.numpy())
    assert err[1] == "b'In 1974, the teenager' 1"
    assert err[2].startswith("[[") and "..." in err[2]
    assert err[3] == "dL/dw: -0.56 [[1 2], 3] {'a': 1.5}"
    assert err[4] == '["ab" "c"] x 0.5'
    # ch. 13's tf.is_tensor(a), tf.is_tensor(t_a): (False, True)
    a = np.array([1, 2, 3], dtype=np.int32)
    assert (tf.is_tensor(a), tf.is_tensor(tf.convert_to_tensor(a))) == (False, True)
    assert not tf.is_tensor(np.float32(1.0)) and tf.is_tensor(tf.Variable(1.0))


def _tokenize(s):
    # tfds.deprecated.text.Tokenizer's split on non-word characters
    import re
    if isinstance(s, bytes):
        s = s.decode()
    return [t for t in re.split(r'\W+', s) if t]


def test_raschka_imdb_sentiment_with_py_function_padded_batch_and_bidirectional_rnns(tmp_path):
    from collections import Counter
    from pynn.keras.layers import Embedding, SimpleRNN, LSTM, GRU, Bidirectional
    rng = np.random.default_rng(0)
    words = ['good', 'bad', 'great', 'awful', 'movie', 'plot', 'actor', 'the', 'a', 'fun']
    # pandas' df.values: an (n, 1) object array of reviews
    values = np.array([[' '.join(rng.choice(words, rng.integers(3, 12))) + '!']
                       for _ in range(48)], dtype=object)
    target = rng.integers(0, 2, 48)
    ds_raw = tf.data.Dataset.from_tensor_slices((values, target))
    first = next(iter(ds_raw.take(1)))
    assert first[0].numpy()[0] == values[0, 0].encode()
    tf.random.set_seed(1)
    ds_raw = ds_raw.shuffle(48, reshuffle_each_iteration=False)
    ds_raw_test = ds_raw.take(16)
    ds_raw_train_valid = ds_raw.skip(16)
    ds_raw_train = ds_raw_train_valid.take(24)
    ds_raw_valid = ds_raw_train_valid.skip(24)
    token_counts = Counter()
    for example in ds_raw_train:
        tokens = _tokenize(example[0].numpy()[0])
        token_counts.update(tokens)
    vocab = {w: i + 1 for i, w in enumerate(token_counts)}

    def encode(text_tensor, label):
        text = text_tensor.numpy()[0]
        encoded_text = [vocab.get(t, len(vocab) + 1) for t in _tokenize(text)]
        return encoded_text, label

    def encode_map_fn(text, label):
        return tf.py_function(encode, inp=[text, label], Tout=(tf.int64, tf.int64))
    ds_train = ds_raw_train.map(encode_map_fn)
    ds_valid = ds_raw_valid.map(encode_map_fn)
    ds_test = ds_raw_test.map(encode_map_fn)
    example = next(iter(ds_train))
    assert example[0].dtype == np.int64 and example[1].dtype == np.int64
    ds_subset = ds_train.take(8)
    lengths = [int(e[0].shape[0]) for e in ds_subset]
    ds_batched = ds_subset.padded_batch(4, padded_shapes=([-1], []))
    assert [b[0].shape for b in ds_batched] == [(4, max(lengths[:4])), (4, max(lengths[4:]))]
    train_data = ds_train.padded_batch(8, padded_shapes=([-1], []))
    valid_data = ds_valid.padded_batch(8, padded_shapes=([-1], []))
    test_data = ds_test.padded_batch(8, padded_shapes=([-1], []))

    embedding_dim = 8
    vocab_size = len(token_counts) + 2
    tf.random.set_seed(1)
    bi_lstm_model = tf.keras.Sequential([
        tf.keras.layers.Embedding(input_dim=vocab_size, output_dim=embedding_dim,
                                  name='embed-layer'),
        tf.keras.layers.Bidirectional(tf.keras.layers.LSTM(8, name='lstm-layer'),
                                      name='bidir-lstm'),
        tf.keras.layers.Dense(8, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    bi_lstm_model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                          loss=tf.keras.losses.BinaryCrossentropy(from_logits=False),
                          metrics=['accuracy'])
    history = bi_lstm_model.fit(train_data, validation_data=valid_data, epochs=1, verbose=0)
    assert set(history.history) == {'loss', 'accuracy', 'val_loss', 'val_accuracy'}
    test_results = bi_lstm_model.evaluate(test_data, verbose=0)
    assert 0.0 <= test_results[1] <= 1.0
    path = str(tmp_path / 'Bidir-LSTM-full-length-seq.h5')
    bi_lstm_model.save(path)
    batch = next(iter(test_data))[0]
    np.testing.assert_allclose(tf.keras.models.load_model(path).predict(batch, verbose=0),
                               bi_lstm_model.predict(batch, verbose=0), rtol=1e-5, atol=1e-6)

    def build_rnn_model(embedding_dim, vocab_size, recurrent_type='SimpleRNN',
                        n_recurrent_units=64, n_recurrent_layers=1, bidirectional=True):
        tf.random.set_seed(1)
        model = tf.keras.Sequential()
        model.add(Embedding(input_dim=vocab_size, output_dim=embedding_dim, name='embed-layer'))
        for i in range(n_recurrent_layers):
            return_sequences = (i < n_recurrent_layers-1)
            if recurrent_type == 'SimpleRNN':
                recurrent_layer = SimpleRNN(units=n_recurrent_units,
                                            return_sequences=return_sequences,
                                            name='simprnn-layer-{}'.format(i))
            elif recurrent_type == 'LSTM':
                recurrent_layer = LSTM(units=n_recurrent_units,
                                       return_sequences=return_sequences,
                                       name='lstm-layer-{}'.format(i))
            elif recurrent_type == 'GRU':
                recurrent_layer = GRU(units=n_recurrent_units,
                                      return_sequences=return_sequences,
                                      name='gru-layer-{}'.format(i))
            if bidirectional:
                recurrent_layer = Bidirectional(recurrent_layer,
                                                name='bidir-'+recurrent_layer.name)
            model.add(recurrent_layer)
        model.add(tf.keras.layers.Dense(8, activation='relu'))
        model.add(tf.keras.layers.Dense(1, activation='sigmoid'))
        return model
    rnn_model = build_rnn_model(embedding_dim, vocab_size, recurrent_type='GRU',
                                n_recurrent_units=4, n_recurrent_layers=2, bidirectional=True)
    rnn_model.compile(optimizer=tf.keras.optimizers.Adam(1e-3),
                      loss=tf.keras.losses.BinaryCrossentropy(from_logits=False),
                      metrics=['accuracy'])
    rnn_model.fit(train_data, validation_data=valid_data, epochs=1, verbose=0)
    assert [layer.name for layer in rnn_model.layers][1:3] == ['bidir-gru-layer-0',
                                                               'bidir-gru-layer-1']
    # one GRU direction: 3 * (units * (inputs + units) + 2 * units), reset_after
    assert rnn_model.layers[1].count_params() == 2 * 3 * (4 * (8 + 4) + 2 * 4)


def test_raschka_character_level_language_model_samples_text():
    text = ("THE MYSTERIOUS ISLAND\nPART 1--DROPPED FROM THE CLOUDS\nAre we rising again? "
            "No. On the contrary, the island. ") * 3 + "End of the Project Gutenberg"
    start_indx = text.find('THE MYSTERIOUS ISLAND')
    end_indx = text.find('End of the Project Gutenberg')
    text = text[start_indx:end_indx]
    char_set = set(text)
    chars_sorted = sorted(char_set)
    char2int = {ch: i for i, ch in enumerate(chars_sorted)}
    char_array = np.array(chars_sorted)
    text_encoded = np.array([char2int[ch] for ch in text], dtype=np.int32)
    assert ''.join(char_array[text_encoded[15:21]]) == 'ISLAND'
    ds_text_encoded = tf.data.Dataset.from_tensor_slices(text_encoded)
    seq_length = 40
    chunk_size = seq_length + 1
    ds_chunks = ds_text_encoded.batch(chunk_size, drop_remainder=True)

    def split_input_target(chunk):
        input_seq = chunk[:-1]
        target_seq = chunk[1:]
        return input_seq, target_seq
    ds_sequences = ds_chunks.map(split_input_target)
    example = next(iter(ds_sequences))
    assert repr(''.join(char_array[example[0].numpy()])) == \
        repr('THE MYSTERIOUS ISLAND\nPART 1--DROPPED FR')
    assert ''.join(char_array[example[1].numpy()]).endswith('FRO')
    tf.random.set_seed(1)
    ds = ds_sequences.shuffle(10000).batch(4)
    assert ds.element_spec[0].shape.as_list() == [None, 40]

    def build_model(vocab_size, embedding_dim, rnn_units):
        model = tf.keras.Sequential([
            tf.keras.layers.Embedding(vocab_size, embedding_dim),
            tf.keras.layers.LSTM(rnn_units, return_sequences=True),
            tf.keras.layers.Dense(vocab_size)])
        return model
    charset_size = len(char_array)
    tf.random.set_seed(1)
    model = build_model(vocab_size=charset_size, embedding_dim=8, rnn_units=16)
    model.compile(optimizer='adam',
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(ds, epochs=1, verbose=0)

    def sample(model, starting_str, len_generated_text=500, max_input_length=40,
               scale_factor=1.0):
        encoded_input = [char2int[s] for s in starting_str]
        encoded_input = tf.reshape(encoded_input, (1, -1))
        generated_str = starting_str
        model.reset_states()
        for i in range(len_generated_text):
            logits = model(encoded_input)
            logits = tf.squeeze(logits, 0)
            scaled_logits = logits * scale_factor
            new_char_indx = tf.random.categorical(scaled_logits, num_samples=1)
            new_char_indx = tf.squeeze(new_char_indx)[-1].numpy()
            generated_str += str(char_array[new_char_indx])
            new_char_indx = tf.expand_dims([new_char_indx], 0)
            encoded_input = tf.concat([encoded_input, new_char_indx], axis=1)
            encoded_input = encoded_input[:, -max_input_length:]
        return generated_str
    tf.random.set_seed(1)
    generated = sample(model, starting_str='The island', len_generated_text=45)
    assert len(generated) == 55 and generated.startswith('The island')
    assert set(generated) <= char_set | set('The island')
    tf.random.set_seed(1)
    again = sample(model, starting_str='The island', len_generated_text=45)
    assert again == generated
    logits = np.array([[1.0, 1.0, 3.0]])
    np.testing.assert_allclose(tf.math.softmax(0.5*logits).numpy()[0],
                               [0.21194156, 0.21194156, 0.57611686], rtol=1e-6)


# -------------------------------- Raschka ch. 17: a GAN and a WGAN-GP on MNIST

def _fake_mnist(n, seed=0):
    # tfds' mnist: a dict of uint8 (28, 28, 1) images and labels
    rng = np.random.default_rng(seed)
    return {'train': tf.data.Dataset.from_tensor_slices({
        'image': rng.integers(0, 256, (n, 28, 28, 1), dtype=np.uint8),
        'label': rng.integers(0, 10, n)})}


def test_raschka_vanilla_gan_trained_by_two_tapes():
    if tf.test.is_gpu_available():
        device_name = tf.test.gpu_device_name()
    else:
        device_name = 'cpu:0'

    def make_generator_network(num_hidden_layers=1, num_hidden_units=100,
                               num_output_units=784):
        model = tf.keras.Sequential()
        for i in range(num_hidden_layers):
            model.add(tf.keras.layers.Dense(units=num_hidden_units, use_bias=False))
            model.add(tf.keras.layers.LeakyReLU())
        model.add(tf.keras.layers.Dense(units=num_output_units, activation='tanh'))
        return model

    def make_discriminator_network(num_hidden_layers=1, num_hidden_units=100,
                                   num_output_units=1):
        model = tf.keras.Sequential()
        for i in range(num_hidden_layers):
            model.add(tf.keras.layers.Dense(units=num_hidden_units))
            model.add(tf.keras.layers.LeakyReLU())
            model.add(tf.keras.layers.Dropout(rate=0.5))
        model.add(tf.keras.layers.Dense(units=num_output_units, activation=None))
        return model
    image_size = (28, 28)
    z_size = 20
    mode_z = 'uniform'
    tf.random.set_seed(1)
    gen_model = make_generator_network(num_output_units=np.prod(image_size))
    gen_model.build(input_shape=(None, z_size))
    disc_model = make_discriminator_network()
    disc_model.build(input_shape=(None, np.prod(image_size)))
    # the book's summaries: 81,184 and 78,601 parameters
    assert (gen_model.count_params(), disc_model.count_params()) == (81184, 78601)
    mnist = _fake_mnist(64)

    def preprocess(ex, mode='uniform'):
        image = ex['image']
        image = tf.image.convert_image_dtype(image, tf.float32)
        image = tf.reshape(image, [-1])
        image = image*2 - 1.0
        if mode == 'uniform':
            input_z = tf.random.uniform(shape=(z_size,), minval=-1.0, maxval=1.0)
        elif mode == 'normal':
            input_z = tf.random.normal(shape=(z_size,))
        return input_z, image
    batch_size = 32
    fixed_z = tf.random.uniform(shape=(batch_size, z_size), minval=-1, maxval=1)

    def create_samples(g_model, input_z):
        g_output = g_model(input_z, training=False)
        images = tf.reshape(g_output, (batch_size, *image_size))
        return (images+1)/2.0
    mnist_trainset = mnist['train']
    mnist_trainset = mnist_trainset.map(lambda ex: preprocess(ex, mode=mode_z))
    mnist_trainset = mnist_trainset.shuffle(10000)
    mnist_trainset = mnist_trainset.batch(batch_size, drop_remainder=True)
    input_z, input_real = next(iter(mnist_trainset))
    assert input_z.shape == (32, 20) and input_real.shape == (32, 784)
    assert -1.0 <= float(tf.reduce_min(input_real)) and float(tf.reduce_max(input_real)) <= 1.0
    with tf.device(device_name):
        gen_model = make_generator_network(num_hidden_units=16,
                                           num_output_units=np.prod(image_size))
        gen_model.build(input_shape=(None, z_size))
        disc_model = make_discriminator_network(num_hidden_units=16)
        disc_model.build(input_shape=(None, np.prod(image_size)))
    loss_fn = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    g_optimizer = tf.keras.optimizers.Adam()
    d_optimizer = tf.keras.optimizers.Adam()
    all_losses, all_d_vals, epoch_samples = [], [], []
    before = [v.numpy().copy() for v in gen_model.trainable_variables]
    for epoch in range(1, 3):
        epoch_losses, epoch_d_vals = [], []
        for i, (input_z, input_real) in enumerate(mnist_trainset):
            with tf.GradientTape() as g_tape:
                g_output = gen_model(input_z)
                d_logits_fake = disc_model(g_output, training=True)
                labels_real = tf.ones_like(d_logits_fake)
                g_loss = loss_fn(y_true=labels_real, y_pred=d_logits_fake)
            g_grads = g_tape.gradient(g_loss, gen_model.trainable_variables)
            g_optimizer.apply_gradients(grads_and_vars=zip(g_grads,
                                                           gen_model.trainable_variables))
            with tf.GradientTape() as d_tape:
                d_logits_real = disc_model(input_real, training=True)
                d_labels_real = tf.ones_like(d_logits_real)
                d_loss_real = loss_fn(y_true=d_labels_real, y_pred=d_logits_real)
                d_logits_fake = disc_model(g_output, training=True)
                d_labels_fake = tf.zeros_like(d_logits_fake)
                d_loss_fake = loss_fn(y_true=d_labels_fake, y_pred=d_logits_fake)
                d_loss = d_loss_real + d_loss_fake
            d_grads = d_tape.gradient(d_loss, disc_model.trainable_variables)
            assert all(g is not None for g in d_grads)
            d_optimizer.apply_gradients(grads_and_vars=zip(d_grads,
                                                           disc_model.trainable_variables))
            epoch_losses.append((g_loss.numpy(), d_loss.numpy(), d_loss_real.numpy(),
                                 d_loss_fake.numpy()))
            d_probs_real = tf.reduce_mean(tf.sigmoid(d_logits_real))
            d_probs_fake = tf.reduce_mean(tf.sigmoid(d_logits_fake))
            epoch_d_vals.append((d_probs_real.numpy(), d_probs_fake.numpy()))
        all_losses.append(epoch_losses)
        all_d_vals.append(epoch_d_vals)
        line = ('Epoch {:03d} | ET {:.2f} min | Avg Losses >> G/D {:.4f}/{:.4f} '
                '[D-Real: {:.4f} D-Fake: {:.4f}]'.format(
                    epoch, 0.0, *list(np.mean(all_losses[-1], axis=0))))
        assert line.startswith('Epoch 00%d' % epoch)
        epoch_samples.append(create_samples(gen_model, fixed_z).numpy())
    assert np.array(all_losses).shape == (2, 2, 4)
    np.testing.assert_allclose(np.array(all_losses)[..., 1],
                               np.array(all_losses)[..., 2] + np.array(all_losses)[..., 3],
                               rtol=1e-5)
    assert epoch_samples[-1].shape == (32, 28, 28)
    assert 0.0 <= epoch_samples[-1].min() and epoch_samples[-1].max() <= 1.0
    assert any(np.abs(v.numpy() - b).max() > 0
               for v, b in zip(gen_model.trainable_variables, before))


def test_raschka_dcgan_critic_with_a_gradient_penalty():
    device_name = 'CPU:0'

    def make_dcgan_generator(z_size=20, output_size=(28, 28, 1), n_filters=128, n_blocks=2):
        size_factor = 2**n_blocks
        hidden_size = (output_size[0]//size_factor, output_size[1]//size_factor)
        model = tf.keras.Sequential([
            tf.keras.layers.Input(shape=(z_size,)),
            tf.keras.layers.Dense(units=n_filters*np.prod(hidden_size), use_bias=False),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.LeakyReLU(),
            tf.keras.layers.Reshape((hidden_size[0], hidden_size[1], n_filters)),
            tf.keras.layers.Conv2DTranspose(filters=n_filters, kernel_size=(5, 5),
                                            strides=(1, 1), padding='same', use_bias=False),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.LeakyReLU()])
        nf = n_filters
        for i in range(n_blocks):
            nf = nf // 2
            model.add(tf.keras.layers.Conv2DTranspose(filters=nf, kernel_size=(5, 5),
                                                      strides=(2, 2), padding='same',
                                                      use_bias=False))
            model.add(tf.keras.layers.BatchNormalization())
            model.add(tf.keras.layers.LeakyReLU())
        model.add(tf.keras.layers.Conv2DTranspose(filters=output_size[2], kernel_size=(5, 5),
                                                  strides=(1, 1), padding='same',
                                                  use_bias=False, activation='tanh'))
        return model

    def make_dcgan_discriminator(input_size=(28, 28, 1), n_filters=64, n_blocks=2):
        model = tf.keras.Sequential([
            tf.keras.layers.Input(shape=input_size),
            tf.keras.layers.Conv2D(filters=n_filters, kernel_size=5, strides=(1, 1),
                                   padding='same'),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.LeakyReLU()])
        nf = n_filters
        for i in range(n_blocks):
            nf = nf*2
            model.add(tf.keras.layers.Conv2D(filters=nf, kernel_size=(5, 5), strides=(2, 2),
                                             padding='same'))
            model.add(tf.keras.layers.BatchNormalization())
            model.add(tf.keras.layers.LeakyReLU())
            model.add(tf.keras.layers.Dropout(0.3))
        model.add(tf.keras.layers.Conv2D(filters=1, kernel_size=(7, 7), padding='valid'))
        model.add(tf.keras.layers.Reshape((1,)))
        return model
    # the book's summaries
    gen_model = make_dcgan_generator()
    assert gen_model.count_params() == 817824
    assert sum(int(np.prod(v.shape)) for v in gen_model.non_trainable_weights) == 12992
    assert make_dcgan_discriminator().count_params() == 1040385

    z_size, batch_size, image_size, lambda_gp = 20, 4, (28, 28), 10.0
    mnist = _fake_mnist(8)

    def preprocess(ex, mode='uniform'):
        image = ex['image']
        image = tf.image.convert_image_dtype(image, tf.float32)
        image = image*2 - 1.0
        input_z = tf.random.uniform(shape=(z_size,), minval=-1.0, maxval=1.0)
        return input_z, image
    tf.random.set_seed(1)
    np.random.seed(1)
    mnist_trainset = mnist['train']
    mnist_trainset = mnist_trainset.map(preprocess)
    mnist_trainset = mnist_trainset.shuffle(10000)
    mnist_trainset = mnist_trainset.batch(batch_size, drop_remainder=True)
    with tf.device(device_name):
        gen_model = make_dcgan_generator(n_filters=8)
        gen_model.build(input_shape=(None, z_size))
        disc_model = make_dcgan_discriminator(n_filters=4)
        # the book builds the critic for flat images too: tf.keras 2 keeps
        # the model its Input made
        with pytest.warns(UserWarning, match="leaves it as it is"):
            disc_model.build(input_shape=(None, np.prod(image_size)))
        assert disc_model.input_shape == (None, 28, 28, 1)
    g_optimizer = tf.keras.optimizers.Adam(0.0002)
    d_optimizer = tf.keras.optimizers.Adam(0.0002)

    def critic_step(input_z, input_real, lambda_gp):
        with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
            g_output = gen_model(input_z, training=True)
            d_critics_real = disc_model(input_real, training=True)
            d_critics_fake = disc_model(g_output, training=True)
            g_loss = -tf.math.reduce_mean(d_critics_fake)
            d_loss_real = -tf.math.reduce_mean(d_critics_real)
            d_loss_fake = tf.math.reduce_mean(d_critics_fake)
            d_loss = d_loss_real + d_loss_fake
            with tf.GradientTape() as gp_tape:
                alpha = tf.random.uniform(shape=[d_critics_real.shape[0], 1, 1, 1],
                                          minval=0.0, maxval=1.0)
                interpolated = (alpha*input_real + (1-alpha)*g_output)
                gp_tape.watch(interpolated)
                d_critics_intp = disc_model(interpolated)
            grads_intp = gp_tape.gradient(d_critics_intp, [interpolated, ])[0]
            grads_intp_l2 = tf.sqrt(tf.reduce_sum(tf.square(grads_intp), axis=[1, 2, 3]))
            grad_penalty = tf.reduce_mean(tf.square(grads_intp_l2 - 1.0))
            d_loss = d_loss + lambda_gp*grad_penalty
        d_grads = d_tape.gradient(d_loss, disc_model.trainable_variables)
        g_grads = g_tape.gradient(g_loss, gen_model.trainable_variables)
        return g_loss, d_loss, d_loss_real, d_loss_fake, grad_penalty, d_grads, g_grads
    input_z, input_real = next(iter(mnist_trainset))
    # the penalty's gradient reaches the critic's weights (through the
    # gradient of the critic, a second-order term): with lambda_gp = 0 the
    # critic's gradients differ; Dropout and the interpolation draw anew,
    # so both steps run from the same seed, and from the same moving
    # statistics of BatchNormalization (the penalty's call is in inference)
    weights = disc_model.get_weights()
    tf.random.set_seed(5)
    *_, penalty, with_gp, _ = critic_step(input_z, input_real, lambda_gp)
    disc_model.set_weights(weights)
    tf.random.set_seed(5)
    *_, penalty0, without_gp, _ = critic_step(input_z, input_real, 0.0)
    np.testing.assert_allclose(float(penalty), float(penalty0), rtol=1e-5)
    assert float(penalty) > 0
    assert max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(with_gp, without_gp)) > 1e-6
    all_losses = []
    for i, (input_z, input_real) in enumerate(mnist_trainset):
        g_loss, d_loss, d_loss_real, d_loss_fake, _, d_grads, g_grads = critic_step(
            input_z, input_real, lambda_gp)
        d_optimizer.apply_gradients(grads_and_vars=zip(d_grads, disc_model.trainable_variables))
        g_optimizer.apply_gradients(grads_and_vars=zip(g_grads, gen_model.trainable_variables))
        all_losses.append((g_loss.numpy(), d_loss.numpy(), d_loss_real.numpy(),
                           d_loss_fake.numpy()))
        np.testing.assert_allclose(-g_loss.numpy(), d_loss_fake.numpy(), rtol=1e-6)
    assert np.isfinite(all_losses).all() and len(all_losses) == 2


# ------------------------------ Krohn, "Deep Learning Illustrated" notebooks

def test_krohn_multi_convnet_sentiment_with_int16_input_and_epoch_checkpoints(tmp_path):
    from pynn.keras.preprocessing.sequence import pad_sequences
    from pynn.keras.models import Model
    from pynn.keras.layers import Input, concatenate
    from pynn.keras.layers import (Dense, Dropout, Embedding, SpatialDropout1D, Conv1D,
                                   GlobalMaxPooling1D)
    from pynn.keras.callbacks import ModelCheckpoint
    output_dir = str(tmp_path / 'model_output/multiconv')
    epochs, batch_size = 2, 16
    n_dim, n_unique_words, max_review_length = 8, 100, 40
    pad_type = trunc_type = 'pre'
    drop_embed = 0.2
    n_conv_1 = n_conv_2 = n_conv_3 = 8
    k_conv_1, k_conv_2, k_conv_3 = 3, 2, 4
    n_dense, dropout = 16, 0.2
    # imdb.load_data(num_words=n_unique_words): lists of word ids
    rng = np.random.default_rng(0)
    x_train = [list(rng.integers(1, n_unique_words, rng.integers(5, 60))) for _ in range(48)]
    x_valid = [list(rng.integers(1, n_unique_words, rng.integers(5, 60))) for _ in range(16)]
    y_train, y_valid = rng.integers(0, 2, 48), rng.integers(0, 2, 16)
    x_train = pad_sequences(x_train, maxlen=max_review_length, padding=pad_type,
                            truncating=trunc_type, value=0)
    x_valid = pad_sequences(x_valid, maxlen=max_review_length, padding=pad_type,
                            truncating=trunc_type, value=0)
    input_layer = Input(shape=(max_review_length,), dtype='int16', name='input')
    embedding_layer = Embedding(n_unique_words, n_dim, name='embedding')(input_layer)
    drop_embed_layer = SpatialDropout1D(drop_embed, name='drop_embed')(embedding_layer)
    conv_1 = Conv1D(n_conv_1, k_conv_1, activation='relu', name='conv_1')(drop_embed_layer)
    maxp_1 = GlobalMaxPooling1D(name='maxp_1')(conv_1)
    conv_2 = Conv1D(n_conv_2, k_conv_2, activation='relu', name='conv_2')(drop_embed_layer)
    maxp_2 = GlobalMaxPooling1D(name='maxp_2')(conv_2)
    conv_3 = Conv1D(n_conv_3, k_conv_3, activation='relu', name='conv_3')(drop_embed_layer)
    maxp_3 = GlobalMaxPooling1D(name='maxp_3')(conv_3)
    concat = concatenate([maxp_1, maxp_2, maxp_3])
    dense_layer = Dense(n_dense, activation='relu', name='dense')(concat)
    drop_dense_layer = Dropout(dropout, name='drop_dense')(dense_layer)
    dense_2 = Dense(int(n_dense/4), activation='relu', name='dense_2')(drop_dense_layer)
    dropout_2 = Dropout(dropout, name='drop_dense_2')(dense_2)
    predictions = Dense(1, activation='sigmoid', name='output')(dropout_2)
    model = Model(input_layer, predictions)
    assert concat.shape == (None, 24)
    model.compile(loss='binary_crossentropy', optimizer='nadam', metrics=['accuracy'])
    modelcheckpoint = ModelCheckpoint(filepath=output_dir+"/weights.{epoch:02d}.hdf5")
    if not os.path.exists(output_dir):
        os.makedirs(output_dir)
    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, verbose=0,
              validation_data=(x_valid, y_valid), callbacks=[modelcheckpoint])
    assert sorted(os.listdir(output_dir)) == ['weights.01.hdf5', 'weights.02.hdf5']
    y_last = model.predict(x_valid, verbose=0)
    model.load_weights(output_dir+"/weights.01.hdf5")
    y_hat = model.predict(x_valid, verbose=0)
    assert y_hat.shape == (16, 1) and not np.allclose(y_hat, y_last)
    model.load_weights(output_dir+"/weights.02.hdf5")
    np.testing.assert_allclose(model.predict(x_valid, verbose=0), y_last, rtol=1e-5)


def test_krohn_quick_draw_gan_trains_a_discriminator_frozen_only_inside_the_gan():
    from pynn.keras.models import Model
    from pynn.keras.layers import Input, Dense, Conv2D, Dropout
    from pynn.keras.layers import BatchNormalization, Flatten
    from pynn.keras.layers import Activation
    from pynn.keras.layers import Reshape
    from pynn.keras.layers import Conv2DTranspose, UpSampling2D
    from pynn.keras.optimizers import Nadam
    # ../quickdraw_data/apple.npy: flat 28 x 28 bitmaps
    data = np.random.default_rng(0).integers(0, 256, (40, 784)).astype(np.uint8)
    data = data/255
    data = np.reshape(data, (data.shape[0], 28, 28, 1))
    img_w, img_h = data.shape[1:3]

    def build_discriminator(depth=64, p=0.4):
        image = Input((img_w, img_h, 1))
        conv1 = Conv2D(depth*1, 5, strides=2, padding='same', activation='relu')(image)
        conv1 = Dropout(p)(conv1)
        conv2 = Conv2D(depth*2, 5, strides=2, padding='same', activation='relu')(conv1)
        conv2 = Dropout(p)(conv2)
        conv3 = Conv2D(depth*4, 5, strides=2, padding='same', activation='relu')(conv2)
        conv3 = Dropout(p)(conv3)
        conv4 = Conv2D(depth*8, 5, strides=1, padding='same', activation='relu')(conv3)
        conv4 = Flatten()(Dropout(p)(conv4))
        prediction = Dense(1, activation='sigmoid')(conv4)
        model = Model(inputs=image, outputs=prediction)
        return model
    # the book's summary: 4,311,553 parameters
    assert build_discriminator().count_params() == 4311553
    discriminator = build_discriminator(depth=4)
    discriminator.compile(loss='binary_crossentropy',
                          optimizer=Nadam(lr=0.0008, clipvalue=1.0), metrics=['accuracy'])
    z_dimensions = 32

    def build_generator(latent_dim=z_dimensions, depth=64, p=0.4):
        noise = Input((latent_dim,))
        dense1 = Dense(7*7*depth)(noise)
        dense1 = BatchNormalization(momentum=0.9)(dense1)
        dense1 = Activation(activation='relu')(dense1)
        dense1 = Reshape((7, 7, depth))(dense1)
        dense1 = Dropout(p)(dense1)
        conv1 = UpSampling2D()(dense1)
        conv1 = Conv2DTranspose(int(depth/2), kernel_size=5, padding='same',
                                activation=None,)(conv1)
        conv1 = BatchNormalization(momentum=0.9)(conv1)
        conv1 = Activation(activation='relu')(conv1)
        conv2 = UpSampling2D()(conv1)
        conv2 = Conv2DTranspose(int(depth/4), kernel_size=5, padding='same',
                                activation=None,)(conv2)
        conv2 = BatchNormalization(momentum=0.9)(conv2)
        conv2 = Activation(activation='relu')(conv2)
        conv3 = Conv2DTranspose(int(depth/8), kernel_size=5, padding='same',
                                activation=None,)(conv2)
        conv3 = BatchNormalization(momentum=0.9)(conv3)
        conv3 = Activation(activation='relu')(conv3)
        image = Conv2D(1, kernel_size=5, padding='same', activation='sigmoid')(conv3)
        model = Model(inputs=noise, outputs=image)
        return model
    # the book's summary: 183,713 parameters, 6,384 of them not trained
    assert build_generator().count_params() == 183713
    generator = build_generator(depth=16)
    z = Input(shape=(z_dimensions,))
    img = generator(z)
    discriminator.trainable = False
    pred = discriminator(img)
    adversarial_model = Model(z, pred)
    adversarial_model.compile(loss='binary_crossentropy',
                              optimizer=Nadam(lr=0.0004, clipvalue=1.0), metrics=['accuracy'])

    d_before = [w.copy() for w in discriminator.get_weights()]
    batch, z_dim = 8, z_dimensions
    real_imgs = np.reshape(data[np.random.choice(data.shape[0], batch, replace=False)],
                           (batch, 28, 28, 1))
    fake_imgs = generator.predict(np.random.uniform(-1.0, 1.0, size=[batch, z_dim]),
                                  verbose=0)
    x = np.concatenate((real_imgs, fake_imgs))
    y = np.ones([2*batch, 1])
    y[batch:, :] = 0
    d_metrics = discriminator.train_on_batch(x, y)
    assert len(d_metrics) == 2 and 0.0 <= d_metrics[1] <= 1.0
    # compiled while trainable, the discriminator learns (tf.keras 2)...
    d_after = discriminator.get_weights()
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, d_after))
    g_before = [w.copy() for w in generator.get_weights()]
    noise = np.random.uniform(-1.0, 1.0, size=[batch, z_dim])
    a_metrics = adversarial_model.train_on_batch(noise, np.ones([batch, 1]))
    assert len(a_metrics) == 2
    # ... and inside the adversarial model only the generator does
    for a, b in zip(d_after, discriminator.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))


def test_krohn_cartpole_dqn_agent_on_a_tiny_environment(tmp_path):
    import random
    from collections import deque
    from pynn.keras.models import Sequential
    from pynn.keras.layers import Dense
    from pynn.keras.optimizers import Nadam

    class Env:  # gym's CartPole-v0, as far as the agent reads it
        observation_space = type('Box', (), {'shape': (4,)})()
        action_space = type('Discrete', (), {'n': 2})()

        def __init__(self):
            self.rng = np.random.default_rng(0)

        def reset(self):
            self.t = 0
            return self.rng.normal(size=4)

        def step(self, action):
            self.t += 1
            return self.rng.normal(size=4), 1.0, self.t >= 6, {}
    env = Env()
    state_size = env.observation_space.shape[0]
    action_size = env.action_space.n
    batch_size = 4
    n_episodes = 3
    output_dir = str(tmp_path / 'model_output/cartpole/')
    os.makedirs(output_dir)

    class DQNAgent:
        def __init__(self, state_size, action_size):
            self.state_size = state_size
            self.action_size = action_size
            self.memory = deque(maxlen=2000)
            self.gamma = 0.95
            self.epsilon = 1.0
            self.epsilon_decay = 0.995
            self.epsilon_min = 0.01
            self.learning_rate = 0.001
            self.model = self._build_model()

        def _build_model(self):
            model = Sequential()
            model.add(Dense(32, activation='relu', input_dim=self.state_size))
            model.add(Dense(32, activation='relu'))
            model.add(Dense(self.action_size, activation='linear'))
            model.compile(loss='mse', optimizer=Nadam(lr=self.learning_rate))
            return model

        def remember(self, state, action, reward, next_state, done):
            self.memory.append((state, action, reward, next_state, done))

        def train(self, batch_size):
            minibatch = random.sample(self.memory, batch_size)
            for state, action, reward, next_state, done in minibatch:
                target = reward
                if not done:
                    target = (reward + self.gamma *
                              np.amax(self.model.predict(next_state, verbose=0)[0]))
                target_f = self.model.predict(state, verbose=0)
                target_f[0][action] = target
                self.model.fit(state, target_f, epochs=1, verbose=0)
            if self.epsilon > self.epsilon_min:
                self.epsilon *= self.epsilon_decay

        def act(self, state):
            if np.random.rand() <= self.epsilon:
                return random.randrange(self.action_size)
            act_values = self.model.predict(state, verbose=0)
            return np.argmax(act_values[0])

        def save(self, name):
            self.model.save_weights(name)

        def load(self, name):
            self.model.load_weights(name)
    agent = DQNAgent(state_size, action_size)
    agent.epsilon = 0.5  # (some greedy actions too)
    scores = []
    for e in range(n_episodes):
        state = env.reset()
        state = np.reshape(state, [1, state_size])
        done = False
        time = 0
        while not done:
            action = agent.act(state)
            next_state, reward, done, _ = env.step(action)
            reward = reward if not done else -10
            next_state = np.reshape(next_state, [1, state_size])
            agent.remember(state, action, reward, next_state, done)
            state = next_state
            if done:
                scores.append(time)
            time += 1
        if len(agent.memory) > batch_size:
            agent.train(batch_size)
        if e % 50 == 0:
            agent.save(output_dir + "weights_" + '{:04d}'.format(e) + ".hdf5")
    assert scores == [5, 5, 5] and agent.epsilon < 0.5
    agent.load(output_dir + "weights_0000.hdf5")
    assert agent.model.predict(np.zeros((1, 4)), verbose=0).shape == (1, 2)


# ------------------------------------- Ganegedara, "TensorFlow 2 in Action"

def test_ganegedara_tf_fundamentals_operations():
    @tf.function
    def forward(x, W, b, act):
        return act(tf.matmul(x, W)+b)
    x = np.random.normal(size=[1, 4]).astype('float32')
    init = tf.keras.initializers.RandomNormal()
    w1 = tf.Variable(init(shape=[4, 3]))
    b1 = tf.Variable(init(shape=[1, 3]))
    w2 = tf.Variable(init(shape=[3, 2]))
    b2 = tf.Variable(init(shape=[1, 2]))
    h = forward(x, w1, b1, tf.nn.sigmoid)
    y = forward(h, w2, b2, tf.nn.softmax)
    np.testing.assert_allclose(float(tf.reduce_sum(y)), 1.0, rtol=1e-6)
    a = tf.constant(4, shape=[4], dtype='float32')
    b = tf.constant(2, shape=[4], dtype='float32')
    assert (a / b).numpy().tolist() == [2.0] * 4
    a = tf.constant([[1, 2, 3], [4, 5, 6]])
    b = tf.constant([[5, 4, 3], [3, 2, 1]])
    assert (a <= b).numpy().tolist() == [[True, True, True], [False, False, False]]
    d = tf.constant([[1, 2, 3], [3, 4, 5], [6, 5, 4]])
    assert tf.argmax(d, axis=0).numpy().tolist() == [2, 2, 1]
    assert tf.argmin(d, axis=1).numpy().tolist() == [0, 0, 2]
    assert tf.cumsum(tf.constant([1, 2, 3, 4, 5])).numpy().tolist() == [1, 3, 6, 10, 15]
    f = np.random.normal(size=[10])
    segments = [0, 0, 0, 0, 1, 1, 1, 2, 2, 3]
    np.testing.assert_allclose(tf.math.segment_sum(tf.constant(f), segments),
                               [f[:4].sum(), f[4:7].sum(), f[7:9].sum(), f[9]], rtol=1e-5)
    # the edge detection and pooling of a grey image
    x_rgb = tf.constant(np.random.default_rng(0).integers(0, 255, (16, 16, 3)).astype('float32'))
    grays = tf.constant([[0.3], [0.59], [0.11]])
    x = tf.squeeze(tf.matmul(x_rgb, grays))
    f = tf.Variable(np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]).astype('float32'))
    y_conv = tf.nn.convolution(tf.reshape(x, [1, 16, 16, 1]), tf.reshape(f, [3, 3, 1, 1]))
    xs = x.numpy()
    want = 9 * xs[1:-1, 1:-1] - sum(xs[i:i + 14, j:j + 14] for i in range(3) for j in range(3))
    np.testing.assert_allclose(np.squeeze(y_conv), want, rtol=1e-4, atol=1e-2)
    z_max = tf.nn.max_pool(y_conv, (1, 2, 2, 1), strides=(1, 2, 2, 1), padding='VALID')
    assert np.squeeze(z_max.numpy()).shape == (7, 7)


def test_ganegedara_keras_apis_and_a_csv_image_pipeline(tmp_path):
    from pynn.keras import layers
    from pynn.keras.layers import Input, Dense, Conv2D, Flatten
    from pynn.keras.models import Model, Sequential
    import pynn.keras.backend as K
    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 4))
    x = x - x.mean(axis=0)
    y = tf.one_hot(rng.integers(0, 3, 30), depth=3)

    class MulBiasDense(layers.Layer):
        def __init__(self, units=32, activation=None):
            super(MulBiasDense, self).__init__()
            self.units = units
            self.activation = activation

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer='glorot_uniform', trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer='glorot_uniform',
                                     trainable=True)
            self.b_mul = self.add_weight(shape=(self.units,), initializer='glorot_uniform',
                                         trainable=True)

        def call(self, inputs):
            out = (tf.matmul(inputs, self.w) + self.b) * self.b_mul
            return layers.Activation(self.activation)(out)
    K.clear_session()
    inp = Input(shape=(4,))
    out = MulBiasDense(units=8, activation='relu')(inp)
    out = MulBiasDense(units=4, activation='relu')(out)
    out = Dense(3, activation='softmax')(out)
    model = Model(inputs=inp, outputs=out)
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['acc'])
    assert model.count_params() == (4 * 8 + 8 + 8) + (8 * 4 + 4 + 4) + (4 * 3 + 3)
    hist = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert list(hist.history) == ['loss', 'acc']
    layer = model.layers[1]
    h = np.maximum((x.astype(np.float32) @ layer.w.numpy() + layer.b.numpy())
                   * layer.b_mul.numpy(), 0)
    np.testing.assert_allclose(layer(x.astype(np.float32)), h, rtol=1e-5, atol=1e-6)

    # flower_labels.csv and the PNGs (RGBA) it names
    data_dir = str(tmp_path / 'flower_images') + os.path.sep
    os.makedirs(data_dir)
    with open(data_dir + 'flower_labels.csv', 'w') as fh:
        fh.write('file,label\n')
        for i in range(6):
            Image.fromarray(rng.integers(0, 255, (20, 20, 4), dtype=np.uint8)).save(
                data_dir + f'{i+1:04d}.png')
            fh.write(f'{i+1:04d}.png,{i % 10}\n')
    K.clear_session()
    csv_ds = tf.data.experimental.CsvDataset(os.path.join(data_dir, 'flower_labels.csv'),
                                             ("", -1), header=True)
    fname_ds = csv_ds.map(lambda a, b: a)
    label_ds = csv_ds.map(lambda a, b: b)

    def get_image(file_path):
        # a Python str plus a string tensor is a string tensor, as TensorFlow's
        img = tf.io.read_file(data_dir + file_path)
        img = tf.image.decode_png(img, channels=3)
        img = tf.image.convert_image_dtype(img, tf.float32)
        return tf.image.resize(img, [16, 16])
    image_ds = fname_ds.map(get_image)
    label_ds = label_ds.map(lambda x: tf.one_hot(x, depth=10))
    data_ds = tf.data.Dataset.zip((image_ds, label_ds))
    data_ds = data_ds.shuffle(buffer_size=20)
    data_ds = data_ds.batch(3)
    images, labels = next(iter(data_ds))
    assert images.shape == (3, 16, 16, 3) and labels.shape == (3, 10)
    model = Sequential([Conv2D(4, (5, 5), activation='relu', input_shape=(16, 16, 3)),
                        Flatten(), Dense(10, activation='softmax')])
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['acc'])
    assert len(model.fit(data_ds, epochs=1, verbose=0).history['loss']) == 1

    name = tf.constant(['a.png', 'b.png'])
    assert ('dir/' + name).numpy().tolist() == [b'dir/a.png', b'dir/b.png']
    assert (name + '.gz').numpy().tolist() == [b'a.png.gz', b'b.png.gz']
    assert (tf.constant('x') + tf.constant('y')).numpy() == b'xy'


def test_tf_nn_local_response_normalization_against_numpy_and_its_gradient():
    x = np.random.default_rng(0).normal(size=(2, 3, 3, 7)).astype(np.float32)
    y = tf.nn.local_response_normalization(x, depth_radius=2, bias=0.5, alpha=0.3, beta=0.75)
    xx = x.astype(np.float64)

    def lrn64(xx):
        sq = np.zeros_like(xx)
        for c in range(7):
            sq[..., c] = (xx[..., max(0, c - 2):c + 3] ** 2).sum(-1)
        return xx / (0.5 + 0.3 * sq) ** 0.75
    np.testing.assert_allclose(y, lrn64(xx), rtol=1e-5, atol=1e-6)
    assert tf.nn.lrn is tf.nn.local_response_normalization
    np.testing.assert_allclose(tf.nn.lrn(x), xx / np.sqrt(1 + sum(
        np.pad(xx ** 2, [(0, 0)] * 3 + [(5, 5)])[..., i:i + 7] for i in range(11))),
        rtol=1e-5, atol=1e-6)
    v = tf.Variable(x)
    w = np.random.default_rng(1).normal(size=x.shape)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.local_response_normalization(
            v, depth_radius=2, bias=0.5, alpha=0.3, beta=0.75) * w.astype(np.float32))
    grad = tape.gradient(loss, v).numpy()
    eps, i = 1e-6, (1, 2, 0, 3)
    up, down = xx.copy(), xx.copy()
    up[i] += eps
    down[i] -= eps
    fd = ((lrn64(up) * w).sum() - (lrn64(down) * w).sum()) / (2 * eps)
    np.testing.assert_allclose(grad[i], fd, rtol=1e-3)
    with pytest.raises(ValueError, match="rank 4"):
        tf.nn.local_response_normalization(x[0])


def test_ganegedara_inception_v1_with_aux_outputs_and_minception_resnet(tmp_path):
    import random
    from functools import partial
    from itertools import tee
    from pynn.keras.preprocessing.image import ImageDataGenerator
    from pynn.keras.layers import (Input, MaxPool2D, AvgPool2D, Dense, Concatenate, Flatten,
                                   Lambda, Dropout, BatchNormalization, Activation)
    from pynn.keras.layers import Conv2D as _Conv2D
    from pynn.keras.layers.experimental.preprocessing import RandomCrop, RandomContrast
    from pynn.keras.models import Model, load_model
    from pynn.keras.callbacks import EarlyStopping, CSVLogger
    import pynn.keras.backend as K

    def Conv2D(filters, *args, **kwargs):  # the book's filters, a sixteenth of them
        return _Conv2D(max(1, filters // 16), *args, **kwargs)
    random_seed = 4321
    np.random.seed(random_seed)
    random.seed(random_seed)
    n_classes = 4  # tiny-imagenet-200's 200
    rng = np.random.default_rng(0)
    train_dir = tmp_path / 'tiny-imagenet-200' / 'train'
    for c in range(n_classes):
        folder = train_dir / f'n{c:03d}' / 'images'
        folder.mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(
                folder / f'{c}_{i}.JPEG')

    def get_train_valid_generators(batch_size, target_size):
        image_gen_aug = ImageDataGenerator(
            samplewise_center=False, rotation_range=30, width_shift_range=0.2,
            height_shift_range=0.2, brightness_range=(0.5, 1.5), shear_range=5,
            zoom_range=0.2, horizontal_flip=True, fill_mode='reflect', validation_split=0.1)
        partial_flow_func = partial(
            image_gen_aug.flow_from_directory, directory=str(train_dir),
            target_size=target_size, classes=None, class_mode='categorical',
            batch_size=batch_size, shuffle=True, seed=random_seed)
        return partial_flow_func(subset='training'), partial_flow_func(subset='validation')

    def data_gen_augmented_inceptionnet_v1(gen, random_gamma=False, random_occlude=False):
        for x, y in gen:
            if x.ndim != 4:
                raise ValueError("This function is designed for a batch of images with 4 dims")
            if random_gamma:
                rand_gamma = np.random.uniform(0.9, 1.08, (x.shape[0], 1, 1, 1))
                x = x**rand_gamma
            if random_occlude:
                occ_size = 10
                occ_h, occ_w = (np.random.randint(0, x.shape[1]-occ_size),
                                np.random.randint(0, x.shape[2]-occ_size))
                x[::2, occ_h:occ_h+occ_size, occ_w:occ_w+occ_size, :] = \
                    np.random.choice([0., 128., 255.])
            x -= np.mean(x, axis=(1, 2, 3), keepdims=True)
            yield x, (y, y, y)
    batch_size, target_size = 4, (56, 56)
    train_gen, valid_gen = get_train_valid_generators(batch_size, target_size)
    assert (train_gen.samples, valid_gen.samples) == (36, 4)
    train_gen_aux = data_gen_augmented_inceptionnet_v1(train_gen, random_gamma=True,
                                                       random_occlude=True)
    valid_gen_aux = data_gen_augmented_inceptionnet_v1(valid_gen)
    # the book's check: the validation subset is the same in every pass
    all_labels = []
    n_trials = 3
    valid_gen_test = tee(valid_gen, n_trials)
    for i in range(n_trials):
        labels = []
        for j in range(2):
            _, ohe = next(valid_gen_test[i])
            labels.append(np.argmax(ohe, axis=-1))
        all_labels.append(np.reshape(np.concatenate(labels, axis=0), (1, -1)))
    all_labels = np.concatenate(all_labels, axis=0)
    assert np.all(np.all(all_labels == all_labels[0, :], axis=0))

    def inception(inp, n_filters):
        out1 = Conv2D(n_filters[0][0], (1, 1), strides=(1, 1), activation='relu',
                      padding='same')(inp)
        out2_1 = Conv2D(n_filters[1][0], (1, 1), strides=(1, 1), activation='relu',
                        padding='same')(inp)
        out2_2 = Conv2D(n_filters[1][1], (3, 3), strides=(1, 1), activation='relu',
                        padding='same')(out2_1)
        out3_1 = Conv2D(n_filters[2][0], (1, 1), strides=(1, 1), activation='relu',
                        padding='same')(inp)
        out3_2 = Conv2D(n_filters[2][1], (5, 5), strides=(1, 1), activation='relu',
                        padding='same')(out3_1)
        out4_1 = MaxPool2D((3, 3), strides=(1, 1), padding='same')(inp)
        out4_2 = Conv2D(n_filters[3][0], (1, 1), strides=(1, 1), activation='relu',
                        padding='same')(out4_1)
        return Concatenate(axis=-1)([out1, out2_2, out3_2, out4_2])

    def aux_out(inp, name=None):
        avgpool1 = AvgPool2D((5, 5), strides=(3, 3), padding='valid')(inp)
        conv1 = Conv2D(128, (1, 1), activation='relu', padding='same')(avgpool1)
        flat = Flatten()(conv1)
        dense1 = Dense(16, activation='relu')(flat)
        dense1 = Dropout(0.7)(dense1)
        return Dense(n_classes, activation='softmax', name=name)(dense1)

    def stem(inp):
        conv1 = Conv2D(64, (7, 7), strides=(1, 1), activation='relu', padding='same')(inp)
        maxpool2 = MaxPool2D((3, 3), strides=(2, 2), padding='same')(conv1)
        lrn3 = Lambda(lambda x: tf.nn.local_response_normalization(x))(maxpool2)
        conv4 = Conv2D(64, (1, 1), strides=(1, 1), padding='same')(lrn3)
        conv5 = Conv2D(192, (3, 3), strides=(1, 1), activation='relu', padding='same')(conv4)
        lrn6 = Lambda(lambda x: tf.nn.local_response_normalization(x))(conv5)
        return MaxPool2D((3, 3), strides=(1, 1), padding='same')(lrn6)

    def inception_v1():
        K.clear_session()
        inp = Input(shape=(56, 56, 3))
        stem_out = stem(inp)
        inc_3a = inception(stem_out, [(64,), (96, 128), (16, 32), (32,)])
        inc_3b = inception(inc_3a, [(128,), (128, 192), (32, 96), (64,)])
        maxpool = MaxPool2D((3, 3), strides=(2, 2), padding='same')(inc_3b)
        inc_4a = inception(maxpool, [(192,), (96, 208), (16, 48), (64,)])
        inc_4b = inception(inc_4a, [(160,), (112, 224), (24, 64), (64,)])
        aux_out1 = aux_out(inc_4a, name='aux1')
        inc_4c = inception(inc_4b, [(128,), (128, 256), (24, 64), (64,)])
        inc_4d = inception(inc_4c, [(112,), (144, 288), (32, 64), (64,)])
        inc_4e = inception(inc_4d, [(256,), (160, 320), (32, 128), (128,)])
        maxpool = MaxPool2D((3, 3), strides=(2, 2), padding='same')(inc_4e)
        aux_out2 = aux_out(inc_4d, name='aux2')
        inc_5a = inception(maxpool, [(256,), (160, 320), (32, 128), (128,)])
        inc_5b = inception(inc_5a, [(384,), (192, 384), (48, 128), (128,)])
        avgpool1 = AvgPool2D((7, 7), strides=(1, 1), padding='valid')(inc_5b)
        flat_out = Flatten()(avgpool1)
        flat_out = Dropout(0.4)(flat_out)
        out_main = Dense(n_classes, activation='softmax', name='final')(flat_out)
        model = Model(inputs=inp, outputs=[out_main, aux_out1, aux_out2])
        model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
        return model
    model = inception_v1()
    assert [o.shape for o in model.outputs] == [(None, n_classes)] * 3
    es_callback = EarlyStopping(monitor='val_loss', patience=5)
    log = str(tmp_path / '2_eval_data_aug_early_stopping.log')
    csv_logger = CSVLogger(log)
    history = model.fit(train_gen_aux, validation_data=valid_gen_aux, steps_per_epoch=2,
                        validation_steps=1, epochs=1, callbacks=[es_callback, csv_logger],
                        verbose=0)
    with open(log) as fh:
        header = fh.readline().strip().split(',')
    # the columns of the book's log (CSVLogger sorts them; Keras 3 adds
    # the learning rate)
    assert [h for h in header if h != 'learning_rate'] == [
        'epoch', 'aux1_accuracy', 'aux1_loss', 'aux2_accuracy', 'aux2_loss', 'final_accuracy',
        'final_loss', 'loss', 'val_aux1_accuracy', 'val_aux1_loss', 'val_aux2_accuracy',
        'val_aux2_loss', 'val_final_accuracy', 'val_final_loss', 'val_loss']
    hist = history.history
    np.testing.assert_allclose(hist['loss'][0], hist['final_loss'][0] + hist['aux1_loss'][0]
                               + hist['aux2_loss'][0], rtol=1e-4)
    test_res = model.evaluate(data_gen_augmented_inceptionnet_v1(valid_gen), steps=1, verbose=0)
    test_res_dict = dict(zip(model.metrics_names, test_res))
    assert set(test_res_dict) == {'loss', 'final_loss', 'aux1_loss', 'aux2_loss',
                                  'final_accuracy', 'aux1_accuracy', 'aux2_accuracy'}
    # a Lambda of an anonymous function is code: saved as weights
    with pytest.raises(ValueError, match="anonymous function"):
        model.save(str(tmp_path / 'inception_v1.h5'))

    # Minception-ResNet-v2's residual blocks: out += res_w * inp
    def inception_resnet_b(inp, n_filters, initializer, activation='relu', res_w=0.1):
        out1_1 = Conv2D(n_filters[0][0], (1, 1), strides=(1, 1), activation=None,
                        kernel_initializer=initializer, padding='same')(inp)
        out1_1 = BatchNormalization()(out1_1)
        out1_1 = Activation(activation)(out1_1)
        out2_1 = Conv2D(n_filters[1][0], (1, 1), strides=(1, 1), activation=activation,
                        kernel_initializer=initializer, padding='same')(inp)
        out2_2 = Conv2D(n_filters[1][1], (1, 7), strides=(1, 1), activation=None,
                        kernel_initializer=initializer, padding='same')(out2_1)
        out2_3 = Conv2D(n_filters[1][2], (7, 1), strides=(1, 1), activation=None,
                        kernel_initializer=initializer, padding='same')(out2_2)
        out3_1 = Concatenate(axis=-1)([out1_1, out2_3])
        out3_2 = Conv2D(n_filters[2][0], (1, 1), strides=(1, 1), activation=None,
                        kernel_initializer=initializer, padding='same')(out3_1)
        out3_2 += res_w * inp
        return out3_2
    activation = tf.nn.leaky_relu
    init = tf.keras.initializers.GlorotUniform()
    K.clear_session()
    inp = Input(shape=(64, 64, 3))
    crop_inp = RandomCrop(56, 56, seed=random_seed)(inp)
    crop_inp = RandomContrast(0.3, seed=random_seed)(crop_inp)
    stem_out = Conv2D(1152, (3, 3), strides=(8, 8), padding='same')(crop_inp)
    inc_b1 = inception_resnet_b(stem_out, [(192,), (128, 160, 192), (1152,)], init,
                                activation=activation)
    avgpool1 = AvgPool2D((4, 4), strides=(1, 1), padding='valid')(inc_b1)
    flat_out = Flatten()(avgpool1)
    out_main = Dense(n_classes, activation='softmax', kernel_initializer=init,
                     name='final')(flat_out)
    minception = Model(inputs=inp, outputs=out_main)
    minception.compile(loss=tf.keras.losses.CategoricalCrossentropy(), optimizer='adam',
                       metrics=['accuracy'])
    lr_callback = tf.keras.callbacks.ReduceLROnPlateau(monitor='val_loss', factor=0.5,
                                                       patience=5, verbose=0, mode='auto')
    train_gen, valid_gen = get_train_valid_generators(batch_size, (64, 64))
    minception.fit(train_gen, validation_data=valid_gen, steps_per_epoch=2, validation_steps=1,
                   epochs=1, callbacks=[lr_callback], verbose=0)
    path = str(tmp_path / 'minception_resnet_v2.keras')
    minception.save(path)
    x = next(valid_gen)[0]
    np.testing.assert_allclose(load_model(path).predict(x, verbose=0),
                               minception.predict(x, verbose=0), rtol=1e-4, atol=1e-6)


def test_ganegedara_deeplab_v3_on_resnet50_with_a_numpy_function_pipeline(tmp_path):
    import random
    from functools import partial
    import pynn.keras.layers as layers
    import pynn.keras.models as models
    import pynn.keras.backend as K
    random_seed = 4321
    root = tmp_path / 'VOC2012'
    orig_dir, seg_dir = str(root / 'JPEGImages'), str(root / 'SegmentationClass')
    subset_dir = str(root / 'ImageSets' / 'Segmentation')
    for d in (orig_dir, seg_dir, subset_dir):
        os.makedirs(d)
    rng = np.random.default_rng(0)
    names = [f'2007_{i:06d}' for i in range(8)]
    palette = list(rng.integers(0, 255, 768))
    for n in names:
        h = 50 + int(rng.integers(0, 20))
        Image.fromarray(rng.integers(0, 255, (h, 60, 3), dtype=np.uint8)).save(
            os.path.join(orig_dir, n + '.jpg'))
        # a palette PNG of class ids (VOC's 255 boundaries would fail
        # tf.gather on a CPU, in TensorFlow too)
        mask = Image.fromarray(rng.integers(0, 21, (h, 60)).astype(np.uint8), mode='P')
        mask.putpalette(palette)
        mask.save(os.path.join(seg_dir, n + '.png'))
    with open(os.path.join(subset_dir, 'train.txt'), 'w') as fh:
        fh.write('\n'.join(names[:4]))
    with open(os.path.join(subset_dir, 'val.txt'), 'w') as fh:
        fh.write('\n'.join(names[4:]))

    def get_subset_filenames(orig_dir, seg_dir, subset_dir, subset):
        if subset.startswith('train'):
            ser = open(os.path.join(subset_dir, "train.txt")).read().split()
        else:
            random.seed(random_seed)
            ser = open(os.path.join(subset_dir, "val.txt")).read().split()
            random.shuffle(ser)
            ser = ser[:len(ser)//2] if subset.startswith('val') else ser[len(ser)//2:]
        orig_filenames = [os.path.join(orig_dir, f+'.jpg') for f in ser]
        seg_filenames = [os.path.join(seg_dir, f+'.png') for f in ser]
        for o, s in zip(orig_filenames, seg_filenames):
            yield o, s

    def load_image_func(image):
        # the file name arrives as bytes, as TensorFlow hands a scalar over
        img = np.array(Image.open(image))
        return img

    def fix_shape(x, y, target_size):
        x.set_shape((target_size[0], target_size[1], 3))
        y.set_shape((target_size[0], target_size[1], 1))
        return x, y

    def randomly_flip_horizontal(x, y):
        rand = tf.random.uniform([], 0.0, 1.0)

        def flip(x, y):
            return tf.image.flip_left_right(x), tf.image.flip_left_right(y)
        x, y = tf.cond(rand < 0.5, lambda: flip(x, y), lambda: (x, y))
        return x, y

    def get_subset_tf_dataset(subset_filename_gen_func, batch_size, epochs, input_size=(256, 256),
                              output_size=None, resize_to_before_crop=None, augmentation=False,
                              shuffle=False):
        filename_ds = tf.data.Dataset.from_generator(subset_filename_gen_func,
                                                     output_types=(tf.string, tf.string))
        image_ds = filename_ds.map(lambda x, y: (
            tf.image.decode_jpeg(tf.io.read_file(x)),
            tf.numpy_function(load_image_func, [y], [tf.uint8]))).cache()
        image_ds = image_ds.map(lambda x, y: (tf.cast(x, 'float32')/255.0, y))

        def randomly_crop_or_resize(x, y):
            rand = tf.random.uniform([], 0.0, 1.0)

            def rand_crop(x, y):
                x = tf.image.resize(x, resize_to_before_crop, method='bilinear')
                y = tf.cast(tf.image.resize(tf.transpose(y, [1, 2, 0]), resize_to_before_crop,
                                            method='nearest'), 'float32')
                offset_h = tf.random.uniform([], 0, x.shape[0]-input_size[0], dtype='int32')
                offset_w = tf.random.uniform([], 0, x.shape[1]-input_size[1], dtype='int32')
                x = tf.image.crop_to_bounding_box(x, offset_h, offset_w, input_size[0],
                                                  input_size[1])
                y = tf.image.crop_to_bounding_box(y, offset_h, offset_w, input_size[0],
                                                  input_size[1])
                return x, y

            def resize(x, y):
                x = tf.image.resize(x, input_size, method='bilinear')
                y = tf.cast(tf.image.resize(tf.transpose(y, [1, 2, 0]), input_size,
                                            method='nearest'), 'float32')
                return x, y
            if augmentation and (input_size[0] < resize_to_before_crop[0] or
                                 input_size[1] < resize_to_before_crop[1]):
                x, y = tf.cond(rand < 0.5, lambda: rand_crop(x, y), lambda: resize(x, y))
            else:
                x, y = resize(x, y)
            return x, y
        image_ds = image_ds.map(lambda x, y: randomly_crop_or_resize(x, y))
        image_ds = image_ds.map(lambda x, y: fix_shape(x, y, target_size=input_size))
        if augmentation:
            image_ds = image_ds.map(lambda x, y: randomly_flip_horizontal(x, y))
            image_ds = image_ds.map(lambda x, y: (tf.image.random_hue(x, 0.1), y))
            image_ds = image_ds.map(lambda x, y: (tf.image.random_brightness(x, 0.1), y))
            image_ds = image_ds.map(lambda x, y: (tf.image.random_contrast(x, 0.8, 1.2), y))
        if output_size:
            image_ds = image_ds.map(lambda x, y: (x, tf.image.resize(y, output_size,
                                                                     method='nearest')))
        if shuffle:
            image_ds = image_ds.shuffle(buffer_size=batch_size*5)
        image_ds = image_ds.batch(batch_size).repeat(epochs)
        image_ds = image_ds.prefetch(tf.data.experimental.AUTOTUNE)
        image_ds = image_ds.map(lambda x, y: (x, tf.squeeze(y)))
        return image_ds
    partial_subset_fn = partial(get_subset_filenames, orig_dir=orig_dir, seg_dir=seg_dir,
                                subset_dir=subset_dir)
    train_subset_fn = partial(partial_subset_fn, subset='train')
    val_subset_fn = partial(partial_subset_fn, subset='val')
    tr_image_ds = get_subset_tf_dataset(train_subset_fn, 2, 1, input_size=(32, 32), shuffle=True)
    spec = tf.data.DatasetSpec.from_value(tr_image_ds)
    assert repr(spec).startswith("DatasetSpec((TensorSpec(shape=(None, 32, 32, 3), "
                                 "dtype=tf.float32") and repr(spec).endswith("TensorShape([]))")
    for i, j in tr_image_ds.take(1):
        assert (i.shape, j.shape) == ((2, 32, 32, 3), (2, 32, 32))
        assert float(tf.reduce_max(j)) <= 20 and float(tf.reduce_max(i)) <= 1.0
    input_size, batch_size = (64, 64), 2
    tr_image_ds = get_subset_tf_dataset(train_subset_fn, batch_size, 1, input_size=input_size,
                                        resize_to_before_crop=(80, 80), augmentation=True,
                                        shuffle=True)
    val_image_ds = get_subset_tf_dataset(val_subset_fn, batch_size, 1, input_size=input_size,
                                         shuffle=False)
    K.clear_session()
    num_classes = 21

    def get_deeplabv3(target_size):
        def block_level3(inp, filters, kernel_size, rate, block_id, convlayer_id,
                         activation=True):
            conv5_block_conv_out = layers.Conv2D(
                filters, kernel_size, dilation_rate=rate, padding='same',
                name='conv5_block{}_{}_conv'.format(block_id, convlayer_id))(inp)
            conv5_block_bn_out = layers.BatchNormalization(
                name='conv5_block{}_{}_bn'.format(block_id, convlayer_id))(conv5_block_conv_out)
            if activation:
                return layers.Activation('relu', name='conv5_block{}_{}_relu'.format(
                    block_id, convlayer_id))(conv5_block_bn_out)
            return conv5_block_bn_out

        def block_level2(inp, rate, block_id):
            block_1_out = block_level3(inp, 512, (1, 1), rate, block_id, 1)
            block_2_out = block_level3(block_1_out, 512, (3, 3), rate, block_id, 2)
            return block_level3(block_2_out, 2048, (1, 1), rate, block_id, 3, activation=False)

        def resnet_block(inp, rate):
            block0_out = block_level3(inp, 2048, (1, 1), 1, block_id=1, convlayer_id=0,
                                      activation=False)
            block1_out = block_level2(inp, 2, block_id=1)
            block1_add = layers.Add(name='conv5_block{}_add'.format(1))([block0_out, block1_out])
            block1_relu = layers.Activation('relu', name='conv5_block{}_relu'.format(1))(
                block1_add)
            block2_out = block_level2(block1_relu, 2, block_id=2)
            block2_add = layers.Add(name='conv5_block{}_add'.format(2))([block1_add, block2_out])
            return layers.Activation('relu', name='conv5_block{}_relu'.format(2))(block2_add)

        def atrous_spatial_pyramid_pooling(inp):
            outa_1_conv = block_level3(inp, 256, (1, 1), 1, '_aspp_a', 1, activation='relu')
            outa_2_conv = block_level3(inp, 256, (3, 3), 6, '_aspp_a', 2, activation='relu')
            outb_1_avg = layers.Lambda(lambda x: K.mean(x, axis=[1, 2], keepdims=True))(inp)
            outb_1_up = layers.UpSampling2D((4, 4), interpolation='bilinear')(outb_1_avg)
            return layers.Concatenate()([outa_1_conv, outa_2_conv, outb_1_up])
        inp = layers.Input(shape=target_size+(3,))
        resnet50 = tf.keras.applications.ResNet50(include_top=False, input_tensor=inp,
                                                  pooling=None, weights=None)
        for layer in resnet50.layers:
            if layer.name == "conv5_block1_1_conv":
                break
            out = layer.output
        resnet50_upto_conv4 = models.Model(resnet50.input, out)
        resnet_block4_out = resnet_block(resnet50_upto_conv4.output, 2)
        out_aspp = atrous_spatial_pyramid_pooling(resnet_block4_out)
        final_out = layers.Conv2D(21, (1, 1), padding='same')(out_aspp)
        final_out = layers.UpSampling2D((16, 16), interpolation='bilinear')(final_out)
        deeplabv3 = models.Model(resnet50_upto_conv4.input, final_out)
        w_dict = {}
        for name in ["conv5_block1_0_conv", "conv5_block1_0_bn", "conv5_block1_1_conv",
                     "conv5_block1_1_bn", "conv5_block1_2_conv", "conv5_block1_2_bn"]:
            w_dict[name] = resnet50.get_layer(name).get_weights()
        return deeplabv3, w_dict
    deeplabv3, w_dict = get_deeplabv3(input_size)
    assert deeplabv3.output_shape == (None, 64, 64, 21)

    def get_label_weights(y_true, y_pred):
        weights = tf.reduce_sum(tf.one_hot(y_true, num_classes), axis=[1, 2])
        tot = tf.reduce_sum(weights, axis=-1, keepdims=True)
        weights = (tot - weights) / tot
        y_true = tf.reshape(y_true, [-1, y_pred.shape[1]*y_pred.shape[2]])
        y_weights = tf.gather(weights, y_true, batch_dims=1)
        return tf.reshape(y_weights, [-1])

    def dice_loss_from_logits(num_classes):
        def loss_fn(y_true, y_pred):
            smooth = 1.
            y_true = tf.cast(y_true, 'int32')
            y_true.set_shape([None, y_pred.shape[1], y_pred.shape[2]])
            y_weights = tf.reshape(get_label_weights(y_true, y_pred), [-1, 1])
            y_pred = tf.nn.softmax(y_pred)
            y_true_unwrap = tf.reshape(y_true, [-1])
            y_true_unwrap = tf.cast(tf.one_hot(tf.cast(y_true_unwrap, 'int32'), num_classes),
                                    'float32')
            y_pred_unwrap = tf.reshape(y_pred, [-1, num_classes])
            intersection = tf.reduce_sum(y_true_unwrap * y_pred_unwrap * y_weights)
            union = tf.reduce_sum((y_true_unwrap + y_pred_unwrap) * y_weights)
            score = (2. * intersection + smooth) / (union + smooth)
            return 1 - score
        return loss_fn

    def ce_weighted_from_logits(num_classes):
        def loss_fn(y_true, y_pred):
            valid_mask = tf.cast(tf.reshape((y_true <= num_classes - 1), [-1, 1]), 'int32')
            y_true = tf.cast(y_true, 'int32')
            y_true.set_shape([None, y_pred.shape[1], y_pred.shape[2]])
            y_weights = get_label_weights(y_true, y_pred)
            y_pred_unwrap = tf.reshape(y_pred, [-1, num_classes])
            y_true_unwrap = tf.reshape(y_true, [-1])
            return tf.reduce_mean(y_weights * tf.nn.sparse_softmax_cross_entropy_with_logits(
                y_true_unwrap * tf.squeeze(valid_mask),
                y_pred_unwrap * tf.cast(valid_mask, 'float32')))
        return loss_fn

    def ce_dice_loss_from_logits(num_classes):
        def loss_fn(y_true, y_pred):
            return ce_weighted_from_logits(num_classes)(tf.cast(y_true, 'int32'), y_pred) + \
                dice_loss_from_logits(num_classes)(y_true, y_pred)
        return loss_fn

    class PixelAccuracyMetric(tf.keras.metrics.Accuracy):
        def __init__(self, num_classes, name='pixel_accuracy', **kwargs):
            super(PixelAccuracyMetric, self).__init__(name=name, **kwargs)

        def update_state(self, y_true, y_pred, sample_weight=None):
            # (fit hands a metric of its own tensors, set_shape included)
            y_true.set_shape([None, y_pred.shape[1], y_pred.shape[2]])
            y_true = tf.reshape(y_true, [-1])
            y_pred = tf.reshape(tf.argmax(y_pred, axis=-1), [-1])
            valid_mask = tf.reshape((y_true <= num_classes - 1), [-1])
            y_true = tf.boolean_mask(y_true, valid_mask)
            y_pred = tf.boolean_mask(y_pred, valid_mask)
            super(PixelAccuracyMetric, self).update_state(y_true, y_pred)

    class MeanIoUMetric(tf.keras.metrics.MeanIoU):
        def __init__(self, num_classes, name='mean_iou', **kwargs):
            super(MeanIoUMetric, self).__init__(num_classes=num_classes, name=name, **kwargs)

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true.set_shape([None, y_pred.shape[1], y_pred.shape[2]])
            y_true = tf.reshape(y_true, [-1])
            y_pred = tf.nn.softmax(y_pred)
            y_pred = tf.reshape(tf.argmax(y_pred, axis=-1), [-1])
            valid_mask = tf.reshape((y_true <= num_classes - 1), [-1])
            y_true = tf.boolean_mask(y_true, valid_mask)
            y_pred = tf.boolean_mask(y_pred, valid_mask)
            super(MeanIoUMetric, self).update_state(y_true, y_pred)
    optimizer = tf.keras.optimizers.Adam(lr=0.0001)
    deeplabv3.compile(loss=ce_dice_loss_from_logits(num_classes), optimizer=optimizer,
                      metrics=[MeanIoUMetric(num_classes), PixelAccuracyMetric(num_classes)])
    for k, w in w_dict.items():
        deeplabv3.get_layer(k).set_weights(w)
    csv_logger = tf.keras.callbacks.CSVLogger(str(tmp_path / '2_deeplab_v3.log'))
    lr_callback = tf.keras.callbacks.ReduceLROnPlateau(monitor='val_loss', factor=0.1,
                                                       patience=3, mode='min', min_lr=1e-8)
    history = deeplabv3.fit(tr_image_ds, steps_per_epoch=2, validation_data=val_image_ds,
                            validation_steps=1, epochs=1, callbacks=[lr_callback, csv_logger],
                            verbose=0)
    hist = history.history
    assert {'loss', 'mean_iou', 'pixel_accuracy', 'val_loss', 'val_mean_iou'} <= set(hist)
    assert 0.0 <= hist['pixel_accuracy'][0] <= 1.0 and np.isfinite(hist['loss'][0])
    # (the ASPP's Lambda is code: the weights are saved)
    path = str(tmp_path / 'deeplabv3.weights.h5')
    deeplabv3.save_weights(path)
    x, y = next(iter(val_image_ds))
    before = deeplabv3.predict(x, verbose=0)
    deeplabv3.load_weights(path)
    np.testing.assert_allclose(deeplabv3.predict(x, verbose=0), before, rtol=1e-5, atol=1e-5)


def test_numpy_function_hands_scalars_over_as_tensorflow_does():
    seen = []

    def f(path, n, arr):
        seen.append((type(path), type(n), type(arr)))
        return np.array([len(path)], np.int64)
    out = tf.numpy_function(f, [tf.constant('abc'), tf.constant(2.5), tf.constant([1, 2])],
                            [tf.int64])
    assert seen == [(bytes, np.float32, np.ndarray)]
    assert isinstance(out, list) and out[0].numpy().tolist() == [3]


def test_ganegedara_sentiment_buckets_masks_and_a_masking_layer_on_2d_input():
    b = tf.RaggedTensor.from_row_splits([1, 2, 3, 4, 5, 6, 7], row_splits=[0, 3, 3, 6, 7])
    assert repr(b) == "<tf.RaggedTensor [[1, 2, 3], [], [4, 5, 6], [7]]>"
    assert b.shape.as_list() == [4, None]

    def get_tf_pipeline(text_seq, labels, batch_size=64, bucket_boundaries=[5, 15],
                        max_length=50, shuffle=False):
        data_seq = [[b]+a for a, b in zip(text_seq, labels)]
        tf_data = tf.ragged.constant(data_seq)[:, :max_length]
        text_ds = tf.data.Dataset.from_tensor_slices(tf_data)
        text_ds = text_ds.filter(lambda x: tf.size(x) > 1)
        bucket_fn = tf.data.experimental.bucket_by_sequence_length(
            lambda x: tf.cast(tf.shape(x)[0], 'int32'), bucket_boundaries=bucket_boundaries,
            bucket_batch_sizes=[batch_size, batch_size, batch_size], padded_shapes=None,
            padding_values=0, pad_to_bucket_boundary=False)
        text_ds = text_ds.map(lambda x: x).apply(bucket_fn)
        if shuffle:
            text_ds = text_ds.shuffle(buffer_size=10*batch_size)
        text_ds = text_ds.map(lambda x: (x[:, 1:], x[:, 0]))
        return text_ds
    x = [[1, 2], [1], [1, 2, 3], [2, 3, 6, 4, 5], [2, 0, 9, 7], [2, 4, 214, 21],
         [3, 4, 42, 7, 3, 2, 45, 52], [3, 2, 6, 543, 2, 3243, 2, 134, 52, 23],
         [3, 32, 21, 3, 2, 4, 134, 45, 1, 1, 45]]
    y = [0, 0, 0, 1, 1, 1, 0, 0, 0]
    a = get_tf_pipeline(x, y, batch_size=2, bucket_boundaries=[3, 5], max_length=15)
    batches = [(bx.numpy(), by.numpy()) for bx, by in a]
    # every sequence once, the label split off its front, each batch padded
    # to its longest
    assert sum(len(by) for _, by in batches) == 9
    assert sorted(int(v) for _, by in batches for v in by) == sorted(y)
    for bx, by in batches:
        assert (bx[:, -1] != 0).any() or bx.shape[1] == 1

    class OnehotEncoder(tf.keras.layers.Layer):
        def __init__(self, depth, **kwargs):
            super(OnehotEncoder, self).__init__(**kwargs)
            self.depth = depth

        def build(self, input_shape):
            pass

        def call(self, inputs):
            inputs = tf.cast(inputs, 'int32')
            if len(inputs.shape) == 3:
                inputs = inputs[:, :, 0]
            return tf.one_hot(inputs, depth=self.depth)

        def compute_mask(self, inputs, mask=None):
            return mask

        def get_config(self):
            config = super().get_config().copy()
            config.update({'depth': self.depth})
            return config
    inp = tf.expand_dims(tf.constant([[2, 3, 4, 0, 0], [2, 4, 6, 12, 0]], dtype='int32'), axis=-1)
    mask_out = tf.keras.layers.Masking(mask_value=0)(inp)
    assert mask_out._keras_mask.numpy().tolist() == [[True, True, True, False, False],
                                                     [True, True, True, True, False]]
    onehot_out = OnehotEncoder(depth=10)(mask_out)
    np.testing.assert_array_equal(onehot_out._keras_mask, mask_out._keras_mask)
    lstm_out = tf.keras.layers.LSTM(24, return_state=False, return_sequences=False)(
        onehot_out, mask=onehot_out._keras_mask)
    assert lstm_out.shape == (2, 24)

    n_vocab = 30
    rng = np.random.default_rng(0)
    tr_x = [list(rng.integers(1, n_vocab, rng.integers(2, 20))) for _ in range(24)]
    tr_y = rng.integers(0, 2, 24)
    train_ds = get_tf_pipeline(tr_x, tr_y, batch_size=8, shuffle=True)
    model = tf.keras.models.Sequential([
        tf.keras.layers.Lambda(lambda x: tf.expand_dims(x, axis=-1), input_shape=(None,)),
        tf.keras.layers.Masking(mask_value=0),
        OnehotEncoder(depth=n_vocab),
        tf.keras.layers.LSTM(8, return_state=False, return_sequences=False),
        tf.keras.layers.Dense(8, activation='relu'),
        tf.keras.layers.Dropout(0.5),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
    assert np.isfinite(model.fit(train_ds, epochs=1, verbose=0).history['loss'][0])
    neg_weight = (tr_y == 1).sum()/(tr_y == 0).sum()

    def weighted_bce(y_true, y_pred):
        pos_mask = tf.cast(tf.math.equal(y_true, 1), 'float32')
        neg_mask = tf.cast(tf.math.equal(y_true, 0), 'float32')
        w_mask = pos_mask + neg_mask * neg_weight
        bce = tf.keras.losses.BinaryCrossentropy(reduction=tf.keras.losses.Reduction.NONE)
        return tf.reduce_mean(bce(y_true, y_pred)*w_mask)
    # the book's third model masks a 2-D (batch, steps) input: Keras's
    # Masking takes any rank, one mask value per sample here
    model2 = tf.keras.models.Sequential([
        tf.keras.layers.Masking(mask_value=0.0, input_shape=(None,)),
        tf.keras.layers.Lambda(lambda x: tf.one_hot(tf.cast(x, 'int32'), depth=n_vocab),
                               input_shape=(None,)),
        tf.keras.layers.LSTM(8, return_state=False, return_sequences=False),
        tf.keras.layers.Dense(10, activation='relu'),
        tf.keras.layers.Dense(1, activation='sigmoid')])
    model2.compile(loss=weighted_bce, optimizer='adam', metrics=['accuracy'])
    assert np.isfinite(model2.fit(train_ds, epochs=1, verbose=0).history['loss'][0])
    masking = tf.keras.layers.Masking(mask_value=0.0)
    x2 = np.array([[0, 0, 0], [1, 0, 2]], np.float32)
    np.testing.assert_array_equal(masking(x2), x2)
    assert np.asarray(masking.compute_mask(x2)).tolist() == [False, True]
    with pytest.raises(ValueError, match="Masking"):
        tf.keras.layers.Masking()(np.zeros(3, np.float32))


def test_ganegedara_language_model_windows_perplexity_and_a_stateful_inference_model(tmp_path):
    import pynn.keras.backend as K
    from pynn.keras.preprocessing.text import Tokenizer

    def get_ngrams(text, n):
        return [text[i:i+n] for i in range(0, len(text), n)]
    ngrams = 2
    text = ("alice was beginning to get very tired of sitting by her sister on the bank , "
            "and of having nothing to do . ") * 3
    tokenizer = Tokenizer(num_words=None, oov_token='unk')
    tokenizer.fit_on_texts([get_ngrams(text, ngrams)])
    n_vocab = len(tokenizer.word_index) + 1
    train_data_seq = tokenizer.texts_to_sequences([get_ngrams(text[i:], ngrams)
                                                   for i in range(0, 60, 7)])
    val_data_seq = train_data_seq[:3]

    def get_tf_pipeline(data_seq, n_seq, batch_size=64, shift=1, shuffle=True):
        text_ds = tf.data.Dataset.from_tensor_slices(tf.ragged.constant(data_seq))
        if shuffle:
            text_ds = text_ds.shuffle(buffer_size=len(data_seq)//2)
        text_ds = text_ds.flat_map(
            lambda x: tf.data.Dataset.from_tensor_slices(x).window(n_seq+1, shift=shift).flat_map(
                lambda window: window.batch(n_seq+1, drop_remainder=True)))
        if shuffle:
            text_ds = text_ds.shuffle(buffer_size=10*batch_size)
        text_ds = text_ds.batch(batch_size)
        # (zip of one dataset: its own (x, y) elements, as tf.data's)
        text_ds = tf.data.Dataset.zip(text_ds.map(lambda x: (x[:, :-1], x[:, 1:]))).prefetch(
            buffer_size=tf.data.experimental.AUTOTUNE)
        return text_ds
    ds = get_tf_pipeline(train_data_seq, 5, batch_size=6)
    for a in ds.take(2):
        assert a[0].shape == (6, 5) and a[1].shape == (6, 5)
        np.testing.assert_array_equal(a[0][:, 1:], a[1][:, :-1])
    n_seq = 10
    K.clear_session()
    model = tf.keras.models.Sequential([
        tf.keras.layers.Embedding(input_dim=n_vocab+1, output_dim=16, input_shape=(None,)),
        tf.keras.layers.GRU(32, return_state=False, return_sequences=True),
        tf.keras.layers.Dense(16, activation='relu'),
        tf.keras.layers.Dense(n_vocab, name='final_out'),
        tf.keras.layers.Activation(activation='softmax')])

    class PerplexityMetric(tf.keras.metrics.Mean):
        def __init__(self, name='perplexity', **kwargs):
            super().__init__(name=name, **kwargs)
            self.cross_entropy = tf.keras.losses.SparseCategoricalCrossentropy(
                from_logits=False, reduction='none')

        def _calculate_perplexity(self, real, pred):
            loss_ = self.cross_entropy(real, pred)
            step1 = K.mean(loss_, axis=-1)
            perplexity = K.exp(step1)
            return perplexity

        def update_state(self, y_true, y_pred, sample_weight=None):
            perplexity = self._calculate_perplexity(y_true, y_pred)
            super().update_state(perplexity)
    p = PerplexityMetric()
    true = [[0, 1, 2], [0, 1, 2]]
    pred = [[[0.9, 0.1, 0.0], [0.3, 0.7, 0.0], [0.0, 0.1, 0.9]],
            [[0.9, 0.1, 0.0], [0.3, 0.7, 0.0], [0.0, 0.1, 0.9]]]
    p.update_state(true, pred)
    np.testing.assert_allclose(float(p.result()), 1.2082006, rtol=1e-6)  # the book's
    model.compile(loss='sparse_categorical_crossentropy', optimizer='adam',
                  metrics=['accuracy', PerplexityMetric()])
    train_ds = get_tf_pipeline(train_data_seq, n_seq, shift=25, batch_size=8)
    valid_ds = get_tf_pipeline(val_data_seq, n_seq, shift=n_seq, batch_size=8)
    lr_callback = tf.keras.callbacks.ReduceLROnPlateau(monitor='val_perplexity', factor=0.1,
                                                       patience=2, mode='min', min_lr=1e-8)
    es_callback = tf.keras.callbacks.EarlyStopping(monitor='val_perplexity', patience=5,
                                                   mode='min', restore_best_weights=False)
    hist = model.fit(train_ds, epochs=1, validation_data=valid_ds,
                     callbacks=[es_callback, lr_callback], verbose=0).history
    # perplexity is the exp of each sequence's mean cross-entropy
    assert hist['perplexity'][0] >= np.exp(hist['loss'][0]) * 0.999
    path = str(tmp_path / '2_gram_lm.h5')
    tf.keras.models.save_model(model, path)
    model = tf.keras.models.load_model(path, compile=False)

    inp = tf.keras.layers.Input(shape=(None,))
    inp_state = tf.keras.layers.Input(shape=(32,))
    emb_layer = tf.keras.layers.Embedding(input_dim=n_vocab+1, output_dim=16,
                                          input_shape=(None,))
    emb_out = emb_layer(inp)
    gru_layer = tf.keras.layers.GRU(32, return_state=True, return_sequences=True)
    gru_out, gru_state = gru_layer(emb_out, initial_state=inp_state)
    dense_layer = tf.keras.layers.Dense(16, activation='relu')
    dense_out = dense_layer(gru_out)
    final_layer = tf.keras.layers.Dense(n_vocab, name='final_out')
    final_out = final_layer(dense_out)
    softmax_out = tf.keras.layers.Activation(activation='softmax')(final_out)
    infer_model = tf.keras.models.Model(inputs=[inp, inp_state], outputs=[softmax_out, gru_state])
    emb_layer.set_weights(model.get_layer('embedding').get_weights())
    gru_layer.set_weights(model.get_layer('gru').get_weights())
    dense_layer.set_weights(model.get_layer('dense').get_weights())
    final_layer.set_weights(model.get_layer('final_out').get_weights())
    seq = tokenizer.texts_to_sequences([get_ngrams("alice was beginning to get", ngrams)])
    model.reset_states()
    state = np.zeros(shape=(1, 32))
    for c in seq[0]:
        out, state = infer_model.predict([np.array([[c]]), state], verbose=0)
    # one step at a time with the state carried: the whole sequence's last step
    full = model.predict(np.array([seq[0]]), verbose=0)
    np.testing.assert_allclose(out[0, -1], full[0, -1], rtol=1e-4, atol=1e-6)
    top_probs, top_ids = tf.nn.top_k(out, k=3)
    top_probs, top_ids = top_probs.numpy().ravel(), top_ids.numpy().ravel()
    assert top_ids[0] == int(np.argmax(out[0], axis=-1).ravel()[0])
    assert top_probs[0] >= top_probs[1] >= top_probs[2]


def test_ganegedara_seq2seq_translator_with_string_inputs_and_an_inference_decoder(tmp_path):
    import json
    import pynn.keras.backend as K
    from pynn.keras.layers.experimental.preprocessing import StringLookup
    rng = np.random.default_rng(0)
    en_words = "i go run home we eat you see it now".split()
    de_words = "ich gehe lauf heim wir essen du siehst es jetzt".split()
    N = 48
    EN = np.array([' '.join(rng.choice(en_words, rng.integers(2, 6))) for _ in range(N)])
    DE = np.array(['sos ' + ' '.join(rng.choice(de_words, rng.integers(2, 6))) + ' eos'
                   for _ in range(N)])
    en_vocab, de_vocab = len(en_words), len(de_words) + 2
    en_seq_length, de_seq_length = 6, 8

    def get_vectorizer(corpus, n_vocab, max_length=None, return_vocabulary=True, name=None):
        inp = tf.keras.Input(shape=(1,), dtype=tf.string, name='encoder_input')
        vectorize_layer = tf.keras.layers.experimental.preprocessing.TextVectorization(
            max_tokens=n_vocab+2, output_mode='int', output_sequence_length=max_length)
        vectorize_layer.adapt(corpus)
        vectorized_out = vectorize_layer(inp)
        if not return_vocabulary:
            return tf.keras.models.Model(inputs=inp, outputs=vectorized_out, name=name)
        return tf.keras.models.Model(inputs=inp, outputs=vectorized_out, name=name), \
            vectorize_layer.get_vocabulary()

    def get_encoder(n_vocab, vectorizer):
        inp = tf.keras.Input(shape=(1,), dtype=tf.string, name='e_input')
        vectorized_out = vectorizer(inp)
        emb_layer = tf.keras.layers.Embedding(n_vocab+2, 16, mask_zero=True, name='e_embedding')
        emb_out = emb_layer(vectorized_out)
        gru_layer = tf.keras.layers.Bidirectional(tf.keras.layers.GRU(16, name='e_gru'),
                                                  name='e_bidirectional_gru')
        gru_out = gru_layer(emb_out)
        return tf.keras.models.Model(inputs=inp, outputs=gru_out, name='encoder')

    def get_final_seq2seq_model(n_vocab, encoder, vectorizer):
        e_inp = tf.keras.Input(shape=(1,), dtype=tf.string, name='e_input_final')
        d_init_state = encoder(e_inp)
        d_inp = tf.keras.Input(shape=(1,), dtype=tf.string, name='d_input')
        d_vectorized_out = vectorizer(d_inp)
        d_emb_layer = tf.keras.layers.Embedding(n_vocab+2, 16, mask_zero=True, name='d_embedding')
        d_emb_out = d_emb_layer(d_vectorized_out)
        d_gru_layer = tf.keras.layers.GRU(32, return_sequences=True, name='d_gru')
        d_gru_out = d_gru_layer(d_emb_out, initial_state=d_init_state)
        d_dense_layer_1 = tf.keras.layers.Dense(16, activation='relu', name='d_dense_1')
        d_dense1_out = d_dense_layer_1(d_gru_out)
        d_dense_layer_final = tf.keras.layers.Dense(n_vocab+2, activation='softmax',
                                                    name='d_dense_final')
        d_final_out = d_dense_layer_final(d_dense1_out)
        return tf.keras.models.Model(inputs=[e_inp, d_inp], outputs=d_final_out,
                                     name='final_seq2seq')
    en_vectorizer, en_vocabulary = get_vectorizer(EN, en_vocab, max_length=en_seq_length,
                                                  name='e_vectorizer')
    de_vectorizer, de_vocabulary = get_vectorizer(DE, de_vocab, max_length=de_seq_length-1,
                                                  name='d_vectorizer')
    assert de_vocabulary[:4] == ['', '[UNK]', 'sos', 'eos']
    encoder = get_encoder(en_vocab, en_vectorizer)
    final_model = get_final_seq2seq_model(de_vocab, encoder, de_vectorizer)
    final_model.compile(loss='sparse_categorical_crossentropy', optimizer='adam',
                        metrics=['accuracy'])

    id_to_token_layer = StringLookup(vocabulary=de_vocabulary, num_oov_indices=0,
                                     oov_token="[KNU]", invert=True)

    def clean_text(tokens):
        translations_in_bytes = tf.strings.strip(tf.strings.regex_replace(
            tf.strings.join(tf.transpose(tokens), separator=' '), "eos.*", ""))
        translations = np.char.decode(translations_in_bytes.numpy().astype(np.bytes_),
                                      encoding='utf-8')
        translations = [sent if len(sent) > 0 else '[UNK]' for sent in translations]
        return np.char.split(translations).tolist()
    de_inputs = np.array([s.rsplit(maxsplit=1)[0] for s in DE])
    de_labels = np.array([s.split(maxsplit=1)[1] for s in DE])
    batch_size = 16
    for i in range(N // batch_size):
        x = [EN[i*batch_size:(i+1)*batch_size], de_inputs[i*batch_size:(i+1)*batch_size]]
        y = de_vectorizer(de_labels[i*batch_size:(i+1)*batch_size])
        final_model.train_on_batch(x, y)
        loss, accuracy = final_model.evaluate(x, y, verbose=0)
        pred_y = final_model.predict(x, verbose=0)
    assert pred_y.shape == (16, 7, de_vocab + 2) and np.isfinite(loss)
    real = clean_text(id_to_token_layer(y))
    # the labels read back: each sentence's words before its eos
    assert real[0] == de_labels[32].rsplit(maxsplit=1)[0].split()
    assert len(clean_text(id_to_token_layer(tf.argmax(pred_y, axis=-1)))) == 16

    # saved without a suffix (TensorFlow's SavedModel directory) and loaded
    save_path = str(tmp_path / 'seq2seq')
    tf.keras.models.save_model(final_model, save_path)
    with open(str(tmp_path / 'de_vocab.json'), 'w') as f:
        json.dump(de_vocabulary, f)
    K.clear_session()
    model = tf.keras.models.load_model(save_path)
    en_model = model.get_layer("encoder")
    d_inp = tf.keras.Input(shape=(1,), dtype=tf.string, name='d_infer_input')
    d_state_inp = tf.keras.Input(shape=(32,), name='d_infer_state')
    d_vectorizer = model.get_layer('d_vectorizer')
    d_vectorized_out = d_vectorizer(d_inp)
    d_emb_out = model.get_layer('d_embedding')(d_vectorized_out)
    d_gru_layer = model.get_layer("d_gru")
    d_gru_layer.return_sequences = False
    d_gru_out = d_gru_layer(d_emb_out, initial_state=d_state_inp)
    # the Dense layers built on the sequences take one step's vectors
    d_dense1_out = model.get_layer("d_dense_1")(d_gru_out)
    d_final_out = model.get_layer("d_dense_final")(d_dense1_out)
    de_model = tf.keras.models.Model(inputs=[d_inp, d_state_inp], outputs=[d_final_out, d_gru_out])
    sample_en_text = EN[0]
    d_state = en_model.predict(np.array([sample_en_text]), verbose=0)
    np.testing.assert_allclose(d_state, encoder.predict(np.array([sample_en_text]), verbose=0),
                               rtol=1e-5, atol=1e-6)
    de_pred, d_state2 = de_model.predict([np.array(['sos']), d_state], verbose=0)
    # one decoder step from the encoder's state is the full model's first step
    full = final_model.predict([np.array([sample_en_text]), np.array(['sos'])], verbose=0)
    np.testing.assert_allclose(de_pred[0], full[0, 0], rtol=1e-4, atol=1e-6)
    de_word, de_translation = 'sos', []
    while de_word != 'eos' and len(de_translation) < 8:
        de_pred, d_state = de_model.predict([np.array([de_word]), d_state], verbose=0)
        de_word = de_vocabulary[np.argmax(de_pred[0])]
        de_translation.append(de_word)
    assert all(w in de_vocabulary for w in de_translation)


def test_ganegedara_tensorboard_image_and_scalar_summaries_and_flower_files(tmp_path):
    from pynn.keras import layers, models, mixed_precision
    import pynn.keras.backend as K
    rng = np.random.default_rng(0)
    fashion_ds = {'train': tf.data.Dataset.from_tensor_slices({
        'image': rng.integers(0, 255, (40, 28, 28, 1), dtype=np.uint8),
        'label': rng.integers(0, 10, 40)})}

    def get_train_valid_datasets(fashion_ds, batch_size, flatten_images=False):
        train_ds = fashion_ds["train"].shuffle(batch_size*20).map(
            lambda xy: (xy["image"], tf.reshape(xy["label"], [-1])))
        if flatten_images:
            train_ds = train_ds.map(lambda x, y: (tf.reshape(x, [-1]), y))
        valid_ds = train_ds.take(16).batch(batch_size)
        train_ds = train_ds.skip(16).batch(batch_size).prefetch(tf.data.experimental.AUTOTUNE)
        return train_ds, valid_ds
    id2label_map = {i: name for i, name in enumerate(
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"])}
    image_logdir = str(tmp_path / "logs" / "data" / "train")
    image_writer = tf.summary.create_file_writer(image_logdir)
    with image_writer.as_default():
        for data in fashion_ds["train"].batch(1).take(3):
            # (the book's int(data["label"].numpy()) of one label)
            tf.summary.image(id2label_map[int(data["label"].numpy()[0])], data["image"],
                             max_outputs=20, step=0)
    with image_writer.as_default():
        for data in fashion_ds["train"].batch(20).take(1):
            pass
        tf.summary.image("A training data batch", data["image"], max_outputs=20, step=0)
    dense_model = models.Sequential([
        layers.Dense(16, activation='relu', input_shape=(784,)),
        layers.Dense(8, activation='relu', name='log_layer'),
        layers.Dense(10, activation='softmax')])
    dense_model.compile(loss="sparse_categorical_crossentropy", optimizer='adam',
                        metrics=['accuracy'])
    tr_ds, v_ds = get_train_valid_datasets(fashion_ds, batch_size=8, flatten_images=True)
    tb_callback = tf.keras.callbacks.TensorBoard(log_dir=str(tmp_path / 'logs' / 'dense'),
                                                 histogram_freq=1, profile_batch=0)
    dense_model.fit(tr_ds, validation_data=v_ds, epochs=1, callbacks=[tb_callback], verbose=0)
    # profiling needs TensorFlow's profiler: refused with the reason
    with pytest.raises(ValueError, match="profil"):
        tf.keras.callbacks.TensorBoard(log_dir=str(tmp_path), profile_batch=[10, 20])

    log_dir = str(tmp_path / 'logs' / 'weights_exp' / 'standard')
    writer = tf.summary.create_file_writer(log_dir)
    step = 0
    means = []
    with writer.as_default():
        for batch in tr_ds:
            dense_model.train_on_batch(*batch)
            w = dense_model.get_layer('log_layer').get_weights()[0]
            tf.summary.scalar("mean_weights", np.mean(np.abs(w)), step=step)
            tf.summary.scalar("std_weights", np.std(np.abs(w)), step=step)
            means.append(np.mean(np.abs(w)))
            writer.flush()
            step += 1

    # 17flowers: the label from the file name, image_0001.jpg .. (80 a class)
    image_dir = tmp_path / '17flowers' / 'jpg'
    image_dir.mkdir(parents=True)
    for i in range(1, 9):
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(
            image_dir / f'image_{(i - 1) * 80 + 1:04d}.jpg')

    def get_flower_datasets(image_dir, batch_size):
        dataset = tf.data.Dataset.list_files(os.path.join(image_dir, '*.jpg'), shuffle=False)

        def get_image_and_label(file_path):
            tokens = tf.strings.split(file_path, os.path.sep)
            label = (tf.strings.to_number(
                tf.strings.split(tf.strings.split(tokens[-1], '.')[0], '_')[-1])-1)//80
            img = tf.io.read_file(file_path)
            img = tf.image.decode_jpeg(img, channels=3)
            return tf.image.resize(img, [16, 16]), label
        dataset = dataset.map(get_image_and_label, num_parallel_calls=tf.data.AUTOTUNE).shuffle(400)
        return dataset.skip(2).batch(batch_size), dataset.take(2).batch(batch_size)
    tr_ds, v_ds = get_flower_datasets(str(image_dir), batch_size=3)
    labels = sorted(float(v) for _, y in tr_ds for v in y.numpy())
    assert len(labels) == 6 and set(labels) <= set(range(8))
    policy = mixed_precision.Policy('mixed_float16')
    mixed_precision.set_global_policy(policy)
    try:
        K.clear_session()
        conv_model = models.Sequential([
            layers.Conv2D(filters=4, kernel_size=(5, 5), padding='same', activation='relu',
                          input_shape=(16, 16, 3)),
            layers.BatchNormalization(),
            layers.MaxPooling2D(pool_size=(3, 3), strides=(2, 2)),
            layers.Flatten(),
            layers.Dense(8), layers.LeakyReLU(), layers.LayerNormalization(),
            layers.Dense(17),
            layers.Activation('softmax', dtype='float32')])
        conv_model.compile(loss="sparse_categorical_crossentropy", optimizer='adam',
                           metrics=['accuracy'])
        hist = conv_model.fit(tr_ds, validation_data=v_ds, epochs=1, verbose=0).history
        assert np.isfinite(hist['loss'][0])
        assert conv_model.layers[-1].dtype_policy.compute_dtype == 'float32'
    finally:
        mixed_precision.set_global_policy(mixed_precision.Policy('float32'))

    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")

    def tags(path):
        acc = event_accumulator.EventAccumulator(path, size_guidance={'tensors': 0})
        acc.Reload()
        return acc
    acc = tags(image_logdir)
    assert "A training data batch" in acc.Tags()['tensors']
    assert len(acc.Tags()['tensors']) >= 2
    acc = tags(log_dir)
    got = [float(np.frombuffer(e.tensor_proto.tensor_content, np.float32)[0])
           if e.tensor_proto.tensor_content else float(e.tensor_proto.float_val[0])
           for e in acc.Tensors('mean_weights')]
    np.testing.assert_allclose(got, means, rtol=1e-6)


def test_ganegedara_grad_cam_through_an_unwrapped_nested_model(tmp_path, capsys):
    from pynn.keras.models import Sequential, Model, load_model
    from pynn.keras.layers import Input, Dense, Dropout
    import pynn.keras.backend as K

    def base():  # InceptionResNetV2(include_top=False, pooling='avg'), in small
        inp = Input((32, 32, 3))
        x = tf.keras.layers.Conv2D(4, 3, activation='relu', name='conv_1')(inp)
        x = tf.keras.layers.Conv2D(6, 3, activation='relu', name='conv_7b')(x)
        x = tf.keras.layers.GlobalAveragePooling2D()(x)
        return Model(inp, x, name='inception_resnet_v2')
    K.clear_session()  # (the book's names, 'dropout' and 'dense', are a fresh program's)
    model = Sequential([Input(shape=(32, 32, 3)), base(), Dropout(0.4),
                        Dense(5, activation='softmax')])
    model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
    path = str(tmp_path / 'inception_resnet_v2.h5')
    model.save(path)
    K.clear_session()
    model = load_model(path)

    def unwrap_model(model):
        inception = model.get_layer('inception_resnet_v2')
        inp = inception.input
        out = model.get_layer('dropout')(inception.output)
        out = model.get_layer('dense')(out)
        return Model(inp, out)
    unwrapped_model = unwrap_model(model)
    grad_model = Model(inputs=unwrapped_model.inputs,
                       outputs=[unwrapped_model.get_layer('conv_7b').output,
                                unwrapped_model.output])
    img = np.random.default_rng(0).normal(size=(1, 32, 32, 3)).astype('float32')
    cls = 2
    with tf.GradientTape() as tape:
        conv_output, preds = grad_model(img)
        loss = preds[:, cls]
    grads = tape.gradient(loss, conv_output)
    np.testing.assert_allclose(preds, model.predict(img, verbose=0), rtol=1e-5, atol=1e-7)
    # the gradient of the class score with respect to the last convolution's
    # output: softmax through the average pooling and the dense layer
    k, b = [w.astype(np.float64) for w in model.get_layer('dense').get_weights()]
    z = np.asarray(conv_output, np.float64).mean(axis=(1, 2)) @ k + b
    p = np.exp(z - z.max())
    p /= p.sum()
    dz = p[0, cls] * ((np.arange(5) == cls) - p[0])
    want = np.broadcast_to(k @ dz / (28 * 28), (1, 28, 28, 6))
    np.testing.assert_allclose(grads, want, rtol=1e-4, atol=1e-9)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    grads *= weights
    grads = tf.reduce_sum(grads, axis=(0, 3))
    grads = tf.nn.relu(grads)
    grads /= tf.reduce_max(grads)
    grads = tf.cast(grads*255.0, 'uint8')
    assert grads.shape == (28, 28) and grads.dtype == np.uint8
    tf.print(preds.shape)
    assert capsys.readouterr().err == "TensorShape([1, 5])\n"


def test_ganegedara_minimal_transformer_of_self_attention_layers():
    import math
    from pynn.keras import layers, models

    class SelfAttentionLayer(layers.Layer):
        def __init__(self, d):
            super(SelfAttentionLayer, self).__init__()
            self.d = d

        def build(self, input_shape):
            self.Wq = self.add_weight(shape=(input_shape[-1], self.d),
                                      initializer='glorot_uniform', trainable=True, dtype='float32')
            self.Wk = self.add_weight(shape=(input_shape[-1], self.d),
                                      initializer='glorot_uniform', trainable=True, dtype='float32')
            self.Wv = self.add_weight(shape=(input_shape[-1], self.d),
                                      initializer='glorot_uniform', trainable=True, dtype='float32')

        def call(self, q_x, k_x, v_x, mask=None):
            q = tf.matmul(q_x, self.Wq)
            k = tf.matmul(k_x, self.Wk)
            v = tf.matmul(v_x, self.Wv)
            p = tf.matmul(q, k, transpose_b=True)/math.sqrt(self.d)
            if mask is None:
                p = tf.nn.softmax(p)
            else:
                p += mask * -1e9
                p = tf.nn.softmax(p)
            h = tf.matmul(p, v)
            return h, p
    x = tf.constant(np.random.normal(size=(1, 7, 16)), dtype='float32')
    layer = SelfAttentionLayer(8)
    mask = 1 - tf.linalg.band_part(tf.ones((7, 7)), -1, 0)
    h, p = layer(x, x, x, mask)
    assert h.shape == (1, 7, 8)
    # the causal mask: no weight on later steps, each row a distribution
    np.testing.assert_allclose(np.triu(p.numpy()[0], 1), 0, atol=1e-7)
    np.testing.assert_allclose(p.numpy().sum(-1), 1, rtol=1e-5)

    class FCLayer(layers.Layer):
        def __init__(self, d1, d2):
            super(FCLayer, self).__init__()
            self.d1, self.d2 = d1, d2

        def build(self, input_shape):
            self.W1 = self.add_weight(shape=(input_shape[-1], self.d1),
                                      initializer='glorot_uniform', trainable=True, dtype='float32')
            self.b1 = self.add_weight(shape=(self.d1,), initializer='glorot_uniform',
                                      trainable=True, dtype='float32')
            self.W2 = self.add_weight(shape=(self.d1, self.d2), initializer='glorot_uniform',
                                      trainable=True, dtype='float32')
            self.b2 = self.add_weight(shape=(self.d2,), initializer='glorot_uniform',
                                      trainable=True, dtype='float32')

        def call(self, x):
            ff1 = tf.nn.relu(tf.matmul(x, self.W1)+self.b1)
            return tf.matmul(ff1, self.W2)+self.b2

    class EncoderLayer(layers.Layer):
        def __init__(self, d, n_heads):
            super(EncoderLayer, self).__init__()
            self.d, self.d_head, self.n_heads = d, int(d/n_heads), n_heads
            self.attn_heads = [SelfAttentionLayer(self.d_head) for i in range(self.n_heads)]
            self.fc_layer = FCLayer(32, self.d)

        def call(self, x):
            outputs = [head(x, x, x)[0] for head in self.attn_heads]
            return self.fc_layer(tf.concat(outputs, axis=-1))

    class DecoderLayer(layers.Layer):
        def __init__(self, d, n_heads):
            super(DecoderLayer, self).__init__()
            self.d, self.d_head = d, int(d/n_heads)
            self.dec_attn_heads = [SelfAttentionLayer(self.d_head) for i in range(n_heads)]
            self.attn_heads = [SelfAttentionLayer(self.d_head) for i in range(n_heads)]
            self.fc_layer = FCLayer(32, self.d)

        def call(self, de_x, en_x, mask=None):
            def compute_multihead_output(attn_heads, de_x, en_x, mask=None):
                outputs = [head(en_x, en_x, de_x, mask)[0] for head in attn_heads]
                return tf.concat(outputs, axis=-1)
            h1 = compute_multihead_output(self.dec_attn_heads, de_x, de_x, mask)
            h2 = compute_multihead_output(self.attn_heads, h1, en_x)
            return self.fc_layer(h2)
    n_steps, n_en_vocab, n_de_vocab, n_heads, d = 5, 30, 40, 2, 16
    mask = 1 - tf.linalg.band_part(tf.ones((n_steps, n_steps)), -1, 0)
    en_inp = layers.Input(shape=(n_steps,))
    en_emb = layers.Embedding(n_en_vocab, d)(en_inp)
    en_out1 = EncoderLayer(d, n_heads)(en_emb)
    en_out2 = EncoderLayer(d, n_heads)(en_out1)
    de_inp = layers.Input(shape=(n_steps,))
    de_emb = layers.Embedding(n_de_vocab, d)(de_inp)
    # (a constant mask among a layer's symbolic arguments)
    de_out1 = DecoderLayer(d, n_heads)(de_emb, en_out2, mask)
    de_out2 = DecoderLayer(d, n_heads)(de_out1, en_out2, mask)
    de_pred = layers.Dense(n_de_vocab, activation='softmax')(de_out2)
    transformer = models.Model(inputs=[en_inp, de_inp], outputs=de_pred, name='MinTransformer')
    transformer.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['acc'])
    rng = np.random.default_rng(0)
    xe, xd = rng.integers(0, 30, (8, 5)), rng.integers(0, 40, (8, 5))
    yd = tf.one_hot(rng.integers(0, 40, (8, 5)), 40)
    before = transformer.get_weights()
    hist = transformer.fit([xe, xd], yd, epochs=2, verbose=0).history
    assert hist['loss'][1] < hist['loss'][0]
    # (the encoder reaches the output only through attention scores of
    # small embeddings, so its query and key weights barely move)
    changed = [not np.array_equal(a, b) for a, b in zip(before, transformer.get_weights())]
    assert changed[-1] and changed[-2] and sum(changed) > len(changed) // 2
    assert transformer.predict([xe, xd], verbose=0).shape == (8, 5, 40)


# --------------------- Gulli, Kapoor & Pal, 3rd ed.: what the 2nd ed. lacked

def test_gulli3_pca_kmeans_som_and_rbm_in_tensorflow_operations():
    # ch. 7 PCA: the SVD of the centred images
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8) / 255.
    x_train = np.reshape(x_train.astype(np.float32), (x_train.shape[0], 784))
    mean = x_train.mean(axis=1)
    x_train = x_train - mean[:, None]
    s, u, v = tf.linalg.svd(x_train)
    s = tf.linalg.diag(s)
    assert (s.shape, u.shape, v.shape) == ((30, 30), (30, 30), (784, 30))
    k = 3
    pca = tf.matmul(u[:, 0:k], s[0:k, 0:k])
    want = np.linalg.svd(x_train.astype(np.float64), full_matrices=False)
    np.testing.assert_allclose(np.abs(pca), np.abs(want[0][:, :3] * want[1][:3]), rtol=1e-3,
                               atol=1e-3)

    # ch. 7 k-means
    points_n, clusters_n, iteration_n, seed = 200, 3, 10, 123
    np.random.seed(seed)
    tf.random.set_seed(seed)
    points = np.random.uniform(0, 10, (points_n, 2))
    centroids = tf.slice(tf.random.shuffle(points), [0, 0], [clusters_n, -1])
    assert centroids.shape == (3, 2)

    def closest_centroids(points, centroids):
        distances = tf.reduce_sum(tf.square(tf.subtract(points, centroids[:, None])), 2)
        return tf.argmin(distances, 0)

    def move_centroids(points, closest, centroids):
        return np.array([points[closest == k].mean(axis=0) for k in range(centroids.shape[0])])
    for step in range(iteration_n):
        closest = closest_centroids(points, centroids)
        centroids = move_centroids(points, closest, centroids)
    d = ((points[:, None, :] - centroids[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(np.asarray(closest_centroids(points, centroids)),
                                  d.argmin(1))

    # ch. 7 self-organizing map (the book's class, a 3 x 3 grid)
    class WTU(object):
        def __init__(self, m, n, dim, num_iterations, eta=0.5, sigma=None):
            self._m, self._n = m, n
            self._num_iterations = int(num_iterations)
            self._learned = False
            self.dim = dim
            self.eta = float(eta)
            self.sigma = max(m, n)/2.0 if sigma is None else float(sigma)
            self._W = tf.random.normal([m*n, dim], seed=0)
            self._topography = np.array(list(self._neuron_location(m, n)))

        def training(self, x, i):
            m, n = self._m, self._n
            d = tf.sqrt(tf.reduce_sum(tf.pow(self._W - tf.stack([x for i in range(m*n)]), 2), 1))
            self.WTU_idx = tf.argmin(d, 0)
            slice_start = tf.pad(tf.reshape(self.WTU_idx, [1]), np.array([[0, 1]]))
            self.WTU_loc = tf.reshape(tf.slice(self._topography, slice_start, [1, 2]), [2])
            learning_rate = 1 - i/self._num_iterations
            _eta_new = self.eta * learning_rate
            _sigma_new = self.sigma * learning_rate
            distance_square = tf.reduce_sum(tf.pow(tf.subtract(
                self._topography, tf.stack([self.WTU_loc for i in range(m * n)])), 2), 1)
            neighbourhood_func = tf.exp(tf.negative(tf.math.divide(tf.cast(
                distance_square, "float32"), tf.pow(_sigma_new, 2))))
            eta_into_Gamma = tf.multiply(_eta_new, neighbourhood_func)
            weight_multiplier = tf.stack([tf.tile(tf.slice(
                eta_into_Gamma, np.array([i]), np.array([1])), [self.dim])
                for i in range(m * n)])
            delta_W = tf.multiply(weight_multiplier,
                                  tf.subtract(tf.stack([x for i in range(m * n)]), self._W))
            self._W = self._W + delta_W

        def fit(self, X):
            for i in range(self._num_iterations):
                for x in X:
                    self.training(x, i)
            centroid_grid = [[] for i in range(self._m)]
            self._Wts = list(self._W)
            self._locations = list(self._topography)
            for i, loc in enumerate(self._locations):
                centroid_grid[loc[0]].append(self._Wts[i])
            self._centroid_grid = centroid_grid
            self._learned = True

        def winner(self, x):
            return self.WTU_idx, self.WTU_loc

        def _neuron_location(self, m, n):
            for i in range(m):
                for j in range(n):
                    yield np.array([i, j])

        def get_centroids(self):
            return self._centroid_grid

        def map_vects(self, X):
            return [self._locations[min(range(len(self._Wts)),
                                        key=lambda x: np.linalg.norm(vect - self._Wts[x]))]
                    for vect in X]
    colors = rng.random((5, 3)).astype(np.float32)
    som = WTU(3, 3, 3, 2, sigma=2.0)
    w0 = np.asarray(som._W).copy()
    som.fit(colors)
    grid = som.get_centroids()
    assert len(grid) == 3 and all(len(row) == 3 for row in grid)
    assert not np.allclose(np.asarray(som._W), w0)
    assert all(0 <= m[0] < 3 and 0 <= m[1] < 3 for m in som.map_vects(colors))
    idx, loc = som.winner([0.5, 0.5, 0.5])
    assert 0 <= int(idx) < 9 and np.asarray(loc).tolist() == [int(idx) // 3, int(idx) % 3]

    # ch. 7 restricted Boltzmann machine, tf.dtypes.cast included
    class RBM(object):
        def __init__(self, input_size, output_size, lr=1.0, batchsize=100):
            self._input_size, self._output_size = input_size, output_size
            self.learning_rate, self.batchsize = lr, batchsize
            self.w = tf.zeros([input_size, output_size], np.float32)
            self.hb = tf.zeros([output_size], np.float32)
            self.vb = tf.zeros([input_size], np.float32)

        def prob_h_given_v(self, visible, w, hb):
            return tf.nn.sigmoid(tf.matmul(visible, w) + hb)

        def prob_v_given_h(self, hidden, w, vb):
            return tf.nn.sigmoid(tf.matmul(hidden, tf.transpose(w)) + vb)

        def sample_prob(self, probs):
            return tf.nn.relu(tf.sign(probs - tf.random.uniform(tf.shape(probs))))

        def train(self, X, epochs=10):
            loss = []
            for epoch in range(epochs):
                for start, end in zip(range(0, len(X), self.batchsize),
                                      range(self.batchsize, len(X), self.batchsize)):
                    batch = X[start:end]
                    h0 = self.sample_prob(self.prob_h_given_v(batch, self.w, self.hb))
                    v1 = self.sample_prob(self.prob_v_given_h(h0, self.w, self.vb))
                    h1 = self.prob_h_given_v(v1, self.w, self.hb)
                    positive_grad = tf.matmul(tf.transpose(batch), h0)
                    negative_grad = tf.matmul(tf.transpose(v1), h1)
                    self.w = self.w + self.learning_rate * (positive_grad - negative_grad) / \
                        tf.dtypes.cast(tf.shape(batch)[0], tf.float32)
                    self.vb = self.vb + self.learning_rate * tf.reduce_mean(batch - v1, 0)
                    self.hb = self.hb + self.learning_rate * tf.reduce_mean(h0 - h1, 0)
                err = tf.reduce_mean(tf.square(batch - v1))
                loss.append(err)
            return loss

        def rbm_reconstruct(self, X):
            h = tf.nn.sigmoid(tf.matmul(X, self.w) + self.hb)
            return tf.nn.sigmoid(tf.matmul(h, tf.transpose(self.w)) + self.vb)
    train_data = np.reshape(rng.integers(0, 256, (250, 28, 28)) / np.float32(255), (250, 784))
    train_data = train_data.astype(np.float32)
    rbm = RBM(784, 20)
    err = rbm.train(train_data, 2)
    assert len(err) == 2 and all(0 < float(e) < 1 for e in err)
    out = rbm.rbm_reconstruct(train_data[:4])
    assert out.shape == (4, 784) and tf.reshape(out[0], [28, 28]).shape == (28, 28)
    assert repr(tf.dtypes.cast(3, tf.float32)).endswith("numpy=3.0>")
    assert tf.saturate_cast(np.array([300.0, -5.0]), tf.uint8).numpy().tolist() == [255, 0]


def test_gulli3_peephole_lstm_cell_against_numpy_and_saved():
    batch_size, num_timesteps, embedding_dim, hidden_dim = 4, 5, 8, 6
    inputs = tf.keras.Input(shape=(num_timesteps, embedding_dim))
    peephole_lstm_cell = tf.keras.experimental.PeepholeLSTMCell(hidden_dim)
    rnn_layer = tf.keras.layers.RNN(peephole_lstm_cell)
    outputs = rnn_layer(inputs)
    model = tf.keras.models.Model(inputs=[inputs], outputs=[outputs])
    model.compile(loss="categorical_crossentropy", optimizer="adam")
    # tf.keras 2's parameters: the LSTM's and three peephole vectors
    assert model.count_params() == 4 * hidden_dim * (embedding_dim + hidden_dim + 1) + \
        3 * hidden_dim
    input = np.random.uniform(size=(batch_size, num_timesteps, embedding_dim))
    output = model.predict(input, verbose=0)
    assert output.shape == (batch_size, hidden_dim)
    k, rk, b, pi, pf, po = [w.numpy().astype(np.float64) for w in peephole_lstm_cell.weights]
    assert [w.name for w in peephole_lstm_cell.weights][3:] == [
        'input_gate_peephole_weights', 'forget_gate_peephole_weights',
        'output_gate_peephole_weights']

    def sigmoid(v):
        return 1 / (1 + np.exp(-v))
    h = np.zeros((batch_size, hidden_dim))
    c = np.zeros((batch_size, hidden_dim))
    u = hidden_dim
    for t in range(num_timesteps):
        z = input[:, t] @ k + h @ rk + b
        i = sigmoid(z[:, :u] + pi * c)
        f = sigmoid(z[:, u:2 * u] + pf * c)
        c = f * c + i * np.tanh(z[:, 2 * u:3 * u])
        o = sigmoid(z[:, 3 * u:] + po * c)
        h = o * np.tanh(c)
    np.testing.assert_allclose(output, h, rtol=1e-4, atol=1e-6)
    before = [w.numpy().copy() for w in peephole_lstm_cell.weights]
    # (the book's categorical cross-entropy of tanh outputs clips the
    # negative ones, so their gradients vanish: a squared error trains all)
    model.compile(loss="mse", optimizer="adam")
    model.fit(input, np.eye(hidden_dim)[np.arange(batch_size) % hidden_dim], epochs=1, verbose=0)
    assert all(not np.allclose(a, w.numpy()) for a, w in zip(before, peephole_lstm_cell.weights))
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        # (Keras 3 dropped the cell: its files cannot hold it, pynn's can)
        with pytest.raises(ValueError, match="PeepholeLSTMCell"):
            model.save(os.path.join(d, 'peephole.keras'))
        path = os.path.join(d, 'peephole.pynn')
        model.save(path)
        np.testing.assert_allclose(tf.keras.models.load_model(path).predict(input, verbose=0),
                                   model.predict(input, verbose=0), rtol=1e-5, atol=1e-6)


def test_gulli3_gru_pos_tagger_subclass_with_a_masked_accuracy_and_best_weights(tmp_path):
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)]
    tags = [f"T{i % 45}" for i in range(60)]
    sents, poss = [], []
    for _ in range(24):
        idx = rng.integers(0, len(words), rng.integers(3, 9))
        sents.append(' '.join(words[i] for i in idx))
        poss.append(' '.join(tags[i] for i in idx))

    def tokenize_and_build_vocab(texts, vocab_size=None, lower=True):
        tokenizer = tf.keras.preprocessing.text.Tokenizer(num_words=vocab_size+1, oov_token="UNK",
                                                          lower=lower)
        tokenizer.fit_on_texts(texts)
        tokenizer.word_index = {e: i for e, i in tokenizer.word_index.items()
                                if i <= vocab_size+1}
        word2idx = tokenizer.word_index
        idx2word = {v: k for k, v in word2idx.items()}
        return word2idx, idx2word, tokenizer
    word2idx_s, idx2word_s, tokenizer_s = tokenize_and_build_vocab(sents, vocab_size=40)
    word2idx_t, idx2word_t, tokenizer_t = tokenize_and_build_vocab(poss, vocab_size=20,
                                                                   lower=False)
    source_vocab_size, target_vocab_size = len(word2idx_s), len(word2idx_t)

    class POSTaggingModel(tf.keras.Model):
        def __init__(self, source_vocab_size, target_vocab_size, embedding_dim, max_seqlen,
                     rnn_output_dim, **kwargs):
            super(POSTaggingModel, self).__init__(**kwargs)
            self.embed = tf.keras.layers.Embedding(source_vocab_size, embedding_dim)
            self.dropout = tf.keras.layers.SpatialDropout1D(0.2)
            self.rnn = tf.keras.layers.Bidirectional(
                tf.keras.layers.GRU(rnn_output_dim, return_sequences=True))
            self.dense = tf.keras.layers.TimeDistributed(tf.keras.layers.Dense(target_vocab_size))
            self.activation = tf.keras.layers.Activation("softmax")

        def call(self, x):
            x = self.embed(x)
            x = self.dropout(x)
            x = self.rnn(x)
            x = self.dense(x)
            return self.activation(x)

    def masked_accuracy():
        def masked_accuracy_fn(ytrue, ypred):
            ytrue = tf.keras.backend.argmax(ytrue, axis=-1)
            ypred = tf.keras.backend.argmax(ypred, axis=-1)
            mask = tf.keras.backend.cast(tf.keras.backend.not_equal(ypred, 0), tf.int32)
            matches = tf.keras.backend.cast(tf.keras.backend.equal(ytrue, ypred), tf.int32) * mask
            numer = tf.keras.backend.sum(matches)
            denom = tf.keras.backend.maximum(tf.keras.backend.sum(mask), 1)
            return numer / denom
        return masked_accuracy_fn
    max_seqlen = 12
    sents_as_ints = tf.keras.preprocessing.sequence.pad_sequences(
        tokenizer_s.texts_to_sequences(sents), maxlen=max_seqlen, padding="post")
    poss_as_ints = tf.keras.preprocessing.sequence.pad_sequences(
        tokenizer_t.texts_to_sequences(poss), maxlen=max_seqlen, padding="post")
    poss_as_catints = []
    for p in poss_as_ints:
        poss_as_catints.append(tf.keras.utils.to_categorical(p, num_classes=target_vocab_size,
                                                             dtype="int32"))
    poss_as_catints = tf.keras.preprocessing.sequence.pad_sequences(poss_as_catints,
                                                                    maxlen=max_seqlen)
    assert poss_as_catints.shape == (24, max_seqlen, target_vocab_size)
    dataset = tf.data.Dataset.from_tensor_slices((sents_as_ints, poss_as_catints))
    dataset = dataset.shuffle(10000)
    test_dataset = dataset.take(8).batch(4)
    val_dataset = dataset.skip(8).take(4).batch(4)
    train_dataset = dataset.skip(12).batch(4)
    model = POSTaggingModel(source_vocab_size, target_vocab_size, 8, max_seqlen, 8)
    model.build(input_shape=(4, max_seqlen))
    model.compile(loss="categorical_crossentropy", optimizer="adam",
                  metrics=["accuracy", masked_accuracy()])
    best_model_file = str(tmp_path / "best_model.h5")
    checkpoint = tf.keras.callbacks.ModelCheckpoint(best_model_file, save_weights_only=True,
                                                    save_best_only=True)
    history = model.fit(train_dataset, epochs=2, validation_data=val_dataset,
                        callbacks=[checkpoint], verbose=0)
    assert 'val_masked_accuracy_fn' in history.history
    best_model = POSTaggingModel(source_vocab_size, target_vocab_size, 8, max_seqlen, 8)
    best_model.build(input_shape=(4, max_seqlen))
    best_model.load_weights(best_model_file)
    best_model.compile(loss="categorical_crossentropy", optimizer="adam",
                       metrics=["accuracy", masked_accuracy()])
    test_loss, test_acc, test_masked_acc = best_model.evaluate(test_dataset, verbose=0)
    assert np.isfinite(test_loss) and 0.0 <= test_masked_acc <= 1.0
    # the metric function's mean over the (equal) batches, from the
    # predictions (of one pass: the shuffle, reshuffled each pass, takes
    # other test sentences in another, as tf.data's)
    batches = list(test_dataset)
    xs = np.concatenate([b[0].numpy() for b in batches])
    ys = np.concatenate([b[1].numpy() for b in batches])
    test_loss, test_acc, test_masked_acc = best_model.evaluate(xs, ys, batch_size=4, verbose=0)
    per_batch = []
    for inputs_b, outputs_b in batches:
        preds_b = np.argmax(best_model.predict(inputs_b, verbose=0), axis=-1)
        outputs_b = np.argmax(outputs_b.numpy(), axis=-1)
        mask = preds_b != 0
        per_batch.append(((preds_b == outputs_b) & mask).sum() / max(mask.sum(), 1))
    np.testing.assert_allclose(test_masked_acc, np.mean(per_batch), rtol=1e-5, atol=1e-7)
    assert np.isfinite(test_loss) and 0.0 <= test_acc <= 1.0
