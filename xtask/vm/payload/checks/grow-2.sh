# Grow, boot 2: both disks are larger now. Each filesystem was grown online to
# fill its disk (xfs_growfs, resize2fs), the grow is in the marker, the root
# disk's record and status, and nothing was formatted or copied; the data kept.
. /usr/local/lib/vmtest/lib.sh
check_migrated
check container_data_kept token_kept
for s in format copy verify; do check "no_stage_$s" lacks_stage $s; done
check grow_stage has_stage grow
# fills VOLUME DEV: the filesystem is within 1% (and 64 MiB) of its grown disk.
fills() {
  local fs dev
  fs=$(datavol status --json | jq ".volumes[] | select(.volume == \"$1\") | .filesystem_bytes")
  dev=$(blockdev --getsize64 "$2")
  echo "filesystem $fs bytes on a device of $dev"
  [ "$fs" -gt 0 ] && [ $((dev - fs)) -lt 67108864 ] && [ $(((dev - fs) * 100)) -le "$fs" ]
}
check xfs_fills_disk fills containerd /dev/disk/by-id/virtio-data0
check ext4_fills_disk fills extra /dev/disk/by-id/virtio-data1
check ext4_mounted mounted_from /var/lib/vmtest-ext4 /dev/disk/by-id/virtio-data1
check ext4_content_kept grep -qx "$TOKEN" /var/lib/vmtest-ext4/hello
check marker_grows sh -c 'jq -e ".grows == 1 and .last_grow.to_bytes > .last_grow.from_bytes" /var/lib/containerd/.datavol/state.json'
check history_grows jq -e '.grows == 1 and .last_grow_at > 0' /var/lib/datavol/containerd.json
check status_shows_grow sh -c 'datavol status | grep -q "grown:      1 time(s)"'
check xfs_growfs_logged journal_has datavol.service "grew the filesystem from"
kv data0.fs_bytes "$(datavol status --json | jq '.volumes[] | select(.volume == "containerd") | .filesystem_bytes')"
kv data1.fs_bytes "$(datavol status --json | jq '.volumes[] | select(.volume == "extra") | .filesystem_bytes')"
collect
finish
