# Reboot, boot 2: everything still there, and datavol did no format, copy or unit rewrite.
. /usr/local/lib/vmtest/lib.sh
check_migrated
check container_data_kept token_kept
check container_listed sh -c 'ctr -n k8s.io containers ls -q | grep -qx keep'
for s in format copy verify commit; do check "no_stage_$s" lacks_stage $s; done
# A healthy reboot: datavol-early mounted it before local-fs.target.
check early_mounted journal_has datavol-early.service "ready on /var/lib/containerd"
boot_cost datavol
collect
finish
