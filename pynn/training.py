"""The training loop: compile, fit, evaluate, predict, for models with any
number of inputs and outputs.

Data comes as arrays (one, a list, or a dict keyed by input / output
names) or as a stream: a Python generator or iterator, a
``pynn.utils.PyDataset`` (``Sequence``), or a re-iterable dataset.  Arrays
are converted once per call, never once per batch; each epoch shuffles an
index and gathers each batch into reused buffers.  Stream batches are
prepared by a background thread while the kernels (which release the GIL)
work on the previous one.

Each step runs the model's program forward, each output's loss and its
gradient (fused with a softmax or sigmoid output layer into one stable
kernel where it can be), the program backward, and one optimizer pass
over the model's flat parameter array.  On a GPU (see ``_place``) the
weights, the optimizer's state, the flat gradient buffer and every work
buffer stay in device memory for the whole fit; each batch is gathered on
the host and copied in, and the outputs and per-sample losses come back
for the metrics.  Logs use Keras 3's names:
``loss``, then the metrics (``<output>_<metric>`` when there are several
outputs), then ``<output>_loss`` per output, and ``val_`` for validation.
"""
import contextlib
import copy
import functools
import inspect
import itertools
import math
import queue
import threading
import warnings

import numpy as np

from . import autodiff, config, distribute, tree
from . import losses as losses_mod
from . import metrics as metrics_mod
from . import ops
from . import optimizers as optimizers_mod
from .backend import aligned_empty, current_device, default_device, device
from .callbacks import CallbackList, ProgbarLogger, history_in
from .cuda import DeviceArray
from .utils.progbar import Progbar
from .utils.seeding import rng, set_rng_state
from .callbacks import listed as listed_callbacks
from .layers import base as base_layers
from .layers.base import callable_losses

_DTYPES = {"float32": np.float32, "int32": np.int32, "int64": np.int64, "string": object}
# Inputs whose float32 copy would exceed this many bytes are converted
# batch by batch in predict and evaluate, so memory stays bounded.
_STREAM_CONVERT_BYTES = 256 << 20
# Counts moves of weights between devices: a model whose last placement
# predates the latest move checks its weights again (another model sharing
# them may have moved them).
_placements = [0]


def _keras1_fit_arguments(who, kwargs, epochs):
    """Keras 1's names among fit's arguments: ``nb_epoch`` is ``epochs``,
    taken with Keras 2's warning; the others changed meaning and are
    refused with what to write instead."""
    refused = {
        "samples_per_epoch": "steps_per_epoch= (batches per epoch: samples // batch size)",
        "nb_val_samples": "validation_steps= (batches: samples // batch size)",
        "nb_worker": "workers=", "pickle_safe": "use_multiprocessing=",
        "show_accuracy": "compile(..., metrics=['accuracy'])"}
    kwargs = dict(kwargs)
    if "nb_epoch" in kwargs:
        warnings.warn(f"The `nb_epoch` argument in `{who}` has been renamed `epochs`.",
                      stacklevel=3)
        epochs = kwargs.pop("nb_epoch")
    for name in sorted(kwargs):
        if name in refused:
            raise TypeError(f"{who}: {name}= is Keras 1's; write {refused[name]}")
        raise TypeError(f"{who}() got an unexpected keyword argument {name!r}")
    return epochs


def _inference():
    """pynn.models.passes.run_inference (bound at the first call: the
    models package imports this module)."""
    global _run_inference, _planned_predict
    if _run_inference is None:
        from .models.passes import planned_predict, run_inference
        _run_inference, _planned_predict = run_inference, planned_predict
    return _run_inference


_run_inference = _planned_predict = None


def _one_step_against_free_axis(target, output_shape):
    """Whether ``target`` has one step where the output's axis has no fixed
    size (a forecaster's one next value against its whole sequence)."""
    if target is None:
        return False
    shape = tuple(np.shape(target))
    if len(shape) == len(output_shape) - 1 and output_shape[-1] == 1:
        shape += (1,)
    return len(shape) == len(output_shape) and any(
        w is None and n == 1 for n, w in zip(shape[1:], output_shape[1:]))


def _common_rows(xs):
    """The number of rows the input arrays ``xs`` share, or None where
    they differ."""
    n = {a.shape[0] for a in xs if a.ndim}
    return n.pop() if len(n) == 1 else None if n else xs[0].shape[0]


def _batch_rows(xs, ys):
    """The number of samples in a batch: its inputs' rows, or its targets'
    where the inputs' differ (a batch of graphs as atoms and bonds)."""
    rows = _common_rows(xs)
    if rows is None and ys:
        rows = next((a.shape[0] for a in ys if a is not None and np.ndim(a)), None)
    return xs[0].shape[0] if rows is None else rows


def _integer_dtype(x):
    """"int32" or "int64" for signed integer data, ids (Python ints are
    int32, as Keras converts them), else None (unsigned bytes are pixels,
    converted to float32 as every model's inputs)."""
    if isinstance(x, np.ndarray):
        kind, size = x.dtype.kind, x.dtype.itemsize
    elif isinstance(x, (list, tuple)) and x and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in x):
        kind, size = "i", 4
    else:
        return None
    if kind != "i":
        return None
    return "int64" if size == 8 else "int32"


def _numeric_columns(table):
    """Whether ``table`` is a table (pandas' DataFrame) whose every column
    has a NumPy bool or number dtype."""
    dtypes = getattr(table, "dtypes", None)
    if dtypes is None or isinstance(table, np.ndarray):
        return False
    try:
        return all(np.dtype(d).kind in "biuf" for d in dtypes)
    except TypeError:  # (an extension dtype, a nullable integer column)
        return False


def _densified(x):
    """``x`` with each SparseTensor in it (at the top, or in a list,
    tuple or dict of inputs) as its dense array."""
    from .sparse import SparseTensor, to_dense
    if isinstance(x, SparseTensor):
        return np.asarray(to_dense(x))
    if isinstance(x, (list, tuple)) and any(isinstance(a, SparseTensor) for a in x):
        return type(x)(_densified(a) for a in x)
    if isinstance(x, dict) and any(isinstance(a, SparseTensor) for a in x.values()):
        return {k: _densified(a) for k, a in x.items()}
    return x


def _as_input(x, dtype="float32", what="x"):
    """An input array in the model's dtype, C-contiguous, checked (finite
    floats; whole numbers for integer inputs): converted once."""
    if x is None:
        raise ValueError(f"{what} is required")
    want = _DTYPES[dtype]
    if dtype == "string":  # raw text for a TextVectorization or StringLookup input
        arr = np.asarray(x, dtype=object)
        if arr.ndim == 0:
            raise ValueError(f"{what}: expected an array with a batch dimension, got a scalar")
        if not all(isinstance(v, (str, bytes)) for v in arr.flat):
            raise TypeError(f"{what}: this input takes strings")
        return arr
    if type(x) is np.ndarray and x.dtype == want and x.ndim and x.flags.c_contiguous:
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except ValueError as e:
            raise ValueError(f"{what}: cannot make an array of the input: {e}") from None
        if arr.dtype == object and _numeric_columns(x):
            # a table of bool and number columns (pandas' get_dummies beside
            # float features) is one object array: its values are numbers
            arr = arr.astype(np.float64)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{what}: expected numeric data, got dtype {arr.dtype}")
        if arr.ndim == 0:
            raise ValueError(f"{what}: expected an array with a batch dimension, got a scalar")
        if want is not np.float32 and arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
                raise ValueError(f"{what}: this input takes integer ids; got non-integer "
                                 f"values")
        if want is not np.float32 and arr.size and arr.dtype.kind in "iuf":
            info = np.iinfo(want)
            lo, hi = arr.min(), arr.max()
            if lo < info.min or hi > info.max:
                raise ValueError(f"{what}: integer ids must fit in {np.dtype(want).name}, got "
                                 f"values from {lo} to {hi}")
        arr = np.ascontiguousarray(arr, dtype=want)
    if want is np.float32 and not ops.all_finite(arr):
        raise ValueError(f"{what} contains NaN or infinite values")
    return arr


def _loss_mask(spec, y, masks):
    """The mask of an output's loss values: the output's own (a masked
    sequence), and where the loss ignores some targets (ignore_class),
    those left out too; None where every value counts."""
    mask = None if masks is None else masks[spec.index]
    ignored = spec.loss.value_mask(y)
    if ignored is None:
        return mask
    return ignored if mask is None else np.logical_and(np.asarray(mask, bool), ignored)


def _row_weights(out, w, mask):
    """Keras's weighting of the loss of an output with several rows per
    sample (a (batch, steps, units) sequence): the loss is the mean over
    rows, and with a mask (batch, steps), the mean over the unmasked rows.
    Returns the per-row weights (None: all 1) and the number of rows per
    sample; ``(w, 1)`` for an output with one row per sample.  ``w`` holds
    one weight per sample, or one per step (batch, steps), as Keras's
    temporal sample weights (a translation's padding weighted 0)."""
    batch = out.shape[0]
    rows = out.size // out.shape[-1] if out.ndim > 1 and out.shape[-1] else batch
    per = rows // batch if batch else 1
    if w is not None and np.ndim(w) > 1:
        if np.size(w) != rows:
            raise ValueError(f"sample_weight of shape {np.shape(w)} does not fit the output "
                             f"of shape {out.shape}: give one weight per sample or one per "
                             f"step ({out.shape[:-1]})")
        w = np.reshape(w, -1)
        per_row = True
    else:
        per_row = False
    if mask is not None and np.shape(mask) != out.shape[:-1]:
        mask = None
    if mask is None:
        if per == 1 or w is None or per_row:
            return w, per
        return np.repeat(w, per), per
    keep = np.asarray(mask, np.float32).reshape(-1)
    valid = float(keep.sum())
    keep *= keep.size / valid if valid else 0.0
    return (keep if w is None else (w if per_row else np.repeat(w, per)) * keep), per


def _split_for_validation(x, y, sample_weight, validation_split):
    """fit's validation_split for a custom train_step: the last samples of
    every array in ``x``, ``y`` and ``sample_weight`` (any structure) are
    held out, before any shuffling, as Keras holds them out; returns the
    training parts and the validation_data (x alone when there is no y, as
    the step gets it)."""
    if _is_stream(x):
        raise ValueError("fit: validation_split needs arrays; give validation_data "
                         "for a generator or dataset")
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    leaves = [a for a in tree.flatten((x, y, sample_weight)) if a is not None]
    n = {len(a) for a in leaves}
    if len(n) != 1:
        raise ValueError(f"fit: validation_split needs arrays of one number of samples, "
                         f"got {sorted(n)}")
    split = int(n.pop() * (1.0 - validation_split))
    head = tree.map_structure(lambda a: None if a is None else a[:split],
                              (x, y, sample_weight))
    tail = tree.map_structure(lambda a: None if a is None else a[split:],
                              (x, y, sample_weight))
    return head + (tail if y is not None or sample_weight is not None else (tail[0],),)


def _check_validation_freq(freq):
    """fit's validation_freq: a positive integer or a collection of epochs
    (1 is the first), as Keras takes it."""
    if isinstance(freq, (bool, np.bool_)) or isinstance(freq, (int, np.integer)) and freq < 1 \
            or not isinstance(freq, (int, np.integer)) and not hasattr(freq, "__contains__"):
        raise ValueError(f"fit: validation_freq must be a positive integer or a list of "
                         f"epochs, got {freq!r}")


def _validate_now(freq, epoch):
    """Keras's validation_freq: every freq-th epoch, or the listed epochs."""
    if isinstance(freq, (int, np.integer)):
        return (epoch + 1) % freq == 0
    return (epoch + 1) in freq


def _stream_length(x):
    """The batches of a generator or dataset that knows its length, else
    None."""
    if not _is_stream(x) or not hasattr(x, "__len__"):
        return None
    try:
        return len(x)
    except TypeError:  # (a dataset of unknown length)
        return None


