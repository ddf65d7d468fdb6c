# Issue #18 defect 5, boot 2: the root disk (and its datavol record) comes from a
# node that seeded data0; this is a new instance (another DMI product UUID, the
# same machine-id), and its user data, written after local-fs.target, names data1.
. /usr/local/lib/vmtest/lib.sh
same_dev() { [ "$(readlink -f "$1")" = "$(readlink -f "$2")" ] || { echo "$1 is $(readlink -f "$1"), not $(readlink -f "$2")"; return 1; }; }
kv product_uuid "$(cat /sys/class/dmi/id/product_uuid 2>&1)"
check generator_emitted_nothing test ! -e /run/systemd/generator/var-lib-containerd.mount
# journald files a kmsg line "datavol-generator: ..." under that identifier.
check generator_said_why sh -c 'journalctl -b -t datavol-generator -o cat | grep -F "volume containerd" | grep -qF "another instance"'
check datavol_succeeded prop_is datavol.service Result success
check mounted is_mountpoint /var/lib/containerd
check mounted_from_data1 same_dev "$(findmnt -n -o SOURCE /var/lib/containerd)" /dev/disk/by-id/virtio-data1
check containerd_started_after_datavol datavol_before_containerd
check container_runs container_runs
check record_rebound sh -c 'grep -q "\"product_uuid\": \"$(cat /sys/class/dmi/id/product_uuid | tr A-Z a-z)\"" /var/lib/datavol/containerd.json'
collect
finish
