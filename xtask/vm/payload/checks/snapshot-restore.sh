# Snapshot restore, boot 2: a new node (fresh root disk) gets a data disk that datavol
# committed on another node. It must be mounted as it is: no format, no copy.
. /usr/local/lib/vmtest/lib.sh
check_migrated
for s in format copy; do check "no_stage_$s" lacks_stage $s; done
check stage_unit has_stage unit
collect
finish
