#!/bin/bash
# What the image takes from outside bookworm, made on the host: the CRI client's Python
# stubs (from sid's cri-api proto; Debian has no crictl) and, for the containerd 2
# image, sid's containerd package (it needs only runc and libc6 >= 2.34, so it installs
# on bookworm; nothing else comes from sid).
# Usage: fetch-extras.sh OUT MIRROR CONTAINERD(1.6|2)
# Part of the image recipe: any change to this file rebuilds the cached images.
set -euo pipefail
OUT=$1; MIRROR=$2; V=$3
mkdir -p "$OUT/sid/lists/partial" "$OUT/sid/cache/archives/partial" "$OUT/debs" "$OUT/cri"
# A sid source used only here, with its own lists and cache: the host's apt is untouched.
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR sid main" >"$OUT/sid/sources.list"
APT=(apt-get -q -o Dir::Etc::SourceList="$OUT/sid/sources.list" -o Dir::Etc::SourceParts=/dev/null
     -o Dir::State::Lists="$OUT/sid/lists" -o Dir::Cache="$OUT/sid/cache"
     -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
     -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
     -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false
     -o Acquire::Languages=none)
"${APT[@]}" update
PKGS=golang-k8s-cri-api-dev
[ "$V" = 2 ] && PKGS="$PKGS containerd"
# apt's sandbox user cannot write here; download as root on purpose.
(cd "$OUT/debs" && "${APT[@]}" -o APT::Sandbox::User=root download $PKGS)
ls -l "$OUT/debs"

# The CRI v1 API (self-contained: no imports). bookworm's protoc predates debug_redact.
dpkg-deb --fsys-tarfile "$OUT"/debs/golang-k8s-cri-api-dev_*.deb |
  tar -xO ./usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1/api.proto |
  sed 's/ *\[debug_redact = true\]//' >"$OUT/cri/api.proto"
# Debian's interpreter and grpc_tools: the stubs must match the guest's bookworm
# python3-protobuf, not whatever a pyenv or pip holds.
(cd "$OUT/cri" && /usr/bin/python3 -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. api.proto)
rm -f "$OUT"/debs/golang-k8s-cri-api-dev_*.deb
rm -rf "$OUT/sid"
ls -l "$OUT/cri"
