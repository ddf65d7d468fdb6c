# A foreign ext4 on the data disk: datavol refuses (exit 3), and its reason is where
# operators look, journalctl -u datavol.service and systemctl status datavol, although
# datavol exits right after logging it (journald may never read its cgroup): every
# entry names its unit in OBJECT_SYSTEMD_UNIT. journalctl -x explains the refusal.
. /usr/local/lib/vmtest/lib.sh
REFUSED=6cf64220e070422eaf5f45555d781662
REASON="foreign signature (ext4)"
check refused prop_is datavol.service ExecMainStatus 3
check reason_under_unit journal_has datavol.service "$REASON"
check reason_in_systemctl_status sh -c "systemctl status datavol.service --no-pager -l | grep -F '$REASON'"
check entry_names_unit entry_has "MESSAGE_ID=$REFUSED" OBJECT_SYSTEMD_UNIT=datavol.service
check entry_names_volume entry_has "MESSAGE_ID=$REFUSED" DATAVOL_VOLUME=containerd
check refusal_explained explained datavol.service "Subject: datavol: volume containerd was refused"
# Whatever unit journald saw (or could not see), journalctl -u matches root's entries by
# OBJECT_SYSTEMD_UNIT: an entry sent from this checker's unit, naming datavol.service,
# is found under datavol.service.
probe_sent() {
  local m=$1
  printf 'MESSAGE=%s\nOBJECT_SYSTEMD_UNIT=datavol.service\n' "$m" | logger --journald &&
    journalctl --sync &&
    journalctl -b -o cat --no-pager MESSAGE="$m" | grep -qx "$m" &&
    ! journalctl -b -o verbose --no-pager MESSAGE="$m" | grep -qE '^ +_SYSTEMD_UNIT=datavol\.service$'
}
PROBE="vmtest-probe-$$"
check probe_from_another_unit probe_sent "$PROBE"
check object_field_suffices journal_has datavol.service "$PROBE"
# A fact, not a check: whether journald attributed the line on its own this time.
kv journald.attributed "$(journalctl -b -o cat _SYSTEMD_UNIT=datavol.service MESSAGE_ID=$REFUSED | wc -l)"
systemctl status datavol.service --no-pager -l >"$OUT/systemctl-status-datavol.txt" 2>&1
containerd_on_root
collect
finish
