"""TensorBoard writes what Keras writes, where Keras writes it, and
TensorBoard's own readers read it back."""
import io
import json
import os
import sys

import numpy as np
import pytest

from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.plugins.graph import keras_util
from tensorboard.util import tensor_util

import pynn
from pynn import callbacks, layers
from pynn.models import Sequential
from pynn.utils import set_random_seed


def data(n=64, seed=0):
    g = np.random.default_rng(seed)
    x = g.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.float32)[:, None]
    return x, y


def model(lr=0.1):
    set_random_seed(0)
    m = Sequential([layers.Dense(8, activation="tanh", input_shape=(4,)),
                    layers.Dense(1, activation="sigmoid")])
    m.compile(optimizer=pynn.optimizers.SGD(lr), loss="binary_crossentropy",
              metrics=["accuracy"])
    return m


def scalars(folder):
    """{tag: [(step, value)]} of the scalar summaries in an event folder,
    read with TensorBoard's event accumulator."""
    acc = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        events = acc.Tensors(tag)
        if acc.SummaryMetadata(tag).plugin_data.plugin_name == "scalars":
            out[tag] = [(e.step, tensor_util.make_ndarray(e.tensor_proto).item()) for e in events]
    return out


def provider(log_dir):
    """TensorBoard's data provider over log_dir: what its web app reads."""
    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(log_dir))
    mux.Reload()
    return data_provider.MultiplexerDataProvider(mux, str(log_dir)), context.RequestContext()


def test_epoch_scalars_equal_history(tmp_path):
    x, y = data()
    m = model()
    cb = callbacks.TensorBoard(tmp_path / "logs")
    history = m.fit(x, y, epochs=3, batch_size=16, validation_data=data(16, seed=1),
                    callbacks=[cb], verbose=0)
    assert sorted(os.listdir(tmp_path / "logs")) == ["train", "validation"]
    train, val = scalars(tmp_path / "logs" / "train"), scalars(tmp_path / "logs" / "validation")
    assert set(train) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    # Validation runs through the fit's callbacks, so as in Keras each one
    # also logs evaluation_*_vs_iterations at the optimizer's step.
    assert set(val) == {"epoch_loss", "epoch_accuracy", "evaluation_loss_vs_iterations",
                        "evaluation_accuracy_vs_iterations"}
    steps = [4 * (e + 1) for e in range(3)]  # 64 samples, batch 16
    assert [s for s, _ in val["evaluation_loss_vs_iterations"]] == steps
    for name in ("loss", "accuracy"):
        assert [v for _, v in val[f"evaluation_{name}_vs_iterations"]] == [
            float(np.float32(v)) for v in history.history["val_" + name]]
        assert train[f"epoch_{name}"] == [
            (epoch, float(np.float32(v))) for epoch, v in enumerate(history.history[name])]
        assert val[f"epoch_{name}"] == [
            (epoch, float(np.float32(v)))
            for epoch, v in enumerate(history.history["val_" + name])]
    assert train["epoch_learning_rate"] == [(e, float(np.float32(0.1))) for e in range(3)]


def test_learning_rate_follows_the_optimizer(tmp_path):
    x, y = data()
    cb = callbacks.TensorBoard(tmp_path)
    schedule = callbacks.LearningRateScheduler(lambda epoch: 0.1 / (epoch + 1))
    model().fit(x, y, epochs=3, callbacks=[schedule, cb], verbose=0)
    got = scalars(tmp_path / "train")["epoch_learning_rate"]
    assert got == [(e, float(np.float32(0.1 / (e + 1)))) for e in range(3)]
    assert not (tmp_path / "validation").exists()  # no validation data, no folder


@pytest.mark.parametrize("update_freq, steps", [("batch", [1, 2, 3, 4, 5, 6]), (4, [4])])
def test_batch_scalars(tmp_path, update_freq, steps):
    x, y = data(48)
    seen = []
    record = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(dict(logs)))
    cb = callbacks.TensorBoard(tmp_path, update_freq=update_freq)
    model().fit(x, y, epochs=2, batch_size=16, shuffle=False, callbacks=[record, cb], verbose=0)
    got = scalars(tmp_path / "train")
    assert [s for s, _ in got["batch_loss"]] == steps  # counted from 1 across epochs
    for step, value in got["batch_loss"]:
        assert value == float(np.float32(seen[step - 1]["loss"]))
    assert [v for _, v in got["batch_accuracy"]] == [
        float(np.float32(seen[s - 1]["accuracy"])) for s in steps]
    assert "epoch_loss" in got


def test_batch_hooks_only_when_needed(tmp_path):
    m = model()
    quiet = callbacks.CallbackList([callbacks.TensorBoard(tmp_path)], m, {})
    assert not quiet.has_on_train_batch_end and not quiet.has_on_train_batch_begin
    busy = callbacks.CallbackList([callbacks.TensorBoard(tmp_path, update_freq=10)], m, {})
    assert busy.has_on_train_batch_end and busy.has_on_train_batch_begin
    assert isinstance(busy.callbacks[0], callbacks.TensorBoard)