def _is_stream(x):
    """A generator, iterator, PyDataset/Sequence or re-iterable dataset,
    as opposed to arrays (or lists/dicts of arrays)."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict)) or np.isscalar(x):
        return False
    if hasattr(x, "__array__"):
        # (array-likes that also index and iterate, as pandas' DataFrame and
        # Series and eager tensors do, are arrays too, as in Keras)
        return False
    if hasattr(x, "__len__") and hasattr(x, "__getitem__"):
        return True
    return hasattr(x, "__next__") or hasattr(x, "__iter__")


class _Output:
    """What compile decided for one model output."""
    __slots__ = ("index", "name", "loss", "weight", "metric_specs", "weighted_specs", "fused",
                 "logits_of", "step", "summed")

    def __init__(self, index, name):
        self.index = index
        self.name = name
        self.loss = None
        # a loss with reduction="sum": the batch's loss is the sum of its
        # per-sample losses, not their mean (as Keras reduces it)
        self.summed = False
        self.weight = 1.0
        self.metric_specs = []
        self.weighted_specs = []
        self.fused = False
        self.logits_of = None
        self.step = None


def _per_output(spec, names, what, allow_subset=True):
    """A compile argument (one value, a list, or a dict by output name) as
    a list per output; None where an output has none."""
    n = len(names)
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(f"compile: {what} has keys {unknown} that are not output names; "
                             f"the outputs are {names}")
        if not allow_subset and set(spec) != set(names):
            raise ValueError(f"compile: {what} needs a value for every output {names}")
        return [spec.get(name) for name in names]
    if isinstance(spec, (list, tuple)):
        if len(spec) != n:
            raise ValueError(f"compile: {what} has {len(spec)} entries for {n} outputs "
                             f"{names}")
        return list(spec)
    return [spec] * n


def _held_metrics(model):
    """The Metric objects the model's layers hold as attributes (a layer
    whose call updates its own accuracy: keras.io's endpoint layer
    pattern), sublayers' too, each once; Keras lists them in
    ``model.metrics`` after the model's own.  Nested models' own trackers
    are left out, as Keras leaves out the trainers it meets."""
    found, seen, layers = [], set(), list(model._all_layers())
    visited = set()
    while layers:
        layer = layers.pop(0)
        if id(layer) in visited:
            continue
        visited.add(id(layer))
        if not isinstance(layer, TrainingMixin):
            for value in vars(layer).values():
                if isinstance(value, metrics_mod.Metric) and id(value) not in seen:
                    seen.add(id(value))
                    found.append(value)
        layers += layer._sublayers()
    return found


class _LayerMetrics:
    """What the layers' calls gave to add_metric in an epoch: each name
    reported as the mean of all the values given, as Keras 2's Mean
    metric; and the results of the metrics the layers hold, reset as the
    epoch begins."""

    def __init__(self, model):
        self.sums = {}  # name -> [sum, count]
        self.objects = {}  # name -> a metric object given to add_metric
        for layer in [model] + model._all_layers():
            for metric in layer.__dict__.get("_added_metric_objects", ()):
                metric.reset_state()
        self.held = _held_metrics(model)
        for metric in self.held:
            metric.reset_state()

    def add(self, found):
        """The (name, values) pairs of one step (autodiff.collecting_metrics);
        a metric object in place of the values reports its result."""
        for name, values in found:
            if not isinstance(values, np.ndarray):
                self.objects[name] = values
                continue
            entry = self.sums.setdefault(name, [0.0, 0])
            entry[0] += float(values.sum())
            entry[1] += values.size

    def logs(self, logs, held=True):
        """``logs`` with the means added (a name the logs have stays).  The
        results of the metrics the layers hold are added with ``held``
        (the built-in steps); a train_step or test_step gives them in its
        own logs through ``self.metrics`` or leaves them out, as Keras
        logs what the step returns."""
        for name, (total, count) in self.sums.items():
            logs.setdefault(name, total / max(count, 1))
        for name, metric in self.objects.items():
            logs.setdefault(name, float(metric.result()))
        if held:
            for metric in self.held:
                logs.setdefault(metric.name, float(metric.result()))
        return logs


class _Metrics:
    """The metrics of one fit/evaluate call, per output, named as Keras 3
    names them, with the per-output loss means."""

    def __init__(self, model, ys, own=True):
        self.model = model
        self.entries = []   # (output, metric, weighted)
        used = set()
        outputs = model._compiled_outputs
        prefix = len(outputs) > 1
        names = set()
        for out in outputs:
            y = ys[out.index] if ys is not None else None
            y_shape = None if y is None else y.shape
            p_shape = model._outputs[out.index].shape
            for specs, weighted in ((out.metric_specs, False), (out.weighted_specs, True)):
                for spec in specs:
                    # A metric object the user passed is the one updated, as in
                    # Keras (its result() after fit or evaluate is theirs);
                    # fit's validation resets it only after the epoch's logs
                    # are taken.  A repeat of one object (the same metric for
                    # several outputs), or a look at the names alone (own
                    # False), gets a copy.
                    if isinstance(spec, metrics_mod.Metric) and (not own or id(spec) in used):
                        spec = copy.deepcopy(spec)
                    used.add(id(spec))
                    m = metrics_mod.to_metric(spec, y_shape, p_shape)
                    if isinstance(spec, str):
                        m.name = spec   # logged under the string, as Keras 3 ('AUC')
                    key = f"{out.name}_{m.name}" if prefix else m.name
                    if key in names:
                        base = key = f"{'weighted_' if weighted else ''}{key}"
                        repeat = 0
                        while key in names:  # Keras numbers the repeats from 1
                            repeat += 1
                            key = f"{base}_{repeat}"
                    names.add(key)
                    self.entries.append((out, m, weighted, key))
        self.loss_names = []
        if sum(o.loss is not None for o in outputs) > 1:
            for out in outputs:
                if out.loss is None:
                    continue
                # Outputs of one nested model share its name: each keeps a
                # loss of its own in the logs, repeats numbered as above.
                key = base = f"{out.name}_loss"
                repeat = 0
                while key in names:
                    repeat += 1
                    key = f"{base}_{repeat}"
                names.add(key)
                self.loss_names.append((out, key))
        self.reset()

    def reset(self):
        for _, m, _, _ in self.entries:
            m.reset_state()
        self.added = _LayerMetrics(self.model)
        self.loss_sum = 0.0
        self.seen = 0.0
        self.out_loss_sums = {id(out): 0.0 for out, _ in self.loss_names}

    def update(self, outs, ys, ws, logits, total, per_output, bs, masks=None):
        self.loss_sum += total
        self.seen += bs
        for out, _ in self.loss_names:
            self.out_loss_sums[id(out)] += per_output[out.index]
        for out, m, weighted, _ in self.entries:
            i = out.index
            w = ws[i] if weighted else None
            mask = None if masks is None else masks[i]
            if mask is not None and np.shape(mask) == outs[i].shape[:-1]:
                # As in Keras, a metric counts only the unmasked steps.
                keep = np.asarray(mask, np.float32).reshape(-1)
                w = keep if w is None else np.repeat(w, keep.size // w.size) * keep
            y = ys[i]
            ranks = self.model.__dict__.get("_given_target_ranks")
            if ranks and y is not None and ranks[i] == y.ndim + 1 and \
                    not metrics_mod._takes_logits(m.update_state):
                # A metric the program wrote gets the labels of a sparse loss
                # in the shape they were given, (batch, 1), as Keras's does
                # (the loss takes them as (batch,)).
                y = y[..., None]
            m.update_from_model(y, outs[i], w, out.logits_of if logits else None)

    def reduce(self, comm):
        """Sum the running totals over the processes of a distributed job,
        so every process reports the global values."""
        values = [self.loss_sum, self.seen] + [self.out_loss_sums[id(o)] for o, _ in
                                               self.loss_names]
        # Each metric's state (running totals, confusion counts, or the
        # variables of a metric written as Keras's are), flattened; a state
        # not made yet (no batch seen) is left out.
        states = []
        for _, m, _, _ in self.entries:
            if getattr(m, "_variables", None):
                states += [(v, None, v.value) for v, _ in m._variables]
            else:
                states += [(m, name, getattr(m, name)) for name in m._summed_state
                           if getattr(m, name) is not None]
        for _, _, value in states:
            values += np.asarray(value, np.float64).reshape(-1).tolist()
        values = comm.sum_values(values, "the metrics' sums")
        self.loss_sum, self.seen = values[0], values[1]
        k = 2
        for out, _ in self.loss_names:
            self.out_loss_sums[id(out)] = values[k]
            k += 1
        for owner, name, value in states:
            size = np.size(value)
            summed = np.asarray(values[k:k + size], np.float64).reshape(np.shape(value))
            if name is None:
                owner.assign(summed.astype(np.float32))
            else:
                setattr(owner, name, summed if np.ndim(value) else float(summed))
            k += size

    def logs(self):
        seen = max(self.seen, 1e-12)
        logs = {"loss": self.loss_sum / seen}
        for _, m, _, key in self.entries:
            # a per-class metric (F1Score with average=None) logs its array,
            # as Keras does; one class, or a scalar, a float
            r = np.asarray(m.result())
            logs[key] = float(r.reshape(-1)[0]) if r.size == 1 else r
        for out, key in self.loss_names:
            logs[key] = self.out_loss_sums[id(out)] / seen
        return self.added.logs(logs)


class _Prefetcher:
    """Pulls batches from ``produce(i)`` (or an iterator) on a background
    thread into a bounded queue, so data work overlaps the kernels."""
    _DONE = object()

    def __init__(self, items, max_queue_size=10):
        self._queue = queue.Queue(maxsize=max(1, int(max_queue_size)))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True)
        self._thread.start()

    def _run(self, items):
        try:
            for item in items:
                if self._stop.is_set():
                    return
                self._put((True, item))
            self._put((True, self._DONE))
        except BaseException as e:  # handed to the consumer, raised there
            self._put((False, e))

    def _put(self, item):
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def get(self):
        ok, item = self._queue.get()
        if not ok:
            raise item
        return item

    def close(self):
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(0.05)


def _under_strategy(method):
    """fit or evaluate of a model made or compiled in a multi-process
    tf.distribute strategy's scope (or called in it), run as that
    strategy trains: under the data-parallel distribution it gives for
    the data (``x``)."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        strategy = self.__dict__.get("_distribute_strategy") or \
            (distribute.get_strategy() if distribute.has_strategy() else None)
        dist = None
        if strategy is not None:
            dist = strategy._fit_distribution(args[0] if args else kwargs.get("x"))
        if dist is None:
            return method(self, *args, **kwargs)
        with dist.scope():
            return method(self, *args, **kwargs)
    return wrapper


