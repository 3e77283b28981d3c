"""Book and tutorial programs (transformers, text layers, GradientTape)
run with only their imports changed."""
import pytest


@pytest.fixture(autouse=True)
def _keep_layer_name_counters():
    """These programs create layers with automatic names; other tests
    compare automatic names with Keras's, so the counters are put back."""
    from pynn.layers.base import _name_counts
    saved = dict(_name_counts)
    yield
    _name_counts.clear()
    _name_counts.update(saved)
