#!/bin/bash
# Builds the Debian 12 root filesystem tree for the VM test rig.
# Usage: build-rootfs.sh ROOTFS MIRROR GUEST_FILES_DIR EXTRAS CONTAINERD_CONFIG
# EXTRAS is what fetch-extras.sh made: the CRI stubs, and sid's containerd package for
# the containerd 2 image (installed over bookworm's 1.6 when it is there).
# Part of the image recipe: any change to this file rebuilds the cached image.
set -euo pipefail
R=$1
MIRROR=$2
GUEST=$3
EXTRAS=$4
CONFIG=$5

PKGS="linux-image-amd64 systemd systemd-sysv dbus udev containerd runc xfsprogs e2fsprogs
      util-linux busybox-static mdadm kmod procps jq rpm dmsetup time rsync
      python3-minimal python3-grpcio python3-protobuf"
# The node-exporter scenario scrapes a real node_exporter (disabled below).
PKGS="$PKGS prometheus-node-exporter"

debootstrap --variant=minbase bookworm "$R" "$MIRROR"

# No daemons may start inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"

# The mounts live in a private mount namespace, so they vanish with it.
unshare --mount --propagation private /bin/bash -euo pipefail -c '
  R=$1; shift
  mount -t proc proc "$R/proc"
  mount -t sysfs sysfs "$R/sys"
  export DEBIAN_FRONTEND=noninteractive LC_ALL=C
  chroot "$R" apt-get update -q
  chroot "$R" apt-get install -y -q --no-install-recommends "$@"
  chroot "$R" apt-get clean
' _ "$R" $PKGS
# containerd 2: sid's package over bookworm's, by dpkg alone (its dependencies, runc and
# libc6, are bookworm's). bookworm's goes first: its unit is under /lib, sid's under
# /usr/lib, and on a merged /usr an upgrade would delete the new file with the old path.
for deb in "$EXTRAS"/debs/containerd_*.deb; do
  [ -e "$deb" ] || continue
  cp "$deb" "$R/tmp/containerd.deb"
  unshare --mount --propagation private /bin/bash -euo pipefail -c '
    mount -t proc proc "$1/proc"
    export DEBIAN_FRONTEND=noninteractive
    chroot "$1" dpkg --purge containerd
    chroot "$1" dpkg -i /tmp/containerd.deb
  ' _ "$R"
  rm -f "$R/tmp/containerd.deb"
done
chroot "$R" containerd --version

# A small initramfs (only what mounting root needs) unpacks and boots faster under TCG;
# everything else (9p, xfs, nvme, md) loads from the root fs via udev/modprobe.
echo 'MODULES=list' > "$R/etc/initramfs-tools/conf.d/vmtest.conf"
printf 'virtio_pci\nvirtio_blk\next4\n' >> "$R/etc/initramfs-tools/modules"
unshare --mount --propagation private /bin/bash -euo pipefail -c '
  mount -t proc proc "$1/proc"; mount -t sysfs sysfs "$1/sys"
  chroot "$1" update-initramfs -u -k all
' _ "$R"

rm -f "$R/usr/sbin/policy-rc.d"
rm -rf "$R/var/lib/apt/lists/"*

# Configuration.
echo vmtest > "$R/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 vmtest\n' > "$R/etc/hosts"
echo '# root is mounted rw from the kernel command line' > "$R/etc/fstab"
chroot "$R" passwd -d root >/dev/null
# Timers and jobs that only cost boot time in a throwaway VM.
for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer \
         mdcheck_start.timer mdcheck_continue.timer mdmonitor-oneshot.timer mdmonitor.service \
         systemd-tmpfiles-clean.timer getty@tty1.service; do
  ln -sf /dev/null "$R/etc/systemd/system/$u"
done
# node_exporter runs only where a scenario enables it, with its own flags.
rm -f "$R/etc/systemd/system/multi-user.target.wants/prometheus-node-exporter.service"
# Guest-side rig files (PID 1 shim, journald forwarding, helpers).
cp -a "$GUEST/." "$R/"
# containerd configured as nodeadm configures it; the CRI client's stubs.
install -m 0644 "$CONFIG" "$R/etc/containerd/config.toml"
mkdir -p "$R/usr/local/lib/vmtest/cri"
cp "$EXTRAS"/cri/api_pb2.py "$EXTRAS"/cri/api_pb2_grpc.py "$R/usr/local/lib/vmtest/cri/"
chmod 755 "$R/usr/local/sbin/"*
mkdir -p "$R/mnt/vmtest" "$R/var/log/journal"

# A canary tree in containerd's root: known content the migration must keep exactly.
C="$R/var/lib/containerd/vmtest-canary"
mkdir -p "$C/a/b/c" "$C/empty-dir" "$C/many"
for i in $(seq 1 600); do head -c $(( (i * 7919) % 20000 )) /dev/urandom > "$C/many/f$i"; done
head -c 24M /dev/urandom > "$C/a/big.bin"
truncate -s 16M "$C/a/sparse.bin"; printf 'tail' >> "$C/a/sparse.bin"
echo hello > "$C/a/b/c/deep.txt"
ln "$C/a/b/c/deep.txt" "$C/a/hardlink.txt"
ln -s b/c/deep.txt "$C/a/symlink"
: > "$C/empty-file"
chmod 0600 "$C/empty-file"; chmod 4755 "$C/a/b/c/deep.txt" ; chown 1234:5678 "$C/many/f1"
touch -d '2001-02-03 04:05:06.123456789' "$C/many/f2"

# containerd must be enabled (the Debian package enables it); check.
test -L "$R/etc/systemd/system/multi-user.target.wants/containerd.service"
ls "$R"/boot/vmlinuz-* "$R"/boot/initrd.img-* >/dev/null
