"""The functional API: symbolic tensors, models of several inputs and
outputs, nesting, freezing, summaries, files, clear errors for bad
graphs, and Sequential as the same graph."""
import json
import threading

import numpy as np
import pytest

import pynn
from pynn import layers


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_input_and_symbolic_tensors():
    x = pynn.Input(shape=(28, 28, 1), name="pixels")
    assert isinstance(x, pynn.KerasTensor)
    assert x.shape == (None, 28, 28, 1) and x.dtype == "float32" and x.name == "pixels"
    y = layers.Conv2D(4, 3)(x)
    assert y.shape == (None, 26, 26, 4)
    layer, node_index, tensor_index = y._keras_history
    assert layer.name == y.name and node_index == 0 and tensor_index == 0
    with pytest.raises(TypeError, match="symbolic"):
        np.asarray(y)
    ids = pynn.Input(shape=(10,), dtype="int32")
    assert ids.dtype == "int32"
    with pytest.raises(ValueError, match="dtype"):
        pynn.Input(shape=(3,), dtype="complex64")
    assert pynn.Input(batch_shape=(8, 3)).shape == (8, 3)


def test_layer_input_output_and_feature_extraction():
    pynn.utils.set_random_seed(0)
    model = pynn.Sequential([
        pynn.Input(shape=(12, 12, 1)),
        layers.Conv2D(4, 3, activation="relu"), layers.MaxPooling2D(),
        layers.Conv2D(6, 3, activation="relu"), layers.Flatten(), layers.Dense(3)])
    assert model.input.shape == (None, 12, 12, 1) and model.output.shape == (None, 3)
    assert model.inputs == [model.input] and model.outputs == [model.output]
    assert model.layers[1].input is model.layers[0].output
    features = pynn.Model(model.input, [l.output for l in model.layers[:3]])
    x = rand(5, 12, 12, 1)
    acts = features.predict(x, verbose=0)
    assert [a.shape for a in acts] == [(5, 10, 10, 4), (5, 5, 5, 4), (5, 3, 3, 6)]
    h = x
    for layer, a in zip(model.layers[:3], acts):
        h = layer(h)
        np.testing.assert_allclose(a, h, rtol=1e-6, atol=1e-6)
    by_name = pynn.Model(model.input, model.get_layer(model.layers[2].name).output)
    np.testing.assert_allclose(by_name.predict(x, verbose=0), acts[2], rtol=1e-6)


def test_several_inputs_and_outputs_as_lists_and_dicts():
    pynn.utils.set_random_seed(1)
    text = pynn.Input(shape=(8,), name="text")
    question = pynn.Input(shape=(4,), name="question")
    merged = layers.concatenate([layers.Dense(6, activation="relu")(text),
                                 layers.Dense(6, activation="relu")(question)])
    answer = layers.Dense(5, activation="softmax", name="answer")(merged)
    score = layers.Dense(1, name="score")(merged)
    model = pynn.Model({"text": text, "question": question}, {"answer": answer, "score": score})
    assert model.input_names == ["text", "question"]
    assert model.output_names == ["answer", "score"]
    model.compile(optimizer="rmsprop", loss={"answer": "sparse_categorical_crossentropy",
                                             "score": "mse"},
                  metrics={"answer": ["accuracy"]})
    xt, xq = rand(64, 8), rand(64, 4, seed=1)
    labels = np.random.default_rng(2).integers(0, 5, 64)
    scores = rand(64, 1, seed=3)
    h = model.fit({"question": xq, "text": xt}, {"score": scores, "answer": labels},
                  epochs=2, batch_size=16, verbose=0,
                  validation_data=({"text": xt, "question": xq},
                                   {"answer": labels, "score": scores}))
    assert "val_answer_accuracy" in h.history and "score_loss" in h.history
    out = model.predict({"text": xt, "question": xq}, verbose=0)
    assert set(out) == {"answer", "score"} and out["answer"].shape == (64, 5)
    again = model.predict([xt, xq], verbose=0)  # a list in input order works too
    np.testing.assert_array_equal(again["score"], out["score"])
    with pytest.raises(ValueError, match="lacks"):
        model.predict({"text": xt}, verbose=0)
    with pytest.raises(ValueError, match="2 outputs"):
        model.fit([xt, xq], labels, verbose=0)


