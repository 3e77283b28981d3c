"""Sequence preprocessing, as ``keras.preprocessing.sequence``."""
from ..utils.sequence_utils import make_sampling_table, pad_sequences, skipgrams

__all__ = ["make_sampling_table", "pad_sequences", "skipgrams"]
