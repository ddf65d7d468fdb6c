# Control: no datavol. The baked image must work from the root disk (proves the rig).
. /usr/local/lib/vmtest/lib.sh
containerd_on_root
collect
finish
