"""``tensorflow.compiler``'s module path with ``tensorflow`` renamed to
``pynn``: ``from pynn.compiler.tf2xla.python import xla``."""
