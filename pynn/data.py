"""``tf.data``'s names for pynn's Dataset, so that input pipelines ported
with ``import pynn as tf`` run (``tf.data.Dataset.from_tensor_slices``,
``tf.data.AUTOTUNE``, ``tf.data.TextLineDataset``)."""
import types

from .records import DatasetTFRecordWriter, TFRecordDataset

from .utils.dataset import (AUTOTUNE, INFINITE, UNKNOWN, AutoShardPolicy, AutotuneOptions,
                            Counter, CsvDataset, Dataset, DatasetSpec, DistributeOptions,
                            MapVectorizationOptions, OptimizationOptions, Options,
                            TextLineDataset, ThreadingOptions, assert_cardinality,
                            bucket_by_sequence_length, make_csv_dataset)

INFINITE_CARDINALITY = INFINITE
UNKNOWN_CARDINALITY = UNKNOWN


def dense_to_ragged_batch(batch_size, drop_remainder=False, row_splits_dtype=None):
    """tf.data.experimental's ``dataset.apply(dense_to_ragged_batch(n))``:
    ``dataset.ragged_batch(n)``."""
    return lambda dataset: dataset.ragged_batch(batch_size, drop_remainder=drop_remainder)


def shuffle_and_repeat(buffer_size, count=None, seed=None):
    """tf.data.experimental's ``dataset.apply(shuffle_and_repeat(n, epochs))``:
    the elements reshuffled in each of ``count`` passes (endless with None)."""
    return lambda dataset: dataset.shuffle(buffer_size, seed=seed).repeat(count)


def map_and_batch(map_func, batch_size, num_parallel_batches=None, drop_remainder=False,
                  num_parallel_calls=None):
    """tf.data.experimental's ``dataset.apply(map_and_batch(f, n))``:
    ``dataset.map(f).batch(n)``, which TensorFlow fuses into one stage."""
    return lambda dataset: dataset.map(map_func).batch(batch_size,
                                                       drop_remainder=drop_remainder)


def parallel_interleave(map_func, cycle_length, block_length=1, sloppy=False,
                        buffer_output_elements=None, prefetch_input_elements=None):
    """tf.data.experimental's ``dataset.apply(parallel_interleave(f, n))``:
    ``dataset.interleave(f, n, block_length)`` (in its deterministic order,
    one that ``sloppy=True`` allows too)."""
    return lambda dataset: dataset.interleave(map_func, cycle_length=cycle_length,
                                              block_length=block_length)


def ignore_errors(log_warning=False):
    """tf.data.experimental's ``dataset.apply(ignore_errors())``:
    ``dataset.ignore_errors(log_warning)``."""
    return lambda dataset: dataset.ignore_errors(log_warning=log_warning)


def group_by_window(key_func, reduce_func, window_size=None, window_size_func=None):
    """tf.data.experimental.group_by_window: Dataset.group_by_window as a
    transformation for ``dataset.apply``."""
    return lambda dataset: dataset.group_by_window(key_func, reduce_func, window_size,
                                                   window_size_func)


def scan(initial_state, scan_func):
    """tf.data.experimental.scan: Dataset.scan for ``dataset.apply``."""
    return lambda dataset: dataset.scan(initial_state, scan_func)


def unique():
    """tf.data.experimental.unique: Dataset.unique for ``dataset.apply``."""
    return lambda dataset: dataset.unique()


def rejection_resample(class_func, target_dist, initial_dist=None, seed=None):
    """tf.data.experimental.rejection_resample: Dataset.rejection_resample
    for ``dataset.apply`` ((class, element) pairs)."""
    return lambda dataset: dataset.rejection_resample(class_func, target_dist, initial_dist,
                                                      seed)


# tf.data.experimental, where TensorFlow 2.3 and earlier kept these
experimental = types.SimpleNamespace(AUTOTUNE=AUTOTUNE, AutoShardPolicy=AutoShardPolicy,
                                     DistributeOptions=DistributeOptions,
                                     ThreadingOptions=ThreadingOptions,
                                     OptimizationOptions=OptimizationOptions,
                                     MapVectorizationOptions=MapVectorizationOptions,
                                     AutotuneOptions=AutotuneOptions,
                                     map_and_batch=map_and_batch,
                                     parallel_interleave=parallel_interleave,
                                     INFINITE_CARDINALITY=INFINITE, UNKNOWN_CARDINALITY=UNKNOWN,
                                     shuffle_and_repeat=shuffle_and_repeat,
                                     bucket_by_sequence_length=bucket_by_sequence_length,
                                     assert_cardinality=assert_cardinality,
                                     cardinality=lambda dataset: dataset.cardinality(),
                                     make_csv_dataset=make_csv_dataset, CsvDataset=CsvDataset,
                                     Counter=Counter,
                                     sample_from_datasets=Dataset.sample_from_datasets,
                                     choose_from_datasets=Dataset.choose_from_datasets,
                                     TFRecordWriter=DatasetTFRecordWriter,
                                     dense_to_ragged_batch=dense_to_ragged_batch,
                                     ignore_errors=ignore_errors,
                                     save=lambda dataset, path, compression=None,
                                     shard_func=None, checkpoint_args=None: dataset.save(
                                         path, compression, shard_func, checkpoint_args),
                                     load=Dataset.load,
                                     RandomDataset=lambda seed=None: Dataset.random(seed),
                                     group_by_window=group_by_window, scan=scan,
                                     unique=unique, rejection_resample=rejection_resample)

__all__ = ["Dataset", "DatasetSpec", "TextLineDataset", "TFRecordDataset", "Options", "ThreadingOptions", "AUTOTUNE",
           "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY", "experimental"]
