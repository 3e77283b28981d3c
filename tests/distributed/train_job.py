"""A training job for the distributed tests, run under mpiexec (or alone):
python train_job.py OUT.npz MODEL OPTIMIZER INPUT [EPOCHS] [BACKUP_DIR]

MODEL: mlp | cnn | bn (a convnet with synchronized BatchNormalization);
OPTIMIZER: sgd | rmsprop | adam; INPUT: arrays | generator | own (each
process passes its own share of every global batch of 64, under
DataParallel(auto_shard_dataset=False); one process passes them all).
Environment:
KILL_AT=epoch,step ends the process abruptly there (a killed job);
RAISE_ON_RANK=r makes rank r raise in the middle of the first epoch;
SHORT_ON_RANK=r gives rank r one batch less (INPUT own).
Rank 0 writes the final weights to OUT.npz."""
import os
import sys

import numpy as np

import pynn
from pynn import layers

out, kind, opt_name, data_kind = sys.argv[1:5]
epochs = int(sys.argv[5]) if len(sys.argv) > 5 else 1
backup = sys.argv[6] if len(sys.argv) > 6 else None

pynn.distribution.initialize()
pynn.distribution.set_distribution(
    pynn.distribution.DataParallel(auto_shard_dataset=data_kind != "own"))
comm_rank = pynn.distribution.distribution().data_shard_id

(x, y), _ = pynn.datasets.mnist.load_data()
x, y = x[:960].astype(np.float32) / 255, y[:960]
pynn.utils.set_random_seed(7)
if kind == "mlp":
    x = x.reshape(-1, 784)
    model = pynn.Sequential([pynn.Input(shape=(784,)), layers.Dense(64, activation="relu"),
                             layers.Dropout(0.2), layers.Dense(10, activation="softmax")])
else:
    x = x[..., None]
    inp = pynn.Input(shape=(28, 28, 1))
    if kind == "bn":
        # without a bias: with one, two processes under RMSprop (Keras 3's
        # rule) ended up to 2e-4 from one process after an epoch (SGD: 1e-6),
        # which is not explained yet
        h = layers.Conv2D(8, 3, activation="relu", use_bias=False)(inp)
        h = layers.BatchNormalization(synchronized=True)(h)
    else:
        h = layers.Conv2D(8, 3, activation="relu")(inp)
    h = layers.MaxPooling2D()(h)
    h = layers.Conv2D(16, 3, activation="relu")(h)
    h = layers.MaxPooling2D()(h)
    h = layers.Dropout(0.5)(layers.Flatten()(h))
    model = pynn.Model(inp, layers.Dense(10, activation="softmax")(h))
optimizer = {"sgd": pynn.optimizers.SGD(0.05, momentum=0.9), "rmsprop": "rmsprop",
             "adam": "adam"}[opt_name]
# MeanIoU keeps a confusion matrix, not a running mean: the processes sum it
model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
              metrics=["accuracy", pynn.metrics.MeanIoU(10, sparse_y_pred=False)])


class Fault(pynn.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        kill = os.environ.get("KILL_AT")
        if kill and [int(v) for v in kill.split(",")] == [self.epoch, batch]:
            os._exit(137)  # as abrupt as a kill: no cleanup, no flush
        if os.environ.get("RAISE_ON_RANK") == str(comm_rank) and batch == 3:
            raise RuntimeError("a data error on this process")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch


callbacks = [Fault()]
if backup:
    callbacks.append(pynn.callbacks.BackupAndRestore(backup, save_freq=
                                                     int(os.environ.get("SAVE_FREQ", "0"))
                                                     or "epoch"))
if data_kind == "generator":
    class Batches(pynn.utils.PyDataset):
        def __len__(self):
            return len(x) // 48

        def __getitem__(self, i):
            return x[i * 48:(i + 1) * 48], y[i * 48:(i + 1) * 48]

    history = model.fit(Batches(), epochs=epochs, shuffle=False, verbose=0,
                        callbacks=callbacks)
elif data_kind == "own":
    # rows [64 i + lo, 64 i + hi) of every global batch i, as automatic
    # sharding would have given this process (one process: all of them)
    comm = pynn.distribution.active()
    rank, size = (0, 1) if comm is None else (comm.rank, comm.size)
    lo, hi = 64 * rank // size, 64 * (rank + 1) // size
    mine = np.concatenate([np.arange(s + lo, s + hi) for s in range(0, len(x), 64)])
    if os.environ.get("SHORT_ON_RANK") == str(rank):
        mine = mine[:-(hi - lo)]  # one batch short
    history = model.fit(x[mine], y[mine], batch_size=hi - lo, epochs=epochs, verbose=0,
                        shuffle=False, callbacks=callbacks)
else:
    history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0,
                        validation_split=0.1, callbacks=callbacks)
if comm_rank == 0:
    np.savez(out, *model.get_weights(), history=np.array(history.history["loss"]),
             mean_io_u=np.array(history.history["mean_io_u"]))
