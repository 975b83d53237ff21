#!/usr/bin/env bash
# Runs every CUDA test and the decode probes on a GPU host, from a bundle made by bundle.sh, inside a
# checkout of this repository (the tests read the fixture models under mii-core/src/test/resources).
#   tools/gpu/test-on-gpu.sh BUNDLE_DIR [JAVA] [OUT_DIR]
# Writes OUT_DIR/gpu-tests.log, OUT_DIR/probe.jsonl and OUT_DIR/summary.json; exits non-zero when a
# test fails.
set -uo pipefail
bundle="${1:?usage: test-on-gpu.sh BUNDLE_DIR [JAVA] [OUT_DIR]}"
java="${2:-java}"
out="${3:-gpu-results}"
mkdir -p "$out"
cp="$(ls "$bundle"/lib/*.jar | tr '\n' ':')$bundle/test-classes"
root="$(cd "$(dirname "$0")/../.." && pwd)"
flags=("@$root/scripts/jvm.options" -Xss4m)
"$java" "${flags[@]}" -cp "$cp" dev.miij.cuda.GpuTests > "$out/gpu-tests.log" 2>&1
tests_rc=$?
: > "$out/probe.jsonl"
for model in llama-3.2-1b llama-3-8b; do
  "$java" "${flags[@]}" -cp "$cp" dev.miij.cuda.CudaDecodeProbe "$model" 128 128 2>>"$out/probe.err" | grep '^{' >> "$out/probe.jsonl"
done
passed=$(grep -oE '[0-9]+ tests successful' "$out/gpu-tests.log" | grep -oE '^[0-9]+' || echo 0)
failed=$(grep -oE '[0-9]+ tests failed' "$out/gpu-tests.log" | grep -oE '^[0-9]+' || echo 0)
{
  printf '{"tests_passed":%s,"tests_failed":%s,"tests_exit_code":%s,"probes":[' "$passed" "$failed" "$tests_rc"
  paste -sd, "$out/probe.jsonl" | tr -d '\n'
  printf ']}\n'
} > "$out/summary.json"
cat "$out/summary.json"
exit "$tests_rc"
