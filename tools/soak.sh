#!/usr/bin/env bash
# Operational checks of a served deployment, against a real `./mii serve` of the bundled demo model
# (2 replicas, the HTTP front end on), each driven by `./mii load-bench` with streamed OpenAI
# completions, and each failing the script when it finds a fault:
#
#   soak  64 concurrent streams for DURATION seconds (default 600): every stream must end with a
#         finish reason and `data: [DONE]`; any failed, cut, timed-out or unfinished stream fails.
#   kill  64 concurrent streams for KILL_DURATION seconds (default 60); a third of the way in, replica 0
#         is stopped (SIGSTOP) for two seconds, so that requests routed to it wait without output, then
#         killed with SIGKILL. Streams that had begun on it may end with an error event; a request that
#         had received no output must not fail (the load balancer retries it on the other replica).
#         Afterwards the replica must have been restarted under a new pid.
#
#   tools/soak.sh [--duration S] [--kill-duration S] [--concurrency C] [--max-new-tokens N]
#                 [--only soak|kill] [--api openai|mii|grpc] [--out DIR]
#
# --api: the protocol the streams use (default openai: the HTTP front end; grpc: the load balancer's
# GeneratorReplyStream, the path gRPC clients take).
#
# Writes DIR/serve.log and DIR/{soak,kill}.json (load-bench's JSON; default DIR: a fresh temporary
# folder) and prints the load tables; exits 0 only when every check run passed.
set -euo pipefail
root="$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)"
duration=600
kill_duration=60
concurrency=64
tokens=64
only=""
api=openai
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --kill-duration) kill_duration="$2"; shift 2 ;;
    --concurrency) concurrency="$2"; shift 2 ;;
    --max-new-tokens) tokens="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --api) api="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$only" in ""|soak|kill) ;; *) echo "error: --only takes soak or kill" >&2; exit 2 ;; esac
case "$api" in openai|mii|grpc) ;; *) echo "error: --api takes openai, mii or grpc" >&2; exit 2 ;; esac
out="${out:-$(mktemp -d -t mii-soak.XXXXXX)}"
mkdir -p "$out"

mii="$root/mii"
"$mii" --version >/dev/null   # builds once if the sources changed; nothing rebuilds mid-run after this
export MII_NO_BUILD=1
name="soak-$$"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ); cpu: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; output in $out"

"$mii" serve --deployment-name "$name" --replica-num 2 --port 0 --enable-restful-api --restful-api-port 0 \
  > "$out/serve.out" 2> "$out/serve.log" &
serve=$!
cleanup() {
  if kill -0 "$serve" 2>/dev/null; then
    kill -TERM "$serve" 2>/dev/null || true
    wait "$serve" 2>/dev/null || true
  fi
}
trap cleanup EXIT
for _ in $(seq 1 240); do
  grep -q '^ready:' "$out/serve.out" 2>/dev/null && break
  kill -0 "$serve" 2>/dev/null || { echo "error: mii serve exited (see $out/serve.log)" >&2; exit 1; }
  sleep 0.5
done
grep -q '^ready:' "$out/serve.out" || { echo "error: mii serve was not ready after 120 s" >&2; exit 1; }
cat "$out/serve.out"

replica_pid() { # replica_pid INDEX: the pid the registry has for that replica now
  "$mii" list --json | sed 's/},{/}\n{/g' | grep -F "\"name\":\"$name\"" \
    | grep -o '"replica_pids":\[[0-9,-]*\]' | grep -o '[0-9,-]*' | cut -d, -f$(($1 + 1))
}

failed=0
bench() { # bench OUT_NAME SECONDS CHECK WARMUP: load-bench streamed OpenAI completions, JSON to OUT_NAME.json
  "$mii" load-bench --deployment "$name" --api "$api" --stream --concurrency "$concurrency" --duration "$2" \
    --max-new-tokens "$tokens" --warmup "$4" --timeout 300 --check "$3" --json > "$out/$1.json"
}

if [ -z "$only" ] || [ "$only" = soak ]; then
  echo "== soak: $concurrency streams for $duration s, every one must end with [DONE]"
  if bench soak "$duration" any 16; then echo "soak: PASS"; else echo "soak: FAIL"; failed=1; fi
fi

if [ -z "$only" ] || [ "$only" = kill ]; then
  echo "== kill: $concurrency streams for $kill_duration s, replica 0 stopped then SIGKILLed at $((kill_duration / 3)) s"
  victim="$(replica_pid 0)"
  [ -n "$victim" ] || { echo "error: no pid for replica 0 in 'mii list --json'" >&2; exit 1; }
  bench kill "$kill_duration" unstarted 0 &
  load=$!
  sleep $((kill_duration / 3))
  echo "stopping replica 0 (pid $victim), then SIGKILL in 2 s"
  kill -STOP "$victim" || echo "warning: could not stop pid $victim"
  sleep 2
  kill -KILL "$victim" || echo "warning: could not kill pid $victim"
  if wait "$load"; then kill_ok=1; else kill_ok=0; fi
  restarted=""
  for _ in $(seq 1 120); do
    now="$(replica_pid 0)"
    if [ -n "$now" ] && [ "$now" != "$victim" ] && [ "$now" -gt 0 ] && kill -0 "$now" 2>/dev/null; then
      restarted="$now"; break
    fi
    sleep 0.5
  done
  if [ -z "$restarted" ]; then echo "replica 0 was not restarted"; kill_ok=0; else echo "replica 0 restarted as pid $restarted"; fi
  if [ "$kill_ok" = 1 ]; then echo "kill: PASS"; else echo "kill: FAIL"; failed=1; fi
fi
exit "$failed"
