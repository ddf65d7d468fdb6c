# Boot 3 of degraded-boot: the disk is back. The volume is mounted again (containerd's
# directory defaults to mount-with-warning), and what boot 2 wrote underneath is
# reported, not silently hidden: a warning with its MESSAGE_ID, status and a metric.
. /usr/local/lib/vmtest/lib.sh
check_migrated
check hidden_warned journal_has datavol.service "hidden"
check hidden_in_status sh -c 'datavol status --json | grep -q "\"hidden"'
collect
finish
