#!/usr/bin/env bash
# Commit the given paths (only them), retrying while another git process holds the index:
#   bash benchmarks/commit-paths.sh "<message>" <path>...
set -u
message=$1
shift
for _ in $(seq 1 20); do
  if git add -- "$@" 2>/dev/null && git commit -q -m "$message" -- "$@" 2>/dev/null; then exit 0; fi
  # nothing to commit is success too
  git diff --quiet HEAD -- "$@" 2>/dev/null && [ -z "$(git ls-files --others --exclude-standard -- "$@")" ] && exit 0
  sleep 3
done
echo "commit-paths: could not commit $* (left in the working tree)" >&2
exit 1
