#!/usr/bin/env bash
# Builds and runs the attention kernels' standalone check and benchmark
# (mii-cuda/src/test/cuda/attention_bench.cu) on this machine's GPU; needs nvcc, not Java.
#   tools/gpu/attention-bench.sh [--check-only | --bench-only]
# Compiles for the GPU it finds (ATTN_ARCH=sm_90a or similar overrides) into target/attention-bench/,
# prints a PASS/FAIL line per check and the timings, and exits non-zero when a check fails.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
nvcc=""
for c in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" "$(command -v nvcc || true)" /usr/local/cuda/bin/nvcc; do
  if [ -n "$c" ] && [ -x "$c" ]; then nvcc="$c"; break; fi
done
if [ -z "$nvcc" ]; then
  echo "attention-bench: nvcc not found (set CUDA_HOME)" >&2
  exit 2
fi
arch="${ATTN_ARCH:-native}"
out="$root/target/attention-bench"
mkdir -p "$out"
src="$root/mii-cuda/src/test/cuda/attention_bench.cu"
echo "attention-bench: compiling with $nvcc for $arch"
"$nvcc" -O3 -std=c++17 -arch="$arch" -lineinfo -o "$out/attention_bench" "$src"
exec "$out/attention_bench" "$@"
