import os

# Tests never reach for the network: MNIST comes from the offline sample.
os.environ.setdefault("PYNN_OFFLINE", "1")
