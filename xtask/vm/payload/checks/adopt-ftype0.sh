# adopt_existing = true, but the image cache is an xfs made with ftype=0: overlayfs
# cannot use it, so datavol refuses (exit 3) before writing a byte, says why with the
# mkfs hint, and containerd runs from the root disk. The host checks the bytes.
. /usr/local/lib/vmtest/lib.sh
check refused prop_is datavol.service ExecMainStatus 3
check reason_ftype0 journal_has datavol.service "was made with ftype=0"
check hint_mkfs journal_has datavol.service "mkfs.xfs -n ftype=1"
check plan_says_ftype0 sh -c 'datavol plan --json | jq -e ".[0].reasons[] | select(.reason == \"no_dtype\")"'
containerd_on_root
check disk_still_xfs test "$(blkid -s TYPE -o value /dev/disk/by-id/virtio-data0)" = xfs
check disk_not_mounted sh -c '! findmnt -n -S "$(readlink -f /dev/disk/by-id/virtio-data0)"'
collect
finish
