# The data disk holds someone else's filesystem ($FSTYPE) with files: datavol refuses
# (exit 3), does not touch it, and containerd runs from the root disk.
. /usr/local/lib/vmtest/lib.sh
check refused prop_is datavol.service ExecMainStatus 3
containerd_on_root
check "disk_still_$FSTYPE" test "$(blkid -s TYPE -o value /dev/disk/by-id/virtio-data0)" = "$FSTYPE"
check disk_not_mounted sh -c '! findmnt -n -S "$(readlink -f /dev/disk/by-id/virtio-data0)"' 
collect
finish
