#!/bin/sh
# Installs chia-blockchain (pinned) from PyPI into a venv of its own for the Chia captures
# of the validation set (tools/realset/chia_lab.py), apart from the project's venv: chia
# pins its own aiohttp, cryptography, click... Wheels exist for CPython 3.9-3.12 on
# x86_64 Linux (chia_rs, chiapos, chiavdf, chiabip158); nothing is compiled.
#   CHIA_VENV (default build/realset/chia-venv): where the venv goes
# Also the poller's venv (build/realset/venv, requests) for the negative capture, and
# tcpdump/tshark from Debian when missing.
#   sh tools/realset/chia_setup.sh && \
#   sudo CHIA_VENV=... python3 -m tools.realset.chia_lab [--duration 330] [NAME ...]
set -eu
cd "$(dirname "$0")/../.."
CHIA_VERSION=2.7.5
V=${CHIA_VENV:-build/realset/chia-venv}
for t in tcpdump mergecap ethtool; do
  command -v "$t" >/dev/null 2>&1 || need=1
done
if [ -n "${need:-}" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump tshark ethtool >/dev/null
fi
PY=python3
for candidate in python3.11 python3.12 python3.10; do
  if command -v "$candidate" >/dev/null 2>&1; then PY=$candidate; break; fi
done
if [ ! -x "$V/bin/python" ]; then
  "$PY" -m venv "$V"
fi
"$V/bin/pip" install -q "chia-blockchain==$CHIA_VERSION"
"$V/bin/chia" version
if [ ! -x build/realset/venv/bin/python ]; then
  python3 -m venv build/realset/venv
fi
build/realset/venv/bin/pip install -q requests==2.34.2
