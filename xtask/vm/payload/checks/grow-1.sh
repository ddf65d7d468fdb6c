# Grow, boot 1: seeded as usual (and a second volume, ext4, on data1), then a
# container leaves data behind. The host enlarges both disks before boot 2.
. /usr/local/lib/vmtest/lib.sh
check_migrated
check container_writes container_writes "$TOKEN"
check ext4_mounted mounted_from /var/lib/vmtest-ext4 /dev/disk/by-id/virtio-data1
kv data0.fs_bytes "$(datavol status --json | jq '.volumes[] | select(.volume == "containerd") | .filesystem_bytes')"
kv data1.fs_bytes "$(datavol status --json | jq '.volumes[] | select(.volume == "extra") | .filesystem_bytes')"
collect
finish