class TrainingMixin:
    """compile/fit/evaluate/predict over a model's graph program."""

    _planned = None

    @property
    def distribute_strategy(self):
        """The tf.distribute strategy whose scope the model was made or
        compiled in (the default strategy if none)."""
        return self.__dict__.get("_distribute_strategy") or distribute.get_strategy()

    def _init_training_state(self):
        # (the strategy whose scope is open, as Keras records it)
        self._distribute_strategy = distribute.get_strategy() if distribute.has_strategy() \
            else None
        if self._distribute_strategy is not None:
            self._distribute_strategy._adopt(self)
        self.compiled = False
        self.optimizer = None
        self.loss = None
        self.stop_training = False
        self.history = None
        # compile's run_eagerly, kept as Keras keeps it; pynn's steps always
        # run eagerly, so either value trains the same
        self.run_eagerly = False
        self.train_function = self.test_function = self.predict_function = None
        self._compile_args = None
        self._compiled_outputs = None
        self._trainable_snapshot = None
        self._flat = None
        self._flat_views = None
        self._flat_checked = None  # (binding, weight set) when the views were last checked
        self._penalties = []
        self._constraints = []
        self._last_masks = None  # the output masks of the last training step
        self._gpu = None            # the GPU the weights are on, or None (the host)
        self._home = None           # where the model runs outside a pynn.device scope
        self._placed_at = -1        # _placements[0] when it was last placed
        self._batch_buffers = {}    # device copies of the current batch, reused
        self._input_spec = None     # (graph, input dtypes, input shapes) of the last graph
        self._planned = None        # passes.planned_predict's record of the last planned call

    # -------------------------------------------------------- placement

    def _place(self):
        """Moves the weights to where the model is to run and returns that
        GPU's number, or None for the host: the innermost ``pynn.device``
        scope, else where the model last ran, else the default device (a
        GPU when one can be used and every layer computes through
        pynn.ops, as TensorFlow places models; the host under a
        data-parallel distribution, whose gradient sums run on the host).
        Weights, optimizer state and buffers move with the model; saving
        and get_weights read them back to the host."""
        scope = current_device()
        if self._placed_at == _placements[0] and (scope is None or scope == self._home):
            return self._gpu
        want = scope or self._home or self._default_placement()
        from .distribution import active
        if want != "cpu" and active() is not None:
            if scope is not None:
                raise ValueError(f"Model {self.name!r}: data-parallel training runs on the "
                                 f"CPU; pynn.device({scope!r}) cannot place it on a GPU")
            want = "cpu"
        gpu = None if want == "cpu" else int(want[4:])
        if gpu is not None:
            blocker = next((layer for layer in self._all_layers()
                            if not getattr(layer, "runs_on_gpu", True)), None)
            if blocker is not None:
                why = "moves its channels around the kernels on the host" \
                    if getattr(blocker, "_moves_channels", False) else \
                    "computes in its own call()"
                raise ValueError(f"Model {self.name!r}: layer {blocker.name!r} "
                                 f"({type(blocker).__name__}) {why} and "
                                 f"cannot run on the GPU; place the model on the CPU "
                                 f"(pynn.device('cpu') or PYNN_DEVICE=cpu)")
        moved = False
        for w in self.weights:
            on = w.value.device if isinstance(w.value, DeviceArray) else None
            if on == gpu:
                continue
            if gpu is None:
                w.value = w.value.to_numpy()
            else:
                from .cuda import to_device
                w.value = to_device(np.asarray(w.value), gpu)
            moved = True
        if moved or gpu != self._gpu:
            for w in self.weights:
                w.grad = None
            self._forget_device_state()
            for layer in self._all_layers():
                if isinstance(layer, TrainingMixin) and layer is not self:
                    layer._forget_device_state()
            if moved:
                _placements[0] += 1
            # (the gradients unbound: a model sharing these weights rechecks)
            from .models.functional import new_binding
            new_binding()
        self._gpu, self._home, self._placed_at = gpu, want, _placements[0]
        return gpu

    @contextlib.contextmanager
    def _on_host(self):
        """Runs the block with the weights on the host (for code that
        computes with them in NumPy), then puts them back where the model
        ran."""
        home = self._home
        with device("cpu"):
            self._place()
            yield
        if home not in (None, "cpu"):
            with device(home):
                self._place()
        else:
            self._home, self._placed_at = home, -1

    def _default_placement(self):
        want = default_device()
        if want != "cpu" and not all(getattr(layer, "runs_on_gpu", True)
                                     for layer in self._all_layers()):
            want = "cpu"
        return want

    def _all_layers(self):
        """Every layer of the model, nested models' included."""
        out = []
        for layer in getattr(self, "layers", []):
            out.append(layer)
            if isinstance(layer, TrainingMixin):
                out += layer._all_layers()
        return out

    def _forget_device_state(self):
        """Drops what was built for the weights' old place: the flat
        buffers, run states, cached batch copies; a later placement check
        looks at the weights again."""
        self._flat = self._flat_views = None
        self._train_state = None
        self._infer_pool = []
        self._batch_buffers = {}
        self._placed_at = -1

    def _inputs_to(self, gpu, arrays, role=None):
        """The batch's arrays on the model's GPU, or as they are on the
        host; None stays None.  Training names a ``role`` ('x', 'y', 'w'):
        its copies go into buffers kept per role, slot and shape.
        Inference (which threads may run at once) copies into new arrays
        from the device's memory pool."""
        if gpu is None:
            return arrays
        from .cuda import to_device
        out = []
        for i, a in enumerate(arrays):
            if a is None or isinstance(a, DeviceArray):
                out.append(a)
                continue
            a = np.ascontiguousarray(a)
            if role is None:
                out.append(to_device(a, gpu))
                continue
            key = (role, i)
            buf = self._batch_buffers.get(key)
            if buf is None or buf.shape != a.shape or buf.dtype != a.dtype or \
                    buf.device != gpu:
                buf = self._batch_buffers[key] = to_device(a, gpu)
            else:
                to_device(a, out=buf)
            out.append(buf)
        return out

    # ---------------------------------------------------------- compile

    def _compiled_optimizer(self, optimizer):
        """The optimizer compile sets: as Keras, wrapped in a
        LossScaleOptimizer under the mixed_float16 policy."""
        if optimizer is None:
            raise ValueError("compile: optimizer is None; expected a name ('rmsprop', "
                             "'adam', ...) or an optimizer instance")
        optimizer = optimizers_mod.get(optimizer)
        if self.dtype_policy.name == "mixed_float16" and \
                not isinstance(optimizer, optimizers_mod.LossScaleOptimizer):
            optimizer = optimizers_mod.LossScaleOptimizer(optimizer, name="loss_scale_optimizer")
        return optimizer

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=None, steps_per_execution=None,
                jit_compile=None, auto_scale_loss=None, **kwargs):
        """Set the optimizer, the loss(es) (one, a list, or a dict by output
        name), ``loss_weights`` and ``metrics`` per output.  Which weights
        train is decided here: change ``trainable`` and compile again."""
        if kwargs:
            raise TypeError(f"compile: unexpected argument(s) {', '.join(sorted(kwargs))}")
        self.run_eagerly = bool(run_eagerly)
        self.train_function = self.test_function = self.predict_function = None
        if distribute.has_strategy():
            self._distribute_strategy = distribute.get_strategy()
            self._distribute_strategy._adopt(self)
        # One metric on its own (tf.keras 2's ``metrics=tf.metrics.BinaryAccuracy()``,
        # ``metrics="accuracy"``) is a list of one, for every output, as
        # tf.keras 2 read it; Keras 3 refuses it.
        if metrics is not None and not isinstance(metrics, (list, tuple, dict)):
            metrics = [metrics]
        if weighted_metrics is not None and not isinstance(weighted_metrics, (list, tuple, dict)):
            weighted_metrics = [weighted_metrics]
        # A model with its own train_step may compute its loss itself.
        own_step = getattr(type(self), "train_step") is not TrainingMixin.train_step
        if loss is None and own_step:
            self.optimizer = self._compiled_optimizer(optimizer)
            self._compile_args = (None, loss_weights, metrics, weighted_metrics)
            self.loss = None
            self._compiled_outputs = None
            self.compiled = True
            self.stop_training = False
            return
        self.optimizer = self._compiled_optimizer(optimizer)
        for leaf in (loss.values() if isinstance(loss, dict) else
                     loss if isinstance(loss, (list, tuple)) else [loss]):
            if leaf is not None:
                losses_mod.to_loss(leaf)  # fail now on unknown names, not in fit
        for leaf in _metric_leaves(metrics) + _metric_leaves(weighted_metrics):
            metrics_mod.to_metric(leaf)
        self._compile_args = (loss, loss_weights, metrics, weighted_metrics)
        # No loss: the model trains on what its layers give to add_loss, as
        # Keras's does.
        self.loss = losses_mod.to_loss(loss) if loss is not None and \
            not isinstance(loss, (list, tuple, dict)) else loss
        self._compiled_outputs = None
        self._trainable_snapshot = None
        self.compiled = True
        self.stop_training = False
        if self._program is not None:
            self._resolve_compile()

    @property
    def metrics_names(self):
        if not self.compiled or self._compiled_outputs is None:
            return []
        # (the names of evaluate()'s values, in their order, as tf.keras
        # lists them: Keras 3 lists its metrics' names, 'compile_metrics')
        logs = _Metrics(self, None, own=False).logs()
        values = self._listed({name: name for name in logs})
        return values if isinstance(values, list) else [values]

    def _require_compiled(self, what):
        if not getattr(self, "compiled", False):
            raise RuntimeError(f"You must call compile() before {what}: the model has no "
                               f"loss or optimizer yet")

    def _resolve_compile(self):
        """Per-output losses, weights and metrics, once the graph is known;
        also fixes which weights train (Keras: trainable takes effect at
        compile)."""
        if self._compiled_outputs is not None:
            return
        if self._program is None and getattr(self, "_eager_call", False):
            # A subclassed model whose call runs eagerly (it branches on
            # ``training``) has no graph outputs to name: its steps weigh
            # what the call returns (CompileLoss, CompileMetrics).  Which
            # weights train is still fixed here, for saving its optimizer.
            self._snapshot_trainable()
            return
        loss, loss_weights, metrics, weighted = self._compile_args
        names = self.output_names
        n = len(names)
        per_loss = _per_output(loss, names, "loss")
        per_weight = _per_output(1.0 if loss_weights is None else loss_weights, names,
                                 "loss_weights")
        outputs = []
        for i, name in enumerate(names):
            out = _Output(i, name)
            if per_loss[i] is not None:
                out.loss = losses_mod.to_loss(per_loss[i])
                out.summed = getattr(out.loss, "reduction", None) == "sum"
            w = 1.0 if per_weight[i] is None else per_weight[i]
            try:
                out.weight = float(w)
            except (TypeError, ValueError):
                raise ValueError(f"compile: loss_weights must be numbers, got {w!r}") from None
            if not math.isfinite(out.weight):
                raise ValueError(f"compile: loss_weights must be finite, got {w!r}")
            outputs.append(out)
        for attr, spec in (("metric_specs", metrics), ("weighted_specs", weighted)):
            for out, specs in zip(outputs, _metrics_per_output(spec, names, n)):
                setattr(out, attr, specs)
        self._compiled_outputs = outputs
        self._find_fusions()
        self._snapshot_trainable()

    def _snapshot_trainable(self):
        if self._trainable_snapshot is None:
            self._trainable_snapshot = list(self.trainable_weights)
        if self.optimizer is not None:
            self.optimizer._track_weights(self._trainable_snapshot)

    def _find_fusions(self):
        """Which outputs hand their loss logits: a softmax/sigmoid layer
        whose output nothing else reads, followed by the matching
        cross-entropy, is computed as one stable fused kernel."""
        readers = {}
        for node in self._nodes:
            for t in node.input_tensors:
                readers[id(t)] = readers.get(id(t), 0) + 1
        out_count = {}
        for t in self._outputs:
            out_count[id(t)] = out_count.get(id(t), 0) + 1
        steps = {id(st.node): i for i, st in enumerate(self._program.steps)}
        for out in self._compiled_outputs:
            out.fused, out.logits_of, out.step = False, None, None
            if out.loss is None:
                continue
            if out.loss.from_logits:
                out.fused = True
                continue
            t = self._outputs[out.index]
            node = t.node
            layer = node.operation
            act = getattr(layer, "activation", None)
            if out.loss.fuses_activation is None or act != out.loss.fuses_activation or \
                    not hasattr(layer, "_act") or not node.single_output or \
                    readers.get(id(t)) or out_count[id(t)] > 1 or id(node) not in steps:
                continue
            out.fused, out.logits_of, out.step = True, act, steps[id(node)]

    # ------------------------------------------------------------- data

    def _standardize_inputs(self, x, what="x"):
        """x as a list of arrays, one per model input (dicts by name); a
        SparseTensor as its dense array (an ``Input(sparse=True)``: the
        layers compute the same values from either)."""
        x = _densified(x)
        names = self.input_names if self._program is not None else None
        n = len(names) if names else None
        if isinstance(x, dict):
            if names is None:
                # a subclassed model first called on a dict is traced on one
                # (its call reads inputs["name"]), its inputs named by the keys
                self.__dict__["_input_keys"] = list(x)
                return list(x.values())
            missing = [k for k in names if k not in x]
            if missing:
                raise ValueError(f"{what}: the input dict lacks {missing}; the model's inputs "
                                 f"are {names}")
            return [x[k] for k in names]
        if isinstance(x, (list, tuple)) and x and all(
                isinstance(a, np.ndarray) or (hasattr(a, "__array__") and
                                              not np.isscalar(a)) for a in x) and \
                (n is None or n > 1 or len(x) == 1):
            if n is not None and len(x) != n:
                raise ValueError(f"{what}: the model has {n} input(s) {names}, got "
                                 f"{len(x)} arrays")
            if n is None and len(x) > 1:
                return list(x)
            return list(x)
        if n is not None and n > 1:
            if isinstance(x, (list, tuple)) and len(x) == n:  # (nested lists, one per input)
                return list(x)
            got = f"one array of shape {tuple(np.shape(x))}" if hasattr(x, "shape") else \
                f"one {type(x).__name__}"
            raise ValueError(f"{what}: the model has {n} inputs {names}, got {got}; give a "
                             f"list of {n} arrays or a dict by input name")
        return [x]

    def _input_dtypes(self, count):
        if self._program is not None:
            return self._graph_inputs()[0]
        first = self._layers[0] if getattr(self, "_layers", None) else None
        dtype = getattr(first, "input_dtype", "float32") if first is not None else "float32"
        return [dtype] * count

    def _graph_inputs(self):
        """The dtypes the inputs are converted to and the inputs' shapes
        after the batch axis, worked out once per graph (every predict call
        reads them)."""
        spec = self._input_spec
        if spec is None or spec[0] is not self._program:
            spec = self._input_spec = (
                self._program,
                [self._read_dtype(i, t.dtype) for i, t in enumerate(self._inputs)],
                [tuple(t.shape[1:]) for t in self._inputs])
        return spec[1], spec[2]

    def _read_dtype(self, index, dtype):
        """The dtype input ``index`` is converted to: its own, except that a
        float32 input read only by layers that take integers (an Embedding
        after a default ``Input``, as Keras allows) is converted to theirs,
        once, with non-integer values refused."""
        slot = self._program.input_slots[index]
        steps = [st for st in self._program.steps if slot in st.ins]
        readers = [st.layer for st in steps]
        wants = {st.layer.node_input_dtype(st.node) for st in steps}
        if dtype == "float32" and len(wants) == 1 and not any(
                getattr(layer, "_graph_model", False) for layer in readers):
            return wants.pop()
        return dtype

    def _prepare_inputs(self, x, what="x", convert=True, any_rows=False):
        """The input arrays of ``x``, converted and checked against the
        graph's inputs.  ``any_rows``: the inputs may have different numbers
        of rows (a direct call or a dataset's batch, which Keras takes as
        they come: a latent array of one sample attended to by a batch, a
        batch of graphs as its atoms, bonds and pairs)."""
        if type(x) is np.ndarray and x.ndim and self._program is not None:
            # The common call, one array for a one-input model in the
            # input's dtype and shape, is checked as the loop below would
            # check it, without the loop's per-input bookkeeping.
            dtypes, tails = self._graph_inputs()
            if len(tails) == 1 and x.shape[1:] == tails[0] and \
                    x.dtype == _DTYPES[dtypes[0]] and x.flags.c_contiguous:
                # (what _as_input would still check of such an array)
                if convert and dtypes[0] == "float32" and not ops.all_finite(x):
                    raise ValueError(f"{what} contains NaN or infinite values")
                return [x]
        raw = self._standardize_inputs(x, what)
        dtypes = self._input_dtypes(len(raw))
        if self._program is None and getattr(self, "_subclassed", False):
            # A subclassed model's call gets its first data as Keras gives
            # it: integer ids (a list of Python ints, an int array) stay
            # integers, for the call to gather rows with them.
            dtypes = [_integer_dtype(a) or d for a, d in zip(raw, dtypes)]
        elif self._program is None and isinstance(x, dict) and getattr(
                (getattr(self, "_layers", None) or [None])[0], "_takes_feature_dict", False):
            # features for a DenseFeatures first layer: text stays text
            dtypes = ["string" if np.asarray(a).dtype.kind in "OSU" else d
                      for a, d in zip(raw, dtypes)]
        label = (lambda i: what) if len(raw) == 1 else (lambda i: f"{what}[{i}]")
        if convert:
            xs = [_as_input(a, d, label(i)) for i, (a, d) in enumerate(zip(raw, dtypes))]
        else:
            xs = [a if isinstance(a, np.ndarray) else np.asarray(a) for a in raw]
        if self._program is not None:
            xs = self._adjust_input_rank(xs)
        fresh = self._program is None
        self._ensure_built([(None,) + a.shape[1:] for a in xs], dtypes)
        if fresh and self._traced_call and xs and xs[0].ndim:
            # the batch its call was first traced on, for summary()
            self.__dict__["_first_batch"] = xs[0].shape[0]
        if self._eager_call:
            return xs  # (no graph inputs: its call takes what it is given)
        self._check_input_shapes(xs)
        n = {a.shape[0] for a in xs}
        if len(n) > 1 and not any_rows:
            raise ValueError(f"{what}: the input arrays have different numbers of samples: "
                             f"{[a.shape[0] for a in xs]}")
        return xs

    def _adjust_input_rank(self, xs):
        """As Keras's functional models: an input one axis short of a graph
        input whose last axis is 1 gets that axis (a column given as a
        vector: FeatureSpace's inputs, say); one with an extra last axis of
        1 loses it."""
        return [a[..., None] if a.ndim == len(t.shape) - 1 and t.shape[-1] == 1
                else a[..., 0] if a.ndim == len(t.shape) + 1 and a.shape[-1] == 1
                else a for a, t in zip(xs, self._inputs)]

    def _ensure_built(self, shapes, dtypes=None):
        if self._program is None:
            self._trace(shapes if len(shapes) > 1 else shapes[0], dtypes)

    def _check_input_shapes(self, xs):
        tails = self._graph_inputs()[1]
        if len(xs) == len(tails) and all(a.shape[1:] == w for a, w in zip(xs, tails)):
            return  # the same shapes exactly (an input with a free axis takes the loop)
        # As Keras 3: a Sequential (or a subclassed model) runs on inputs of
        # other sizes than it was built for (an Embedding's sequences of
        # another length) wherever its layers can; a functional model
        # holds them to its inputs' shapes, but for a last axis of 1.
        shapes = [(None,) + a.shape[1:] for a in xs]
        self._check_input_spec(shapes, strict=self._strict_input_spec and
                               not self._traced_call)
        if self._off_built_sizes(xs):
            self._infer_shapes(shapes)  # (each layer checks its input on the way)

    def _off_built_sizes(self, xs):
        """Whether arrays ``xs`` differ from the sizes the model's inputs
        fix (not merely fill in their free axes)."""
        return any(a.ndim == len(t.shape) and any(w is not None and w != n for w, n in
                                                 zip(t.shape[1:], a.shape[1:]))
                   for a, t in zip(xs, self._inputs))

    def _standardize_targets(self, y, what="y"):
        names = self.output_names
        n = len(names)
        if isinstance(y, dict):
            unknown = [k for k in y if k not in names]
            if unknown:
                raise ValueError(f"{what}: keys {unknown} are not output names {names}")
            return [y.get(k) for k in names]
        given = list(y) if isinstance(y, (list, tuple)) and n > 1 else [y]
        with_loss = [i for i, spec in enumerate(getattr(self, "_compiled_outputs", None) or ())
                     if spec.loss is not None]
        if n > 1 and len(given) != n and len(given) == len(with_loss):
            # As Keras: fewer targets than outputs go, in order, to the
            # outputs that have a loss (loss=[fn, None] trains on one).
            ys = [None] * n
            for i, target in zip(with_loss, given):
                ys[i] = target
            return ys
        if isinstance(y, (list, tuple)) and n > 1:
            if len(y) != n:
                raise ValueError(f"{what}: the model has {n} outputs {names}, got {len(y)} "
                                 f"target arrays")
            return list(y)
        if n > 1:
            raise ValueError(f"{what}: the model has {n} outputs {names}; give one target "
                             f"array per output (a list, or a dict by output name)")
        if isinstance(y, (list, tuple)) and len(y) == 1 and np.ndim(y[0]) >= 1 and \
                hasattr(y[0], "shape"):
            # One array in a list for the one output (a generator that
            # yields a list of targets per head, with one head), as Keras 3
            # packs the targets into the outputs' structure.  A plain list
            # of numbers stays the target array it is.
            return [y[0]]
        return [y]

    def _prepare_targets(self, y, xs, what="y", check_rows=True):
        """The targets ``y`` checked against the outputs the model gives
        for the input arrays ``xs``: for arrays (``check_rows``), every
        target has the inputs' rows, as Keras 3's array adapter checks
        them; a generator's or dataset's batch is not checked there, as in
        Keras (a loss that ignores y_true takes a dummy target)."""
        ys = self._standardize_targets(y, what)
        self.__dict__["_given_target_ranks"] = [np.ndim(t) for t in ys]
        rows = _common_rows(xs) if check_rows else None
        shapes = [t.shape for t in self._outputs]
        traced = self._program is not None and not self._eager_call
        if traced and (self._off_built_sizes(xs) or any(
                _one_step_against_free_axis(t, s) for t, s in zip(ys, shapes))):
            # (inputs of other sizes than the model's: a Sequential over
            # longer series gives longer outputs; an output of free length
            # takes these inputs' length, which a target of one step per
            # sample is broadcast over)
            shapes = self._infer_shapes([(None,) + a.shape[1:] for a in xs])
        out = []
        for spec, shape, target in zip(self._compiled_outputs, shapes, ys):
            if spec.loss is None:
                prepared = None if target is None else np.asarray(target)
            elif target is None and _users_loss(spec.loss):
                # Keras hands y_true=None to the loss, which a loss of the
                # program's own may ignore (fit(x) on a loss of y_pred only)
                prepared = None
            elif target is None:
                raise ValueError(f"{what}: the output {spec.name!r} has a loss but no "
                                 f"targets were given for it")
            else:
                where = "the model's output" if len(ys) == 1 else f"output {spec.name!r}"
                prepared = spec.loss.prepare_targets(target, shape, where)
            if rows is not None and prepared is not None and prepared.ndim and \
                    prepared.shape[0] != rows:
                raise ValueError(f"Data cardinality is ambiguous: x and y have different "
                                 f"numbers of samples: {rows} and {prepared.shape[0]}")
            out.append(prepared)
        return out

    def _prepare_weights(self, sample_weight, class_weight, ys, rows):
        n = len(self._compiled_outputs)
        if sample_weight is None:
            ws = [None] * n
        elif isinstance(sample_weight, dict):
            ws = self._standardize_targets(sample_weight, "sample_weight")
        elif isinstance(sample_weight, (list, tuple)) and n > 1 and len(sample_weight) == n \
                and not np.isscalar(sample_weight[0]):
            ws = list(sample_weight)
        else:
            ws = [sample_weight] * n
        out = []
        for w in ws:
            if w is not None:
                # (numbers only, checked finite: text or complex numbers are refused)
                w = _as_input(w, what="sample_weight")
                # one weight per sample, or (batch, steps) of them for a
                # sequence output (Keras's temporal weights)
                if w.ndim < 2 or w.size == w.shape[0]:
                    w = w.reshape(-1)
                if w.shape[0] != rows:
                    raise ValueError(f"sample_weight has {w.shape[0]} entries for {rows} "
                                     f"samples")
            out.append(w)
        return self._class_weighted(class_weight, ys, out)

    def _class_weighted(self, class_weight, ys, ws):
        """The sample weights ``ws`` with class_weight's applied (None: as
        they are)."""
        if class_weight is None:
            return ws
        if len(ws) > 1:
            raise ValueError("class_weight is only supported for models with one output; "
                             "use sample_weight per output instead")
        return [_apply_class_weight(class_weight, ys[0], ws[0])]

    def _prepare(self, x, y, sample_weight=None, class_weight=None, what="x"):
        xs = self._prepare_inputs(x, what)
        self._resolve_compile()
        rows = xs[0].shape[0]
        ys = self._prepare_targets(y, xs, "y" if what == "x" else "y_val")
        ws = self._prepare_weights(sample_weight, class_weight, ys, rows)
        return xs, ys, ws

    # --------------------------------------------------------- weights

    def _flat_parameters(self):
        """Every trained parameter gathered into one flat array (and the
        gradients into another), each weight rebound to a view of it, so
        the optimizer runs one kernel per step.  The set is the one fixed
        at compile; rebuilt only when it, or another model's binding of a
        shared weight, changed."""
        weights = self._trainable_snapshot
        if weights is None:
            weights = self._trainable_snapshot = list(self.trainable_weights)
        views = self._flat_views
        from .models.functional import _current_binding
        checked = self._flat_checked
        if views is not None and checked is not None and checked[0] == _current_binding[0] \
                and checked[1] is weights:
            # no model bound gradients since this set was last checked
            # (every rebinding bumps the binding; compile makes a new set)
            return self._flat
        others = [w for w in self.weights if w.grad is not None]
        if views is not None and len(views) == len(weights) and len(others) == len(weights) \
                and all(w.value is v and w.grad is g for w, (v, g) in zip(weights, views)):
            self._flat_checked = (_current_binding[0], weights)
            return self._flat
        # What each step adds: the weights' L1/L2 penalties (loss and
        # gradient) and their constraints (after the update).
        self._penalties = [w for w in weights if w.regularizer is not None]
        self._constraints = [(w, w.constraint) for w in weights if w.constraint is not None]
        from .models.functional import new_binding
        for w in self.weights:
            w.grad = None
        total = sum(w.value.size for w in weights)
        params = aligned_empty(total)
        off = 0
        for w in weights:
            n = w.value.size
            params[off:off + n] = np.asarray(w.value).reshape(-1)
            off += n
        if self._gpu is None:
            grads = np.zeros(total, np.float32)
        else:  # the flat buffers live on the model's GPU
            from .cuda import to_device, zeros
            params, grads = to_device(params, self._gpu), zeros((total,), np.float32, self._gpu)
        off = 0
        views = []
        for w in weights:
            n = w.value.size
            w.value = params[off:off + n].reshape(w.value.shape)
            w.grad = grads[off:off + n].reshape(w.value.shape)
            views.append((w.value, w.grad))
            off += n
        self._flat = (params, grads)
        self._flat_views = views
        if self.optimizer is not None:
            self.optimizer._track_weights(weights)
        new_binding()
        self._flat_checked = (_current_binding[0], weights)
        return self._flat

    def _training_state(self):
        """The program's run state for training, kept across steps, with
        the output layers whose activation the loss fuses told so."""
        state = self._train_state
        if state is None:
            state = self._train_state = self._program.new_state(self._gpu)
        fused = {out.step for out in self._compiled_outputs if out.step is not None}
        for i, ctx in enumerate(state.ctxs):
            ctx.emit_logits = i in fused
        return state

    # -------------------------------------------------------------- fit

    def _train_batch(self, state, params, grads, xs, ys, ws, bs, grad_bufs, rows=None,
                     offset=0, reducer=None):
        """One optimizer step on a batch; returns (weighted total loss sum,
        per-output loss sums, outputs).  In data-parallel training the batch
        is this process's share, starting at row ``offset`` of a global batch
        of ``rows`` rows: losses are scaled by the global batch, and the
        reducer sums the gradients over the processes."""
        if rows is None:
            rows, offset = (bs, 0) if reducer is None else reducer.global_rows(bs)
        state.row_offset = offset
        if bs == 0:  # an empty share of a global batch: zero gradients
            grads.fill(0.0)
            reducer.reduce_all()
            self._last_masks = None
            return self._finish_step(state, params, grads, reducer, 0.0, bs), \
                [0.0] * len(self._compiled_outputs), None
        gpu = self._gpu
        outs = self._program.forward(self._inputs_to(gpu, xs, "x"), True, state)
        masks = state.masks if self._program.has_masks else None
        device_ys, device_ws = self._inputs_to(gpu, ys, "y"), self._inputs_to(gpu, ws, "w")
        out_grads = []
        losses = []  # (the per-sample losses, their weights, the loss weight) per output
        for spec, out, w, y_in, w_in, y in zip(self._compiled_outputs, outs, ws, device_ys,
                                               device_ws, ys):
            if spec.loss is None:
                out_grads.append(None)
                losses.append(None)
                continue
            g = None
            if spec.weight != 0.0:
                g = grad_bufs[spec.index]
                if g is None or g.shape != out.shape or type(g) is not type(out):
                    g = grad_bufs[spec.index] = np.empty(out.shape, np.float32) \
                        if gpu is None else DeviceArray.empty_like(out)
            # a sequence output: its rows' weights, and steps per sample
            rw, steps = _row_weights(out, w, _loss_mask(spec, y, masks))
            if rw is not w:
                w_in = rw if gpu is None else self._inputs_to(gpu, [rw])[0]
            # the gradient of the batch's mean loss (over the global
            # batch's rows and steps), or of its sum
            scale = 1.0 if spec.summed else rows * steps
            per = spec.loss.compute(y_in, out, w_in, scale / spec.weight if spec.weight else scale,
                                    g, spec.fused)
            # a sum is reported, as Keras's loss tracker weighs each
            # batch's loss, times the batch's rows (the logs divide by them)
            losses.append((per, rw, spec.weight, 1.0 / rows if spec.summed else steps))
            out_grads.append(g)
        activity = 0.0
        if self._program.has_activity:
            activity = self._program.activity_penalty(state, 1.0 / rows)
            self._keep_call_losses(state, 1.0 / rows)
        if reducer is None:
            self._program.backward(state, out_grads, object())
        else:
            self._program.backward(state, out_grads, object(), after_step=reducer.after_step)
            reducer.reduce_all()
        object.__setattr__(self, "_last_masks", masks)  # (every step: no Model.__setattr__)
        penalty = self._finish_step(state, params, grads, reducer, activity, bs)
        if gpu is not None:
            # With the whole step queued, one wait: the losses and outputs
            # (for the metrics) come back to the host.
            losses = [None if e is None else (e[0].to_numpy(),) + e[1:] for e in losses]
            outs = [o.to_numpy() for o in outs]
        total, per_output = 0.0, []
        for e in losses:
            value = 0.0 if e is None else \
                float(e[0].sum() if e[1] is None else np.dot(e[0], e[1])) / e[3]
            per_output.append(value)
            total += 0.0 if e is None else e[2] * value
        return total + penalty, per_output, outs

    def _finish_step(self, state, params, grads, reducer, activity_penalty, bs):
        """Penalties, the update and the constraints; returns the penalty
        share of the batch's loss sum.  As in Keras, the batch loss is the
        mean loss plus the penalties, so each sample carries them once."""
        penalty = activity_penalty
        if reducer is not None and activity_penalty:
            # each process holds the activity penalty of its rows only
            penalty = reducer.comm.sum_values([activity_penalty])[0]
        penalty += self._add_weight_penalties()
        self.optimizer._use_state_of(self._trainable_snapshot)
        self.optimizer.apply(params, grads, shapes=[v.shape for v, _ in self._flat_views],
                             variables=self._trainable_snapshot)
        for w, constraint in self._constraints:
            if isinstance(w.value, DeviceArray):  # constraints compute in NumPy
                value = w.value.to_numpy()
                constraint.apply(value)
                w.value[...] = value
            else:
                constraint.apply(w.value)
        if reducer is not None:
            reducer.after_update()
        return penalty * bs

    def _add_weight_penalties(self):
        """The weights' L1/L2 penalties; their gradients are added to the
        weights' (after any sum across processes: every process adds the
        same)."""
        penalty = 0.0
        for w in self._penalties:
            penalty += w.regularizer.penalty(w.value, grad=w.grad)
        return penalty + self._add_callable_losses()

    def _add_callable_losses(self):
        """The callables given to add_loss outside a call (tf.keras 2's
        ``model.add_loss(lambda: ...)``): their sum, its gradient added to
        the trained weights' as the penalties' is."""
        if not base_layers._callable_losses_added:
            return 0.0
        from .tape import GradientTape
        weights = self._trainable_snapshot
        with GradientTape() as tape:
            values = callable_losses([self] + self._all_layers())
            if not values:
                return 0.0
            total = values[0]
            for value in values[1:]:
                total = ops.add(total, value)
        for w, g in zip(weights, tape.gradient(total, weights)):
            if g is None:
                continue
            g = np.asarray(autodiff.value_of(g), np.float32)
            if isinstance(w.grad, np.ndarray):
                w.grad += g
            else:  # a weight kept on a GPU
                w.grad[...] = w.grad.to_numpy() + g
        return float(np.sum(autodiff.value_of(total), dtype=np.float64))

    @_under_strategy
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, max_queue_size=10, workers=1,
            use_multiprocessing=False, **kwargs):
        """Train for ``epochs`` over arrays or a stream of batches; returns
        the History.

        Threads: ``fit`` updates the model's weights and optimizer state in
        place and keeps each step's activations on the graph's nodes, so
        one model (or a layer shared between models) must be trained by one
        thread at a time, and ``predict``/``evaluate`` running in other
        threads meanwhile see weights from before, during or after any
        step.  Different models train in parallel threads safely (the
        kernels release the GIL)."""
        if kwargs:
            epochs = _keras1_fit_arguments("fit", kwargs, epochs)
        self._require_compiled("fit()")
        epochs = config.capped_epochs(epochs)
        # (arrays: capped below, once their batches are known)
        array_steps = config.whole_steps(steps_per_epoch)
        steps_per_epoch = config.capped_steps(steps_per_epoch, _stream_length(x))
        validation_steps = config.capped_steps(validation_steps, _stream_length(validation_data))
        x = self._trace_from(x, batch_size=batch_size or 32)
        if self._runs_own_step("train_step"):
            from .distribution import active
            if active() is not None:
                # (its batches are not split and its gradients not summed:
                # each process would train a model of its own)
                raise ValueError(f"fit: model {self.name!r} has its own train_step, which "
                                 f"trains on one process; across processes, write the loop "
                                 f"with strategy.run (tf.distribute.MultiWorkerMirroredStrategy)"
                                 f" or use the model's own step on one process")
            if class_weight is not None:
                raise ValueError("fit: class_weight is not supported with a custom "
                                 "train_step; weigh samples in the step")
            if validation_split and validation_data is None:
                x, y, sample_weight, validation_data = _split_for_validation(
                    x, y, sample_weight, validation_split)
            _check_validation_freq(validation_freq)
            return self._fit_steps(x, y, batch_size, _epochs(epochs), verbose, callbacks,
                                   validation_data, shuffle, sample_weight, initial_epoch,
                                   steps_per_epoch, validation_steps, validation_batch_size,
                                   validation_freq)
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"fit: batch_size must be a positive integer, got {batch_size!r}")
        epochs = _epochs(epochs)
        _check_validation_freq(validation_freq)
        verbose = 1 if verbose == "auto" else int(verbose)
        from .distribution import active, distribution
        comm = active()
        shard = None
        if comm is not None:
            if comm.rank != 0:
                verbose = 0  # rank 0 speaks for the job
            if distribution().auto_shard_dataset:
                shard = (comm.rank, comm.size)
        stream = _is_stream(x)
        if stream:
            if y is not None or sample_weight is not None:
                raise ValueError("fit: when x is a generator or dataset it yields the targets; "
                                 "y and sample_weight must not be given")
            if validation_split:
                raise ValueError("fit: validation_split needs arrays; give validation_data "
                                 "for a generator or dataset")
            source = _Source(self, x, steps_per_epoch, shuffle, class_weight, max_queue_size,
                             shard=shard)
            steps, n, batch_size = source.steps, None, None
        else:
            batch_size = 32 if batch_size is None else int(batch_size)
            xs, ys, ws = self._prepare(x, y, sample_weight)
            val = None
            if validation_data is None and validation_split:
                if not 0.0 < validation_split < 1.0:
                    raise ValueError(f"validation_split must be in (0, 1), got "
                                     f"{validation_split}")
                # Keras holds out the last samples, before any shuffling.
                split = int(xs[0].shape[0] * (1.0 - validation_split))
                val = ([a[split:] for a in xs], [None if a is None else a[split:] for a in ys],
                       [None if a is None else a[split:] for a in ws])
                xs = [a[:split] for a in xs]
                ys = [None if a is None else a[:split] for a in ys]
                ws = [None if a is None else a[:split] for a in ws]
            # (after the split: as in Keras, class_weight weighs the training
            # samples only, the held-out ones keep their sample weights)
            ws = self._class_weighted(class_weight, ys, ws)
            validation_data = val if val is not None else validation_data
            n = xs[0].shape[0]
            if n == 0:
                raise ValueError("fit: no training samples")
            steps = math.ceil(n / batch_size)
            if array_steps is not None:
                steps = int(array_steps)
            steps = config.capped_steps(steps)
            # (a batch_size above the sample count takes them all at once:
            # its batch buffers are sized for the samples there are)
            source = _ArraySource(xs, ys, ws, min(batch_size, n), shuffle, shard=shard)
        val = None
        if validation_data is not None:
            val = self._validation_source(validation_data, validation_batch_size or batch_size
                                          or 32, validation_steps, max_queue_size, shard)

        cbs = listed_callbacks(callbacks)
        if comm is not None and comm.rank != 0:
            # Only rank 0 writes logs and checkpoints.
            cbs = [c for c in cbs if not getattr(c, "writes_files", False)]
        if verbose:
            cbs.append(ProgbarLogger(verbose))
        history = history_in(cbs)
        cb = CallbackList(cbs, self, {"epochs": epochs, "steps": steps, "verbose": verbose,
                                      "batch_size": batch_size, "samples": n})
        self.history = history
        self.stop_training = False

        self._place()
        params, grads = self._flat_parameters()
        state = self._training_state()
        reducer = None
        if comm is not None:
            from .distribution.training import GradientReducer, synchronize_start
            synchronize_start(self, comm)
            reducer = GradientReducer(self, comm)
            if shard is None:
                reducer.check_same_steps(steps, "fit")
        metrics = _Metrics(self, source.sample_targets())
        grad_bufs = [None] * len(self._compiled_outputs)
        need_batch_logs = cb.has_on_train_batch_end
        logs = None
        self._resume = None
        cb.on_train_begin()
        # A callback (BackupAndRestore) may have restored an interrupted run:
        # continue at its epoch, and within it at its step.
        resume = self.__dict__.pop("_resume", None)
        if resume is not None:
            initial_epoch = max(initial_epoch, resume["epoch"])
        try:
            for epoch in range(initial_epoch, epochs):
                self._epoch_rng_state = rng().bit_generator.state
                skip = 0
                if resume is not None and resume["epoch"] == epoch and resume.get("batch"):
                    skip = resume["batch"]
                    set_rng_state(resume["epoch_rng"])
                    self._epoch_rng_state = resume["epoch_rng"]
                cb.on_epoch_begin(epoch)
                metrics.reset()
                batches = source.epoch(steps)
                try:
                    for step, (xb, yb, wb, rows, offset) in enumerate(batches):
                        if step < skip:
                            if step == skip - 1:
                                set_rng_state(resume["rng"])
                            continue
                        if cb.has_on_train_batch_begin:
                            cb.on_train_batch_begin(step)
                        bs = _batch_rows(xb, yb)
                        if reducer is not None and shard is None:
                            # each process brings its own rows: the global
                            # batch and this share's place in it are summed
                            rows = offset = None
                        with autodiff.collecting_metrics() as found:
                            total, per_output, outs = self._train_batch(
                                state, params, grads, xb, yb, wb, bs, grad_bufs, rows,
                                offset, reducer)
                        metrics.added.add(found)
                        metrics.update(outs, yb, wb, True, total, per_output, bs,
                                       self._last_masks)
                        if need_batch_logs:
                            cb.on_train_batch_end(step, metrics.logs())
                        if self.stop_training:
                            break
                finally:
                    source.end_epoch()
                if comm is not None:
                    metrics.reduce(comm)
                logs = metrics.logs()
                if val is not None and _validate_now(validation_freq, epoch):
                    # Validation reports to the same callbacks, as in Keras.
                    cb.on_test_begin()
                    vlogs = self._evaluate_source(val, 0, cb, comm)
                    cb.on_test_end(vlogs)
                    logs.update({"val_" + k: v for k, v in vlogs.items()})
                cb.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        finally:
            source.close()
        if epochs > initial_epoch:
            self.optimizer.finalize_variable_values(params)
        cb.on_train_end(logs)
        return history

    def _validation_source(self, data, batch_size, steps, max_queue_size, shard=None):
        if _is_stream(data):
            return _Source(self, data, steps, False, None, max_queue_size, shard=shard)
        if isinstance(data, tuple) and len(data) == 3 and isinstance(data[0], list) and \
                isinstance(data[1], list) and isinstance(data[2], list) and \
                all(isinstance(a, np.ndarray) for a in data[0]):
            xs, ys, ws = data  # the held-out split, already prepared
        else:
            if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val), (x_val, y_val, "
                                 "sample_weight), or a generator or dataset")
            xs, ys, ws = self._prepare(data[0], data[1], data[2] if len(data) == 3 else None,
                                       what="x_val")
        if xs[0].shape[0] == 0:
            return None
        return _ArraySource(xs, ys, ws, batch_size, False, steps, shard=shard)

    # --------------------------------------------------------- evaluate

    @_under_strategy
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False, max_queue_size=10, workers=1,
                 use_multiprocessing=False):
        """The loss and metrics over arrays or a stream of batches."""
        self._require_compiled("evaluate()")
        steps = config.capped_steps(steps, _stream_length(x))
        verbose = 1 if verbose == "auto" else int(verbose)
        x = self._trace_from(x, batch_size=batch_size or 32, step="test_step")
        if self._runs_own_step("test_step"):
            logs = self._evaluate_steps(x, y, sample_weight, batch_size, steps, callbacks,
                                        verbose)
            return logs if return_dict else self._listed(logs)
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"evaluate: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        from .distribution import active, distribution
        comm = active()
        shard = None
        if comm is not None:
            verbose = verbose if comm.rank == 0 else 0
            if distribution().auto_shard_dataset:
                shard = (comm.rank, comm.size)
        if _is_stream(x):
            source = _Source(self, x, steps, False, None, max_queue_size, shard=shard)
        else:
            lazy = _too_big(x)
            xs = self._prepare_inputs(x, convert=not lazy)
            self._resolve_compile()
            rows = xs[0].shape[0]
            ys = self._prepare_targets(y, xs)
            ws = self._prepare_weights(sample_weight, None, ys, rows)
            # (converted and checked above, unless too big: then batch by batch)
            source = _ArraySource(xs, ys, ws, batch_size or 32, False, steps,
                                  dtypes=self._input_dtypes(len(xs)) if lazy else None,
                                  shard=shard)
        cb = CallbackList(callbacks or [], self, {"verbose": verbose, "steps": source.steps})
        cb.on_test_begin()
        logs = self._evaluate_source(source, verbose, cb, comm)
        cb.on_test_end(logs)
        return logs if return_dict else self._listed(logs)

    def _listed(self, logs):
        """A step's logs as the list evaluate and train_on_batch return, in
        Keras 3's order: the model's metrics as it lists them (the loss,
        the compiled metrics by the names compile gave them, each output's
        loss where there are several), then the others by name.  One
        value alone is returned as it is."""
        listed = []
        for m in self.metrics:
            listed += [inner.name for inner in m.metrics] \
                if isinstance(m, CompileMetrics) else [m.name]
        outputs = getattr(self, "_compiled_outputs", None) or ()
        if len(outputs) > 1:
            listed += [f"{spec.name}_loss" for spec in outputs if spec.loss is not None]
        names = [n for n in dict.fromkeys(listed) if n in logs]
        values = [logs[n] for n in names] + [logs[k] for k in sorted(logs) if k not in names]
        return values[0] if len(values) == 1 else values

    def _evaluate_source(self, source, verbose=0, cb=None, comm=None):
        metrics = _Metrics(self, source.sample_targets())
        run_inference = _inference()
        # The regularization penalties count in the evaluated loss, as in
        # Keras: the weights', and the activity penalties of each batch (a
        # model with activity regularizers is evaluated through its graph
        # program, which keeps the outputs they regularize).
        penalty = sum(w.regularizer.penalty(w.value)
                      for w in self.weights if w.regularizer is not None)
        penalty += sum(float(np.sum(autodiff.value_of(v), dtype=np.float64))
                       for v in callable_losses([self] + self._all_layers()))
        activity_state = self._program.new_state() if self._program.has_activity else None
        total_steps = source.steps
        bar = Progbar(total_steps, verbose=verbose) if verbose else None
        need_batch_logs = bar is not None or cb is not None and cb.has_on_test_batch_end
        try:
            for step, (xb, yb, wb, _, _) in enumerate(source.epoch(total_steps)):
                if cb is not None:
                    cb.on_test_batch_begin(step)
                bs = _batch_rows(xb, yb)
                if bs == 0:
                    continue
                batch_penalty = penalty
                if activity_state is None:
                    outs, masks = run_inference(self, xb, with_masks=True)
                else:
                    with autodiff.collecting_metrics() as found:
                        outs = self._program.forward(xb, False, activity_state)
                    metrics.added.add(found)
                    masks = activity_state.masks if self._program.has_masks else None
                    batch_penalty += self._program.activity_penalty(activity_state, 1.0 / bs)
                    self._keep_call_losses(activity_state, 1.0 / bs)
                total, per_output = 0.0, []
                for spec, out, t, w in zip(self._compiled_outputs, outs, yb, wb):
                    if spec.loss is None:
                        per_output.append(0.0)
                        continue
                    rw, rows = _row_weights(out, w, _loss_mask(spec, t, masks))
                    per = spec.loss.compute(t, out, rw, bs * rows, None, spec.loss.from_logits)
                    value = float(per.sum() if rw is None else np.dot(per, rw)) / \
                        (1.0 / bs if spec.summed else rows)
                    per_output.append(value)
                    total += spec.weight * value
                metrics.update(outs, yb, wb, False, total + batch_penalty * bs, per_output, bs,
                               masks)
                if need_batch_logs:  # (as fit: the logs of a batch only where they are read)
                    logs = metrics.logs()
                    if cb is not None:
                        cb.on_test_batch_end(step, logs)
                    if bar:
                        bar.update(step + 1, logs, finalize=step + 1 == total_steps)
        finally:
            source.end_epoch()
            source.close()
        if comm is not None:
            metrics.reduce(comm)
        return metrics.logs()

    # ---------------------------------------------------------- predict

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None,
                max_queue_size=10, workers=1, use_multiprocessing=False):
        """Outputs for ``x``, batch by batch (each call has buffers of its
        own, so any number of threads may call ``predict``, ``evaluate`` and
        the model itself in inference mode at once; see ``fit`` for what
        training shares).  Memory-mapped inputs, and inputs whose float32
        copy would be large, are converted one batch at a time.  A progress bar is shown
        (verbose='auto' or 1) when there is more than one batch."""
        out = self._predict(x, batch_size, verbose, steps, callbacks, max_queue_size)
        self._losses_of_last_prediction()
        return out

    def _losses_of_last_prediction(self):
        """Where the graph's layers give losses (activity penalties, add_loss
        in a call), ``losses`` after predict are those of its last batch, as
        Keras's predict calls the model on each batch; the inference
        program keeps no penalties, so that batch runs once more through
        the graph (run_inference records it)."""
        xs = self.__dict__.pop("_predicted_from", None)
        if xs is not None:
            self._run_keeping_losses(xs, False)

    def _predict(self, x, batch_size, verbose, steps, callbacks, max_queue_size):
        run_inference = _inference()
        if type(x) is np.ndarray and steps is None and not callbacks and \
                (batch_size is None or type(batch_size) is int and batch_size > 0) and \
                x.ndim and x.shape[0] <= (batch_size or 32) and \
                type(self).predict_step is TrainingMixin.predict_step:
            # one batch in memory, as below, whose plan a call has used
            out = _planned_predict(self, x)
            if out is not None:
                return out
        steps = config.capped_steps(steps, _stream_length(x))
        x = self._trace_from(x, targets=False,
                             batch_size=batch_size if type(batch_size) is int else 32,
                             step="predict_step")
        if type(x) is np.ndarray and x.ndim and steps is None and not callbacks and \
                (batch_size is None or type(batch_size) is int and batch_size > 0) and \
                x.shape[0] <= (batch_size or 32) and \
                (type(verbose) is int or verbose == "auto") and \
                x.size <= _STREAM_CONVERT_BYTES >> 2 and \
                type(self).predict_step is TrainingMixin.predict_step and not self._eager_call:
            # One in-memory batch and nothing to report (no progress bar
            # for one batch, no callbacks): what the general path below
            # does for it, predict_on_batch's route, without its checks
            # for streams, steps and batching.
            return self._pack_outputs(run_inference(self, self._prepare_inputs(x)))
        if batch_size is not None and (not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"predict: batch_size must be a positive integer, got "
                             f"{batch_size!r}")
        batch_size = 32 if batch_size is None else int(batch_size)
        verbose = 1 if verbose == "auto" else int(verbose)
        if self._runs_own_step("predict_step"):
            return self._predict_steps(x, batch_size, steps)
        if _is_stream(x):
            return self._predict_stream(x, steps, verbose, callbacks, max_queue_size)
        lazy = _too_big(x)
        xs = self._prepare_inputs(x, convert=not lazy)
        n = xs[0].shape[0]
        if n <= batch_size and not callbacks and not lazy:
            return self._pack_outputs(run_inference(self, xs))
        dtypes = self._input_dtypes(len(xs))
        total = math.ceil(n / batch_size) if n else 0
        if steps is not None:
            total = min(total, int(steps))
        cb = CallbackList(callbacks or [], self, {"verbose": verbose, "steps": total})
        bar = Progbar(total, verbose=verbose) if verbose and total > 1 else None
        results = None
        cb.on_predict_begin()
        for step in range(total):
            s, e = step * batch_size, min((step + 1) * batch_size, n)
            cb.on_predict_batch_begin(step)
            xb = [_as_input(a[s:e], d) if lazy else a[s:e] for a, d in zip(xs, dtypes)]
            outs = run_inference(self, xb)
            if results is None:
                rows = min(n, total * batch_size)
                results = [np.empty((rows,) + o.shape[1:], np.float32) for o in outs]
            for r, o in zip(results, outs):
                r[s:e] = o
            cb.on_predict_batch_end(step, {"outputs": [r[s:e] for r in results]})
            if bar:
                bar.update(step + 1, None, finalize=step + 1 == total)
        cb.on_predict_end()
        if results is None:
            results = [np.empty((0,) + tuple(t.shape[1:]), np.float32) for t in self._outputs]
        return self._pack_outputs(results)

    def _predict_stream(self, x, steps, verbose, callbacks, max_queue_size):
        run_inference = _inference()
        source = _Source(self, x, steps, False, None, max_queue_size, targets=False)
        cb = CallbackList(callbacks or [], self, {"verbose": verbose, "steps": source.steps})
        bar = Progbar(source.steps, verbose=verbose) if verbose else None
        chunks = None
        cb.on_predict_begin()
        try:
            for step, (xb, _, _, _, _) in enumerate(source.epoch(source.steps)):
                cb.on_predict_batch_begin(step)
                outs = run_inference(self, xb)
                if chunks is None:
                    chunks = [[] for _ in outs]
                for c, o in zip(chunks, outs):
                    c.append(o)
                cb.on_predict_batch_end(step, {"outputs": outs})
                if bar:
                    bar.update(step + 1, None, finalize=False)
        finally:
            source.end_epoch()
            source.close()
        cb.on_predict_end()
        if chunks is None:
            raise ValueError("predict: the generator or dataset yielded no batches")
        return self._pack_outputs([np.concatenate(c, axis=0) for c in chunks])

    def predict_on_batch(self, x):
        run_inference = _inference()
        if type(x) is np.ndarray and type(self).predict_step is TrainingMixin.predict_step:
            out = _planned_predict(self, x)
            if out is not None:
                return out
        x = self._trace_from(x, targets=False, step="predict_step")
        if self._runs_own_step("predict_step"):
            out = self.predict_step(x)
            return tree.map_structure(lambda o: np.asarray(autodiff.value_of(o)), out)
        out = self._pack_outputs(run_inference(self, self._prepare_inputs(x)))
        self._losses_of_last_prediction()
        return out

    def predict_proba(self, x, batch_size=32, verbose=0):
        """The predicted probabilities: ``predict`` (Keras 2's
        Sequential.predict_proba, for a model ending in softmax or
        sigmoid)."""
        return self.predict(x, batch_size=batch_size, verbose=verbose)

    def predict_classes(self, x, batch_size=32, verbose=0):
        """Class indices: argmax of a multi-class output, ``p > 0.5`` for a
        one-unit output (Keras 2's Sequential.predict_classes)."""
        p = self.predict(x, batch_size=batch_size, verbose=verbose)
        if p.shape[-1] > 1:
            return p.argmax(axis=-1)
        return (p > 0.5).astype(np.int32)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One optimizer step on one batch; returns its loss (and metrics)."""
        self._require_compiled("train_on_batch()")
        x = self._trace_from(x)
        if self._runs_own_step("train_step"):
            # Keras's train_on_batch: one train_step on the batch, the
            # metrics reset first
            if class_weight is not None:
                raise ValueError("train_on_batch: class_weight is not supported with a custom "
                                 "train_step; weigh samples in the step")
            self.reset_metrics()
            logs = _step_logs(self.train_step(pack_x_y_sample_weight(x, y, sample_weight)))
            return logs if return_dict else self._listed(logs)
        xs, ys, ws = self._prepare(x, y, sample_weight, class_weight)
        self._place()
        params, grads = self._flat_parameters()
        state = self._training_state()
        bs = xs[0].shape[0]
        if bs == 0:
            raise ValueError(f"train_on_batch: the batch is empty (x has shape "
                             f"{xs[0].shape}): there is nothing to take a step on")
        total, per_output, outs = self._train_batch(state, params, grads, xs, ys, ws, bs,
                                                    [None] * len(self._compiled_outputs))
        # Each call reports its own batch (Keras 2's reset_metrics=True):
        # the metrics of the last call, reset, unless compile or the
        # targets' shapes (which pick the accuracy) changed since.
        shapes = tuple(None if y is None else y.shape[1:] for y in ys)
        held = self.__dict__.get("_batch_metrics")
        if held is not None and held[0] is self._compiled_outputs and held[1] == shapes:
            metrics = held[2]
            metrics.reset()
        else:
            metrics = _Metrics(self, ys)
            self.__dict__["_batch_metrics"] = (self._compiled_outputs, shapes, metrics)
        metrics.update(outs, ys, ws, True, total, per_output, bs, self._last_masks)
        logs = metrics.logs()
        return logs if return_dict else self._listed(logs)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        rows = len(x) if not isinstance(x, dict) else len(next(iter(x.values())))
        return self.evaluate(x, y, batch_size=max(rows, 1), verbose=0,
                             sample_weight=sample_weight, return_dict=return_dict)

    # The Keras 2 names for training on generators.
    def fit_generator(self, generator, steps_per_epoch=None, epochs=1, verbose=1,
                      callbacks=None, validation_data=None, validation_steps=None,
                      validation_freq=1, class_weight=None, max_queue_size=10, workers=1,
                      use_multiprocessing=False, shuffle=True, initial_epoch=0, **kwargs):
        """Keras 2's name for ``fit`` on a generator."""
        if kwargs:
            epochs = _keras1_fit_arguments("fit_generator", kwargs, epochs)
        return self.fit(generator, steps_per_epoch=steps_per_epoch, epochs=epochs,
                        verbose=verbose, callbacks=callbacks, validation_data=validation_data,
                        validation_steps=validation_steps, validation_freq=validation_freq,
                        class_weight=class_weight, max_queue_size=max_queue_size,
                        shuffle=shuffle, initial_epoch=initial_epoch)

    def evaluate_generator(self, generator, steps=None, callbacks=None, max_queue_size=10,
                           workers=1, use_multiprocessing=False, verbose=0):
        """Keras 2's name for ``evaluate`` on a generator."""
        return self.evaluate(generator, steps=steps, callbacks=callbacks, verbose=verbose,
                             max_queue_size=max_queue_size)

    def predict_generator(self, generator, steps=None, callbacks=None, max_queue_size=10,
                          workers=1, use_multiprocessing=False, verbose=0):
        """Keras 2's name for ``predict`` on a generator."""
        return self.predict(generator, steps=steps, callbacks=callbacks, verbose=verbose,
                            max_queue_size=max_queue_size)

    # ------------------------------------------ custom training steps
    #
    # Keras's train_step / test_step / predict_step: fit, evaluate and
    # predict call a subclass's override once per batch (the built-in
    # steps above run when none is overridden), with the losses, metrics
    # and trackers such a step uses.

    def train_step(self, data):
        """One step on ``data`` (``x``, ``(x, y)`` or ``(x, y,
        sample_weight)``), with a GradientTape: the forward pass, the
        compiled loss plus ``self.losses``, the optimizer's step, the
        metrics.  Returns the metrics' results by name."""
        from .tape import GradientTape
        x, y, sw = unpack_x_y_sample_weight(data)
        with GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw)
            scaled = self.optimizer.scale_loss(loss)
        weights = self.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(scaled, weights), weights))
        return self._step_metrics_with_loss(x, y, y_pred, sw, loss)

    def test_step(self, data):
        """One evaluation step: the loss and the metrics on ``data``."""
        from .tape import GradientTape
        x, y, sw = unpack_x_y_sample_weight(data)
        # A model compiled with no loss is scored on its add_loss values:
        # its call records them, as in training.
        adds_only = self._compile_args is not None and self._compile_args[0] is None
        with GradientTape() if adds_only else contextlib.nullcontext():
            y_pred = self(x, training=False)
            loss = self._compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sw, training=False)
        return self._step_metrics_with_loss(x, y, y_pred, sw, loss)

    def _step_metrics_with_loss(self, x, y, y_pred, sw, loss):
        """compute_metrics after a step.  An override with Keras's signature
        (no ``loss`` argument) gets the loss tracker updated here first, as
        Keras's step does."""
        if "loss" in inspect.signature(self.compute_metrics).parameters:
            return self.compute_metrics(x, y, y_pred, sw, loss=loss)
        if self._loss_tracker() is not None:
            self._loss_tracker().update_state(autodiff.value_of(loss))
        return self.compute_metrics(x, y, y_pred, sw)

    def _compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """compute_loss as the built-in steps call it: an override written
        before Keras 3.3 takes no ``training`` argument (Keras passes it
        only where the signature has it)."""
        if "training" in inspect.signature(self.compute_loss).parameters:
            return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=training)
        return self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)

    def predict_step(self, data):
        """The outputs for one batch of ``data``."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False)

    # tf.keras 2's make_train_function & co.: a function running one step
    # on the next batch of an iterator (or on a batch given directly), kept
    # as model.train_function (test_function, predict_function) until
    # compile or ``force`` makes it again.

    def _step_function(self, attr, step, force):
        made = self.__dict__.get(attr)
        if made is not None and not force:
            return made
        if step != "predict_step":
            self._require_compiled(f"{attr.replace('_function', '')}ing a step")
        # (a partial, not a closure: a deep copy of the model gets one of
        # its own, running the copy)
        function = functools.partial(TrainingMixin._run_step, self, step)
        setattr(self, attr, function)
        return function

    def _run_step(self, step, iterator_or_data):
        data = next(iterator_or_data) if hasattr(iterator_or_data, "__next__") \
            else iterator_or_data
        return getattr(self, step)(data)

    def make_train_function(self, force=False):
        return self._step_function("train_function", "train_step", force)

    def make_test_function(self, force=False):
        return self._step_function("test_function", "test_step", force)

    def make_predict_function(self, force=False):
        return self._step_function("predict_function", "predict_step", force)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Keras 3's loss of a step: the compiled loss(es) of ``y`` and
        ``y_pred`` (weighted by loss_weights) plus ``self.losses``; traced
        while a GradientTape records."""
        if self._compile_args is None:
            raise ValueError(f"Model {self.name!r}: compute_loss needs the loss given to "
                             f"compile(loss=...)")
        if self._compile_args[0] is None:
            # compiled with no loss: what the layers gave to add_loss
            added = self.losses
            if not added and not training:
                # evaluate of a model compiled for its metrics alone
                # (compile(metrics=["accuracy"])): a loss of 0, as tf.keras 2
                # and Keras on JAX report it
                return np.float32(0.0)
            if not added:
                raise ValueError(f"Model {self.name!r} has no loss: compile was given none "
                                 f"and no layer called add_loss")
            total = added[0]
            for value in added[1:]:
                total = ops.add(total, value)
            return total
        return _CompiledLoss(self)(y, y_pred, sample_weight, self.losses, track=False)

    @property
    def compiled_loss(self):
        """Keras 2's ``compiled_loss(y, y_pred, sample_weight,
        regularization_losses)``: the compiled loss, also counted in the
        ``loss`` tracker of ``metrics``."""
        return _CompiledLoss(self)

    @property
    def compiled_metrics(self):
        """Keras 2's ``compiled_metrics``: ``update_state(y, y_pred,
        sample_weight)`` updates the metrics given to compile."""
        return self._step_metrics()

    def compute_metrics(self, x, y, y_pred, sample_weight=None, loss=None):
        """Updates the compiled metrics (and the ``loss`` tracker with
        ``loss``) and returns every metric's result by name."""
        if loss is not None and self._loss_tracker() is not None:
            self._loss_tracker().update_state(autodiff.value_of(loss))
        if y is not None:
            self._step_metrics().update_state(y, y_pred, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self):
        return _step_logs({m.name: m.result() for m in self.metrics})

    @property
    def metrics(self):
        """The metrics a step updates, as Keras 3 lists them: the ``loss``
        tracker and the compiled metrics as one CompileMetrics (once
        compile gave a loss), then Metric objects held as attributes: the
        model's, then its layers'.  A subclass may override it to list its own
        trackers, which are then reset at each epoch's start."""
        found = []
        tracker = self._loss_tracker()
        if tracker is not None:
            found.append(tracker)
            compiled = self._step_metrics()
            if compiled.metrics:
                found.append(compiled)
        seen = {id(m) for m in found}
        for value in list(vars(self).values()) + _held_metrics(self):
            if isinstance(value, metrics_mod.Metric) and id(value) not in seen:
                seen.add(id(value))
                found.append(value)
        return found

    def get_compile_config(self):
        """The compile settings as a .keras file keeps them (Keras's form),
        None before compile.  A model that overrides it (and
        compile_from_config) saves what its own compile needs."""
        if not getattr(self, "compiled", False):
            return None
        from .saving.keras_config import compile_to_keras
        return compile_to_keras(self)

    def compile_from_config(self, config):
        """Compiles the model from get_compile_config's dict (what
        load_model does with the file's)."""
        from .saving.config import compile_from_config
        from .saving.keras_config import compile_from_keras
        compile_from_config(self, compile_from_keras(config))

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    @property
    def losses(self):
        """Keras's: what the model's last call added (activity penalties,
        add_loss values; on a GradientTape, values on it, so ``loss +
        sum(model.losses)`` differentiates them), then each regularized
        weight's penalty, then the values of the callables given to
        add_loss outside a call (its layers' too)."""
        from .tape import weight_penalties
        return list(self.__dict__.get("_call_losses", [])) + weight_penalties(self.weights) + \
            callable_losses([self] + self._all_layers())

    def _loss_tracker(self):
        if not getattr(self, "compiled", False) or self._compile_args is None:
            return None
        # A step of the model's own with no compiled loss has none to track,
        # unless compile was given metrics: Keras then lists its loss tracker
        # and the compiled metrics in ``metrics`` (keras.io's consistency
        # training returns ``{m.name: m.result() for m in self.metrics}``).
        if self._compile_args[0] is None and not self._compile_args[2] and \
                getattr(type(self), "train_step") is not TrainingMixin.train_step:
            return None
        tracker = self.__dict__.get("_loss_mean")
        if tracker is None:
            tracker = self.__dict__["_loss_mean"] = metrics_mod.Mean(name="loss")
        return tracker

    def _step_metrics(self):
        key = id(self._compile_args)
        held = self.__dict__.get("_compiled_metric_set")
        if held is None or held[0] != key:
            held = self.__dict__["_compiled_metric_set"] = (key, CompileMetrics(self))
        return held[1]

    def _runs_own_step(self, name):
        """Whether fit/evaluate/predict run a step of the subclass's (or,
        with no compiled loss, the generic one)."""
        overridden = getattr(type(self), name) is not getattr(TrainingMixin, name)
        if overridden or self._eager_call:  # (a call that draws has no graph to run)
            return True
        if name == "predict_step":
            return False
        return overridden or self._compile_args is None or self._compile_args[0] is None

    def _trace_from(self, x, targets=True, batch_size=None, step="train_step"):
        """Traces a subclassed model not built yet on ``x`` (arrays, or a
        stream's first batch), so that fit, evaluate and predict know
        whether its call runs eagerly (one that draws random values does)
        before they choose their path.  Returns ``x``: a one-shot
        iterator comes back with its first item put back in front.  A
        model with its own ``step`` (train_step, test_step or
        predict_step) is left alone: its data is the step's to unpack (a
        dict of source and target, say), and the step's first call of the
        model builds it, as in Keras."""
        if x is None or self._program is not None or self._eager_call or \
                not self._subclassed or \
                getattr(type(self), step) is not getattr(TrainingMixin, step):
            return x
        if not _is_stream(x):
            self._prepare_inputs(x, convert=False)
            if batch_size and self.__dict__.get("_first_batch") is not None:
                # its call first runs on a batch of them, as Keras builds it
                self.__dict__["_first_batch"] = min(self.__dict__["_first_batch"], batch_size)
            return x
        if hasattr(x, "__getitem__") and hasattr(x, "__len__"):
            if not len(x):
                return x
            item = x[0]
        else:
            one_shot = hasattr(x, "__next__")
            try:
                item = next(x if one_shot else iter(x))
            except StopIteration:
                return x
            if one_shot:
                x = itertools.chain([item], x)
        if isinstance(item, tuple) and len(item) in (1, 2, 3) or \
                targets and isinstance(item, list) and len(item) in (2, 3):
            item = item[0]
        self._prepare_inputs(item, convert=False)
        return x

    def _fit_steps(self, x, y, batch_size, epochs, verbose, callbacks, validation_data,
                   shuffle, sample_weight, initial_epoch, steps_per_epoch, validation_steps,
                   validation_batch_size, validation_freq):
        """fit through train_step: batches of ``x``/``y`` arrays (any
        structure) or a stream's items, as Keras hands them to the step."""
        source = _StepSource(x, y, sample_weight, batch_size, shuffle, steps_per_epoch)
        verbose = 1 if verbose == "auto" else int(verbose)
        cbs = listed_callbacks(callbacks)
        if verbose:
            cbs.append(ProgbarLogger(verbose))
        history = history_in(cbs)
        cb = CallbackList(cbs, self, {"epochs": epochs, "steps": source.steps,
                                      "verbose": verbose})
        self.history = history
        self.stop_training = False
        logs = {}
        cb.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            added = _LayerMetrics(self)
            cb.on_epoch_begin(epoch)
            for step, data in enumerate(source.epoch()):
                cb.on_train_batch_begin(step)
                with autodiff.collecting_metrics() as found:
                    step_logs = self.train_step(data)
                added.add(found)
                logs = added.logs(_step_logs(step_logs), held=False)
                cb.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = dict(logs)
            if validation_data is not None and _validate_now(validation_freq, epoch):
                val = validation_data if _is_stream(validation_data) else \
                    tuple(validation_data)
                vx, vy, vw = (val, None, None) if _is_stream(val) else \
                    (val[0], val[1] if len(val) > 1 else None, val[2] if len(val) > 2 else None)
                vlogs = self._evaluate_steps(vx, vy, vw, validation_batch_size or batch_size,
                                             validation_steps, None)
                epoch_logs.update({"val_" + k: v for k, v in vlogs.items()})
            cb.on_epoch_end(epoch, epoch_logs)
            logs = epoch_logs
            if self.stop_training:
                break
        if epochs > initial_epoch and self.optimizer is not None:
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cb.on_train_end(logs)
        return history

    def _evaluate_steps(self, x, y, sample_weight, batch_size, steps, callbacks, verbose=0):
        source = _StepSource(x, y, sample_weight, batch_size, False, steps)
        self.reset_metrics()
        cb = CallbackList(callbacks or [], self, {"verbose": verbose, "steps": source.steps})
        bar = Progbar(source.steps, verbose=verbose) if verbose else None
        logs = {}
        added = _LayerMetrics(self)
        cb.on_test_begin()
        for step, data in enumerate(source.epoch()):
            cb.on_test_batch_begin(step)
            with autodiff.collecting_metrics() as found:
                step_logs = self.test_step(data)
            added.add(found)
            logs = added.logs(_step_logs(step_logs), held=False)
            cb.on_test_batch_end(step, logs)
            if bar:
                bar.update(step + 1, logs, finalize=step + 1 == source.steps)
        cb.on_test_end(logs)
        return logs

    def _predict_steps(self, x, batch_size, steps):
        source = _StepSource(x, None, None, batch_size, False, steps)
        chunks = None
        for data in source.epoch():
            out = self.predict_step(data)
            outs = list(out) if isinstance(out, (list, tuple)) else [out]
            outs = [np.asarray(autodiff.value_of(o), np.float32) for o in outs]
            if chunks is None:
                chunks = [[] for _ in outs]
            for c, o in zip(chunks, outs):
                c.append(o)
        if chunks is None:
            raise ValueError("predict: no batches")
        results = [np.concatenate(c, axis=0) for c in chunks]
        return results if isinstance(out, (list, tuple)) else results[0]


