#!/bin/sh
# `make realset`: regenerates pcaps/realset/ (14 captures of real programs, two at a time,
# about 45 minutes; root only; not run by CI). XMRig may raise vm.nr_hugepages: the value
# is recorded first and put back on every exit, and the namespaces of an interrupted run
# are removed.
set -eu
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "make realset needs root (namespaces, tcpdump)" >&2; exit 1; }
sh tools/realset/setup.sh
HUGE=$(sysctl -n vm.nr_hugepages)
cleanup() {
  # namespaces of ours left by an interrupted run: end what runs in them, then remove them
  for ns in $(ip netns list | awk '/^mw[01]-/ {print $1}'); do
    ip netns pids "$ns" | xargs -r kill -9
    ip netns del "$ns"
  done
  sysctl -qw vm.nr_hugepages="$HUGE"
  echo "vm.nr_hugepages back to $(sysctl -n vm.nr_hugepages)"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
python3 -m tools.realset.run "$@"
