#!/bin/bash
# cargo xtask demo: the EKS seed failure, and datavol avoiding it, on a loop
# device in a private mount namespace. Needs root. Cleans up after itself.
# Arguments: DATAVOL_BIN SYSTEMD_DOUBLE_BIN
set -euo pipefail
DATAVOL=$1
DOUBLE=$2
T=$(mktemp -d /tmp/datavol-demo.XXXXXX)
chmod 755 "$T"
LOOPS=()
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  umount -R "$T/node/var/lib/containerd" 2>/dev/null || true
  umount -R /run/datavol 2>/dev/null || true
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Our mounts stay in this namespace; shared inside it, as under systemd.
mount --make-rshared /
mkdir -p /run/datavol && mount -t tmpfs tmpfs /run/datavol

say "A node's /var/lib/containerd, with the baked pause image (as the EKS AMI ships it)"
SRC=$T/node/var/lib/containerd
mkdir -p "$SRC/io.containerd.content.v1.content/blobs/sha256" "$SRC/io.containerd.metadata.v1.bolt"
chmod 0711 "$SRC"
head -c 700000 /dev/urandom > "$SRC/io.containerd.content.v1.content/blobs/sha256/pause-layer"
echo '{"name":"localhost/kubernetes/pause:latest","labels":{"io.cri-containerd.pinned":"pinned"}}' \
  > "$SRC/io.containerd.metadata.v1.bolt/meta.db"
find "$SRC" | sed "s|$T/node||"

truncate -s 512M "$T/naive.img" "$T/data.img"
NAIVE=$(losetup --find --show "$T/naive.img"); LOOPS+=("$NAIVE")
DISK=$(losetup --find --show "$T/data.img"); LOOPS+=("$DISK")

say "The naive user-data recipe: mkfs.xfs + mount over it"
mkfs.xfs -q "$NAIVE"
mount "$NAIVE" "$SRC"
echo "\$ ls -A /var/lib/containerd   # the pause image is gone, kubelet cannot create a pod"
ls -A "$SRC" || true
umount "$SRC"

say "datavol instead. Config /etc/datavol/datavol.toml:"
mkdir -p "$T/etc/conf.d" "$T/units"
cat > "$T/etc/datavol.toml" <<TOML
[volume.containerd]
device = "$DISK"            # on EC2: "/dev/xvdb" (or ebs:xvdb)
filesystem = "xfs"
mount_point = "$SRC"  # on a node: /var/lib/containerd
options = ["noatime"]
TOML
chmod 644 "$T/etc/datavol.toml"
cat "$T/etc/datavol.toml"

# No systemd runs here: a private dbus-daemon serves datavol's test double
# of systemd, which mounts .mount units on StartUnit just as systemd would.
BUS="unix:path=$T/bus"
dbus-daemon --session --nofork --nopidfile --address="$BUS" >/dev/null 2>&1 & PIDS+=($!)
for _ in $(seq 100); do [ -S "$T/bus" ] && break; sleep 0.05; done
"$DOUBLE" --bus "$BUS" --unit-dir "$T/units" --log "$T/calls.log" & PIDS+=($!)
for _ in $(seq 100); do grep -q ready "$T/calls.log" 2>/dev/null && break; sleep 0.05; done
export DBUS_SYSTEM_BUS_ADDRESS=$BUS
DV=("$DATAVOL" --config-dir "$T/etc" --unit-dir "$T/units")

say "datavol plan"
"${DV[@]}" plan
say "datavol apply"
"${DV[@]}" apply
say "The mount, and the content that came with it"
findmnt "$SRC"
find "$SRC" -not -path '*/.datavol*' | sed "s|$T/node||"
stat -c '%n mode %a' "$SRC" | sed "s|$T/node||"
say "The .mount unit datavol wrote"
cat "$T"/units/*.mount
say "datavol apply again: nothing to do, no writes"
time "${DV[@]}" apply
say "datavol status"
"${DV[@]}" status
say "Demo done; cleaning up"
