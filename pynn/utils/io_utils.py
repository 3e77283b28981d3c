"""Where pynn's progress messages go: standard output while interactive
logging is on (the default), else the ``pynn`` logger (Python's logging),
for jobs whose output is a log file rather than a terminal."""
import logging
import sys

_interactive = [True]
logger = logging.getLogger("pynn")


def get_logger():
    """The logger pynn's messages go to (tf.get_logger gives TensorFlow's),
    so ``tf.get_logger().setLevel(logging.ERROR)`` quiets them."""
    return logger


def enable_interactive_logging():
    """Write progress bars and messages to standard output."""
    _interactive[0] = True


def disable_interactive_logging():
    """Send progress messages to the ``pynn`` logger (whole lines, at INFO)
    instead of standard output."""
    _interactive[0] = False


def is_interactive_logging_enabled():
    return _interactive[0]


def print_msg(message, line_break=True):
    """``message`` to standard output or, with interactive logging off, to
    the ``pynn`` logger."""
    message = str(message)
    if _interactive[0]:
        sys.stdout.write(message + "\n" if line_break else message)
        sys.stdout.flush()
    else:
        logger.info(message)
