"""A training program written against tf.distribute.MultiWorkerMirroredStrategy,
run under mpiexec (or alone) by test_multiworker_strategy.py:
python strategy_job.py OUT MODE

MODE: fit-arrays | fit-data | fit-off | fit-dist (model.fit on arrays, on
a dataset split by DATA sharding, on each process's own dataset under OFF,
on a dataset experimental_distribute_dataset split) | loop |
loop-fn (a custom training loop over experimental_distribute_dataset or
distribute_datasets_from_function; loop-bn: the first with
BatchNormalization) | own-step (fit of a model with its
own train_step, which must refuse to train apart) | collectives | ckpt (fit with
checkpoint callbacks whose paths name the process, then a checkpoint
written as TensorFlow's multi-worker tutorial writes one: the chief into
OUT.ckpt, the others into a temporary folder they remove).  Each process seeds its
random generator with its rank: the strategy must start every replica from
process 0's weights.  Every process writes OUT.<rank>.npz."""
import os
import sys

import numpy as np

import pynn as tf

out, mode = sys.argv[1:3]
GLOBAL = 32
strategy = tf.distribute.MultiWorkerMirroredStrategy()
rank = strategy.cluster_resolver.task_id
size = strategy.num_replicas_in_sync
tf.utils.set_random_seed(rank)

data = np.random.default_rng(5)
x = data.normal(size=(8 * GLOBAL, 12)).astype(np.float32)
y = data.integers(0, 4, size=8 * GLOBAL)
results = {}


def build():
    if mode == "loop-bn":
        return tf.keras.Sequential([tf.keras.Input(shape=(12,)),
                                    tf.keras.layers.Dense(16, activation="relu"),
                                    tf.keras.layers.BatchNormalization(),
                                    tf.keras.layers.Dense(4)])
    return tf.keras.Sequential([tf.keras.Input(shape=(12,)),
                                tf.keras.layers.Dense(16, activation="relu"),
                                tf.keras.layers.Dense(4)])


if mode.startswith("fit") or mode == "ckpt":
    with strategy.scope():
        model = build()
        model.compile(optimizer=tf.keras.optimizers.SGD(0.1, momentum=0.9),
                      loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    if mode == "fit-arrays":
        history = model.fit(x, y, batch_size=GLOBAL, epochs=2, shuffle=False, verbose=0)
    elif mode == "ckpt":
        history = model.fit(x, y, batch_size=GLOBAL, epochs=2, shuffle=False, verbose=0,
                            callbacks=[tf.keras.callbacks.ModelCheckpoint(
                                f"{out}.r{rank}-{{epoch}}.weights.h5", save_weights_only=True),
                                tf.keras.callbacks.BackupAndRestore(f"{out}.backup{rank}")])
        chief = strategy.extended.should_checkpoint
        write_dir = f"{out}.ckpt" if chief else os.path.join(f"{out}.ckpt",
                                                             f"workertemp_{rank}")
        checkpoint = tf.train.Checkpoint(model=model)
        tf.train.CheckpointManager(checkpoint, directory=write_dir, max_to_keep=1).save()
        if not chief:
            tf.io.gfile.rmtree(write_dir)
    else:
        policy = tf.data.experimental.AutoShardPolicy
        options = tf.data.Options()
        if mode in ("fit-data", "fit-dist"):
            dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL)
            options.experimental_distribute.auto_shard_policy = policy.DATA
        else:
            # each process brings its share of every global batch itself
            mine = np.concatenate([np.arange(s + GLOBAL * rank // size,
                                             s + GLOBAL * (rank + 1) // size)
                                   for s in range(0, len(x), GLOBAL)])
            dataset = tf.data.Dataset.from_tensor_slices((x[mine], y[mine])).batch(
                GLOBAL // size)
            options.experimental_distribute.auto_shard_policy = policy.OFF
        dataset = dataset.with_options(options)
        if mode == "fit-dist":
            dataset = strategy.experimental_distribute_dataset(dataset)
        history = model.fit(dataset, epochs=2, verbose=0)
    results["loss"] = np.array(history.history["loss"])
    results["accuracy"] = np.array(history.history["accuracy"])
elif mode.startswith("loop"):
    with strategy.scope():
        model = build()
        optimizer = tf.keras.optimizers.Adam(0.01)
        loss_object = tf.keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction=tf.keras.losses.Reduction.NONE)
        accuracy = tf.keras.metrics.SparseCategoricalAccuracy()
    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if mode == "loop":
        batches = strategy.experimental_distribute_dataset(dataset.batch(GLOBAL))
    else:
        def dataset_fn(context):
            per_replica = context.get_per_replica_batch_size(GLOBAL)
            return dataset.shard(context.num_input_pipelines,
                                 context.input_pipeline_id).batch(per_replica)
        batches = strategy.distribute_datasets_from_function(dataset_fn)

    def train_step(inputs):
        features, labels = inputs
        with tf.GradientTape() as tape:
            per_example = loss_object(labels, model(features, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL)
        accuracy.update_state(labels, model(features))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    losses, accuracies = [], []
    for _ in range(2):
        for batch in batches:
            per_replica = strategy.run(train_step, args=(batch,))
            losses.append(float(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica,
                                                axis=None)))
        # (read outside run: every replica's counts)
        accuracies.append(float(accuracy.result()))
        accuracy.reset_state()
    results["loss"] = np.array(losses)
    results["accuracy"] = np.array(accuracies)
    if mode == "loop-fn":
        # (the same rows as one process reading the shards in turn)
        results["order"] = np.concatenate(
            [np.asarray(b) for b in strategy.distribute_datasets_from_function(
                lambda c: tf.data.Dataset.from_tensor_slices(np.arange(8)).shard(
                    c.num_input_pipelines, c.input_pipeline_id).batch(2))])
elif mode == "own-step":
    class Stepped(tf.keras.Model):
        def train_step(self, data):
            return {}

    with strategy.scope():
        inputs = tf.keras.Input(shape=(12,))
        model = Stepped(inputs, tf.keras.layers.Dense(4)(inputs))
        model.compile(optimizer="sgd")
    model.fit(x, y, batch_size=GLOBAL, verbose=0)
else:  # collectives
    mine = tf.constant(np.full((rank + 1, 2), rank, np.float32))
    results["gather"] = np.asarray(strategy.gather(mine, axis=0))
    results["sum"] = np.asarray(strategy.reduce("SUM", mine, axis=0))
    results["mean"] = np.asarray(strategy.reduce(tf.distribute.ReduceOp.MEAN, mine, axis=0))
    results["mean_none"] = np.asarray(strategy.reduce(
        tf.distribute.ReduceOp.MEAN, tf.constant(float(rank)), axis=None))

    def replica_fn():
        ctx = tf.distribute.get_replica_context()
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                              tf.constant([1.0, ctx.replica_id_in_sync_group]))
    results["all_reduce"] = np.asarray(strategy.run(replica_fn))
    results["all_gather"] = np.asarray(strategy.run(
        lambda: tf.distribute.get_replica_context().all_gather(
            strategy.experimental_distribute_values_from_function(
                lambda ctx: tf.constant([[ctx.replica_id_in_sync_group * 10.0]])), axis=1)))
    results["should_checkpoint"] = np.array(strategy.extended.should_checkpoint)
    results["task"] = np.array([strategy.cluster_resolver.task_type == "worker",
                                strategy.cluster_resolver.task_id])
if mode != "collectives":
    for i, w in enumerate(model.get_weights()):
        results[f"w{i}"] = w
np.savez(f"{out}.{rank}.npz", **results)
