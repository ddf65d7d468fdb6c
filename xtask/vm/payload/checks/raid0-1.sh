# RAID0 + several directories, boot 1: two blank NVMe disks become /dev/md/dv-data (xfs),
# mounted privately at /var/lib/datavol/volumes/data; containerd's and kubelet's
# directories are migrated into it and bind-mounted back.
. /usr/local/lib/vmtest/lib.sh
check_raid_multi_dir
for s in format copy verify commit unit mount; do check "stage_$s" has_stage $s; done
check container_writes container_writes "$TOKEN"
collect
finish
