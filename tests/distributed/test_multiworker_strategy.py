"""tf.distribute.MultiWorkerMirroredStrategy over MPI: two processes end at
the weights one process reaches on the same global batches, through fit
and through a custom loop, with every replica alike; the collectives
combine across processes; only the chief writes checkpoints; TF_CONFIG is
checked against the job; MirroredStrategy refuses a job of several
processes."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from mpi_launch import HAVE_MPI, MPIEXEC

import pynn as tf
from pynn import distribute

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
JOB = os.path.join(HERE, "strategy_job.py")

needs_mpi = pytest.mark.skipif(not HAVE_MPI, reason="mpiexec or mpi4py is not installed "
                                                    "(pip install 'pynn[mpi]')")
LAUNCHER_VARIABLES = ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK",
                      "MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK")


def run(out, mode, ranks=None, env=None):
    env = dict(os.environ, PYNN_OFFLINE="1", OMP_NUM_THREADS="1", PYNN_MPI_TIMEOUT="60",
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]),
               **(env or {}))
    for name in LAUNCHER_VARIABLES:  # (a launcher above this test is not the job's)
        env.pop(name, None)
    cmd = [sys.executable, JOB, str(out), mode]
    if ranks is not None:
        cmd = [MPIEXEC, "-n", str(ranks)] + cmd
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def results(out, rank):
    with np.load(f"{out}.{rank}.npz", allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.slow
@needs_mpi
@pytest.mark.parametrize("mode", ["fit-arrays", "fit-data", "fit-off", "fit-dist", "loop",
                                  "loop-fn"])
def test_two_processes_train_as_one_on_the_global_batch(mode, tmp_path):
    one = run(tmp_path / "one", mode)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run(tmp_path / "two", mode, ranks=2)
    assert two.returncode == 0, two.stderr[-3000:]
    want, first, second = results(tmp_path / "one", 0), results(tmp_path / "two", 0), \
        results(tmp_path / "two", 1)
    weights = sorted(k for k in want if k.startswith("w"))
    assert len(weights) == 4
    for k in weights:
        np.testing.assert_allclose(first[k], want[k], rtol=1e-5, atol=1e-6)
        # the replicas applied the same summed update from the same start
        # (each process seeded its generator with its own rank)
        np.testing.assert_array_equal(first[k], second[k])
    np.testing.assert_allclose(first["loss"], want["loss"], rtol=1e-5)
    np.testing.assert_array_equal(first["loss"], second["loss"])
    # the metrics count every replica's rows (fit's, and, in a custom loop,
    # a metric made in the scope and read outside run)
    np.testing.assert_allclose(first["accuracy"], want["accuracy"], rtol=1e-6)
    np.testing.assert_array_equal(first["accuracy"], second["accuracy"])
    if mode == "loop-fn":
        # each pipeline reads the shard its InputContext names
        np.testing.assert_array_equal(first["order"], [0, 2, 4, 6])
        np.testing.assert_array_equal(second["order"], [1, 3, 5, 7])


@pytest.mark.slow
@needs_mpi
def test_replicas_keep_the_same_batch_normalization_statistics(tmp_path):
    # each replica normalizes its own rows (as TensorFlow's BatchNormalization
    # without synchronized=True), and the moving statistics are averaged
    out = run(tmp_path / "b", "loop-bn", ranks=2)
    assert out.returncode == 0, out.stderr[-3000:]
    first, second = results(tmp_path / "b", 0), results(tmp_path / "b", 1)
    weights = sorted(k for k in first if k.startswith("w"))
    assert len(weights) == 8
    for k in weights:
        np.testing.assert_array_equal(first[k], second[k])


@pytest.mark.slow
@needs_mpi
def test_collectives_combine_across_processes(tmp_path):
    out = run(tmp_path / "c", "collectives", ranks=2)
    assert out.returncode == 0, out.stderr[-3000:]
    for rank in (0, 1):
        got = results(tmp_path / "c", rank)
        # process 0 holds one row of 0s, process 1 two rows of 1s
        np.testing.assert_array_equal(got["gather"], [[0, 0], [1, 1], [1, 1]])
        np.testing.assert_allclose(got["sum"], [2, 2])
        np.testing.assert_allclose(got["mean"], [2 / 3, 2 / 3], rtol=1e-6)
        np.testing.assert_allclose(got["mean_none"], 0.5)
        np.testing.assert_allclose(got["all_reduce"], [2, 1])
        np.testing.assert_array_equal(got["all_gather"], [[0, 10]])
        assert bool(got["should_checkpoint"]) == (rank == 0)
        np.testing.assert_array_equal(got["task"], [1, rank])


@pytest.mark.slow
@needs_mpi
def test_fit_through_a_models_own_train_step_is_refused_across_processes(tmp_path):
    out = run(tmp_path / "s", "own-step", ranks=2)
    assert out.returncode != 0
    assert "has its own train_step, which trains on one process" in out.stderr
    out = run(tmp_path / "s", "own-step")  # one process: trains
    assert out.returncode == 0, out.stderr[-3000:]


@pytest.mark.slow
@needs_mpi
def test_only_the_chief_writes_checkpoints(tmp_path):
    out = run(tmp_path / "k", "ckpt", ranks=2)
    assert out.returncode == 0, out.stderr[-3000:]
    files = sorted(os.listdir(tmp_path))
    assert "k.r0-2.weights.h5" in files
    assert not [f for f in files if f.startswith("k.r1")], files
    assert not [f for f in files if "backup" in f], files  # removed at the end of fit
    assert tf.train.latest_checkpoint(str(tmp_path / "k.ckpt")) is not None
    assert not os.path.exists(tmp_path / "k.ckpt" / "workertemp_1")


@pytest.mark.slow
@needs_mpi
def test_a_tf_config_that_disagrees_with_the_job_is_refused(tmp_path):
    config = {"cluster": {"worker": ["a:1", "b:1", "c:1"]}, "task": {"type": "worker",
                                                                   "index": 0}}
    out = run(tmp_path / "t", "collectives", ranks=2, env={"TF_CONFIG": json.dumps(config)})
    assert out.returncode != 0
    assert "TF_CONFIG's cluster has 3 worker(s), but this job has 2 process(es)" in out.stderr


# ------------------------------------------------------------ one process

@pytest.fixture
def one_process(monkeypatch):
    for name in LAUNCHER_VARIABLES + ("TF_CONFIG",):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_one_process_is_one_replica(one_process):
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        communication_options=tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING))
    assert strategy.num_replicas_in_sync == 1
    assert (strategy.cluster_resolver.task_type, strategy.cluster_resolver.task_id) == \
        ("worker", 0)
    assert strategy.extended.should_checkpoint
    dataset = tf.data.Dataset.from_tensor_slices(np.arange(6.0)).batch(3)
    assert strategy.experimental_distribute_dataset(dataset) is dataset
    with strategy.scope():
        model = tf.keras.Sequential([tf.keras.Input(shape=(1,)), tf.keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    assert model.distribute_strategy is strategy
    model.fit(np.ones((4, 1)), np.ones((4, 1)), verbose=0)
    with pytest.raises(TypeError, match="CommunicationOptions"):
        tf.distribute.MultiWorkerMirroredStrategy(communication_options="ring")
    # one replica: the collectives give its own values back
    value = tf.constant([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(strategy.reduce("MEAN", value, axis=0), [2.0, 3.5])
    np.testing.assert_array_equal(strategy.gather(value, axis=1), value)
    assert strategy.run(lambda: tf.distribute.get_replica_context().all_reduce(
        "SUM", 4.0)) == 4.0
    assert strategy.experimental_distribute_values_from_function(
        lambda ctx: (ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync)) == (0, 1)
    assert strategy.distribute_datasets_from_function(
        lambda ctx: (ctx.input_pipeline_id, ctx.num_input_pipelines)) == (0, 1)


def test_tf_config_is_checked_against_the_job(one_process):
    one_process.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["a:1", "b:1"]}, "task": {"type": "worker", "index": 0}}))
    with pytest.raises(ValueError, match=r"2 worker\(s\), but this job has 1 process.*"
                                         r"mpiexec -n 2"):
        tf.distribute.MultiWorkerMirroredStrategy()
    # a chief is process 0, the workers follow it
    one_process.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"chief": ["a:1"], "worker": ["b:1"]}, "task": {"type": "worker",
                                                                 "index": 0}}))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    assert distribute._place_in_cluster(resolver, 2, 1) == ("worker", 0)
    with pytest.raises(ValueError, match="which is process 1 of the job, but MPI started "
                                         "this one as process 0"):
        distribute._place_in_cluster(resolver, 2, 0)
    one_process.setenv("TF_CONFIG", json.dumps(
        {"cluster": {"worker": ["a:1"], "ps": ["b:1"]}, "task": {"type": "worker",
                                                              "index": 0}}))
    with pytest.raises(ValueError, match="no parameter servers"):
        tf.distribute.MultiWorkerMirroredStrategy()


def test_a_resolver_without_tf_config_names_the_launchers_rank(one_process):
    # (as a program asks `resolver.task_id == 0` to find its chief)
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    assert (resolver.task_type, resolver.task_id) == (None, None)
    one_process.setenv("PMI_SIZE", "2")
    one_process.setenv("PMI_RANK", "1")
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)
    assert not resolver.cluster_spec()


def test_mirrored_strategy_refuses_several_processes(one_process):
    one_process.setenv("PMI_SIZE", "2")
    with pytest.raises(ValueError, match="MirroredStrategy trains on one machine, but "
                                         "mpiexec started 2 processes.*"
                                         "MultiWorkerMirroredStrategy"):
        tf.distribute.MirroredStrategy()


def test_dataset_options_hold_downstream_and_name_the_split():
    policy = tf.data.experimental.AutoShardPolicy
    options = tf.data.Options()
    assert options.experimental_distribute.auto_shard_policy == policy.AUTO
    options.experimental_distribute.auto_shard_policy = policy.OFF
    dataset = tf.data.Dataset.range(10).with_options(options).map(lambda v: v * 2).batch(4)
    assert dataset.options().experimental_distribute.auto_shard_policy == policy.OFF
    assert list(dataset.as_numpy_iterator())[0].tolist() == [0, 2, 4, 6]
    assert not distribute._splits(dataset, "fit")
    assert distribute._splits(tf.data.Dataset.range(4).batch(2), "fit")
    later = tf.data.Options()
    later.deterministic = False
    # options set later merge with those set before
    merged = dataset.with_options(later).options()
    assert merged.experimental_distribute.auto_shard_policy == policy.OFF
    assert merged.deterministic is False
    options.experimental_distribute.auto_shard_policy = policy.FILE
    with pytest.raises(ValueError, match="auto_shard_policy FILE is not supported"):
        distribute._splits(tf.data.Dataset.range(4).with_options(options), "fit")
    with pytest.raises(ValueError, match="auto_shard_policy"):
        options.experimental_distribute.auto_shard_policy = 7
    with pytest.raises(AttributeError):
        options.no_such_option = 1
    with pytest.raises(TypeError, match="tf.data.Options"):
        dataset.with_options({"deterministic": True})


def test_mirrored_strategy_takes_cross_device_ops(one_process):
    for ops in (tf.distribute.HierarchicalCopyAllReduce(), tf.distribute.NcclAllReduce(2),
                tf.distribute.ReductionToOneDevice()):
        strategy = tf.distribute.MirroredStrategy(cross_device_ops=ops)
        assert strategy.num_replicas_in_sync == 1
        assert ops.reduce(tf.distribute.ReduceOp.SUM, 3.0) == 3.0
    with pytest.raises(TypeError, match="cross_device_ops must be"):
        tf.distribute.MirroredStrategy(cross_device_ops="nccl")
