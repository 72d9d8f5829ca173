#!/usr/bin/env bash
# The GPU check of tinyrrn, in one run of about 4 minutes (at most 8) on a machine with an NVIDIA GPU,
# CuPy and PyTorch (CUDA) installed, and possibly no package registry:
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh        # from the repository root
#
# 1. machine.txt  the GPU, driver, CUDA, CuPy and PyTorch versions, and what tinyrrn needs that is missing;
# 2. install.log  tinyrrn installed with --no-deps over the machine's CuPy/PyTorch (nothing is downloaded;
#                 wheels in $WHEELS, default .wheels/, are installed first when that folder exists);
# 3. tests.log    TINYRRN_DEVICE=gpu python -m pytest: the whole suite with the GPU as the default device,
#                 on $WORKERS processes sharing the GPU where pytest-xdist is installed;
# 4. resnet.txt   benchmarks/resnet.py --device gpu: tinyrrn (CuPy) against PyTorch + cuDNN, the torch
#                 model in contiguous (NCHW), then in channels-last memory;
# 5. conv.txt     benchmarks/conv.py --device gpu --per-conv: ResNet-50's 53 convolutions against cuDNN;
# 6. profile.txt  benchmarks/profile_ops.py --device gpu: where a training step's time goes, op by op,
#                 for ResNet-50 and for the main job's model;
# 7. main-job.log python -m tinyrrn.train --device gpu: the README's main job, on the GPU, timed;
# 8. summary.txt  the tail of each, and how long each part took.
# With KEEP_KERNELS=1 also cupy-kernels.tgz, the kernels CuPy compiled: a later run unpacks it into
# CUPY_CACHE_DIR (KERNELS=path/to/cupy-kernels.tgz), so that it does not compile them again.
# Both sides compute in float32 (benchmarks/_timing.py turns off the TF32 that torch's cuDNN convolutions
# use by default; BENCH_ARGS="... --tf32" allows it on both sides). Each part has a time limit (seconds:
# TEST_LIMIT, BENCH_LIMIT, BENCH_CL_LIMIT, CONV_LIMIT, PROFILE_LIMIT, MAIN_LIMIT) so that the whole stays
# within 8 minutes (a fresh machine also compiles CuPy's kernels on first use). On an H200 (2026-12-01) the
# tests took 50-70 s on 8 workers, the benchmarks and profiles 60 s, the main job about 86 s. Where
# commands run as root, Open MPI's mpiexec refuses to start and the 4 MPI tests fail.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/gpu-check}
WHEELS=${WHEELS:-$ROOT/.wheels}
KERNELS=${KERNELS:-}
TEST_LIMIT=${TEST_LIMIT:-150}
BENCH_LIMIT=${BENCH_LIMIT:-60}
BENCH_CL_LIMIT=${BENCH_CL_LIMIT:-35}
CONV_LIMIT=${CONV_LIMIT:-40}
PROFILE_LIMIT=${PROFILE_LIMIT:-40}
MAIN_LIMIT=${MAIN_LIMIT:-120}
WORKERS=${WORKERS:-8}
PYTEST_ARGS=${PYTEST_ARGS:--v --maxfail=40 -rfE --tb=short --durations=15 -p no:cacheprovider}
BENCH_ARGS=${BENCH_ARGS:---batch 16 --size 224 --threads 8 --runs 1 --repeats 3 --warmup 2 --quiet-wait 0}
PYTHON=${PYTHON:-python}
export PYTHONUNBUFFERED=1 CUPY_CACHE_DIR=${CUPY_CACHE_DIR:-/tmp/cupy-kernels}
mkdir -p "$OUT" "$CUPY_CACHE_DIR"
cd "$ROOT"
started=$(date +%s)
elapsed() { echo $(( $(date +%s) - started )); }
has() { "$PYTHON" -c "import $1" 2>/dev/null; }

