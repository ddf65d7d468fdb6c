# First boot with a blank data disk: datavol formats, copies, verifies, commits, mounts.
. /usr/local/lib/vmtest/lib.sh
check_migrated
for s in plan format copy verify commit unit mount; do check "stage_$s" has_stage $s; done
collect
finish
