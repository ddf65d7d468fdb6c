# Reboot, boot 1: as seed, then a container leaves data behind.
. /usr/local/lib/vmtest/lib.sh
check_migrated
check container_writes container_writes "$TOKEN"
collect
finish
