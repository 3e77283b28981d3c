import os

# The CPU benchmarks measure the CPU kernels on any machine; bench_cuda.py
# places its models on the GPU explicitly.
os.environ.setdefault("PYNN_DEVICE", "cpu")
