# Sandbox restore, boot 1: a migration with [sandbox] and [metrics]. check-images
# (containerd's ExecStartPost) finds the pause image in place; the metrics file says
# the volume is ready (the host parses a copy). Then the image is lost the way a node
# loses it: exported first to the archive the EKS AMI ships, then its record and its
# content leave containerd's store.
. /usr/local/lib/vmtest/lib.sh
IMG=localhost/kubernetes/pause:latest
PROM=/var/lib/node_exporter/textfile_collector/datavol.prom
content_empty() { [ -z "$(ctr -n k8s.io content ls -q)" ] || { ctr -n k8s.io content ls; return 1; }; }
check_migrated
check image_checked journal_has containerd.service "sandbox image $IMG is present in namespace k8s.io, complete and pinned"
check metrics_file test -s "$PROM"
check metrics_mode_0644 sh -c "[ \"\$(stat -c %a $PROM)\" = 644 ]"
cp "$PROM" "$OUT/datavol-boot1.prom"
kv guest.now "$(date +%s)"
mkdir -p /etc/eks
check archive_exported ctr -n k8s.io images export /etc/eks/pause.tar "$IMG"
check image_removed ctr -n k8s.io images rm --sync "$IMG"
check image_unlisted sh -c "! ctr -n k8s.io images ls -q | grep -qx '$IMG'"
check content_removed content_empty
collect
finish
