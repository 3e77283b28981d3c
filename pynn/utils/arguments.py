"""The check of integer arguments (counts, sizes, frequencies) shared by
the optimizers, the dataset loaders and the dataset builders: one rule
(a Python or NumPy integer, not a bool, at least ``minimum``) and one
message."""
import numpy as np


def check_int(value, name, who, minimum=0, allow_none=False):
    """``value`` as an int (None where ``allow_none`` and it is None), or a
    ValueError naming ``who`` and the argument ``name``."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) \
            or value < minimum:
        raise ValueError(f"{who}: {name} must be {'None or ' if allow_none else ''}an integer "
                         f">= {minimum}, got {value!r}")
    return int(value)
