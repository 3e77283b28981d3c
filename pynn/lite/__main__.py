"""Command line: ``python -m pynn.lite MODEL.pynn OUT.tflite [--quantize MODE]``.

Loads a model saved with ``model.save`` and writes it as a TFLite
flatbuffer.  ``--quantize int8`` calibrates on the MNIST sample when the
model takes MNIST-shaped input (28x28x1, 28x28 or 784 values, scaled to
[0, 1] as the tutorials do), and on standard-normal random data otherwise;
it says which.  Any failure prints one line to stderr and exits non-zero.
"""
import argparse
import os
import sys

import numpy as np

CALIBRATION_SAMPLES = 500
_MNIST_SHAPES = {(28, 28, 1), (28, 28), (784,)}


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _calibration_data(inputs, out):
    """A representative_dataset for models exported without one: MNIST for
    an MNIST-shaped single input, random data otherwise."""
    shapes = [tuple(t.shape[1:]) for t in inputs]
    if len(shapes) == 1 and shapes[0] in _MNIST_SHAPES:
        from ..datasets import mnist
        (x, _), _ = mnist.load_data()
        xs = [x[:CALIBRATION_SAMPLES].astype(np.float32).reshape((-1,) + shapes[0]) / 255.0]
        out.write(f"calibrating on {len(xs[0])} MNIST images scaled to [0, 1]\n")
    else:
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal((CALIBRATION_SAMPLES,) + s).astype(np.float32)
              for s in shapes]
        out.write(f"calibrating on {CALIBRATION_SAMPLES} random standard-normal inputs of "
                  f"shape{'s' if len(shapes) > 1 else ''} "
                  f"{', '.join(map(str, shapes))}; pass a representative_dataset from Python "
                  f"for real ranges\n")
    return lambda: ([x[i:i + 1] for x in xs] for i in range(len(xs[0])))


def main(argv=None):
    parser = _Parser(prog="python -m pynn.lite",
                     description="Export a saved model (.pynn, .keras, .h5) to TensorFlow "
                                 "Lite (.tflite).")
    parser.add_argument("model",
                        help="a model file written by model.save (.pynn, .keras or .h5)")
    parser.add_argument("output", help="the .tflite file to write")
    parser.add_argument("--quantize", choices=["float16", "dynamic", "int8"], default=None,
                        help="post-training quantization (default: none, float32)")
    args = parser.parse_args(argv)
    from ..models import load_model
    try:
        model = load_model(args.model, compile=False)
        dataset = _calibration_data(model._inputs, sys.stdout) \
            if args.quantize == "int8" else None
        data = model.export_tflite(args.output, quantize=args.quantize,
                                   representative_dataset=dataset)
    except (ValueError, OSError, ImportError, KeyError) as e:
        message = " ".join(str(e).split()) or type(e).__name__
        sys.stderr.write(f"{parser.prog}: error: {message}\n")
        return 1
    print(f"wrote {os.fspath(args.output)} ({len(data):,} bytes, "
          f"{args.quantize or 'float32'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
