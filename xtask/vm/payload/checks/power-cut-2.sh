# Power cut, boot 2: no failpoint; the interrupted migration completes, verified, and
# nothing is lost or duplicated.
. /usr/local/lib/vmtest/lib.sh
check_migrated
for s in copy verify commit; do check "stage_$s" has_stage $s; done
collect
finish
