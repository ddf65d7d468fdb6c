# udev does not watch the data disks (99-vmtest-nowatch.rules). First prove the condition
# on a scratch disk: after mkfs, no by-uuid link appears until someone triggers udev.
# Then the datavol migration must be complete anyway.
. /usr/local/lib/vmtest/lib.sh
scratch=/dev/disk/by-id/virtio-scratch0
no_link_without_trigger() {
  mkfs.xfs -q -f "$scratch" || return 1
  local u; u=$(blkid -p -s UUID -o value "$scratch")
  sleep 3
  [ ! -e "/dev/disk/by-uuid/$u" ] || { echo "by-uuid/$u appeared on its own: the rule has no effect"; return 1; }
  udevadm trigger --settle --action=change "$scratch"
  [ -e "/dev/disk/by-uuid/$u" ] || { echo "by-uuid/$u missing even after a trigger"; return 1; }
}
check rig_no_link_without_trigger no_link_without_trigger
check_migrated
collect
finish
