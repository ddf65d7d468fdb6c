# The data disk holds someone else's ext4 with files: datavol refuses (exit 3), does not
# touch it, and containerd runs from the root disk.
. /usr/local/lib/vmtest/lib.sh
check refused prop_is datavol.service ExecMainStatus 3
containerd_on_root
check disk_still_ext4 test "$(blkid -s TYPE -o value /dev/disk/by-id/virtio-data0)" = ext4
collect
finish
