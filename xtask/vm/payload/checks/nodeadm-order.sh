# AL2023 order: containerd is not enabled; nodeadm-run.service (after multi-user.target)
# starts it. datavol must still run first, and the start must not deadlock.
. /usr/local/lib/vmtest/lib.sh
check containerd_not_enabled sh -c '! systemctl is-enabled -q containerd.service'
check nodeadm_run_ok prop_is nodeadm-run.service Result success
check_migrated
collect
finish
