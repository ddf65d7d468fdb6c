# Reboot, boot 2: everything still there, and datavol did no format, copy or unit rewrite.
. /usr/local/lib/vmtest/lib.sh
check_migrated
check container_data_kept token_kept
check container_listed sh -c 'ctr -n k8s.io containers ls -q | grep -qx keep'
for s in format copy verify commit; do check "no_stage_$s" lacks_stage $s; done
# A healthy reboot: datavol-generator's mount, behind its check, before local-fs.target.
check generator_unit test -e /run/systemd/generator/var-lib-containerd.mount
check check_passed journal_has datavol-check@containerd.service "checked"
check mounted_before_local_fs sh -c '[ "$(systemctl show -P ActiveEnterTimestampMonotonic var-lib-containerd.mount)" -le "$(systemctl show -P ActiveEnterTimestampMonotonic local-fs.target)" ]' 
boot_cost datavol
collect
finish
