#!/bin/sh
# Run every core benchmark once and print its figures. Usage: sh bench/run.sh [python]
# A quick run: TRAINMASTER_BENCH_SIZE_MIB=128 sh bench/run.sh
# Exit status: 1 if any benchmark missed its bar (all of them still run).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
py=${1:-}
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py=python3; fi
fi
status=0
for bench in "$here"/bench_core_*.py; do
  printf '\n== %s\n' "$(basename "$bench")"
  "$py" "$bench" || status=1
done
exit $status