def test_functional_and_sequential_give_the_same_numbers():
    g = np.random.default_rng(3)
    x = g.random((200, 20), dtype=np.float32)
    y = g.integers(0, 4, 200)

    def train(functional):
        pynn.utils.set_random_seed(11)
        if functional:
            inp = pynn.Input(shape=(20,))
            h = layers.Dense(16, activation="relu")(inp)
            h = layers.Dropout(0.3)(h)
            model = pynn.Model(inp, layers.Dense(4, activation="softmax")(h))
        else:
            model = pynn.Sequential([pynn.Input(shape=(20,)), layers.Dense(16, activation="relu"),
                                     layers.Dropout(0.3), layers.Dense(4, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        h = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)
        return h.history, model.get_weights(), model.predict(x, verbose=0)

    hs, ws, ps = train(False)
    hf, wf, pf = train(True)
    assert hs.keys() == hf.keys()
    for k in hs:
        np.testing.assert_allclose(hs[k], hf[k], rtol=1e-6)
    for a, b in zip(ws, wf):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ps, pf, rtol=1e-6, atol=1e-7)


def test_bad_graphs_fail_clearly():
    a, b = pynn.Input(shape=(4,)), pynn.Input(shape=(5,))
    dense = layers.Dense(3, name="shared_dense")
    dense(a)
    with pytest.raises(ValueError, match=r"shared_dense.*expected shape=\(None, 4\).*"
                                         r"found shape=\(None, 5\)"):
        dense(b)
    with pytest.raises(ValueError, match=r"incompatible shapes.*\(None, 4\).*\(None, 5\)"):
        layers.Add(name="adder")([a, b])
    with pytest.raises(ValueError, match="Concatenate.*matching shapes"):
        layers.Concatenate(axis=1)([pynn.Input(shape=(2, 3)), pynn.Input(shape=(2, 4))])
    with pytest.raises(ValueError, match="list of inputs"):
        layers.Add()(a)
    with pytest.raises(ValueError, match="Graph disconnected.*"):
        pynn.Model(a, layers.Dense(2)(b))
    with pytest.raises(ValueError, match="symbolic tensors"):
        pynn.Model(a, layers.Dense(2))
    with pytest.raises(ValueError, match="symbolic tensors"):
        pynn.Model(np.zeros((1, 4)), layers.Dense(2)(a))
    x = layers.Dense(2, name="twin")(a)
    with pytest.raises(ValueError, match='"twin" is used 2 times'):
        pynn.Model(a, layers.Dense(2, name="twin")(x))
    with pytest.raises(TypeError, match="mix of symbolic tensors and arrays"):
        layers.Add()([a, np.zeros((1, 4), np.float32)])
    with pytest.raises(ValueError, match=r"Dense.*shape \(None,\)"):
        layers.Dense(2)(pynn.Input(shape=()))


def test_freezing_takes_effect_at_compile():
    pynn.utils.set_random_seed(2)
    base_in = pynn.Input(shape=(6,))
    base = pynn.Model(base_in, layers.Dense(5, activation="relu", name="b1")(
        layers.Dense(8, activation="relu", name="b0")(base_in)), name="base")
    inp = pynn.Input(shape=(6,))
    model = pynn.Model(inp, layers.Dense(1, name="head")(base(inp)))
    x, y = rand(32, 6), rand(32, 1, seed=1)
    base.trainable = False
    assert all(not l.trainable for l in base.layers)
    model.compile(optimizer="sgd", loss="mse")
    frozen = [w.numpy() for w in base.weights]
    head = model.get_layer("head").kernel.numpy()
    model.fit(x, y, epochs=2, verbose=0)
    for w, before in zip(base.weights, frozen):
        np.testing.assert_array_equal(w.value, before)
    assert not np.array_equal(model.get_layer("head").kernel.value, head)
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert "Trainable params: 6 " in text and "Non-trainable params: 101 " in text
    # Unfreezing takes effect at the next compile, as in Keras.
    base.trainable = True
    base.get_layer("b0").trainable = False
    model.fit(x, y, epochs=1, verbose=0)
    for w, before in zip(base.weights, frozen):
        np.testing.assert_array_equal(w.value, before)
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, verbose=0)
    np.testing.assert_array_equal(base.get_layer("b0").kernel.value, frozen[0])
    assert not np.array_equal(base.get_layer("b1").kernel.value, frozen[2])


