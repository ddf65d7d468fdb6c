# adopt_existing = true: the data disk holds an xfs that datavol did not make, filled with
# containerd's content (an image-cache snapshot). datavol writes its marker and mounts it
# without formatting or copying.
. /usr/local/lib/vmtest/lib.sh
check_migrated
for s in format copy; do check "no_stage_$s" lacks_stage $s; done
check label_kept sh -c '[ "$(blkid -s LABEL -o value /dev/disk/by-id/virtio-data0)" = imgcache ]'
collect
finish
