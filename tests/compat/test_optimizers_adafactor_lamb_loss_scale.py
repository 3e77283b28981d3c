"""Adafactor, Lamb and LossScaleOptimizer: step for step against Keras 3's
own updates and against the published rules, their configs, strings in
compile, and their state in .keras and .pynn files."""
import numpy as np
import pytest

import pynn as keras
from pynn import layers

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::UserWarning")

SHAPES = [(7,), (3, 5), (2, 3, 4), (1, 1)]


def _data(steps=4, scale=3.0, seed=0):
    rng = np.random.default_rng(seed)
    w0 = [rng.normal(size=s).astype("float32") for s in SHAPES]
    grads = [[(rng.normal(size=s) * scale).astype("float32") for s in SHAPES]
             for _ in range(steps)]
    return w0, grads


def _keras_run(keras_ref, make, w0, grads):
    vs = [keras_ref.Variable(w.copy()) for w in w0]
    opt = make(keras_ref)
    for g in grads:
        opt.apply(g, vs)
    return [np.asarray(v) for v in vs], opt


def _flat_run(make, w0, grads):
    """fit's path: one flat array, the variables' shapes."""
    opt = make(keras)
    flat = np.concatenate([w.reshape(-1) for w in w0])
    for g in grads:
        opt.apply(flat, np.concatenate([x.reshape(-1) for x in g]), shapes=SHAPES)
    out, off = [], 0
    for s in SHAPES:
        n = int(np.prod(s))
        out.append(flat[off:off + n].reshape(s))
        off += n
    return out, opt


def _variable_run(make, w0, grads):
    """Keras 3's apply(grads, variables)."""
    opt = make(keras)
    vs = [keras.Variable(w.copy()) for w in w0]
    for g in grads:
        opt.apply(g, vs)
    return [np.asarray(v.value) for v in vs], opt


CASES = [("Adafactor", {"learning_rate": 0.5}),
         ("Adafactor", {"learning_rate": 0.05, "relative_step": False, "clip_threshold": 0.5,
                        "beta_2_decay": -0.5, "clipnorm": 0.5}),
         ("Lamb", {}), ("Lamb", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99,
                                 "epsilon": 1e-4, "weight_decay": 0.1})]


@pytest.mark.parametrize("name,kwargs", CASES)
def test_steps_match_keras(keras_ref, name, kwargs):
    def make(k):
        return getattr(k.optimizers, name)(**kwargs)
    w0, grads = _data()
    theirs, _ = _keras_run(keras_ref, make, w0, grads)
    for run in (_flat_run, _variable_run):
        ours, _ = run(make, w0, grads)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["Adafactor", "Lamb"])
def test_scheduled_steps_match_keras(keras_ref, name):
    def make(k):
        schedule = k.optimizers.schedules.ExponentialDecay(0.3, 2, 0.5)
        return getattr(k.optimizers, name)(learning_rate=schedule)
    w0, grads = _data()
    theirs, _ = _keras_run(keras_ref, make, w0, grads)
    ours, _ = _flat_run(make, w0, grads)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_adafactor_factored_state_matches_keras(keras_ref):
    def make(k):
        return k.optimizers.Adafactor(learning_rate=0.1)
    w0, grads = _data(steps=4)
    _, theirs = _keras_run(keras_ref, make, w0, grads)
    _, ours = _variable_run(make, w0, grads)
    # Keras: iteration, learning_rate, then r, c, velocity of each variable
    kvars = [np.asarray(v) for v in theirs.variables[2:]]
    state = ours.__dict__["_variable_slots"]
    mine = []
    for w, slots in state.values():
        for k, slot in enumerate(slots):
            shape = ours.slot_shape(k, w.value.shape)
            mine.append(slot[:int(np.prod(shape))].reshape(shape))
    assert [a.shape for a in mine] == [b.shape for b in kvars]
    for a, b in zip(mine, kvars):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-30)


def _adafactor_rule(w, grads, lr, decay=-0.8, eps1=1e-30, eps2=1e-3, d=1.0):
    """Shazeer & Stern's Algorithm 4 (with Keras's relative step), float64."""
    w = w.astype(np.float64)
    r = np.zeros(w.shape[:-1])
    c = np.zeros(w.shape[:-2] + w.shape[-1:])
    for t, g in enumerate(grads, start=1):
        g = g.astype(np.float64)
        rho = min(lr, 1 / np.sqrt(t))
        alpha = max(eps2, np.sqrt(np.mean(w ** 2))) * rho
        beta = 1 - t ** decay
        r = beta * r + (1 - beta) * np.mean(g ** 2 + eps1, axis=-1)
        c = beta * c + (1 - beta) * np.mean(g ** 2 + eps1, axis=-2)
        v = np.outer(r, c) / r.mean()
        u = g / np.sqrt(v)
        u /= max(1.0, np.sqrt(np.mean(u ** 2)) / d)
        w = w - alpha * u
    return w


