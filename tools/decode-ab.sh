#!/usr/bin/env bash
# Decode at batch 1 on a Llama-3.2-1B-shaped BF16 model, MII-J and llama.cpp in turns. On a machine
# whose memory bandwidth changes from one minute to the next, run-after-run comparisons mostly
# measure the machine; here each round runs llama.cpp's tg64 and then MII-J's decode within about
# half a minute, and the ratio is taken per round. Both engines also report decode / read bandwidth
# measured the same way: every token followed by a plain read of the pages that engine decodes from
# (median over tokens). ROUNDS (default 5), THREADS (default 2), WEIGHT_TYPE (bf16 or f16, default
# bf16).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${ROUNDS:-5}"
export WEIGHT_TYPE="${WEIGHT_TYPE:-bf16}"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ), weights: $WEIGHT_TYPE"
echo "cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load avg $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$rounds"); do
    peer="$(N_PROMPT=0 XCHECK=0 MEMBW=0 "$root/tools/peer-bench/run.sh")"
    tg="$(sed -n 's/^tg64: \([0-9.]*\) .*/\1/p' <<< "$peer")"
    tgp="$(sed -n 's/^tg64 decode \/ read (paired): \([0-9.]*\) % of the read (quartiles \([0-9.-]*\); median read \([0-9.]*\) GB.*/\1 % (quartiles \2 %), read \3 GB\/s/p' <<< "$peer")"
    mii="$("$root/mii" bench --dummy llama-3.2-1b --dummy-dtype "$WEIGHT_TYPE" --decode-only --decode-tokens 64 2>/dev/null)"
    dec="$(sed -n 's/^decode, batch 1: *\([0-9.]*\) .*/\1/p' <<< "$mii")"
    read="$(sed -n 's/^read bandwidth: *\([0-9.]*\) .*/\1/p' <<< "$mii")"
    frac="$(sed -n 's/^decode \/ bandwidth: *\([0-9.]*\) %.*quartiles \(.*\) %)/\1 % (quartiles \2 %)/p' <<< "$mii")"
    ratio="$(awk -v a="$dec" -v b="$tg" 'BEGIN { printf "%.2f", a / b }')"
    echo "round $i: llama.cpp tg64 $tg tokens/s, decode / read $tgp | MII-J $dec tokens/s (${ratio}x), decode / read $frac, read $read GB/s"
done
echo "load avg after: $(cut -d' ' -f1-3 /proc/loadavg)"
