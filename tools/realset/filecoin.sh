#!/bin/sh
# `make realset-filecoin`: the Filecoin/libp2p captures of pcaps/realset/ (three captures,
# about 7 minutes; root only; not run by CI). Installs what they run from the package
# registries into build/realset/ (git-ignored):
#   Debian: tcpdump, ethtool, openssl, nodejs/npm (when missing)
#   PyPI (build/realset/venv): dnslib (the lab's DNS stub)
#   npm (build/realset/libp2p, ES modules): libp2p, @libp2p/tcp, @chainsafe/libp2p-noise,
#        @chainsafe/libp2p-yamux, @libp2p/identify, @libp2p/ping
# and runs tools/realset/filecoin.py on lab slot 12; the namespaces of an interrupted run
# are removed.
set -eu
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "make realset-filecoin needs root (namespaces, tcpdump)" >&2; exit 1; }
B=build/realset
need=""
for t in tcpdump ethtool openssl node npm; do command -v "$t" >/dev/null 2>&1 || need=1; done
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump ethtool openssl nodejs npm >/dev/null
fi
[ -x $B/venv/bin/python ] || python3 -m venv $B/venv
$B/venv/bin/pip install -q dnslib==0.9.26
mkdir -p $B/libp2p
if [ ! -d $B/libp2p/node_modules/libp2p ]; then
  (cd $B/libp2p && echo '{"private": true, "type": "module"}' > package.json &&
   npm install --no-audit --no-fund --ignore-scripts libp2p@3.3.11 @libp2p/tcp@11.0.28 \
     @chainsafe/libp2p-noise@17.0.0 @chainsafe/libp2p-yamux@8.0.1 @libp2p/identify@4.1.14 \
     @libp2p/ping@3.1.13 >/dev/null)
fi
cleanup() {
  for ns in $(ip netns list | awk '/^mw12-/ {print $1}'); do
    ip netns pids "$ns" | xargs -r kill -9
    ip netns del "$ns"
  done
  rm -rf /etc/netns/mw12-cli
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
python3 -m tools.realset.filecoin "$@"
