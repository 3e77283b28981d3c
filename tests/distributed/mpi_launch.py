"""Where the multi-process tests find mpiexec: beside this Python (the
venv's mpich wheel) or on the PATH; HAVE_MPI also needs mpi4py."""
import os
import shutil
import sys

MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or \
    shutil.which("mpiexec")
try:
    import mpi4py  # noqa: F401
    HAVE_MPI = MPIEXEC is not None
except ImportError:
    HAVE_MPI = False
