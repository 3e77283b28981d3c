"""Géron's chapter 11 optimizers and schedules: Adagrad, Adadelta, Adamax,
Nadam, AdamW, clipnorm/clipvalue/global_clipnorm, weight_decay and the
learning-rate schedules, step for step against Keras 3's own updates, and
in fit, saving and loading."""
import numpy as np
import pytest

import pynn as keras
from pynn import layers

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::UserWarning")

CASES = [("Adagrad", {}), ("Adadelta", {"learning_rate": 1.0}), ("Adamax", {}),
         ("Nadam", {}), ("AdamW", {}), ("AdamW", {"weight_decay": 0.1, "learning_rate": 0.01}),
         ("Adam", {"clipnorm": 0.5}), ("SGD", {"clipvalue": 0.3, "weight_decay": 0.1}),
         ("SGD", {"global_clipnorm": 0.7, "momentum": 0.9}), ("Adam", {"global_clipnorm": 0.7})]


def _run(make, keras_ref=None, steps=6):
    rng = np.random.default_rng(0)
    w0 = [rng.normal(size=(7,)).astype("float32"), rng.normal(size=(3, 2)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") * 3 for w in w0] for _ in range(steps)]
    if keras_ref is not None:
        vs = [keras_ref.Variable(w.copy()) for w in w0]
        opt = make(keras_ref)
        for g in grads:
            opt.apply(g, vs)
        return [np.asarray(v) for v in vs]
    opt = make(keras)
    flat = np.concatenate([w.reshape(-1) for w in w0])
    for g in grads:
        opt.apply(flat, np.concatenate([x.reshape(-1) for x in g]), sizes=[7, 6])
    return [flat[:7], flat[7:].reshape(3, 2)]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_optimizer_steps_match_keras(keras_ref, name, kwargs):
    def make(k):
        return getattr(k.optimizers, name)(**kwargs)
    for ours, theirs in zip(_run(make), _run(make, keras_ref)):
        np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name,args", [
    ("ExponentialDecay", (0.1, 3, 0.5)), ("ExponentialDecay", (0.1, 3, 0.5, True)),
    ("InverseTimeDecay", (0.1, 2, 0.7)), ("InverseTimeDecay", (0.1, 2, 0.7, True)),
    ("PiecewiseConstantDecay", ([2, 5], [0.1, 0.05, 0.01])),
    ("PolynomialDecay", (0.1, 6, 0.001, 2.0)), ("PolynomialDecay", (0.1, 4, 0.001, 1.0, True)),
    ("CosineDecay", (0.1, 8, 0.1)), ("CosineDecayRestarts", (0.1, 3, 2.0, 0.8, 0.05)),
])
def test_schedules_match_keras(keras_ref, name, args):
    ours = getattr(keras.optimizers.schedules, name)(*args)
    theirs = getattr(keras_ref.optimizers.schedules, name)(*args)
    for step in range(14):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-5), step


def test_cosine_decay_warmup_matches_keras(keras_ref):
    ours = keras.optimizers.schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=4)
    theirs = keras_ref.optimizers.schedules.CosineDecay(0.0, 10, warmup_target=0.1,
                                                         warmup_steps=4)
    for step in range(16):
        assert ours(step) == pytest.approx(float(theirs(step)), rel=1e-5, abs=1e-9)


def test_scheduled_optimizer_steps_match_keras(keras_ref):
    def make(k):
        return k.optimizers.SGD(k.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5),
                                momentum=0.5)
    for ours, theirs in zip(_run(make), _run(make, keras_ref)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_schedule_rate_is_not_settable_and_bad_arguments_are_refused():
    opt = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 2, 0.5))
    with pytest.raises(TypeError, match="schedule"):
        opt.learning_rate = 0.3
    with pytest.raises(ValueError, match="at most one"):
        keras.optimizers.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="clipnorm"):
        keras.optimizers.Adam(clipnorm=-1.0)
    with pytest.raises(ValueError, match="values"):
        keras.optimizers.schedules.PiecewiseConstantDecay([1, 2], [0.1])


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((8,)),
                             layers.Dense(8, activation="relu", kernel_initializer="he_normal"),
                             layers.Dense(1, activation="sigmoid")])


def test_geron_schedule_program_trains_saves_and_reloads(tmp_path, keras_ref):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    s = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=4, decay_rate=0.9)
    model = _model()
    model.compile(optimizer=keras.optimizers.Nadam(learning_rate=s, clipnorm=1.0),
                  loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert model.optimizer.iterations == 12
    assert model.optimizer.learning_rate == pytest.approx(0.01 * 0.9 ** 3)
    for suffix in (".keras", ".h5", ".pynn"):
        model.save(tmp_path / f"m{suffix}")
        again = keras.models.load_model(tmp_path / f"m{suffix}")
        assert type(again.optimizer) is keras.optimizers.Nadam
        assert again.optimizer.iterations == 12
        assert again.optimizer.learning_rate == pytest.approx(model.optimizer.learning_rate)
        assert again.optimizer.clipnorm == 1.0
    theirs = keras_ref.models.load_model(tmp_path / "m.keras")
    assert int(theirs.optimizer.iterations) == 12
    assert float(theirs.optimizer.learning_rate) == pytest.approx(0.01 * 0.9 ** 3, rel=1e-6)
    theirs.save(tmp_path / "k.keras")
    back = keras.models.load_model(tmp_path / "k.keras")
    assert back.optimizer.iterations == 12
    np.testing.assert_allclose(back.optimizer._state_arrays()[0],
                               model.optimizer._state_arrays()[0])


@pytest.mark.parametrize("name", ["adagrad", "adadelta", "adamax", "nadam", "adamw"])
def test_optimizer_names_compile_and_train(name):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 8)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")
    model = _model()
    opt = keras.optimizers.get(name)
    if name in ("adagrad", "adadelta"):
        opt.learning_rate = 0.5
    model.compile(optimizer=opt, loss="binary_crossentropy")
    h = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history["loss"]
    assert h[-1] < h[0]
