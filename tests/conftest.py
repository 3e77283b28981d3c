import os

# Tests never reach for the network: MNIST comes from the offline sample.
os.environ.setdefault("PYNN_OFFLINE", "1")

# The property tests run in child processes started by tests/test_fuzz.py
# (a crash there fails one test instead of the run), never in this one.
collect_ignore = [] if os.environ.get("PYNN_FUZZ_CHILD") else ["fuzz"]
