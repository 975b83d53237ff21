#!/usr/bin/env bash
# Runs every CUDA test and the headline benchmarks on a GPU host, inside a checkout of this
# repository (the tests read the fixture models under mii-core/src/test/resources):
#   tools/gpu/test-on-gpu.sh BUNDLE_DIR [JAVA] [OUT_DIR] [CLI_DIR]
# BUNDLE_DIR comes from tools/gpu/bundle.sh; CLI_DIR, when given, is a bundle-cli.sh tarball unpacked
# (the `mii` launcher and its jars): then the issue's three headline workloads run through
# `mii bench --device cuda --json`. Where nvcc is installed the kernel benches (GEMV, attention) run
# too. Writes OUT_DIR/gpu-tests.log, OUT_DIR/bench.jsonl, OUT_DIR/*-bench.txt and OUT_DIR/summary.json;
# exits non-zero when a test fails.
set -uo pipefail
bundle="${1:?usage: test-on-gpu.sh BUNDLE_DIR [JAVA] [OUT_DIR] [CLI_DIR]}"
java="${2:-java}"
out="${3:-gpu-results}"
cli="${4:-}"
mkdir -p "$out"
cp="$(ls "$bundle"/lib/*.jar | tr '\n' ':')$bundle/test-classes"
root="$(cd "$(dirname "$0")/../.." && pwd)"
flags=("@$root/scripts/jvm.options" -Xss4m)
"$java" "${flags[@]}" -cp "$cp" dev.miij.cuda.GpuTests > "$out/gpu-tests.log" 2>&1
tests_rc=$?

: > "$out/bench.jsonl"
if [ -n "$cli" ]; then
  javahome="$(dirname "$(dirname "$(readlink -f "$(command -v "$java")")")")"
  while read -r shape b n i o; do
    JAVA_HOME="$javahome" MII_NO_BUILD=1 "$cli/mii" bench --device cuda --dummy "$shape" --batch-size "$b" \
      --num-requests "$n" --input-len "$i" --output-len "$o" --json 2>>"$out/bench.err" | grep '^{' >> "$out/bench.jsonl"
  done <<'WORKLOADS'
llama-3-8b 1 4 128 128
llama-3.2-1b 1 4 128 128
llama-3-8b 256 1000 256 256
WORKLOADS
fi

nvcc="${CUDA_HOME:-/usr/local/cuda}/bin/nvcc"
command -v nvcc >/dev/null 2>&1 && nvcc="$(command -v nvcc)"
if [ -x "$nvcc" ]; then
  here="$(cd "$(dirname "$0")/../.." && pwd)"
  tmp="$(mktemp -d)"
  for bench in gemv attention; do
    src="$here/mii-cuda/src/test/cuda/${bench}_bench.cu"
    [ -f "$src" ] || continue
    "$nvcc" -O3 -std=c++17 -arch=sm_90a -o "$tmp/$bench" "$src" && "$tmp/$bench" > "$out/$bench-bench.txt" 2>&1
  done
  rm -rf "$tmp"
fi

passed=$(grep -oE '[0-9]+ tests successful' "$out/gpu-tests.log" | grep -oE '^[0-9]+' || echo 0)
failed=$(grep -oE '[0-9]+ tests failed' "$out/gpu-tests.log" | grep -oE '^[0-9]+' || echo 0)
{
  printf '{"tests_passed":%s,"tests_failed":%s,"tests_exit_code":%s,"bench":[' "$passed" "$failed" "$tests_rc"
  paste -sd, "$out/bench.jsonl" | tr -d '\n'
  printf ']}\n'
} > "$out/summary.json"
cat "$out/summary.json"
exit "$tests_rc"
