# Sandbox restore, boot 2: the image had left containerd's store (record and content);
# check-images imported it from /etc/eks/pause.tar, pinned it, said so (explained by
# journalctl -x), and counted it. Then, for boot 3, the image goes again, and the
# archive with it.
. /usr/local/lib/vmtest/lib.sh
IMG=localhost/kubernetes/pause:latest
PROM=/var/lib/node_exporter/textfile_collector/datavol.prom
RESTORED=a0a18eac5c5542c9805795d1c7d96f36
check datavol_succeeded prop_is datavol.service Result success
check containerd_active systemctl is-active containerd.service
check image_listed image_listed
check image_pinned image_pinned
check container_runs container_runs
check_cri
check restore_logged journal_has containerd.service "sandbox image $IMG was missing from containerd's store (namespace k8s.io); imported it from /etc/eks/pause.tar and pinned it"
check restore_names_unit entry_has "MESSAGE_ID=$RESTORED" OBJECT_SYSTEMD_UNIT=containerd.service
check restore_names_image entry_has "MESSAGE_ID=$RESTORED" "DATAVOL_IMAGE=$IMG"
check restore_explained explained containerd.service "Subject: datavol restored the sandbox image $IMG"
check ready_explained explained datavol.service "Subject: datavol: volume containerd is ready"
check status_restored sh -c "datavol status | grep -F '$IMG: RESTORED'"
cp "$PROM" "$OUT/datavol-boot2.prom"
kv guest.now "$(date +%s)"
collect
check image_removed sh -c 'ctr -n k8s.io images rm --sync $(ctr -n k8s.io images ls -q)'
check archive_removed rm /etc/eks/pause.tar
finish
