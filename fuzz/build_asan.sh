#!/bin/sh
# Build detector._fast (the units of detector/csrc/) with AddressSanitizer + UndefinedBehaviorSanitizer and libFuzzer
# coverage counters (clang -fsanitize=fuzzer-no-link), as atheris documents for native
# extensions, into fuzz/build/asan/. The fuzz runner loads it in place of the normal
# build (MINEWATCH_FAST_SO, see fuzz/common.py) with atheris' asan_with_fuzzer.so
# preloaded. UBSan findings abort (-fno-sanitize-recover), so the fuzzer reports them.
#
#   sh fuzz/build_asan.sh [PYTHON]      (PYTHON: the venv's, default .venv/bin/python)
# Installs clang with apt-get when it is missing and we are root.
set -eu
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
if ! command -v clang >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        echo "installing clang"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clang) >/dev/null
    else
        echo "clang missing and not root: cannot build the sanitizer build" >&2
        exit 1
    fi
fi
INCLUDE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
SUFFIX=$("$PY" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
OUT=fuzz/build/asan/_fast$SUFFIX
mkdir -p fuzz/build/asan
fresh=1
[ -f "$OUT" ] || fresh=0
for f in detector/csrc/*.c detector/csrc/*.h fuzz/build_asan.sh; do
    [ "$fresh" = 1 ] && [ "$OUT" -nt "$f" ] || fresh=0
done
if [ "$fresh" = 1 ]; then
    echo "$OUT is up to date"
    exit 0
fi
clang -shared -fPIC -O1 -g -fno-omit-frame-pointer \
    -fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all \
    -I"$INCLUDE" detector/csrc/*.c -o "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "built $OUT"
