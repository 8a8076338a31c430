"""Keep TensorFlow's and oneDNN's log lines off the user's terminal.

TensorFlow prints from C++ (absl, oneDNN: straight to file descriptor 2) and from Python
(`print`, `warnings`) while it imports, builds and converts models. `quiet()` sends both to a
temporary file for the duration of a block; with `edgesim -v` (EDGESIM_VERBOSE=1) it does
nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import warnings


def verbose() -> bool:
    return os.environ.get("EDGESIM_VERBOSE", "") not in ("", "0")


@contextlib.contextmanager
def quiet():
    """Silence file descriptors 1 and 2, sys.stdout, sys.stderr and warnings in this block."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if verbose():
        yield
        return
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink, warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def import_tensorflow():
    """Import TensorFlow with its banner, absl and oneDNN lines and Python warnings kept off
    the terminal (unless verbose); later `import tensorflow` statements find it loaded."""
    with quiet():
        import absl.logging
        import tensorflow
    if not verbose():
        tensorflow.get_logger().setLevel("ERROR")
        absl.logging.set_verbosity(absl.logging.ERROR)
        warnings.filterwarnings("ignore", module=r"(tensorflow|keras|absl)(\.|$)")
    return tensorflow
