# RAID0 + several directories, boot 2: the array is assembled again, everything mounted
# back, container data kept, no format or copy.
. /usr/local/lib/vmtest/lib.sh
check_raid_multi_dir
check container_data_kept token_kept
for s in format copy; do check "no_stage_$s" lacks_stage $s; done
collect
finish
