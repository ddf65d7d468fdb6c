#!/bin/bash
# The arm64 guest's recipe: the generic scripts (build-rootfs.sh, build-oci.sh) with
# the architecture swapped in, so that the x86_64 image's recipe (and its cache key)
# stays exactly as it was. Part of the arm64 image's recipe only.
# Usage: arm64.sh rootfs ROOTFS MIRROR GUEST_FILES_DIR
#        arm64.sh oci BUSYBOX_BINARY OUT.tar IMAGE_NAME
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
MODE=$1; shift
S=$(mktemp); trap 'rm -f "$S"' EXIT
# Each substitution must hit, or the generic script changed under it.
swap() { # FILE SED-EXPR... : the file, rewritten, into $S; fails if any expr missed
  local f=$1; shift; cp "$f" "$S"
  for e in "$@"; do
    local before; before=$(sha256sum < "$S")
    sed -i -e "$e" "$S"
    if [ "$(sha256sum < "$S")" = "$before" ]; then
      echo "arm64.sh: '$e' changed nothing in $f" >&2; exit 1
    fi
  done
}
case $MODE in
  rootfs)
    R=$1
    # debootstrap's second stage and every chroot run through qemu-aarch64 (binfmt_misc).
    swap "$HERE/build-rootfs.sh" \
      's/linux-image-amd64/linux-image-arm64/' \
      's/^debootstrap --variant=minbase /debootstrap --arch=arm64 --variant=minbase /'
    bash "$S" "$@"
    # The PL011 UART of qemu's virt machine is ttyAMA0, not ttyS0.
    sed -i 's|/dev/ttyS0|/dev/ttyAMA0|' "$R/etc/systemd/journald.conf.d/vmtest.conf"
    grep -q ttyAMA0 "$R/etc/systemd/journald.conf.d/vmtest.conf"
    ;;
  oci)
    swap "$HERE/build-oci.sh" 's/"architecture":"amd64"/"architecture":"arm64"/g'
    bash "$S" "$@"
    ;;
  *) echo "usage: arm64.sh rootfs|oci ARGS..." >&2; exit 2 ;;
esac
