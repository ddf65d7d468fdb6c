# Boot 2: the seeded data0 and clone0, a byte-for-byte copy of it (an EBS volume
# restored from its snapshot), both attached. Neither may be mounted or written:
# the generator's check unit and datavol.service refuse, naming both devices.
. /usr/local/lib/vmtest/lib.sh
DATA=$(readlink -f /dev/disk/by-id/virtio-data0)
CLONE=$(readlink -f /dev/disk/by-id/virtio-clone0)
check clone_not_mounted sh -c "! findmnt -n -S '$CLONE'"
check data_not_mounted sh -c "! findmnt -n -S '$DATA'"
check refused prop_is datavol.service ExecMainStatus 3
check names_data journal_has datavol.service "$DATA"
check names_clone journal_has datavol.service "$CLONE"
containerd_on_root
collect
finish