{
    nvidia-smi || echo "nvidia-smi: not found"
    "$PYTHON" - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ("numpy", "cupy", "torch", "pytest", "xdist", "pytest_timeout", "imageio", "imageio_ffmpeg",
             "matplotlib", "threadpoolctl"):
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
    if [ -n "$KERNELS" ] && [ -f "$KERNELS" ]; then
        tar -xzf "$KERNELS" -C "$CUPY_CACHE_DIR" && echo "CuPy kernels from $KERNELS: $(ls "$CUPY_CACHE_DIR" | wc -l)"
    fi
    if [ -d "$WHEELS" ]; then
        "$PYTHON" -m pip install --no-index --no-deps "$WHEELS"/*.whl
    fi
    "$PYTHON" -m pip install --no-deps --no-build-isolation --no-index . ||
        echo "pip install failed: the checkout is used through PYTHONPATH instead"
    "$PYTHON" -c "import tinyrrn; from tinyrrn import backend; backend.set_device('gpu')
print('tinyrrn', tinyrrn.__file__, 'on', backend.get_device())"
} > "$OUT/install.log" 2>&1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
install_s=$(elapsed)

# The workers share the machine's cores: 2 threads each, as on the CI machine.
parallel=""
if has xdist && [ "$WORKERS" -gt 1 ]; then parallel="-n $WORKERS"; fi
if has pytest_timeout; then parallel="$parallel --timeout=150"; fi
# At the limit pytest gets Ctrl-C (SIGINT), so that it still reports the failures it has seen.
# shellcheck disable=SC2086
TINYRRN_DEVICE=gpu TINYRRN_THREADS=2 OPENBLAS_NUM_THREADS=2 OMP_NUM_THREADS=2 \
    timeout -s INT -k 20 "$TEST_LIMIT" "$PYTHON" -m pytest $parallel $PYTEST_ARGS > "$OUT/tests.log" 2>&1
tests_status=$?
tests_s=$(elapsed)

# shellcheck disable=SC2086
timeout "$BENCH_LIMIT" "$PYTHON" benchmarks/resnet.py --device gpu $BENCH_ARGS > "$OUT/resnet.txt" 2>&1
bench_status=$?
# shellcheck disable=SC2086
timeout "$BENCH_CL_LIMIT" "$PYTHON" benchmarks/resnet.py --device gpu --sides torch --torch-channels-last $BENCH_ARGS \
    >> "$OUT/resnet.txt" 2>&1
bench_cl_status=$?
# shellcheck disable=SC2086
timeout "$CONV_LIMIT" "$PYTHON" benchmarks/conv.py --device gpu --per-conv $BENCH_ARGS > "$OUT/conv.txt" 2>&1
{
    timeout "$PROFILE_LIMIT" "$PYTHON" benchmarks/profile_ops.py --device gpu --batch 16 --threads 8 --top 12
    timeout "$PROFILE_LIMIT" "$PYTHON" benchmarks/profile_ops.py --device gpu --model main --batch 16 --threads 8 --top 8
} > "$OUT/profile.txt" 2>&1
bench_s=$(elapsed)

main_started=$(date +%s)
timeout "$MAIN_LIMIT" "$PYTHON" -m tinyrrn.train --device gpu --out /tmp/gpu-runs > "$OUT/main-job.log" 2>&1
main_status=$?
echo "main job: $(( $(date +%s) - main_started )) s wall, exit status $main_status" >> "$OUT/main-job.log"

if [ "${KEEP_KERNELS:-0}" = 1 ]; then tar -czf "$OUT/cupy-kernels.tgz" -C "$CUPY_CACHE_DIR" .; fi

{
    echo "gpu_check.sh: install ${install_s} s; tests until ${tests_s} s (exit status $tests_status);"
    echo "benchmarks and profiles until ${bench_s} s (ResNet-50: exit status $bench_status and $bench_cl_status);"
    echo "main job until $(elapsed) s (exit status $main_status); 124: stopped at its limit"
    for part in machine.txt install.log tests.log resnet.txt conv.txt profile.txt main-job.log; do
        echo; echo "== $part (tail)"; tail -n 40 "$OUT/$part"
    done
} > "$OUT/summary.txt"
cat "$OUT/summary.txt"
