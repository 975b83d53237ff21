#!/usr/bin/env bash
# MII-J and llama.cpp on the same machine, back to back: the machine's read bandwidth, llama.cpp's
# pp512/tg64 on a Llama-3.2-1B-shaped BF16 GGUF (tools/peer-bench), then MII-J's engine bench on
# BF16 safetensors of the same shape. Results go to stdout; record them in docs/benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load avg $(cut -d' ' -f1-3 /proc/loadavg)"
XCHECK="${XCHECK:-0}" "$root/tools/peer-bench/run.sh"
"$root/mii" bench --dummy llama-3.2-1b --concurrency "${CONCURRENCY:-1,4,16,64}" --decode-tokens 64 --prompt-tokens 512
# What holds decode below the read bandwidth: the kernels vs a plain sum over their own work items.
source "$root/scripts/java-env"
"$JAVA_HOME/bin/java" "${MII_JVM_FLAGS[@]}" -cp "$root/mii-cli/target/mii-cli-0.1.0-SNAPSHOT.jar:$root/mii-cli/target/lib/*" \
  dev.miij.backend.cpu.DecodeReadProbe "$HOME/.cache/mii/dummy-llama-3.2-1b" 8 2>&1 | grep -v '^WARNING: Using incubator'
echo "load avg after: $(cut -d' ' -f1-3 /proc/loadavg)"