def _metric_leaves(spec):
    if spec is None:
        return []
    if isinstance(spec, dict):
        return [m for v in spec.values() for m in _metric_leaves(v)]
    if isinstance(spec, (list, tuple)):
        return [m for v in spec for m in _metric_leaves(v)]
    return [spec]


def _metrics_per_output(spec, names, n):
    """Keras 3's reading of ``metrics``: one list for a single output; a
    dict by output name; a list with one entry per output (a metric or a
    list of them: ``["mae", "mse"]`` for two outputs is mae on the first,
    mse on the second).  A list of another length, which Keras 3 refuses,
    applies to every output, as in Keras 2."""
    if not spec:
        return [[] for _ in range(n)]
    as_list = lambda v: [] if v is None else (list(v) if isinstance(v, (list, tuple)) else [v])
    if n == 1:
        return [_metric_leaves(spec)]
    if isinstance(spec, dict):
        return [as_list(v) for v in _per_output(spec, names, "metrics")]
    if len(spec) == n:
        return [as_list(m) for m in spec]
    if any(isinstance(m, (list, tuple, dict)) for m in spec):
        # lists per output, but not one per output (Keras 3's "tuple arity
        # mismatch")
        raise ValueError(f"compile: metrics gives {len(spec)} lists of metrics for a model of "
                         f"{n} outputs {list(names)}; give one list per output, a dict by "
                         f"output name, or a flat list of metrics for every output")
    return [list(spec) for _ in range(n)]


