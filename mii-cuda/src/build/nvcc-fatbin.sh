#!/bin/sh
# Builds the kernels' fatbin (sm_80, sm_89, sm_90a machine code plus compute_90 PTX for newer GPUs).
# Without nvcc the build goes on without it: the backend then compiles the bundled sources with NVRTC.
# Usage: nvcc-fatbin.sh <cuda source dir> <output fatbin> [skip]
set -e
src="$1"
out="$2"
if [ "$3" = "true" ]; then
  echo "mii-cuda: nvcc skipped on request; kernels will be compiled by NVRTC at run time"
  rm -f "$out"
  exit 0
fi
nvcc=""
if [ -n "$CUDA_HOME" ] && [ -x "$CUDA_HOME/bin/nvcc" ]; then
  nvcc="$CUDA_HOME/bin/nvcc"
elif command -v nvcc >/dev/null 2>&1; then
  nvcc="$(command -v nvcc)"
elif [ -x /usr/local/cuda/bin/nvcc ]; then
  nvcc=/usr/local/cuda/bin/nvcc
fi
if [ -z "$nvcc" ]; then
  echo "mii-cuda: nvcc not found; kernels will be compiled by NVRTC at run time"
  exit 0
fi
# Up to date when the fatbin is newer than every source.
if [ -f "$out" ] && [ -z "$(find "$src" -newer "$out" -type f)" ]; then
  exit 0
fi
mkdir -p "$(dirname "$out")"
echo "mii-cuda: building $(basename "$out") with $nvcc"
"$nvcc" --fatbin -O3 -std=c++17 \
  -gencode arch=compute_80,code=sm_80 \
  -gencode arch=compute_89,code=sm_89 \
  -gencode arch=compute_90a,code=sm_90a \
  -gencode arch=compute_90,code=compute_90 \
  -o "$out.tmp" "$src/kernels.cu"
mv "$out.tmp" "$out"
