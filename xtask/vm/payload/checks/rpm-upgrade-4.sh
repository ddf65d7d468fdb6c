# rpm-upgrade, boot 4: the package installed again (release 1, by the rig, as on the
# first boot). Its first boot finds its own committed filesystem on data0 and mounts
# it again, with everything a migration shows; nothing is formatted or copied. What
# containerd wrote to the root disk's directory in boot 3 is hidden under the mount.
. /usr/local/lib/vmtest/lib.sh
check_migrated
check no_format lacks_stage format
check no_copy lacks_stage copy
kv hidden "$(datavol status --json 2>/dev/null | jq -c '[.volumes[].hidden[]?.entries] | add' 2>&1)"
collect
finish
