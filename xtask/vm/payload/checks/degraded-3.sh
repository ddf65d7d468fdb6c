# Boot 3 of degraded-boot: the disk is back. The volume is mounted again (containerd's
# directory defaults to hidden_content = "warn"), and what boot 2 wrote underneath is
# reported, not silently hidden: a warning with its MESSAGE_ID before the mount, the
# finding in status --json, and the metric; `datavol hidden` lists the file.
. /usr/local/lib/vmtest/lib.sh
HIDDEN=3b82d644ee0a4ae8b039bc0f8bc04bab
check_migrated
check hidden_warned entry_has "MESSAGE_ID=$HIDDEN" DATAVOL_VOLUME=containerd
# Whichever unit mounted it (the generator's check unit on this reboot), journalctl -x
# explains the warning.
check hidden_explained sh -c "journalctl -b -x MESSAGE_ID=$HIDDEN --no-pager | grep -qF 'would be hidden'"
check hidden_in_status sh -c 'datavol status --json | jq -e "[.volumes[].hidden[]?.entries] | add > 0"'
check hidden_listed sh -c 'datavol hidden containerd | grep -q vmtest-degraded'
check written_file_not_visible sh -c '! test -e /var/lib/containerd/vmtest-degraded'
collect
finish
