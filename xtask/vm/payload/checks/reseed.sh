# Reseed, boot 2: the data disk came back blank (instance store after stop/start). datavol
# formats it again and seeds it from the root disk's untouched original.
. /usr/local/lib/vmtest/lib.sh
check_migrated
for s in format copy verify commit unit mount; do check "stage_$s" has_stage $s; done
collect
finish
