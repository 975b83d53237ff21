#!/usr/bin/env bash
# Peer benchmark: llama.cpp CPU speed for a Llama-3.2-1B-shaped model with
# random BF16 weights, plus the machine's read memory bandwidth.
#
# Everything downloaded or generated goes to $PEER_BENCH_CACHE
# (default ~/.cache/peer-bench) and is reused on later runs.
#
# Environment:
#   PEER_BENCH_CACHE   work folder (default ~/.cache/peer-bench)
#   NLC_VERSION        node-llama-cpp version whose prebuilt llama.cpp is used (default 3.22.1)
#   THREADS            threads for llama.cpp and the bandwidth test (default 2)
#   REPS               timed repetitions per test, median reported (default 3)
#   N_PROMPT / N_GEN   pp / tg sizes (default 512 / 64)
#   WEIGHT_TYPE        bf16 (default) or f16: type of the generated model's matrices
#   MODEL              GGUF to benchmark (default: generated into the cache)
#   XCHECK             1 = also build and run upstream llama-bench from the bundled sources (default 1)
#   MEMBW              1 = also measure the read bandwidth (default 1)
#   PAIRED             1 = also run tg once more with a read of the model file's pages after every
#                      token, and report decode / read the way `mii bench` does (default 1)
#   WAIT_QUIET         wait up to this many seconds for other processes to leave the CPUs idle
#                      (busy < 10% over 5 s) before measuring (default 0 = don't wait)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${PEER_BENCH_CACHE:-$HOME/.cache/peer-bench}"
NLC_VERSION="${NLC_VERSION:-3.22.1}"
THREADS="${THREADS:-2}"
REPS="${REPS:-3}"
N_PROMPT="${N_PROMPT:-512}"
N_GEN="${N_GEN:-64}"
XCHECK="${XCHECK:-1}"
MEMBW="${MEMBW:-1}"
PAIRED="${PAIRED:-1}"
WAIT_QUIET="${WAIT_QUIET:-0}"
WEIGHT_TYPE="${WEIGHT_TYPE:-bf16}"
[[ "$WEIGHT_TYPE" == bf16 || "$WEIGHT_TYPE" == f16 ]] || { echo "WEIGHT_TYPE must be bf16 or f16" >&2; exit 2; }
MODEL="${MODEL:-$CACHE/llama-3.2-1b-shape-$WEIGHT_TYPE.gguf}"

NPM_DIR="$CACHE/npm/$NLC_VERSION"
BIN_PKG="$NPM_DIR/linux-x64"          # @node-llama-cpp/linux-x64 (prebuilt CPU libraries)
SRC_PKG="$NPM_DIR/node-llama-cpp"     # node-llama-cpp (ships the llama.cpp sources as a git bundle)
SRC="$NPM_DIR/llama.cpp"              # llama.cpp sources checked out from that bundle
BUILD="$CACHE/build/$NLC_VERSION"

