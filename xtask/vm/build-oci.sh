#!/bin/bash
# Builds a one-layer OCI image archive from busybox-static, by hand, as the stand-in for
# the pause image that the EKS AMI bakes into /var/lib/containerd.
# Usage: build-oci.sh BUSYBOX_BINARY OUT.tar IMAGE_NAME
set -euo pipefail
BB=$1; OUT=$2; NAME=$3
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkdir -p "$W/layer/bin" "$W/oci/blobs/sha256"
cp "$BB" "$W/layer/bin/busybox"
for a in sh true false echo cat ls sleep mkdir rm touch env id; do ln -s busybox "$W/layer/bin/$a"; done
mkdir -p "$W/layer/etc" "$W/layer/tmp" "$W/layer/proc" "$W/layer/sys" "$W/layer/dev"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$W/layer" -cf "$W/layer.tar" .

blob() { # FILE -> moves into blobs, prints digest hex
  local h; h=$(sha256sum "$1" | cut -d' ' -f1); mv "$1" "$W/oci/blobs/sha256/$h"; echo "$h"
}
size() { stat -c %s "$W/oci/blobs/sha256/$1"; }

L=$(blob "$W/layer.tar")
# Like pause, it stays up until killed: a CRI sandbox whose process exits is NOTREADY.
printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sleep","2147483647"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$L" > "$W/config.json"
C=$(blob "$W/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
  "$C" "$(size "$C")" "$L" "$(size "$L")" > "$W/manifest.json"
M=$(blob "$W/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"latest"}}]}' \
  "$M" "$(size "$M")" "$NAME" > "$W/oci/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$W/oci/oci-layout"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$W/oci" -cf "$OUT" .