def _epochs(epochs):
    """fit's epoch count: an integer, as Keras's ``range(initial_epoch,
    epochs)`` takes (1.5 epochs would train one without a word)."""
    if isinstance(epochs, (bool, np.bool_)) or not isinstance(epochs, (int, np.integer)):
        raise TypeError(f"fit: epochs must be an integer, got {epochs!r}")
    return int(epochs)


def _apply_class_weight(class_weight, y, w):
    """Sample weights from Keras's class_weight dict.  As Keras 3: the keys
    are class indices (anything ``int()`` takes), a class not in the dict
    weighs 1, a (batch, classes) target is read by its argmax and a
    (batch, 1) one rounded, one weight per sample; class_weight and
    sample_weight together are refused.  Targets with a class per element
    (sparse labels of a sequence or a segmentation mask, one-hot masks)
    get a weight per element, the way Keras's tf.data path weighs one-hot
    masks (its array path cannot convert them)."""
    if not hasattr(class_weight, "items") or not hasattr(class_weight, "get"):
        raise ValueError(f"class_weight must be a dict of class index -> weight, got "
                         f"{type(class_weight).__name__}")
    if w is not None:
        raise ValueError("You cannot pass class_weight and sample_weight at the same time")
    table = {}
    for k, v in class_weight.items():
        try:
            table[int(k)] = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"class_weight must be a dict with integer keys (class "
                             f"indices) and numeric weights, got {k!r}: {v!r}") from None
        if not np.isfinite(table[int(k)]):
            # (as sample_weight: a NaN weight would make every loss NaN)
            raise ValueError(f"class_weight contains NaN or infinite values: class {k!r} "
                             f"weighs {v!r}")
    if y.dtype == np.int32 or y.ndim < 2:  # sparse labels, one per element
        labels = y
    elif y.shape[-1] != 1:
        labels = np.argmax(y, axis=-1)
    else:
        labels = y[..., 0]
    labels = np.round(labels).astype(np.int64)
    classes, where = np.unique(labels, return_inverse=True)
    cw = np.array([table.get(int(c), 1.0) for c in classes], np.float32)[where]
    return cw.reshape(labels.shape)


