# rpm-upgrade, boot 3: the reboot after erase. Nothing of datavol's runs, so nothing
# mounts the data disk: containerd starts from the root disk's own directory (the
# content from before the migration), and the data disk keeps datavol's filesystem
# (the host reads its marker and canary). No unit fails.
. /usr/local/lib/vmtest/lib.sh
dev=/dev/disk/by-id/virtio-data0
kv data.uuid "$(blkid -s UUID -o value "$dev")"
check_not installed rpm -q datavol
check not_mounted not_mountpoint /var/lib/containerd
check no_mount_unit sh -c '! systemctl cat var-lib-containerd.mount >/dev/null 2>&1'
check no_failed_units no_failed_units
check containerd_active systemctl is-active containerd.service
check image_listed image_listed
check container_runs container_runs
check_canary /var/lib/containerd
check history_kept sh -c '[ -n "$(ls -A /var/lib/datavol)" ]'
check data_disk_xfs sh -c "[ \"\$(blkid -s TYPE -o value $dev)\" = xfs ]"
collect
finish
