#!/usr/bin/env bash
# One part of a long benchmark, sized to a time limit, that commits what it finished:
#   bash benchmarks/run-part.sh benchmarks/cifar10-cpu.json 2.5h [results dir]
# It trains what is missing (reference, original, gold models), runs the hyper-parameter searches if the config has
# a "tuning" section, then the cells, each step within what remains of the time limit, and commits every result file
# as its cell finishes, and the search record after the search. Run it again (here or on another machine with the same
# checkout) to continue: nothing finished is redone; models missing from the cache are retrained first.
set -euo pipefail
config=${1:?usage: run-part.sh <config.json> <time limit, e.g. 2.5h> [results dir]}
limit=${2:?usage: run-part.sh <config.json> <time limit, e.g. 2.5h> [results dir]}
results=${3:-leaderboard/results}
cd "$(dirname "$0")/.."
seconds() { node -e 'const m=/^(\d+(?:\.\d+)?)(h|m|s)?$/.exec(process.argv[1]); if(!m){console.error("bad duration "+process.argv[1]);process.exit(2)} const v=Number(m[1]); console.log(Math.round(m[2]==="h"?v*3600:m[2]==="m"?v*60:v))' "$1"; }
total=$(seconds "$limit")
start=$(date +%s)
left() { echo $(( total - ($(date +%s) - start) )); }
name=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")).name)' "$config")
record="${config%.json}.tuning.json"
on_result="bash benchmarks/commit-paths.sh \"$name: result \$(basename \"\$LETHE_RESULT_FILE\")\" \"\$LETHE_RESULT_FILE\""
pnpm -s lethe run "$config" --results-dir "$results" --time-limit "$(left)s" --on-result "$on_result"
if grep -q '"tuning"' "$config" && [ "$(left)" -gt 60 ]; then
  pnpm -s lethe tune "$config" --time-limit "$(left)s" || true
  [ -f "$record" ] && bash benchmarks/commit-paths.sh "$name: hyper-parameter search record" "$record"
  if [ "$(left)" -gt 60 ]; then
    pnpm -s lethe run "$config" --results-dir "$results" --time-limit "$(left)s" --on-result "$on_result"
  fi
fi
pnpm -s lethe plan "$config" --results-dir "$results" --no-measure
