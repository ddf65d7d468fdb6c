# cargo xtask bench --boot: one healthy boot's critical-path cost for the data disk.
# MODE=datavol: datavol (early and late) mounted it; MODE=fstab: an fstab line did.
. /usr/local/lib/vmtest/lib.sh
check containerd_active containerd_up
check mounted is_mountpoint /var/lib/containerd
if [ "$MODE" = fstab ]; then
  check datavol_masked sh -c '[ "$(systemctl is-enabled datavol.service)" = masked ]'
else
  check no_copy lacks_stage copy
fi
boot_cost "$MODE"
collect
finish
