# Sandbox restore, boot 1: a migration with [sandbox] and [metrics]. check-images
# (containerd's ExecStartPost) finds the pause image in place; the metrics file says
# the volume is ready (the host parses a copy). Then the image is lost the way a node
# loses it: exported first to the archive the EKS AMI ships, then its records (its name,
# and the ID reference containerd's CRI plugin keeps) go, and the garbage collector takes
# its content and snapshot.
. /usr/local/lib/vmtest/lib.sh
IMG=localhost/kubernetes/pause:latest
PROM=/var/lib/node_exporter/textfile_collector/datavol.prom
content_empty() { [ -z "$(ctr -n k8s.io content ls -q)" ] || { ctr -n k8s.io content ls -q; return 1; }; }
no_images() { [ -z "$(ctr -n k8s.io images ls -q)" ] || { ctr -n k8s.io images ls -q; return 1; }; }
no_snapshots() { [ -z "$(ctr -n k8s.io snapshots ls | tail -n +2)" ] || { ctr -n k8s.io snapshots ls; return 1; }; }
# Every reference in k8s.io: only the pause image lives there.
rm_images() { ctr -n k8s.io images rm --sync $(ctr -n k8s.io images ls -q); }
# What containerd holds in k8s.io, for the record.
store() { for w in images content snapshots leases containers; do echo "== $w"; ctr -n k8s.io "$w" ls; done; }
check_migrated
check image_checked journal_has containerd.service "sandbox image $IMG is present in namespace k8s.io, complete and pinned"
check metrics_file test -s "$PROM"
check metrics_mode_0644 sh -c "[ \"\$(stat -c %a $PROM)\" = 644 ]"
cp "$PROM" "$OUT/datavol-boot1.prom"
kv guest.now "$(date +%s)"
# Who pins the image (issue #19): its label is removed; what do containerd's CRI and
# then datavol's check at containerd's restart make of it? On containerd 2 the config
# names it in pinned_images too.
label_of() { ctr -n k8s.io images ls "name==${1:-$IMG}" | awk -v i="${1:-$IMG}" '$1 == i { print $NF }'; }
cri_pinned() { python3 "$CRI" info "$@" | sed -n 's/^cri.image_pinned=//p'; }
kv pin.cri_before "$(cri_pinned)"
check unpin ctr -n k8s.io images label "$IMG" io.cri-containerd.pinned=
kv pin.label_unpinned "$(label_of)"
sleep 2
kv pin.label_unpinned_2s "$(label_of)"
kv pin.cri_unpinned "$(cri_pinned)"
check containerd_restarted systemctl restart containerd.service
kv pin.label_restarted "$(label_of)"
kv pin.cri_restarted "$(cri_pinned)"
kv pin.datavol_said "$(journalctl -b -u containerd.service -o cat | grep -F "sandbox image $IMG" | tail -1)"
check pinned_after_restart image_pinned
# Control: the same unlabelling on a name the config does not pin.
OTHER=localhost/vmtest/unpinned:1
ctr -n k8s.io images tag "$IMG" "$OTHER" >/dev/null
ctr -n k8s.io images label "$OTHER" io.cri-containerd.pinned=pinned >/dev/null
kv pin.control_labelled "$(label_of "$OTHER")"
kv pin.control_cri_labelled "$(cri_pinned "$OTHER")"
ctr -n k8s.io images label "$OTHER" io.cri-containerd.pinned= >/dev/null
sleep 2
kv pin.control_unpinned_2s "$(label_of "$OTHER")"
kv pin.control_cri_unpinned "$(cri_pinned "$OTHER")"
ctr -n k8s.io images rm "$OTHER" >/dev/null
mkdir -p /etc/eks
check archive_exported ctr -n k8s.io images export /etc/eks/pause.tar "$IMG"
store >"$OUT/store-before.txt" 2>&1
check image_removed rm_images
check image_unlisted no_images
check content_removed content_empty
check snapshot_removed no_snapshots
store >"$OUT/store-after.txt" 2>&1
collect
finish
