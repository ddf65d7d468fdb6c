# Reboot, boot 1: as seed, then a container leaves data behind.
. /usr/local/lib/vmtest/lib.sh
check_migrated
check container_writes timeout 120 ctr -n k8s.io run localhost/kubernetes/pause:latest keep /bin/sh -c "echo $TOKEN > /token"
collect
finish
