"""``tensorflow.compiler.tf2xla``'s module path (see ``python.xla``)."""