def _lamb_rule(w, grads, lr, b1=0.9, b2=0.999, eps=1e-7):
    """You et al.'s Algorithm 2 for one layer (no decay), float64."""
    w = w.astype(np.float64)
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        r = (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
        w = w - lr * np.linalg.norm(w) / np.linalg.norm(r) * r
    return w


def test_updates_follow_the_published_rules():
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(5, 4)).astype("float32")
    grads = [rng.normal(size=(5, 4)).astype("float32") for _ in range(5)]
    for opt, rule in ((keras.optimizers.Adafactor(learning_rate=0.2),
                       _adafactor_rule(w0, grads, 0.2)),
                      (keras.optimizers.Lamb(learning_rate=0.05), _lamb_rule(w0, grads, 0.05))):
        v = keras.Variable(w0.copy())
        for g in grads:
            opt.apply([g], [v])
        np.testing.assert_allclose(np.asarray(v.value), rule, rtol=1e-5, atol=1e-6)


def test_loss_scale_optimizer_matches_keras_with_overflow(keras_ref):
    """Scaled gradients, one of them infinite: the step is skipped and the
    scale halved; after dynamic_growth_steps finite steps it doubles."""
    w0, grads = _data(steps=7)
    grads[2][1][0, 0] = np.inf
    grads[4][0][3] = np.nan

    def make(k):
        return k.optimizers.LossScaleOptimizer(k.optimizers.Adam(learning_rate=0.01),
                                               initial_scale=8.0, dynamic_growth_steps=2)
    vs = [keras_ref.Variable(w.copy()) for w in w0]
    kopt = make(keras_ref)
    kopt.build(vs)
    ours_opt = make(keras)
    mine = [keras.Variable(w.copy()) for w in w0]
    for g in grads:
        assert ours_opt.dynamic_scale == float(np.asarray(kopt.dynamic_scale))
        scaled = [x * np.float32(ours_opt.dynamic_scale) for x in g]
        kopt.apply(scaled, vs)
        ours_opt.apply(scaled, mine)
        assert ours_opt.dynamic_scale == float(np.asarray(kopt.dynamic_scale))
        assert ours_opt.step_counter == int(np.asarray(kopt.step_counter))
        assert ours_opt.iterations == int(np.asarray(kopt.iterations))
    assert ours_opt.iterations == 5
    for a, b in zip(mine, vs):
        np.testing.assert_allclose(np.asarray(a.value), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_loss_scale_optimizer_flat_path_scales_itself():
    """fit hands unscaled gradients: finite ones train as the inner
    optimizer would; ones that overflow once scaled skip the step."""
    inner = keras.optimizers.SGD(0.1)
    opt = keras.optimizers.LossScaleOptimizer(inner, initial_scale=2.0 ** 10,
                                              dynamic_growth_steps=3)
    ref = keras.optimizers.SGD(0.1)
    p, q = np.ones(4, np.float32), np.ones(4, np.float32)
    g = np.array([0.5, -1, 2, 3e-3], np.float32)
    for _ in range(3):
        opt.apply(p, g.copy(), shapes=[(4,)])
        ref.apply(q, g.copy())
    np.testing.assert_array_equal(p, q)
    assert opt.dynamic_scale == 2.0 ** 11 and opt.step_counter == 0
    big = np.array([3e35, 0, 0, 0], np.float32)  # finite, but not once scaled
    opt.apply(p, big)
    np.testing.assert_array_equal(p, q)
    assert opt.dynamic_scale == 2.0 ** 10 and opt.iterations == 3
    assert float(opt.scale_loss(np.float32(2.0))) == 2.0 ** 11


def test_loss_scale_optimizer_arguments_are_checked():
    with pytest.raises(ValueError, match="does not support `clipnorm`"):
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), clipnorm=1.0)
    with pytest.raises(ValueError, match="dynamic=False"):
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), dynamic=False)
    with pytest.raises(TypeError, match="inner_optimizer"):
        keras.optimizers.LossScaleOptimizer("adam")
    with pytest.raises(ValueError, match="initial_scale"):
        keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(), initial_scale=0)
    with pytest.raises(ValueError, match="clip_threshold"):
        keras.optimizers.Adafactor(clip_threshold=0)


