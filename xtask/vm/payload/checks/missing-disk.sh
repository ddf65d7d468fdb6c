# No data disk, required=false: datavol gives up after device_timeout, containerd runs
# from the root disk.
. /usr/local/lib/vmtest/lib.sh
containerd_on_root
check stage_resolve has_stage resolve
collect
finish
