#!/bin/sh
# Benign: feeds an interactive-looking OpenSSH session (ssh -tt, a pty on the server):
# an admin types a few commands with pauses, tails a log that prints every few seconds,
# looks around again, and leaves. Its output is the ssh client's stdin.
# Usage: ssh_session.sh SECONDS | ssh -tt ... user@host
end=$(( $(date +%s) + ${1:-300} ))
type_cmd() { sleep "$1"; echo "$2"; }
type_cmd 3 'uptime'
type_cmd 4 'ls -la /etc | head -20'
type_cmd 6 'cat /etc/os-release'
type_cmd 5 'df -h; free -m'
type_cmd 8 'ps aux | head -15'
while [ "$(date +%s)" -lt $(( end - 40 )) ]; do
  # a log being watched: a line every 3-7 s for a minute, then a pause, then more commands
  type_cmd 2 'for i in $(seq 12); do echo "$(date +%T) worker[$$]: processed batch $i ($((RANDOM % 900 + 100)) items)"; sleep $((RANDOM % 5 + 3)); done'
  sleep 75
  type_cmd 10 'uptime; who'
  type_cmd 6 'ls /var/log | head'
  type_cmd 12 'top -b -n 1 | head -12'
done
type_cmd 5 'exit'
sleep 3