log() { printf '[peer-bench] %s\n' "$*" >&2; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# percentage of CPU time not idle over the next $1 seconds (all cpus)
cpu_busy() {
    local a b
    a=($(sed -n 's/^cpu //p' /proc/stat)); sleep "${1:-1}"; b=($(sed -n 's/^cpu //p' /proc/stat))
    local tot=0 idle i
    for i in "${!a[@]}"; do tot=$((tot + b[i] - a[i])); done
    idle=$(( (b[3] - a[3]) + (b[4] - a[4]) ))
    echo $(( tot > 0 ? 100 * (tot - idle) / tot : 0 ))
}
others() { echo "load avg $(loadavg), cpu busy $(cpu_busy 1)%"; }

mkdir -p "$NPM_DIR" "$BUILD"

# --- 1. prebuilt llama.cpp from the npm registry ---------------------------------
fetch_pkg() { # fetch_pkg <npm spec> <dest dir>
    local spec="$1" dest="$2"
    if [[ -f "$dest/.extracted" ]]; then return; fi
    log "npm pack $spec"
    local tgz
    tgz="$(cd "$NPM_DIR" && npm pack --silent "$spec" 2>/dev/null | tail -n1)"
    rm -rf "$dest" && mkdir -p "$dest"
    tar -xzf "$NPM_DIR/$tgz" -C "$dest" --strip-components=1
    sha256sum "$NPM_DIR/$tgz" > "$dest/.tarball.sha256"
    touch "$dest/.extracted"
}
fetch_pkg "@node-llama-cpp/linux-x64@$NLC_VERSION" "$BIN_PKG"
fetch_pkg "node-llama-cpp@$NLC_VERSION" "$SRC_PKG"

LIBDIR="$BIN_PKG/bins/linux-x64"
[[ -f "$LIBDIR/libllama-common.so" ]] || { log "unexpected package layout: no $LIBDIR/libllama-common.so"; exit 1; }
LIBLLAMA="$(cd "$LIBDIR" && ls libllama.*so | head -n1)"
LIBGGML="$(cd "$LIBDIR" && ls libggml.*so | head -n1)"

if [[ ! -f "$SRC/include/llama.h" ]]; then
    log "checking out llama.cpp sources from the bundled git bundle"
    rm -rf "$SRC"
    git -c advice.detachedHead=false clone --quiet "$SRC_PKG/llama/gitRelease.bundle" "$SRC"
fi

# --- 2. build the benchmark programs ----------------------------------------------
if [[ ! -x "$BUILD/llama_bench" || "$HERE/llama_bench.c" -nt "$BUILD/llama_bench" ]]; then
    log "building llama_bench (C API benchmark)"
    gcc -O3 -march=native -pthread -Wall -I"$SRC/include" -I"$SRC/ggml/include" "$HERE/llama_bench.c" -o "$BUILD/llama_bench" \
        -L"$LIBDIR" -l:"$LIBLLAMA" -l:"$LIBGGML" -l:libggml-base.so -Wl,-rpath,"$LIBDIR"
fi
if [[ ! -x "$BUILD/membw" || "$HERE/membw.c" -nt "$BUILD/membw" ]]; then
    log "building membw"
    gcc -O3 -march=native -Wall -pthread "$HERE/membw.c" -o "$BUILD/membw"
fi
if [[ ! -x "$BUILD/build_info" ]]; then
    # llama_build_info() / llama_compiler() live in the prebuilt libllama-common (C++ linkage)
    printf '%s\n' '#include <cstdio>' 'const char* llama_build_info(); const char* llama_compiler();' \
        'int main(){ std::printf("%s (%s)\n", llama_build_info(), llama_compiler()); }' > "$BUILD/build_info.cpp"
    g++ -O1 "$BUILD/build_info.cpp" -o "$BUILD/build_info" -L"$LIBDIR" -l:libllama-common.so -Wl,-rpath,"$LIBDIR"
fi
if [[ "$XCHECK" == 1 && ! -x "$BUILD/llama-bench" ]]; then
    # upstream llama-bench from the same sources, linked against the prebuilt libraries
    log "building upstream llama-bench against the prebuilt libraries (about 20 s)"
    g++ -O2 -DNDEBUG -std=c++17 -I"$SRC/include" -I"$SRC/ggml/include" -I"$SRC/common" -I"$SRC/vendor" \
        "$SRC/tools/llama-bench/llama-bench.cpp" "$SRC/tools/llama-bench/main.cpp" -o "$BUILD/llama-bench" \
        -L"$LIBDIR" -l:libllama-common.so -l:"$LIBLLAMA" -l:"$LIBGGML" -l:libggml-base.so -Wl,-rpath,"$LIBDIR" -pthread
fi

# --- 3. the model ------------------------------------------------------------------
if [[ ! -f "$MODEL" ]]; then
    log "writing $MODEL (about 2.5 GB)"
    python3 "$HERE/write_gguf.py" --type "$WEIGHT_TYPE" "$MODEL"
fi

# --- 4. run --------------------------------------------------------------------------
if (( WAIT_QUIET > 0 )); then
    deadline=$((SECONDS + WAIT_QUIET))
    while busy=$(cpu_busy 5); (( busy >= 10 && SECONDS < deadline )); do
        log "cpus ${busy}% busy with other work, waiting"
    done
    log "cpus ${busy}% busy, starting"
fi

LLAMA_TAG="$(sed -n 's/.*"tag": *"\([^"]*\)".*/\1/p' "$SRC_PKG/llama/llama.cpp.info.json")"
BUILD_INFO="$("$BUILD/build_info")"
CPU_MODEL="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"

echo "== peer-bench: llama.cpp CPU, Llama-3.2-1B shape, BF16 =="
echo "date:      $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine:   $CPU_MODEL, $(nproc) cpus, $(uname -r)"
echo "llama.cpp: release $LLAMA_TAG, build $BUILD_INFO"
echo "package:   @node-llama-cpp/linux-x64@$NLC_VERSION ($(cut -c1-16 "$BIN_PKG/.tarball.sha256")... sha256)"
echo "model:     $MODEL ($(du -h "$MODEL" | cut -f1))"
echo "threads:   $THREADS"
echo "before:    $(others)"
echo

echo "-- llama_bench (C API) --"
OUT="$("$BUILD/llama_bench" -m "$MODEL" -B "$LIBDIR" -t "$THREADS" -p "$N_PROMPT" -n "$N_GEN" -r "$REPS" -P "$PAIRED" 2>&1)"
echo "$OUT"
PP="$(sed -n "s/^RESULT pp$N_PROMPT \([0-9.]*\) .*/\1/p" <<< "$OUT")"
TG="$(sed -n "s/^RESULT tg$N_GEN \([0-9.]*\) .*/\1/p" <<< "$OUT")"
TGP="$(sed -n "s/^RESULT tg${N_GEN}_paired \(.*\)/\1/p" <<< "$OUT")"
echo "after:     $(others)"
echo

if [[ "$XCHECK" == 1 ]]; then
    echo "-- upstream llama-bench (mean +- sd of $REPS, cross-check) --"
    # run from the library folder: llama-bench finds the CPU backend variants next to the executable or in the cwd
    (cd "$LIBDIR" && "$BUILD/llama-bench" -m "$MODEL" -t "$THREADS" -p "$N_PROMPT" -n "$N_GEN" -r "$REPS")
    echo "after:     $(others)"
    echo
fi

if [[ "$MEMBW" == 1 ]]; then
    echo "-- memory bandwidth --"
    BW_OUT="$("$BUILD/membw" "$THREADS" 2048 5)"
    echo "$BW_OUT"
    BW="$(sed -n 's/^RESULT membw \([0-9.]*\) .*/\1/p' <<< "$BW_OUT")"
    # the pages llama.cpp reads: its model file's mapping (these can read slower than fresh memory)
    BWF_OUT="$("$BUILD/membw" "$THREADS" 1 5 "$MODEL")"
    echo "$BWF_OUT"
    BWF="$(sed -n 's/^RESULT membw \([0-9.]*\) .*/\1/p' <<< "$BWF_OUT")"
    echo "after:     $(others)"
    echo
fi

echo "== summary =="
echo "llama.cpp $LLAMA_TAG ($BUILD_INFO), node-llama-cpp $NLC_VERSION prebuilt CPU libs, $THREADS threads"
[[ "$N_PROMPT" -gt 0 ]] && echo "pp$N_PROMPT: $PP tokens/s (median of $REPS)"
[[ "$N_GEN" -gt 0 ]] && echo "tg$N_GEN: $TG tokens/s (median of $REPS)"
[[ -n "$TGP" ]] && echo "tg$N_GEN decode / read (paired): $TGP"
[[ "$MEMBW" == 1 ]] && echo "read bandwidth: $BW GB/s fresh buffer, $BWF GB/s model file pages ($THREADS threads, best of 5)"
true