def test_summary_of_a_graph_has_connections():
    a, b = pynn.Input(shape=(3,), name="left"), pynn.Input(shape=(3,), name="right")
    out = layers.Add(name="plus")([layers.Dense(2, name="da")(a), layers.Dense(2, name="db")(b)])
    model = pynn.Model([a, b], out, name="two_towers")
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert 'Model: "two_towers"' in text and "Connected to" in text
    assert "left (InputLayer)" in text and "da[0][0]" in text and "db[0][0]" in text
    assert "Total params: 16 (64.00 B)" in text


def test_graph_models_round_trip_through_pynn_files(tmp_path):
    pynn.utils.set_random_seed(3)
    a, b = pynn.Input(shape=(4,), name="a"), pynn.Input(shape=(4,), name="b")
    tower_in = pynn.Input(shape=(4,))
    tower = pynn.Model(tower_in, layers.Dense(3, activation="relu")(tower_in), name="tower")
    shared = layers.Dense(4, activation="tanh", name="shared")
    x = layers.Concatenate()([tower(shared(a)), tower(shared(b))])
    y1 = layers.Dense(2, activation="softmax", name="cls")(x)
    y2 = layers.Dense(1, name="reg")(layers.BatchNormalization()(x))
    model = pynn.Model([a, b], [y1, y2], name="siamese")
    model.compile(optimizer="adam", loss=["categorical_crossentropy", "mse"],
                  loss_weights=[1.0, 0.5], metrics=[["accuracy"], ["mae"]])
    xa, xb = rand(16, 4), rand(16, 4, seed=1)
    targets = [np.eye(2, dtype=np.float32)[np.arange(16) % 2], rand(16, 1, seed=2)]
    model.fit([xa, xb], targets, epochs=2, verbose=0)
    path = tmp_path / "siamese.pynn"
    model.save(path)
    again = pynn.models.load_model(path)
    for p, q in zip(model.predict([xa, xb], verbose=0), again.predict([xa, xb], verbose=0)):
        np.testing.assert_array_equal(p, q)
    assert len(again.get_layer("shared")._inbound_nodes) == 2
    assert again.get_config() == model.get_config()
    # Training continues from the saved optimizer state.
    h1 = model.fit([xa, xb], targets, epochs=1, verbose=0, shuffle=False).history
    h2 = again.fit([xa, xb], targets, epochs=1, verbose=0, shuffle=False).history
    for k in h1:
        np.testing.assert_allclose(h1[k], h2[k], rtol=1e-5)
    config = json.loads(model.to_json())
    rebuilt = pynn.models.model_from_json(json.dumps(config))
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    clone = pynn.models.clone_model(model)
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    assert clone.get_layer("shared") is not model.get_layer("shared")