@pytest.mark.parametrize("make", [
    lambda k: k.optimizers.Adafactor(learning_rate=0.02, beta_2_decay=-0.7, epsilon_2=1e-2,
                                     clip_threshold=2.0, relative_step=False, clipvalue=1.0),
    lambda k: k.optimizers.Lamb(learning_rate=0.02, beta_1=0.8, epsilon=1e-5,
                                weight_decay=0.01),
    lambda k: k.optimizers.LossScaleOptimizer(k.optimizers.Lamb(0.3), initial_scale=64.0,
                                              dynamic_growth_steps=10)])
def test_configs_round_trip_and_match_keras(keras_ref, make):
    ours, theirs = make(keras), make(keras_ref)
    config = ours.get_config()
    again = type(ours).from_config(config)
    assert again.get_config() == config
    assert keras.optimizers.deserialize(keras.optimizers.serialize(ours)).get_config() == config
    kconfig = theirs.get_config()
    for key, value in config.items():
        if key in ("name", "inner_optimizer"):
            continue
        assert kconfig[key] == pytest.approx(value), key
    # Keras's own serialized form (module, registered_name, Keras-only keys)
    from pynn.saving import keras_config
    spec = keras_ref.optimizers.serialize(theirs)
    translated = keras_config.compile_from_keras({"optimizer": spec, "loss": "mse"})
    rebuilt = keras.optimizers.get(translated["optimizer"])
    assert type(rebuilt) is type(ours)


def test_strings_and_deserialize_as_keras(keras_ref):
    assert isinstance(keras.optimizers.get("adafactor"), keras.optimizers.Adafactor)
    keras_ref.optimizers.get("adafactor")
    for name in ("lamb", "loss_scale_optimizer"):  # Keras has no such names either
        with pytest.raises(ValueError):
            keras_ref.optimizers.get(name)
        with pytest.raises(ValueError, match="Unknown optimizer"):
            keras.optimizers.get(name)
    opt = keras.optimizers.deserialize({"class_name": "lamb", "config": {"learning_rate": 0.5}})
    assert isinstance(opt, keras.optimizers.Lamb) and opt.learning_rate == 0.5
    with pytest.raises(ValueError, match="unknown optimizer 'Nope'"):
        keras.optimizers.deserialize({"class_name": "Nope", "config": {}})


def _model(optimizer):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6,)), layers.Dense(5, activation="relu"),
                              layers.Dense(3)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("make", [
    lambda: keras.optimizers.Adafactor(learning_rate=0.05),
    lambda: keras.optimizers.Lamb(learning_rate=0.01),
    lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.Adafactor(0.05),
                                                initial_scale=2.0 ** 100,
                                                dynamic_growth_steps=3)])
@pytest.mark.parametrize("suffix", [".keras", ".pynn"])
def test_fit_save_load_resumes_with_the_state(tmp_path, make, suffix):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.normal(size=(64, 3)).astype("float32")
    model = _model(make())
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    path = str(tmp_path / f"m{suffix}")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations
    if isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer):
        # 4 steps: halved on overflow or doubled after 3 finite steps
        assert model.optimizer.dynamic_scale != 2.0 ** 100
        assert loaded.optimizer.dynamic_scale == model.optimizer.dynamic_scale
        assert loaded.optimizer.step_counter == model.optimizer.step_counter
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_keras_loads_our_keras_file_with_the_state(tmp_path, keras_ref):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 3)).astype("float32")
    model = _model(keras.optimizers.LossScaleOptimizer(keras.optimizers.Adafactor(0.05),
                                                       initial_scale=4.0))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "m.keras")
    model.save(path)
    theirs = keras_ref.models.load_model(path)
    opt = theirs.optimizer
    assert type(opt).__name__ == "LossScaleOptimizer"
    assert type(opt.inner_optimizer).__name__ == "Adafactor"
    assert int(np.asarray(opt.iterations)) == 4
    assert float(np.asarray(opt.dynamic_scale)) == model.optimizer.dynamic_scale
    kernel = model.layers[0].kernel
    names = [v.path for v in opt.variables]
    r = np.asarray(opt.variables[names.index("adafactor/" + kernel.name) if
                                 "adafactor/" + kernel.name in names else 6])
    assert r.shape == (6,)
    ours = model.optimizer._state_arrays()[0][:6]
    np.testing.assert_allclose(r, ours, rtol=1e-6)


