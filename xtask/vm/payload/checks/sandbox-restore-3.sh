# Sandbox restore, boot 3: the image is gone and so is the archive. check-images cannot
# restore it; with required = false containerd still runs, and the error is in the
# journal under containerd (explained by journalctl -x), in status and in the metrics.
. /usr/local/lib/vmtest/lib.sh
IMG=localhost/kubernetes/pause:latest
PROM=/var/lib/node_exporter/textfile_collector/datavol.prom
MISSING=904e7f648524440aa1bcb3a62f8201c4
check containerd_active systemctl is-active containerd.service
check image_still_missing sh -c "! ctr -n k8s.io images ls -q | grep -qx '$IMG'"
check missing_logged journal_has containerd.service "sandbox image $IMG is not usable in containerd's store (namespace k8s.io) and was not restored: it was missing from the store and could not be imported: the [sandbox] archive /etc/eks/pause.tar is not there"
check missing_names_unit entry_has "MESSAGE_ID=$MISSING" OBJECT_SYSTEMD_UNIT=containerd.service
check missing_explained explained containerd.service "Subject: datavol: sandbox image $IMG is missing"
check status_missing sh -c "datavol status | grep -F '$IMG: MISSING'"
cri_facts
check cri_pull_fails cri_pull_fails
cp "$PROM" "$OUT/datavol-boot3.prom"
kv guest.now "$(date +%s)"
collect
finish