def _sharded_job():
    """Whether a data-parallel job is running whose data each process
    already holds its own share of (the global batch is then the sum of
    the processes' batches)."""
    from .distribution import active
    return active() is not None


def _too_big(x):
    """Whether converting x to float32 at once would hold too much memory
    (a memory-mapped array, or more than _STREAM_CONVERT_BYTES)."""
    arrays = x.values() if isinstance(x, dict) else (x if isinstance(x, (list, tuple)) else [x])
    for a in arrays:
        if isinstance(a, np.memmap):
            return True
        if isinstance(a, np.ndarray) and a.size * 4 > _STREAM_CONVERT_BYTES and \
                not (a.dtype == np.float32 and a.flags.c_contiguous):
            return True
    return False


class _ArraySource:
    """Batches of in-memory arrays: each epoch a shuffled index (when
    asked) and gathers into reused buffers."""

    def __init__(self, xs, ys, ws, batch_size, shuffle, steps=None, dtypes=None, shard=None):
        self.xs, self.ys, self.ws = xs, ys, ws
        self.batch_size = batch_size
        self.shuffle = shuffle
        # (rank, size): this process takes its share of every batch.
        self.shard = shard
        n = xs[0].shape[0]
        self.n = n
        self.steps = math.ceil(n / batch_size) if steps is None else \
            min(int(steps), math.ceil(n / batch_size))
        # Inputs left unconverted (too big to convert at once) are
        # converted batch by batch.
        self.dtypes = dtypes
        self._cursor = n
        self._order = None
        self._bufs = None

    def sample_targets(self):
        return self.ys

    def _gather(self, arrays, idx, key, bs):
        out = []
        for i, a in enumerate(arrays):
            if a is None:
                out.append(None)
                continue
            buf = self._bufs.get((key, i))
            if buf is None:
                buf = self._bufs[(key, i)] = np.empty((self.batch_size,) + a.shape[1:], a.dtype)
            out.append(ops.gather_rows(a, idx, buf[:bs]))
        return out

    def epoch(self, steps):
        if self._bufs is None:
            self._bufs = {}
        n, bsz = self.n, self.batch_size
        for _ in range(steps):
            if self._cursor >= n:  # steps_per_epoch may span epochs of the data
                self._order = rng().permutation(n) if self.shuffle else None
                self._cursor = 0
            s = self._cursor
            e = min(s + bsz, n)
            self._cursor = e
            rows, offset = e - s, 0
            if self.shard is not None:
                rank, size = self.shard
                lo, hi = rows * rank // size, rows * (rank + 1) // size
                s, e, offset = s + lo, s + hi, lo
            if self._order is None:
                xb = [a[s:e] for a in self.xs]
                if self.dtypes is not None:
                    xb = [_as_input(a, d) for a, d in zip(xb, self.dtypes)]
                yb = [None if a is None else a[s:e] for a in self.ys]
                wb = [None if a is None else a[s:e] for a in self.ws]
            else:
                idx = self._order[s:e]
                xb = self._gather(self.xs, idx, "x", e - s)
                yb = self._gather(self.ys, idx, "y", e - s)
                wb = self._gather(self.ws, idx, "w", e - s)
            yield xb, yb, wb, rows, offset

    def end_epoch(self):
        if not self.shuffle:
            self._cursor = self.n

    def close(self):
        pass


