"""tf.feature_column: how the features of a dict of inputs become the
dense input of a model, through ``keras.layers.DenseFeatures``."""
from .layers.feature_columns import (bucketized_column,  # noqa: F401
                                     categorical_column_with_hash_bucket,
                                     categorical_column_with_identity,
                                     categorical_column_with_vocabulary_file,
                                     categorical_column_with_vocabulary_list, crossed_column,
                                     embedding_column, indicator_column, numeric_column,
                                     shared_embeddings)

__all__ = ["numeric_column", "bucketized_column", "categorical_column_with_vocabulary_list",
           "categorical_column_with_vocabulary_file", "categorical_column_with_identity",
           "categorical_column_with_hash_bucket", "indicator_column", "embedding_column",
           "shared_embeddings", "crossed_column"]
