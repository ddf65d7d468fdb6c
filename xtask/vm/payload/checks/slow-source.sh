# Slow source: the data disk's writes are throttled once mkfs is done, so the first copy
# takes about a minute, three times DefaultTimeoutStartSec (20 s here). datavol must not be
# killed by a start timeout, must log progress, and containerd must wait for it.
. /usr/local/lib/vmtest/lib.sh
check_migrated
longer_than_default_timeout() {
  local us; us=$(( $(prop datavol.service ExecMainExitTimestampMonotonic) - $(prop datavol.service ExecMainStartTimestampMonotonic) ))
  local def; def=$(systemctl show -P DefaultTimeoutStartUSec | sed 's/s$//')
  [ "$us" -gt $(( ${def:-90} * 2000000 )) ] || { echo "datavol ran only $((us / 1000000))s (default timeout ${def}s); the throttle did not bite"; return 1; }
}
progress_lines() { [ "$(journalctl -b -o cat _SYSTEMD_UNIT=datavol.service | grep -c 'progress:')" -ge 3 ]; }
check ran_past_default_timeout longer_than_default_timeout
check progress_logged progress_lines
kv progress.lines "$(journalctl -b -o cat _SYSTEMD_UNIT=datavol.service | grep -c 'progress:')"
collect
finish
