#!/usr/bin/env bash
# Driver for the lent GPU machine (see bench/README.md, "GPU runs"). Run from the repo root there:
#   bash bench/gpu/device_run.sh [samplers] [cpu-scaling] [gpu-scaling]
# Needs the wheels of bench/gpu/wheels.txt in .whl/ (git-ignored; carried by the run tool).
# Jobs run side by side on disjoint cores: the CPU benchmarks pinned to 2 cores each (as on the
# 2-core workstation), the GPU benchmark on the rest. Results and logs go to $OUT.
set -u
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/tmp/pip.log 2>&1 || { tail /tmp/pip.log; exit 1; }
export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
export OMP_NUM_THREADS=2 BENCH_HOST="device machine ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
python3 - <<'PY' 2>&1 | grep -v -i arviz
import jax, numpyro, pymc, pytensor, nutpie, numba, pandas, xarray, arviz
print({m.__name__: m.__version__ for m in (jax, numpyro, pymc, pytensor, nutpie, numba, pandas, xarray, arviz)})
print(jax.devices())
PY

LIMIT=${LIMIT:-540}
pids=()
for job in "$@"; do
  case $job in
    samplers) JAX_PLATFORMS=cpu timeout $LIMIT taskset -c 0,1 python3 bench/bench_samplers.py --name ${SAMPLERS_NAME:-samplers_device2cores} ${SAMPLERS_ARGS:-} >"$OUT/samplers.log" 2>&1 & ;;
    samplers2) JAX_PLATFORMS=cpu timeout $LIMIT taskset -c 2,3 python3 bench/bench_samplers.py --name ${SAMPLERS2_NAME:-samplers2_device2cores} ${SAMPLERS2_ARGS:-} >"$OUT/samplers2.log" 2>&1 & ;;
    cpu-scaling) JAX_PLATFORMS=cpu timeout $LIMIT taskset -c 2,3 python3 bench/bench_scaling.py --device cpu --sizes ${CPU_SIZES:-1e3 1e4} --name scaling_cpu_device2cores >"$OUT/cpu_scaling.log" 2>&1 & ;;
    cpu-scaling-large) JAX_PLATFORMS=cpu timeout $LIMIT taskset -c 4,5 python3 bench/bench_scaling.py --device cpu --sizes ${CPU_LARGE:-1e5} --draws ${CPU_LARGE_DRAWS:-1e5=300} --timeout $((LIMIT - 10)) --name scaling_cpu_large_device2cores >"$OUT/cpu_scaling_large.log" 2>&1 & ;;
    gpu-scaling) timeout $LIMIT taskset -c 6-15 python3 bench/bench_scaling.py --device gpu --sizes ${GPU_SIZES:-1e4 1e5 1e6} --draws ${GPU_DRAWS:-1e5=1000 1e6=500} --timeout $((LIMIT - 20)) --name scaling_gpu >"$OUT/gpu_scaling.log" 2>&1 & ;;
  esac
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
for n in ${SAMPLERS_NAME:-samplers_device2cores} ${SAMPLERS2_NAME:-samplers2_device2cores} scaling_cpu_device2cores scaling_cpu_large_device2cores scaling_gpu; do cp bench/results/$n.json "$OUT/" 2>/dev/null; done
for f in "$OUT"/*.log; do echo "== $f"; grep -v "^ROW" "$f" | tail -8; done