def test_steps_per_second(tmp_path):
    x, y = data(48)
    cb = callbacks.TensorBoard(tmp_path, write_steps_per_second=True, update_freq=2)
    model().fit(x, y, epochs=2, batch_size=16, callbacks=[cb], verbose=0)
    got = scalars(tmp_path / "train")
    assert [s for s, _ in got["epoch_steps_per_second"]] == [0, 1]
    assert [s for s, _ in got["batch_steps_per_second"]] == [2, 4, 6]
    assert all(v > 0 for _, v in got["epoch_steps_per_second"] + got["batch_steps_per_second"])


def test_histograms_images_and_graph(tmp_path):
    x, y = data()
    m = model()
    cb = callbacks.TensorBoard(tmp_path, histogram_freq=2, write_images=True)
    m.fit(x, y, epochs=3, callbacks=[cb], verbose=0)
    prov, ctx = provider(tmp_path)

    hist = prov.read_tensors(ctx, experiment_id="", plugin_name="histograms",
                             downsample=100)["train"]
    # Keras's names, the weights' paths: the Sequential model's name, the
    # layer's, the weight's ('sequential/dense/kernel' for the first model
    # made in a process).
    paths = [w.path for layer in m.layers for w in layer.weights]
    assert paths == [f"{m.name}/{layer.name}/{part}" for layer in m.layers
                     for part in ("kernel", "bias")]
    assert sorted(hist) == sorted(p + "/histogram" for p in paths)
    for path in paths:
        assert [d.step for d in hist[path + "/histogram"]] == [0, 2]  # every 2 epochs from 0
    final = m.layers[0].weights[0].numpy()
    buckets = hist[paths[0] + "/histogram"][-1].numpy  # (left, right, count)
    assert buckets[:, 2].sum() == final.size
    assert buckets[0, 0] == pytest.approx(final.min()) and \
        buckets[-1, 1] == pytest.approx(final.max())

    images = prov.read_blob_sequences(ctx, experiment_id="", plugin_name="images",
                                      downsample=100)["train"]
    # the last bias has one value: nothing to picture, as in Keras
    assert sorted(images) == sorted(p + "/image" for p in paths[:3])
    from PIL import Image
    blobs = images[paths[0] + "/image"][-1].values
    width, height = (int(prov.read_blob(ctx, blob_key=b.blob_key)) for b in blobs[:2])
    picture = Image.open(io.BytesIO(prov.read_blob(ctx, blob_key=blobs[2].blob_key)))
    assert (width, height) == (8, 4) == picture.size  # the 4x8 kernel, wider than tall
    pixels = np.asarray(picture)
    want = np.minimum(np.clip(final, 0, 1) * 255.5, 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels, want)

    graph = prov.read_blob_sequences(ctx, experiment_id="", plugin_name="graph_keras_model",
                                     downsample=10)["train"]["keras"]
    assert graph[0].step == 0
    config = json.loads(prov.read_blob(ctx, blob_key=graph[0].values[0].blob_key))
    assert config["class_name"] == "Sequential"
    nodes = keras_util.keras_model_to_graph_def(config).node
    # Keras 3's Sequential config names its InputLayer first, then the layers.
    assert [n.name for n in nodes] == [f"{m.name}/{name}" for name in
                                       [m.input.name] + [layer.name for layer in m.layers]]
    assert [n.attr["keras_class"].s for n in nodes] == [b"InputLayer", b"Dense", b"Dense"]


def test_no_graph_when_not_asked(tmp_path):
    x, y = data()
    model().fit(x, y, epochs=1, callbacks=[callbacks.TensorBoard(tmp_path, write_graph=False)],
                verbose=0)
    acc = EventAccumulator(str(tmp_path / "train"))
    acc.Reload()
    assert "keras" not in acc.Tags()["tensors"] and not acc.Tags()["graph"]


def test_the_op_graph_for_the_graphs_dashboard(tmp_path):
    # Besides the Keras config, the model's graph as a GraphDef (what
    # TensorBoard's graphs dashboard draws): a Placeholder per input, a
    # node per layer call fed by the calls it reads, a shared layer's
    # second call under its own name.
    inp = pynn.Input((4,), name="x")
    shared = layers.Dense(4, name="shared")
    a = shared(inp)
    out = layers.Add(name="sum")([a, shared(a)])
    m = pynn.Model(inp, out)
    m.compile(loss="mse", optimizer="sgd")
    m.fit(np.zeros((8, 4), np.float32), np.zeros((8, 4), np.float32), epochs=1, verbose=0,
          callbacks=[callbacks.TensorBoard(tmp_path)])
    acc = EventAccumulator(str(tmp_path / "train"))
    acc.Reload()
    assert acc.Tags()["graph"]
    nodes = [(n.name, n.op, list(n.input)) for n in acc.Graph().node]
    assert nodes == [("x", "Placeholder", []), ("shared", "Dense", ["x"]),
                     ("shared_1", "Dense", ["shared"]), ("sum", "Add", ["shared", "shared_1"])]


