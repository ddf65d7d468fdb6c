# Crash, boot 2: no failpoint; datavol finishes what the crashed run left.
. /usr/local/lib/vmtest/lib.sh
check_migrated
collect
finish
