#!/usr/bin/env bash
# Instructions per call of each case of benchmarks/instruction_counts.py, for two source trees.
# Usage: benchmarks/compare_instructions.sh OLD_TREE NEW_TREE [PYTHON]
set -euo pipefail
old=$1 new=$2 python=${3:-python3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
count() {  # tree case n -> instructions executed
  # A fixed hash seed and one BLAS thread make the count repeatable (string hashing changes dict
  # probing; idle BLAS threads spin for a run-dependent time).
  PYTHONHASHSEED=0 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$python" \
    "$here/instruction_counts.py" "$2" "$3" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
printf '%-6s %14s %14s %8s\n' case old/call new/call new/old
for case in add mul dot relu mlp; do
  n=500; [ "$case" = mlp ] && n=5
  o=$(( ($(count "$old" $case $n) - $(count "$old" $case 0)) / n ))
  w=$(( ($(count "$new" $case $n) - $(count "$new" $case 0)) / n ))
  printf '%-6s %14d %14d %8s\n' "$case" "$o" "$w" "$(python3 -c "print(f'{$w/$o:.3f}')")"
done
