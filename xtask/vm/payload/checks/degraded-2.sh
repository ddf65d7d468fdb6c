# Boot 2 of degraded-boot: the data disk is not attached. datavol gives up after
# device_timeout (required = false), containerd runs on the root disk's directory,
# and something is written there, as a node that ran pods would.
. /usr/local/lib/vmtest/lib.sh
containerd_on_root
check device_timeout_exit prop_is datavol.service ExecMainStatus 4
check wrote_underneath sh -c 'echo "$TOKEN" > /var/lib/containerd/vmtest-degraded && sync'
collect
finish
