"""Property-based tests (Hypothesis) of every pynn.ops function and every
layer.  They run in a child process (tests/test_fuzz.py starts it), so an
input that crashes the interpreter fails one test instead of the run.

Profiles: 'ci' (the default: a bounded, derandomized number of examples,
so ``make test`` stays short and repeatable) and 'fuzz' (``make fuzz``:
random, PYNN_FUZZ_EXAMPLES examples per test).
"""
import os

from hypothesis import HealthCheck, settings

_common = dict(deadline=None, database=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much])
settings.register_profile("ci", max_examples=int(os.environ.get("PYNN_FUZZ_EXAMPLES", 25)),
                          derandomize=True, **_common)
settings.register_profile("fuzz", max_examples=int(os.environ.get("PYNN_FUZZ_EXAMPLES", 2000)),
                          **_common)
settings.load_profile(os.environ.get("PYNN_FUZZ_PROFILE", "ci"))