def test_subclassed_model_is_traced_into_a_graph():
    class TwoLayer(pynn.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(2)

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

    pynn.utils.set_random_seed(4)
    model = TwoLayer()
    model.compile(optimizer="sgd", loss="mse")
    x, y = rand(20, 5), rand(20, 2, seed=1)
    h = model.fit(x, y, epochs=3, verbose=0)
    assert h.history["loss"][-1] < h.history["loss"][0]
    # its layers are its attributes, as in Keras (the traced input is not one)
    assert [type(l).__name__ for l in model.layers] == ["Dense", "Dense"]
    assert model.predict(x, verbose=0).shape == (20, 2)


def test_tensor_arithmetic_records_merge_layers():
    a, b = pynn.Input(shape=(3,)), pynn.Input(shape=(3,))
    model = pynn.Model([a, b], (a + b) * b - a)
    x, y = rand(4, 3), rand(4, 3, seed=1)
    np.testing.assert_allclose(model.predict([x, y], verbose=0), (x + y) * y - x, rtol=1e-6)


def make_models():
    pynn.utils.set_random_seed(5)
    mlp = pynn.Sequential([pynn.Input(shape=(784,)), layers.Dense(128, activation="relu"),
                           layers.Dense(128, activation="relu"),
                           layers.Dense(10, activation="softmax")])
    inp = pynn.Input(shape=(28, 28, 1))
    x = layers.MaxPooling2D()(layers.Conv2D(16, 3, activation="relu")(inp))
    x = layers.MaxPooling2D()(layers.Conv2D(32, 3, activation="relu")(x))
    x = layers.Dropout(0.5)(layers.Flatten()(x))
    cnn = pynn.Model(inp, layers.Dense(10, activation="softmax")(x))
    for m in (mlp, cnn):
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return mlp, cnn


def test_eight_threads_share_one_model():
    mlp, cnn = make_models()
    g = np.random.default_rng(6)
    cases = []
    for model, shape in ((mlp, (784,)), (cnn, (28, 28, 1))):
        for i in range(3):
            x = g.random((37 + 20 * i,) + shape, dtype=np.float32)
            y = g.integers(0, 10, x.shape[0])
            cases.append((model, x, y, model.predict(x, batch_size=16, verbose=0),
                          model.evaluate(x, y, batch_size=16, verbose=0)))
    results = {}
    errors = []

    def work(t):
        try:
            for r in range(3):
                for i, (model, x, y, _, _) in enumerate(cases):
                    results[(t, r, i)] = (model.predict(x, batch_size=16, verbose=0),
                                          model.evaluate(x, y, batch_size=16, verbose=0))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (t, r, i), (p, e) in results.items():
        np.testing.assert_array_equal(p, cases[i][3])
        assert e == cases[i][4]


def test_fit_on_generators_and_datasets():
    pynn.utils.set_random_seed(7)
    x, y = rand(96, 5), np.random.default_rng(1).integers(0, 3, 96)

    class Batches(pynn.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epochs_ended = 0

        def __len__(self):
            return 6

        def __getitem__(self, i):
            return x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]

        def on_epoch_end(self):
            self.epochs_ended += 1

    def forever():
        while True:
            for i in range(0, 96, 32):
                yield x[i:i + 32], y[i:i + 32]

    model = pynn.Sequential([layers.Dense(8, activation="relu"),
                             layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    data = Batches()
    h = model.fit(data, epochs=3, validation_data=forever(), validation_steps=3, verbose=0)
    assert data.epochs_ended == 3 and len(h.history["val_loss"]) == 3
    h = model.fit_generator(forever(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(h.history["loss"]) == 2
    arrays = model.evaluate(x, y, batch_size=32, verbose=0)
    streamed = model.evaluate(forever(), steps=3, verbose=0)
    np.testing.assert_allclose(streamed, arrays, rtol=1e-5)
    np.testing.assert_allclose(model.predict(Batches(), verbose=0),
                               model.predict(x, verbose=0), rtol=1e-6)

    def broken():
        yield x[:16], y[:16]
        raise RuntimeError("the data source failed")

    with pytest.raises(RuntimeError, match="the data source failed"):
        model.fit(broken(), steps_per_epoch=4, verbose=0)
