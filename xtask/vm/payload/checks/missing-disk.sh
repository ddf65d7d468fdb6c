# No data disk, required=false: datavol gives up after device_timeout, containerd runs
# from the root disk.
. /usr/local/lib/vmtest/lib.sh
containerd_on_root
check device_timeout_exit prop_is datavol.service ExecMainStatus 4
check stage_result has_stage result
collect
finish
