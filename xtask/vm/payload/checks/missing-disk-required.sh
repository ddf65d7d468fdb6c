# No data disk, required=true: datavol fails with exit 4 (device timeout) and containerd
# must not start (its ExecStartPre=datavol gate refuses).
. /usr/local/lib/vmtest/lib.sh
check device_timeout_exit prop_is datavol.service ExecMainStatus 4
check_not containerd_active systemctl is-active containerd.service
check not_mounted not_mountpoint /var/lib/containerd
check no_mount_unit test ! -e /run/systemd/system/var-lib-containerd.mount
check gate_ran sh -c 'journalctl -b -u containerd.service -o cat | grep -q .'
collect
finish
