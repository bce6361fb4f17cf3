#!/bin/sh
# Write minewatch's outputs on every input a refactoring must keep byte-identical, so that
# two trees can be compared with `diff -r`:
#
#   sh tools/outputs.sh OUTDIR [BENCH_CAPTURE]
#
# For the fixtures (pcaps/), every directory of ../shared/corpus and, if given, the bench
# capture: `scan -f jsonl` and `flows --all`, each with the compiled helpers and with
# MINEWATCH_PURE=1. Exit codes and stderr are kept too (files *.rc, *.err). Run from the
# repository root with its venv built (make demo).
set -u
out=${1:?usage: tools/outputs.sh OUTDIR [BENCH_CAPTURE]}
bench=${2:-}
mkdir -p "$out"
py=.venv/bin/python
corpus=../shared/corpus
set -- pcaps pcaps
for d in "$corpus"/*/; do
  [ -d "$d" ] && set -- "$@" "$(basename "$d")" "$d"
done
[ -n "$bench" ] && set -- "$@" bench "$bench"
while [ $# -ge 2 ]; do
  name=$1 path=$2
  shift 2
  for pure in 0 1; do
    tag="$name.pure$pure"
    for cmd in scan flows; do
      if [ "$cmd" = scan ]; then args="scan -f jsonl -q -j 1"; else args="flows --all -j 1"; fi
      if [ "$pure" = 1 ]; then
        MINEWATCH_PURE=1 $py -m detector $args "$path" >"$out/$tag.$cmd.jsonl" 2>"$out/$tag.$cmd.err"
      else
        env -u MINEWATCH_PURE $py -m detector $args "$path" >"$out/$tag.$cmd.jsonl" 2>"$out/$tag.$cmd.err"
      fi
      echo $? >"$out/$tag.$cmd.rc"
    done
  done
done
ls "$out" | wc -l