def test_fit_with_loss_scaling_trains_as_the_inner_optimizer():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(48, 6)).astype("float32")
    y = rng.normal(size=(48, 3)).astype("float32")
    plain = _model(keras.optimizers.Lamb(0.01))
    scaled = _model(keras.optimizers.LossScaleOptimizer(keras.optimizers.Lamb(0.01)))
    for m in (plain, scaled):
        m.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(plain.get_weights(), scaled.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert scaled.optimizer.step_counter == 6


def test_custom_train_step_differentiates_the_scaled_loss():
    """A train_step with a GradientTape (Keras's default) scales the loss by
    the optimizer's scale_loss; an infinite scale skips every step."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6)).astype("float32")
    y = rng.normal(size=(16, 3)).astype("float32")

    class Custom(keras.Model):
        def train_step(self, data):
            return super().train_step(data)

    def build(opt):
        keras.utils.set_random_seed(1)
        inp = keras.Input((6,))
        model = Custom(inp, layers.Dense(3)(inp))
        model.compile(optimizer=opt, loss="mse")
        return model
    opt = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=2.0)
    model, ref = build(opt), build(keras.optimizers.SGD(0.1))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    ref.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("make", [
    lambda k: k.optimizers.Adafactor(learning_rate=0.05),
    lambda k: k.optimizers.Lamb(learning_rate=0.01),
    lambda k: k.optimizers.LossScaleOptimizer(k.optimizers.Adafactor(0.05), initial_scale=8.0,
                                              dynamic_growth_steps=2)])
def test_we_load_keras_files_with_the_state(tmp_path, keras_ref, make):
    """Keras steps its optimizer (three applies; the loss-scaled one skips
    one with a non-finite gradient) and saves; pynn reads the same state and steps on as Keras."""
    k = keras_ref
    model = k.Sequential([k.Input((6,)), k.layers.Dense(5), k.layers.Dense(3)])
    model.compile(optimizer=make(k), loss="mse")
    rng = np.random.default_rng(0)
    grads = [[rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
             for _ in range(4)]
    if isinstance(model.optimizer, k.optimizers.LossScaleOptimizer):
        grads[1][0][0, 0] = np.inf  # a skipped step
    for g in grads[:3]:
        model.optimizer.apply(g, model.trainable_variables)
    path = str(tmp_path / "k.keras")
    model.save(path)
    ours = keras.models.load_model(path)
    opt = ours.optimizer
    assert type(opt).__name__ == type(model.optimizer).__name__
    assert opt.iterations == int(np.asarray(model.optimizer.iterations))
    if hasattr(opt, "dynamic_scale"):
        assert opt.dynamic_scale == float(np.asarray(model.optimizer.dynamic_scale))
        assert opt.step_counter == int(np.asarray(model.optimizer.step_counter))
    # the state arrays, weight by weight, as Keras lists them
    inner = getattr(model.optimizer, "inner_optimizer", model.optimizer)
    theirs = [np.asarray(v) for v in inner.variables[2:]]
    mine, off = [], 0
    for w in ours.trainable_weights:
        for j, slot in enumerate(opt._state_arrays()):
            shape = opt.slot_shape(j, w.shape)
            if shape is not None:
                mine.append(slot[off:off + int(np.prod(shape))].reshape(shape))
        off += w.value.size
    assert [a.shape for a in mine] == [b.shape for b in theirs]
    for a, b in zip(mine, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-6)
    # and fit's step from there is Keras's next step
    model.optimizer.apply(grads[3], model.trainable_variables)
    params, flat_grads = ours._flat_parameters()
    flat_grads[...] = np.concatenate([g.reshape(-1) for g in grads[3]])
    if hasattr(opt, "dynamic_scale"):  # fit's gradients are of the unscaled loss
        flat_grads /= np.float32(opt.dynamic_scale)
    opt.apply(params, flat_grads, shapes=[w.shape for w in ours.trainable_weights])
    for a, b in zip(ours.get_weights(), [np.asarray(v) for v in model.weights]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fit_clips_each_variable_by_clipnorm_as_keras():
    """fit hands the optimizer the variables' shapes: clipnorm bounds each
    variable's gradient norm (Keras's rule), not the whole vector's."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 4)).astype("float32")
    y = rng.normal(size=(8, 2)).astype("float32") * 10
    model = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, clipnorm=0.05), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    with keras.GradientTape() as tape:
        loss = keras.losses.get("MeanSquaredError")(y, model(x))
    grads = [np.asarray(g) for g in tape.gradient(loss, model.trainable_weights)]
    model.train_on_batch(x, y)
    for w0, g, w1 in zip(before, grads, model.get_weights()):
        norm = np.sqrt((g.astype(np.float64) ** 2).sum())
        assert norm > 0.05
        np.testing.assert_allclose(w1, w0 - 0.1 * g * (0.05 / norm), rtol=1e-5, atol=1e-7)