def test_evaluate_writes_evaluation_scalars(tmp_path):
    x, y = data()
    m = model()
    m.fit(x, y, epochs=2, batch_size=16, verbose=0)
    cb = callbacks.TensorBoard(tmp_path)
    loss, accuracy = m.evaluate(x, y, callbacks=[cb], verbose=0)
    got = scalars(tmp_path / "validation")  # read before any writer is closed
    step = m.optimizer.iterations
    assert step == 8
    assert got == {"evaluation_loss_vs_iterations": [(step, float(np.float32(loss)))],
                   "evaluation_accuracy_vs_iterations": [(step, float(np.float32(accuracy)))]}


def test_two_fits_keep_both_event_files(tmp_path):
    x, y = data()
    m = model()
    cb = callbacks.TensorBoard(tmp_path)
    m.fit(x, y, epochs=1, callbacks=[cb], verbose=0)
    m.fit(x, y, epochs=2, initial_epoch=1, callbacks=[cb], verbose=0)
    assert len(os.listdir(tmp_path / "train")) == 2
    assert [s for s, _ in scalars(tmp_path / "train")["epoch_loss"]] == [0, 1]


class FakeWeight:
    def __init__(self, name, value):
        self.name, self.value = name, value

    def numpy(self):
        return self.value.copy()


class FakeLayer:
    def __init__(self, name, weights):
        self.name, self.weights = name, weights


class FakeModel:
    """Just what the callback reads: layers, their weights, an optimizer."""
    name = "model"

    def __init__(self, layers):
        self.layers = layers
        self.optimizer = None

    def get_config(self):
        return {"name": "model", "layers": []}


def test_embeddings_for_the_projector(tmp_path):
    from google.protobuf import text_format
    from tensorboard.plugins.projector.projector_config_pb2 import ProjectorConfig
    table = np.arange(12, dtype=np.float32).reshape(6, 2) / 7
    m = FakeModel([FakeLayer("words", [FakeWeight("words/embeddings", table)]),
                   FakeLayer("dense", [FakeWeight("dense/kernel", np.ones((2, 2)))])])
    cb = callbacks.TensorBoard(tmp_path, embeddings_freq=2,
                               embeddings_metadata={"words": "vocab.tsv"})
    cb.set_model(m)
    for epoch in range(3):
        table += 1
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, {"loss": 1.0})
    cb.on_train_end()
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(),
                               ProjectorConfig())
    assert len(config.embeddings) == 1
    entry = config.embeddings[0]
    assert (entry.tensor_name, entry.tensor_path, entry.metadata_path) == (
        "words/embeddings", "train/words_embeddings.tsv", "vocab.tsv")
    assert list(entry.tensor_shape) == [6, 2]
    saved = np.loadtxt(tmp_path / entry.tensor_path, delimiter="\t")
    np.testing.assert_allclose(saved, table, rtol=1e-7)  # as at epoch 2, the last logged


def test_embeddings_metadata_names_checked(tmp_path):
    m = FakeModel([FakeLayer("words", [FakeWeight("words/embeddings", np.zeros((3, 2)))])])
    cb = callbacks.TensorBoard(tmp_path, embeddings_freq=1,
                               embeddings_metadata={"wrods": "vocab.tsv"})
    with pytest.raises(ValueError, match="wrods"):
        cb.set_model(m)


@pytest.mark.parametrize("kwargs, match", [
    ({"profile_batch": 5}, "profiling is not available"),
    ({"profile_batch": (2, 4)}, "profiling is not available"),
    ({"profile_batch": "3,1"}, "profile_batch must be"),
    ({"profile_batch": -1}, "profile_batch must be"),
    ({"update_freq": "often"}, "update_freq"),
    ({"update_freq": 0}, "update_freq"),
    ({"histogram_freq": -1}, "histogram_freq"),
    ({"embeddings_freq": 1.5}, "embeddings_freq"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        callbacks.TensorBoard("logs", **kwargs)


def test_profile_batch_zero_forms_are_accepted():
    for value in (0, "0,0", (0, 0), [0, 0]):
        callbacks.TensorBoard("logs", profile_batch=value)


def test_missing_package_names_the_extra(monkeypatch):
    for name in [n for n in sys.modules if n == "tensorboard" or n.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'pynn\[tensorboard\]'"):
        callbacks.TensorBoard("logs")
