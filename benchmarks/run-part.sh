#!/usr/bin/env bash
# One part of a long benchmark, sized to a time limit, that commits what it finished:
#   bash benchmarks/run-part.sh benchmarks/cifar10-cpu.json 2.5h [shards] [results dir]
# With shards > 1 the part runs that many processes side by side (`--shard i/n`), each with an equal share of the
# CPU threads (LETHE_NATIVE_THREADS, unless set): on a 2-core machine two one-thread shards train small ResNets
# about twice as fast as one two-thread process.
# It trains what is missing (reference, original, gold models), runs the hyper-parameter searches if the config has
# a "tuning" section, then the cells, each step within what remains of the time limit, and commits every result file
# as its cell finishes, and the search record after the search. Trained models are checkpointed too: every two minutes
# (and at the end) the finished ones are exported from the cache into benchmarks/checkpoints/<benchmark>/ and
# committed, with, at the end, the trainings the time limit stopped at an epoch end; a part starts by importing them
# into the cache. Run it again (here or on a fresh machine with the same
# checkout) to continue: nothing finished is redone, no checkpointed model is trained again.
set -euo pipefail
usage='usage: run-part.sh <config.json> <time limit, e.g. 2.5h> [shards, default 1] [results dir, default leaderboard/results]'
config=${1:?$usage}
limit=${2:?$usage}
shards=${3:-1}
results=${4:-leaderboard/results}
threads=${LETHE_NATIVE_THREADS:-$(( $(nproc) / shards > 0 ? $(nproc) / shards : 1 ))}
# the native backend's buffer pool holds up to a quarter of the machine's memory per process: share that among shards
mem_mb=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo 2>/dev/null || echo 8388608) / 1024 ))
export LETHE_NATIVE_POOL_MB=${LETHE_NATIVE_POOL_MB:-$(( mem_mb / 4 / shards ))}
cd "$(dirname "$0")/.."
seconds() { node -e 'const m=/^(\d+(?:\.\d+)?)(h|m|s)?$/.exec(process.argv[1]); if(!m){console.error("bad duration "+process.argv[1]);process.exit(2)} const v=Number(m[1]); console.log(Math.round(m[2]==="h"?v*3600:m[2]==="m"?v*60:v))' "$1"; }
total=$(seconds "$limit")
start=$(date +%s)
left() { echo $(( total - ($(date +%s) - start) )); }
name=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).name)' "$config")
record="${config%.json}.tuning.json"
checkpoints="benchmarks/checkpoints/$name"
# models trained by an earlier part (on any machine): into the cache, each verified, before anything trains
if [ -d "$checkpoints" ]; then pnpm -s lethe cache import "$config" "$checkpoints"; fi
save_models() {
  pnpm -s lethe cache export "$config" "$checkpoints" "$@" | sed -n 1p
  if [ -d "$checkpoints" ]; then bash benchmarks/commit-paths.sh "$name: trained models (checkpoints)" "$checkpoints"; fi
}
( while sleep 120; do save_models >/dev/null 2>&1 || true; done ) &
saver=$!
# at the end also the trainings the time limit stopped at an epoch end, so the next part continues them
trap 'kill "$saver" 2>/dev/null || true; save_models --with-training || true' EXIT
on_result="bash benchmarks/commit-paths.sh \"$name: result \$(basename \"\$LETHE_RESULT_FILE\")\" \"\$LETHE_RESULT_FILE\""
# run one lethe command as $shards shards side by side, each with $threads threads; its own log prefix per shard
sharded() {
  local pids=() status=0
  for i in $(seq 1 "$shards"); do
    if [ "$shards" -gt 1 ]; then
      LETHE_NATIVE_THREADS=$threads pnpm -s lethe "$@" --shard "$i/$shards" 2>&1 | sed -u "s/^/[shard $i\/$shards] /" &
    else
      LETHE_NATIVE_THREADS=$threads pnpm -s lethe "$@" &
    fi
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  return $status
}
sharded run "$config" --results-dir "$results" --time-limit "$(left)s" --on-result "$on_result" || true
if grep -q '"tuning"' "$config" && [ "$(left)" -gt 60 ]; then
  sharded tune "$config" --time-limit "$(left)s" || true
  [ -f "$record" ] && bash benchmarks/commit-paths.sh "$name: hyper-parameter search record" "$record"
  if [ "$(left)" -gt 60 ]; then
    sharded run "$config" --results-dir "$results" --time-limit "$(left)s" --on-result "$on_result" || true
  fi
fi
pnpm -s lethe plan "$config" --results-dir "$results" --no-measure