class _Source:
    """Batches from a generator, iterator, PyDataset/Sequence or
    re-iterable dataset, converted on a background thread."""

    def __init__(self, model, data, steps, shuffle, class_weight, max_queue_size,
                 targets=True, shard=None):
        self.model = model
        self.shard = shard
        self.data = data
        self.shuffle = shuffle
        self.class_weight = class_weight
        self.max_queue_size = max_queue_size
        self.targets = targets
        self.indexed = hasattr(data, "__getitem__") and hasattr(data, "__len__")
        self.reiterable = not self.indexed and not hasattr(data, "__next__") and \
            hasattr(data, "__iter__")
        length = len(data) if self.indexed else \
            _stream_length(data) if self.reiterable else None
        if steps is not None:
            steps = int(steps)
            if steps < 1:
                raise ValueError(f"steps must be >= 1, got {steps}")
        elif length is None:
            steps = None
        self.steps = steps if steps is not None else length
        self._iter = None
        self._prefetch = None
        self._first = self._peek()

    def _items(self):
        """Raw batches: an iterator over one epoch's worth or, for an
        iterator or generator given, that iterator itself, which goes on
        across epochs.  It is never wrapped in a generator of ours: closing
        that when an epoch ends would close the caller's generator too, and
        the epochs after the first would find it empty."""
        if self.indexed:
            count = len(self.data)
            order = rng().permutation(count) if self.shuffle else range(count)
            return (self.data[int(i)] for i in order)
        if self.reiterable:
            return iter(self.data)
        if self._iter is None:
            self._iter = self.data if hasattr(self.data, "__next__") else iter(self.data)
        return self._iter

    def _peek(self):
        """The first batch, converted, to build the model and learn the
        targets' shapes before training starts."""
        items = self._items()
        try:
            raw = next(items)
        except StopIteration:
            raise ValueError("The generator or dataset yielded no batches") from None
        self._pending = (raw, items)
        return self._convert(raw)

    def sample_targets(self):
        return self._first[1]

    def _convert(self, item):
        model = self.model
        if isinstance(item, tuple) and len(item) in (1, 2, 3):
            x = item[0]
            y = item[1] if len(item) > 1 else None
            w = item[2] if len(item) > 2 else None
        elif isinstance(item, list) and len(item) in (2, 3) and self.targets:
            x, y = item[0], item[1]
            w = item[2] if len(item) > 2 else None
        else:
            x, y, w = item, None, None
        xs = model._prepare_inputs(x, any_rows=True)
        rows = _common_rows(xs)
        if not self.targets:
            return xs, None, None, xs[0].shape[0] if rows is None else rows, 0
        model._resolve_compile()
        if y is None:
            raise ValueError("fit/evaluate: the generator or dataset must yield (x, y) or "
                             "(x, y, sample_weight) tuples")
        ys = model._prepare_targets(y, xs, check_rows=False)
        if rows is None:
            # inputs of different lengths: the batch is the targets' rows
            rows = next(a.shape[0] for a in ys if a is not None)
            if self.shard is not None:
                raise ValueError("fit: a batch whose inputs have different numbers of rows "
                                 "cannot be split between processes")
        ws = model._prepare_weights(w, self.class_weight, ys, rows)
        if self.shard is None:
            return xs, ys, ws, None if _sharded_job() else rows, 0
        rank, size = self.shard
        lo, hi = rows * rank // size, rows * (rank + 1) // size
        cut = (lambda a: None if a is None else a[lo:hi])
        return [a[lo:hi] for a in xs], [cut(a) for a in ys], [cut(a) for a in ws], rows, lo

    def epoch(self, steps):
        raw, items = self._pending if self._pending is not None else (None, self._items())
        self._pending = None

        nonlocal_items = [items]

        def next_item():
            return next(nonlocal_items[0])

        def produce_wrapped():
            count = 0
            if raw is not None:
                yield self._convert(raw)
                count += 1
            while steps is None or count < steps:
                try:
                    item = next_item()
                except StopIteration:
                    if (self.indexed or self.reiterable) and steps is not None and count > 0:
                        nonlocal_items[0] = self._items()
                        try:
                            item = next_item()
                        except StopIteration:
                            return
                    else:
                        if steps is not None and self.targets:
                            warnings.warn(
                                f"Your input ran out of data after {count} of {steps} "
                                f"steps; interrupting training. Make sure that your dataset "
                                f"or generator can generate at least `steps_per_epoch * "
                                f"epochs` batches.", stacklevel=2)
                        return
                yield self._convert(item)
                count += 1

        self._prefetch = _Prefetcher(produce_wrapped(), self.max_queue_size)
        while True:
            batch = self._prefetch.get()
            if batch is _Prefetcher._DONE:
                break
            yield batch

    def _stop(self):
        if self._prefetch is not None:
            self._prefetch.close()
            self._prefetch = None

    def end_epoch(self):
        self._stop()
        if self.indexed and hasattr(self.data, "on_epoch_end"):
            self.data.on_epoch_end()

    def close(self):
        self._stop()


