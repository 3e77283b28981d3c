"""tensorflow.keras's module paths with ``tensorflow`` renamed to ``pynn``
import pynn's own modules (no second copy of any of them)."""
import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import sys
    from pynn.keras.layers import Dense, Conv2D
    from pynn.keras.models import Sequential, load_model
    from pynn.keras.applications import VGG16
    from pynn.keras.applications.resnet50 import ResNet50, decode_predictions
    from pynn.keras.optimizers import Adam
    from pynn.keras.optimizers.schedules import ExponentialDecay
    from pynn.keras.preprocessing.image import ImageDataGenerator
    from pynn.keras.preprocessing.sequence import pad_sequences
    from pynn.keras.layers.experimental.preprocessing import Rescaling
    from pynn.keras.datasets import mnist
    from pynn.keras import backend as K
    import pynn.keras as keras
    import pynn.keras.layers as L
    import pynn
    import pynn.layers
    assert keras is pynn and L is pynn.layers
    assert Dense is pynn.layers.Dense and Adam is pynn.optimizers.Adam
    assert Rescaling is pynn.layers.Rescaling and K is pynn.backend
    assert sys.modules["pynn.keras.optimizers"] is pynn.optimizers
    # every module is loaded once, under pynn's own name
    names = [m.__name__ for k, m in sys.modules.items() if k.startswith("pynn.")]
    assert not any(n.startswith("pynn.keras") for n in names), names
    model = Sequential([pynn.Input((4,)), Dense(2)])
    model.compile(Adam(1e-3), "mse")
    try:
        import pynn.keras.no_such_module
    except ModuleNotFoundError as e:
        assert "no_such_module" in str(e)
    else:
        raise AssertionError("imported a module that does not exist")
    print("ok")
""")


def test_tensorflow_keras_paths_under_pynn():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_keras_paths_leave_pynns_modules_their_own_spec():
    # (the import system sets a module's __spec__ to the one found under
    # the pynn.keras name: relative imports inside pynn.utils then warned
    # "__package__ != __spec__.parent", an error under warnings as errors)
    import warnings

    import pynn
    from pynn.keras.utils import to_categorical  # noqa: F401
    import pynn.keras.layers  # noqa: F401
    assert pynn.utils.__spec__.name == "pynn.utils"
    assert pynn.layers.__spec__.name == "pynn.layers"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pynn.applications.MobileNet(weights=None, alpha=0.25, input_shape=(32, 32, 3))
