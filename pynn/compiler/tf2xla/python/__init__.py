"""``tensorflow.compiler.tf2xla.python``'s module path (see ``xla``)."""
