# An adopted image cache with prewarm = true: datavol mounts it and starts
# datavol-prewarm@containerd.service without waiting; containerd starts before the
# pre-warm ends, and the pre-warm ends in success, recorded for this disk.
. /usr/local/lib/vmtest/lib.sh
check_migrated
unit=datavol-prewarm@containerd.service
# Ordered before nothing, and nothing waits for it.
check prewarm_not_before_containerd sh -c "! systemctl show -P Before $unit | grep -qw containerd.service"
check containerd_not_after_prewarm sh -c "! systemctl show -P After containerd.service | grep -q datavol-prewarm"
check prewarm_started_by_datavol sh -c 'journalctl -b -u datavol | grep -q "started datavol-prewarm@containerd.service"'
idle_io() { local v; v=$(prop "$unit" IOSchedulingClass); [ "$v" = 3 ] || [ "$v" = idle ] || { echo "IOSchedulingClass=$v"; return 1; }; }
check prewarm_idle_io idle_io
# Wait for it (a 4 GiB disk under TCG), then read its timestamps.
wait_prewarm() {
  local i
  for i in $(seq 1 240); do
    [ "$(prop "$unit" ExecMainExitTimestampMonotonic)" -gt 0 ] 2>/dev/null && return 0
    sleep 1
  done
  echo "$unit still $(systemctl is-active "$unit") after 240 s"; return 1
}
check prewarm_finished wait_prewarm
check prewarm_result prop_is "$unit" Result success
check prewarm_status_0 prop_is "$unit" ExecMainStatus 0
# containerd began, and datavol had ended, before the pre-warm ended.
not_waited() {
  local dv ct pw
  dv=$(prop datavol.service ExecMainExitTimestampMonotonic)
  ct=$(prop containerd.service ActiveEnterTimestampMonotonic)
  pw=$(prop "$unit" ExecMainExitTimestampMonotonic)
  echo "datavol ended $dv, containerd active $ct, pre-warm ended $pw"
  [ "${dv:-0}" -gt 0 ] && [ "${ct:-0}" -gt 0 ] && [ "$dv" -lt "$pw" ] && [ "$ct" -lt "$pw" ]
}
check containerd_did_not_wait not_waited
check marker_prewarm jq -e '.prewarm.device == "serial:data0" and .prewarm.bytes >= 4294967296' /var/lib/containerd/.datavol/state.json
check status_prewarm_done sh -c 'datavol status | grep -q "pre-warm:   done"'
check blobs_first sh -c "journalctl -b -u $unit | grep -q \"reading containerd's content store first\""
check no_progress_record test ! -e /var/lib/datavol/containerd.prewarm.json
kv prewarm.log "$(journalctl -b -u "$unit" -o cat | grep -E 'reading|done' | tr '\n' ' ')"
journalctl -b -u "$unit" --no-pager >"$OUT/prewarm.txt" 2>&1
collect
finish
