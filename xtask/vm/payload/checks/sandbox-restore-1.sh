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
