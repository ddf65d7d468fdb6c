# Devices as the guest kernel sees them, and the refusals the host cannot show (it has no
# md or device-mapper): the Identify ioctl against QEMU's NVMe controller, a foreign md
# member, a disk with holders, the root disk. Every refusal must exit 3 (4 for a selector
# that matches nothing), say why, and leave the disks and the directory byte-identical.
. /usr/local/lib/vmtest/lib.sh
# Under TCG the nvme driver may still be probing when this runs.
udevadm settle --timeout=60
for _ in $(seq 120); do [ -e /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_nvme0 ] && break; sleep 0.5; done
NV=$(readlink -f /dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_nvme0)
MDA=/dev/disk/by-id/virtio-mda
MDB=/dev/disk/by-id/virtio-mdb
HELD=/dev/disk/by-id/virtio-held
T=/srv/vmtest-target
ROOTDEV=$(findmnt -n -o SOURCE /)
kv root.device "$ROOTDEV"

mkdir -p "$T/sub"
echo "$TOKEN" >"$T/sub/token"
chown 1234:5678 "$T/sub/token"

identify_qemu() {
  local o
  o=$(datavol identify "$NV" 2>&1) || { echo "$o"; return 1; }
  kv identify "$o"
  grep -q 'not EBS, not instance store: vendor 0x1b36' <<<"$o" || { echo "$o"; return 1; }
}
identify_json_other() {
  local k
  k=$(datavol identify --json "$NV" | jq -r '.[0].controller.kind')
  [ "$k" = other ] || { echo "kind $k"; return 1; }
}
check_package
check identify_qemu_nvme identify_qemu
check identify_json_other identify_json_other

# cfg NAME DEVICE-LINE [EXTRA]: a config dir with one volume on $T.
cfg() {
  local d=/run/vmtest-cfg/$1
  mkdir -p "$d"
  chmod 0755 /run/vmtest-cfg "$d"
  printf '[volume.t]\n%s\nfilesystem = "xfs"\nmount_point = "%s"\ndevice_timeout = 3\nrequired = false\nservices = []\n%s\n' \
    "$2" "$T" "${3:-}" >"$d/datavol.toml"
  chmod 0644 "$d/datavol.toml"
}
sums() {
  local d
  for d in "$@"; do printf '%s %s\n' "$d" "$(sha256sum <"$d" | cut -c1-16)"; done
  printf 'tree %s\n' "$(tar -C "$T" --numeric-owner -cf - . | sha256sum | cut -c1-16)"
}
# refused NAME EXIT PATTERN DEVICE...: `datavol apply` with config NAME exits EXIT, says
# PATTERN, and changes nothing: the devices and $T hash the same, nothing is mounted on $T,
# no unit was written.
refused() {
  local name=$1 want=$2 pat=$3 before after rc out
  shift 3
  before=$(sums "$@")
  out=$(datavol --config-dir "/run/vmtest-cfg/$name" apply 2>&1)
  rc=$?
  after=$(sums "$@")
  printf '%s\n' "$out" >"$OUT/refused-$name.txt"
  [ "$rc" = "$want" ] || { echo "exit $rc, want $want: $out"; return 1; }
  grep -qE "$pat" <<<"$out" || { echo "no /$pat/ in: $out"; return 1; }
  [ "$before" = "$after" ] || { echo "changed: $before => $after"; return 1; }
  not_mountpoint "$T" || return 1
  [ ! -e "/run/systemd/system/$(systemd-escape --path "$T").mount" ] || { echo "a unit was written"; return 1; }
}

# Selectors that must not take QEMU's controller for an EBS or instance-store disk.
cfg ebs 'device = "ebs:xvdq"'
check ebs_selector_no_guess refused ebs 4 "did not appear.*no NVMe disk matched ebs:xvdq; seen: $NV \\(not EBS, not instance store: vendor 0x1b36" "$NV"
cfg store 'device = "instance-store"'
check instance_store_no_guess refused store 4 "did not appear.*no NVMe disk matched instance-store; seen: $NV \\(not EBS, not instance store: vendor 0x1b36" "$NV"

# An md member of an array datavol did not make (stopped, so only its superblock says so).
mdadm --create /dev/md/other --run --assume-clean --level=1 --raid-devices=2 \
  --metadata=1.2 --homehost=elsewhere --name=other "$MDA" "$MDB" >"$OUT/mdadm-create.txt" 2>&1
mdadm --stop /dev/md/other >>"$OUT/mdadm-create.txt" 2>&1
udevadm settle
# udev's incremental assembly may bring it back; stop it again so the member is idle.
for md in /dev/md/*; do [ -e "$md" ] && mdadm --stop "$md" >>"$OUT/mdadm-create.txt" 2>&1; done
kv md.members "$(blkid -s TYPE -o value "$MDA") $(blkid -s TYPE -o value "$MDB")"
cfg md "device = \"$MDA\""
check foreign_md_member refused md 3 'foreign signature \(linux_raid_member\)' "$MDA" "$MDB"
cfg mdraid "device = [\"$MDA\", \"$MDB\"]" 'raid = "raid0"'
check foreign_md_raid0 refused mdraid 3 'md member of|did not make|signatures datavol did not write' "$MDA" "$MDB"
# Running: the member now has a holder.
mdadm --assemble /dev/md/other "$MDA" "$MDB" >>"$OUT/mdadm-create.txt" 2>&1
cfg mdrun "device = \"$MDA\""
check md_member_running refused mdrun 3 'in use: it is held by md' "$MDA" "$MDB"
mdadm --stop /dev/md/other >>"$OUT/mdadm-create.txt" 2>&1

# A blank disk held by device-mapper.
modprobe dm-mod
dmsetup create vmtest-held --table "0 $(blockdev --getsz "$HELD") linear $(readlink -f "$HELD") 0"
cfg held "device = \"$HELD\""
check held_by_dm refused held 3 'in use: it is held by dm-' "$HELD"
dmsetup remove vmtest-held
# The same disk, once released, is accepted: the refusal was about the holder.
check held_released_plan sh -c "datavol --config-dir /run/vmtest-cfg/held plan 2>&1 | grep -q 'device is blank'"

# The root disk.
cfg root "device = \"$ROOTDEV\""
check root_disk refused root 3 'in use: it is (mounted on|the disk backing) /' 
check root_disk_untouched sh -c "[ \"\$(findmnt -n -o SOURCE /)\" = '$ROOTDEV' ]"

check token_kept grep -qx "$TOKEN" "$T/sub/token"
collect
finish