# ------------------------------------------------- custom step helpers

def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a step's data, as Keras unpacks it."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data
    raise ValueError(f"A step's data must be x, (x,), (x, y) or (x, y, sample_weight); got a "
                     f"tuple of {len(data)}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    if y is None:
        return x if not isinstance(x, (list, tuple)) else (x,)
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def _step_logs(logs):
    """A step's returned dict as floats (nested dicts flattened, traced
    values and 0-d arrays converted)."""
    from . import autodiff
    out = {}
    for k, v in (logs or {}).items():
        if isinstance(v, dict):
            out.update(_step_logs(v))
            continue
        v = autodiff.value_of(v)
        out[k] = float(np.asarray(v).reshape(-1)[0]) if np.size(v) == 1 else v
    return out


def _rows_of(structure):
    from .layers.base import flatten
    leaves = [a for a in flatten(structure) if a is not None]
    return len(leaves[0]) if leaves else 0


def _users_loss(loss):
    """Whether a compiled loss is the program's own function or Loss
    subclass (pynn's built-in losses read their targets)."""
    return type(loss) is losses_mod.LossFunctionWrapper or \
        not type(loss).__module__.startswith("pynn.")


def _check_cardinality(x, y, sample_weight):
    """Keras 3's check of arrays given to fit/evaluate: all of them (x, y
    and sample_weight, whatever reads them) have the same number of rows."""
    from .layers.base import flatten
    sizes = [[np.shape(a)[0] for a in flatten(part) if a is not None and np.ndim(a)]
             for part in (x, y, sample_weight)]
    if len({n for part in sizes for n in part}) > 1:
        given = ", ".join(f"{label!r} sizes: {', '.join(map(str, part))}"
                          for label, part in zip(("x", "y", "sample_weight"), sizes) if part)
        raise ValueError(f"Data cardinality is ambiguous: the arrays have different numbers "
                         f"of samples. Make sure all arrays contain the same number of "
                         f"samples ({given}).")


def _take(structure, idx):
    if structure is None:
        return None
    if isinstance(structure, dict):
        return {k: _take(v, idx) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return type(structure)(_take(v, idx) for v in structure)
    return np.asarray(structure)[idx]


class _StepSource:
    """What a custom step is given: batches sliced from arrays (any
    structure; shuffled each epoch when asked) or a stream's items."""

    def __init__(self, x, y, sample_weight, batch_size, shuffle, steps):
        self.stream = _is_stream(x)
        self.x, self.y, self.w = x, y, sample_weight
        self.shuffle = shuffle
        self.batch_size = int(batch_size or 32)
        if self.stream:
            if y is not None:
                raise ValueError("fit: when x is a generator or dataset it yields the "
                                 "targets; y must not be given")
            self.steps = int(steps) if steps is not None else _stream_length(x)
            self._iter = None
        else:
            _check_cardinality(x, y, sample_weight)
            self.rows = _rows_of(x)
            self.steps = math.ceil(self.rows / self.batch_size)
            if steps is not None:
                self.steps = min(self.steps, int(steps))

    def epoch(self):
        if self.stream:
            yield from self._stream_epoch()
            return
        order = rng().permutation(self.rows) if self.shuffle else np.arange(self.rows)
        for step in range(self.steps):
            idx = order[step * self.batch_size:(step + 1) * self.batch_size]
            if not self.shuffle:
                idx = slice(step * self.batch_size, (step + 1) * self.batch_size)
            # lists as tuples, as Keras's batches of arrays reach a step on
            # TensorFlow (``if isinstance(data[0], tuple): data = data[0]``)
            yield tree.lists_to_tuples(pack_x_y_sample_weight(
                _take(self.x, idx), _take(self.y, idx), _take(self.w, idx)))

    def _stream_epoch(self):
        data = self.x
        if hasattr(data, "__getitem__") and hasattr(data, "__len__"):
            items = (data[i] for i in range(len(data)))
        elif hasattr(data, "__next__"):
            items = data
        else:
            items = iter(data)
        for step, item in enumerate(items):
            if self.steps is not None and step >= self.steps:
                break
            yield item


class _CompiledLoss:
    """The loss given to compile, on one step's targets and predictions
    (one output, or a list/dict per output), traced while a GradientTape
    records."""

    def __init__(self, model):
        self.model = model

    def __call__(self, y_true, y_pred, sample_weight=None, regularization_losses=None,
                 track=True):
        model = self.model
        loss, loss_weights = model._compile_args[0], model._compile_args[1]
        if loss is None:
            raise ValueError(f"Model {model.name!r}: compile was given no loss")
        if isinstance(y_pred, dict):
            names = list(y_pred.keys())
            preds = list(y_pred.values())
        else:
            preds = list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
            names = list(getattr(model, "output_names", None) or []) or \
                [f"output_{i}" for i in range(len(preds))]
        if len(names) != len(preds):
            names = [f"output_{i}" for i in range(len(preds))]
        trues = [y_true[n] for n in names] if isinstance(y_true, dict) else \
            list(y_true) if isinstance(y_true, (list, tuple)) and len(preds) > 1 else [y_true]
        per_loss = _per_output(loss, names, "loss")
        per_weight = _per_output(1.0 if loss_weights is None else loss_weights, names,
                                 "loss_weights")
        total = 0.0
        for spec, w, t, p in zip(per_loss, per_weight, trues, preds):
            if spec is None:
                continue
            value = losses_mod.to_loss(spec)(t, p, sample_weight)
            total = total + (value if w in (None, 1.0) else float(w) * value)
        for extra in regularization_losses or []:
            total = total + extra
        if track and model._loss_tracker() is not None:
            from . import autodiff
            model._loss_tracker().update_state(autodiff.value_of(total))
        return total


class CompileMetrics(metrics_mod.Metric):
    """The metrics given to compile, per output, as one metric named
    ``compile_metrics`` (Keras 3's): ``update_state(y, y_pred,
    sample_weight)`` hands each output's targets and predictions to its
    metrics, ``result()`` is the dict of their results, ``metrics`` lists
    them.  A custom step's ``for m in self.metrics: m.update_state(y,
    y_pred)`` then works for any number of outputs."""

    def __init__(self, model):
        # (no Metric.__init__: the state is the inner metrics', which are
        # each summed over a distributed job's processes on their own)
        self.name, self.dtype, self._variables = "compile_metrics", "float32", []
        spec = model._compile_args[2] if model._compile_args is not None else None
        names = list(model.output_names) if getattr(model, "_outputs", None) else ["output"]
        self.metrics, self._per_output = [], []
        for i, specs in enumerate(_metrics_per_output(spec, names, len(names))):
            for s in specs:
                m = _AccuracyByShape(s) if isinstance(s, str) and \
                    s.lower() in ("accuracy", "acc") else metrics_mod.to_metric(s)
                if isinstance(s, str):
                    m.name = s  # (as fit logs it, Keras 3's get_metric: 'MAPE', 'AUC')
                # (named as compile named them; result() prefixes the
                # output's name where there are several, as Keras)
                self._per_output.append((f"{names[i]}_" if len(names) > 1 else "", i, m))
                self.metrics.append(m)

    @property
    def variables(self):
        return [v for m in self.metrics for v in m.variables]

    def update_state(self, y_true, y_pred, sample_weight=None):
        preds = list(y_pred.values()) if isinstance(y_pred, dict) else \
            list(y_pred) if isinstance(y_pred, (list, tuple)) else [y_pred]
        trues = list(y_true.values()) if isinstance(y_true, dict) else \
            list(y_true) if isinstance(y_true, (list, tuple)) and len(preds) > 1 else [y_true]
        for _, i, m in self._per_output:
            m.update_state(trues[i], preds[i], sample_weight)

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    def result(self):
        return {prefix + m.name: m.result() for prefix, _, m in self._per_output}

    def get_config(self):
        return {"name": self.name}


class _AccuracyByShape(metrics_mod.Metric):
    """'accuracy' in compile, for a custom step: binary, categorical or
    sparse by the first update's targets and predictions (Keras 3's
    rule)."""

    def __init__(self, spec):
        self._spec, self._inner = spec, None
        super().__init__(spec)

    def reset_state(self):
        super().reset_state()
        if self._inner is not None:
            self._inner.reset_state()

    def update_state(self, y_true, y_pred, sample_weight=None, logits_of=None):
        y_true = np.asarray(autodiff.value_of(y_true))
        y_pred = np.asarray(autodiff.value_of(y_pred), np.float32)
        if self._inner is None:
            self._inner = metrics_mod.to_metric(self._spec, y_true.shape, y_pred.shape)
        if not isinstance(self._inner, metrics_mod.SparseCategoricalAccuracy):
            y_true = y_true.astype(np.float32).reshape(y_pred.shape)
        self._inner.update_state(y_true, y_pred, sample_weight)

    def result(self):
        return 0.0 if self._inner is None else self._inner.result()
