#!/usr/bin/env bash
# The GPU check of tinyrrn, in one run of at most about 8 minutes on a machine with an NVIDIA GPU,
# CuPy and PyTorch (CUDA) installed, and possibly no package registry:
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh        # from the repository root
#
# 1. machine.txt  the GPU, driver, CUDA, CuPy and PyTorch versions, and what tinyrrn needs that is missing;
# 2. install.log  tinyrrn installed with --no-deps over the machine's CuPy/PyTorch (nothing is downloaded;
#                 wheels in $WHEELS, default .wheels/, are installed first when that folder exists);
# 3. tests.log    TINYRRN_DEVICE=gpu python -m pytest: the whole suite with the GPU as the default device;
# 4. resnet.txt, resnet-channels-last.txt  benchmarks/resnet.py --device gpu: tinyrrn (CuPy) against
#                 PyTorch + cuDNN, the torch model in contiguous (NCHW) and in channels-last memory;
# 5. summary.txt  the tail of each, and how long each part took.
# Each part has a time limit (seconds: TEST_LIMIT, BENCH_LIMIT, BENCH_CL_LIMIT) so that the whole, with
# the installation, stays within 8 minutes (a fresh machine also compiles CuPy's kernels on first use).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/gpu-check}
WHEELS=${WHEELS:-$ROOT/.wheels}
TEST_LIMIT=${TEST_LIMIT:-240}
BENCH_LIMIT=${BENCH_LIMIT:-110}
BENCH_CL_LIMIT=${BENCH_CL_LIMIT:-50}
PYTEST_ARGS=${PYTEST_ARGS:--q --maxfail=10 -rfE --durations=10}
BENCH_ARGS=${BENCH_ARGS:---batch 16 --size 224 --threads 8 --runs 1 --repeats 3 --warmup 2 --quiet-wait 0}
PYTHON=${PYTHON:-python}
export PYTHONUNBUFFERED=1 CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-/tmp/cupy-kernels}
mkdir -p "$OUT"
cd "$ROOT"
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }

{
    nvidia-smi || echo "nvidia-smi: not found"
    "$PYTHON" - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ("numpy", "cupy", "torch", "pytest", "imageio", "imageio_ffmpeg", "matplotlib", "threadpoolctl"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {getattr(module, '__version__', '?')}")
    except ImportError as err:
        print(f"{name} MISSING ({err})")
try:
    import torch
    print("torch CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "GPU", torch.cuda.is_available())
    import cupy
    print("CuPy CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(), "devices", cupy.cuda.runtime.getDeviceCount())
except Exception as err:
    print("CUDA check failed:", type(err).__name__, err)
EOF
} > "$OUT/machine.txt" 2>&1

{
    if [ -d "$WHEELS" ]; then
        "$PYTHON" -m pip install --no-index --find-links "$WHEELS" "$WHEELS"/*.whl
    fi
    "$PYTHON" -m pip install --no-deps --no-build-isolation --no-index . ||
        echo "pip install failed: the checkout is used through PYTHONPATH instead"
    "$PYTHON" -c "import tinyrrn; from tinyrrn import backend; backend.set_device('gpu')
print('tinyrrn', tinyrrn.__file__, 'on', backend.get_device())"
} > "$OUT/install.log" 2>&1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
install_s=$(elapsed)

# shellcheck disable=SC2086
TINYRRN_DEVICE=gpu timeout "$TEST_LIMIT" "$PYTHON" -m pytest $PYTEST_ARGS > "$OUT/tests.log" 2>&1
tests_status=$?
tests_s=$(elapsed)

# shellcheck disable=SC2086
timeout "$BENCH_LIMIT" "$PYTHON" benchmarks/resnet.py --device gpu $BENCH_ARGS > "$OUT/resnet.txt" 2>&1
bench_status=$?
# shellcheck disable=SC2086
timeout "$BENCH_CL_LIMIT" "$PYTHON" benchmarks/resnet.py --device gpu --sides torch --torch-channels-last $BENCH_ARGS \
    > "$OUT/resnet-channels-last.txt" 2>&1
bench_cl_status=$?

{
    echo "gpu_check.sh: install ${install_s} s; tests until ${tests_s} s (exit status $tests_status);"
    echo "benchmarks until $(elapsed) s (exit status $bench_status and $bench_cl_status); 124: stopped at its limit"
    for part in machine.txt install.log tests.log resnet.txt resnet-channels-last.txt; do
        echo; echo "== $part (tail)"; tail -n 25 "$OUT/$part"
    done
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
