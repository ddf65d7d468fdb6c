# Slow source: the data disk's writes are throttled once mkfs is done, so the first copy
# takes minutes. datavol must not be killed by a start timeout, must log progress, and
# containerd must wait for it.
. /usr/local/lib/vmtest/lib.sh
check_migrated
longer_than_default_timeout() {
  local us; us=$(( $(prop datavol.service ExecMainExitTimestampMonotonic) - $(prop datavol.service ExecMainStartTimestampMonotonic) ))
  [ "$us" -gt 90000000 ] || { echo "datavol ran only $((us / 1000000))s; the throttle did not bite"; return 1; }
}
progress_lines() { [ "$(journalctl -b -o cat _SYSTEMD_UNIT=datavol.service | grep -c 'progress:')" -ge 5 ]; }
check ran_past_default_timeout longer_than_default_timeout
check progress_logged progress_lines
kv progress.lines "$(journalctl -b -o cat _SYSTEMD_UNIT=datavol.service | grep -c 'progress:')"
collect
finish
