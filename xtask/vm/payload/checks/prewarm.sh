# An adopted image cache with prewarm = true: datavol mounts it and starts
# datavol-prewarm@containerd.service without waiting; containerd begins to start
# before the pre-warm ends, and the pre-warm ends in success, recorded for this disk.
. /usr/local/lib/vmtest/lib.sh
check_migrated
unit=datavol-prewarm@containerd.service
# Ordered before nothing, and nothing waits for it.
check prewarm_not_before_containerd sh -c "! systemctl show -P Before $unit | grep -qw containerd.service"
check containerd_not_after_prewarm sh -c "! systemctl show -P After containerd.service | grep -q datavol-prewarm"
check prewarm_started_by_datavol journal_has datavol.service "started $unit"
idle_io() { local v; v=$(prop "$unit" IOSchedulingClass); [ "$v" = 3 ] || [ "$v" = idle ] || { echo "IOSchedulingClass=$v"; return 1; }; }
check prewarm_idle_io idle_io
# Wait for it (a 4 GiB disk under TCG). systemd unloads a template instance once it
# stopped, so its properties are gone: the journal says how it ended, and when.
ended() { journalctl -b -u "$unit" -o short-monotonic --no-pager | grep -E "Deactivated successfully|Failed with result"; }
wait_prewarm() {
  local i
  for i in $(seq 1 240); do ended >/dev/null && return 0; sleep 1; done
  echo "$unit still $(systemctl is-active "$unit") after 240 s"; return 1
}
check prewarm_finished wait_prewarm
# Only an exit status 0 (result success) is "Deactivated successfully".
check prewarm_succeeded journal_has "$unit" "Deactivated successfully"
check prewarm_done_logged journal_has "$unit" "pre-warm done"
# datavol was ready (READY=1), and containerd had begun to start (its ExecStartPre, the
# gate), before the pre-warm ended: nothing waited for it. (How long containerd
# then takes to become active under TCG, with the pre-warm reading, is a race.)
not_waited() {
  local dv ct pw
  dv=$(prop datavol.service ActiveEnterTimestampMonotonic)
  ct=$(prop containerd.service InactiveExitTimestampMonotonic)
  pw=$(ended | head -n1 | sed -E 's/^\[ *([0-9]+)\.([0-9]{6})\].*/\1\2/')
  echo "datavol ended $dv, containerd began to start $ct, pre-warm ended $pw (us)"
  [ "${dv:-0}" -gt 0 ] && [ "${ct:-0}" -gt 0 ] && [ "${pw:-0}" -gt 0 ] && [ "$dv" -lt "$pw" ] && [ "$ct" -lt "$pw" ]
}
check containerd_did_not_wait not_waited
check marker_prewarm jq -e '.prewarm.device == "serial:data0" and .prewarm.bytes >= 4294967296' /var/lib/containerd/.datavol/state.json
check status_prewarm_done sh -c 'datavol status | grep -q "pre-warm:   done"'
check blobs_first journal_has "$unit" "reading containerd's content store first"
check no_progress_record test ! -e /var/lib/datavol/containerd.prewarm.json
kv prewarm.log "$(journalctl -b -u "$unit" -o cat | grep -E 'reading|done' | tr '\n' ' ')"
journalctl -b -u "$unit" --no-pager >"$OUT/prewarm.txt" 2>&1
collect
finish
