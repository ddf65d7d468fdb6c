# Boot 2 of degraded-boot: the data disk is not attached. datavol gives up after
# device_timeout (required = false), containerd runs on the root disk's directory,
# and something is written there, as a node that ran pods would.
. /usr/local/lib/vmtest/lib.sh
# containerd_on_root, but for a node seeded before: boot 1's unit may stay.
check on_root_disk not_mountpoint /var/lib/containerd
check containerd_active systemctl is-active containerd.service
check image_listed image_listed
check container_runs container_runs
check device_timeout_exit prop_is datavol.service ExecMainStatus 4
check wrote_underneath sh -c 'echo "$TOKEN" > /var/lib/containerd/vmtest-degraded && sync'
collect
finish
