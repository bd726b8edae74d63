#!/usr/bin/env bash
# The training measurements that need a lent GPU machine, as one prepared script (a lease is
# 15 minutes, so everything runs in one call; docs/benchmarks.md quotes its output):
#   1. loss curves, df-ud 64 px batch 8, seed 1: ours, ours with the swap pass put back into the
#      step, and the baseline checkout's trainer, in bf16 and fp32, all concurrent;
#   2. GPU throughput of the DFL-exact LIAE (and DF for reference) with benchmarks/train.py;
#   3. the host CPU (CUDA hidden): fp32 vs bf16 autocast alternated, then inductor.
# Inputs: FACESETS (srcR/ dstR/ facesets, default .bench/facesets), BASELINE (a checkout of an
# older trainer, default .bench/base; skipped when missing), .whl/*.whl installed when the
# machine lacks OpenImageIO. Output: $OUT (default out/device_train): all.log and JSON.
# Sizes come from the environment so the script can be tried on a CPU in seconds first:
#   CURVE_ITERS=3 GPU_ITERS=1 CPU_ITERS=1 GPU_CONFIGS=df-ud:64:8 benchmarks/device_train.sh
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-out/device_train}
FS=${FACESETS:-.bench/facesets}
BASE=${BASELINE:-.bench/base}
CURVE_ITERS=${CURVE_ITERS:-2000}
GPU_ITERS=${GPU_ITERS:-15}
CPU_ITERS=${CPU_ITERS:-4}
GPU_CONFIGS=${GPU_CONFIGS:-liae-ud:256:8,liae-ud:128:8,df-ud:256:8}
WORK=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
log() { tee -a "$OUT/all.log"; }
BENCH=("$PY" benchmarks/train.py --facesets "$FS")  # an array, not a function: timeout runs it

if ! $PY -c "import OpenImageIO" 2>/dev/null && compgen -G ".whl/*.whl" >/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi

{
    date -u
    lscpu | grep -E "Model name|^CPU\(s\)|Thread|Socket"
    echo "cpu flags: $(grep -o -w -E 'avx2|avx512f|avx512_bf16|avx512_fp16|amx_bf16|amx_tile|amx_int8' \
        /proc/cpuinfo | sort -u | tr '\n' ' ')"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
    $PY -c "import torch; print('torch', torch.__version__, 'mkldnn bf16 native:',
torch.ops.mkldnn._is_mkldnn_bf16_supported())"
} 2>&1 | log

echo "== 1. loss curves (concurrent; their seconds are not throughput)" | log
base_args=()
[ -d "$BASE/trainers" ] && base_args=(--baseline "$BASE")
"${BENCH[@]}" --configs none --curve "$CURVE_ITERS" --curve-res 64 --curve-swap-pass --curve-parallel \
    "${base_args[@]}" --work "$WORK/c1" --json "$OUT/curve_auto.json" >"$WORK/c1.log" 2>&1 &
"${BENCH[@]}" --configs none --curve "$CURVE_ITERS" --curve-res 64 --curve-swap-pass --curve-parallel \
    --set precision=fp32 --work "$WORK/c2" --json "$OUT/curve_fp32.json" >"$WORK/c2.log" 2>&1 &
wait
{ echo "-- precision auto"; cat "$WORK/c1.log"; echo "-- precision fp32"; cat "$WORK/c2.log"; } | log

if $PY -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    echo "== 2. GPU throughput" | log
    timeout 200 "${BENCH[@]}" --configs "$GPU_CONFIGS" --iters "$GPU_ITERS" --rounds 3 \
        --work "$WORK/g" --json "$OUT/gpu.json" 2>&1 | log
fi

echo "== 3. host CPU, CUDA hidden: fp32 / bf16 alternated, then inductor" | log
native=$($PY -c "import torch; print(int(torch.ops.mkldnn._is_mkldnn_bf16_supported()))")
# Emulated bf16 is an order of magnitude slower: one short try only, then.
order="fp32 bf16 fp32 bf16"; cpu_limit=120
[ "$native" = 1 ] || { order="fp32 bf16"; cpu_limit=60; }
cpu_run() {  # cpu_run LIMIT --set k=v ...: one df-ud 64 batch 8 measurement, its row logged
    local limit=$1; shift
    CUDA_VISIBLE_DEVICES= timeout "$limit" "${BENCH[@]}" --configs df-ud:64:8 \
        --iters "$CPU_ITERS" --rounds 1 --set threads="$(nproc)" "$@" --work "$WORK/p" \
        >"$WORK/cpu.log" 2>&1
    local rc=$?
    if [ $rc = 0 ]; then grep -E "^(machine|ours)" "$WORK/cpu.log" | log
    elif [ $rc = 124 ]; then echo "$*: over $limit s, stopped" | log
    else { echo "$*: failed ($rc)"; tail -4 "$WORK/cpu.log"; } | log
    fi
}
for p in $order; do cpu_run "$cpu_limit" --set precision=$p; done
for p in auto fp32; do cpu_run "${COMPILE_LIMIT:-150}" --set compile=true --set precision=$p; done
date -u | log
rm -rf "$WORK"
