# Crash, boot 1: datavol aborted at the failpoint (FAILPOINTS=<point>=return).
. /usr/local/lib/vmtest/lib.sh
crashed() { local r; r=$(prop datavol.service Result); [ "$r" != success ] || { echo "Result=$r"; return 1; }; }
check datavol_crashed crashed
check failpoint_hit sh -c "journalctl -b -o cat _SYSTEMD_UNIT=datavol.service | grep -q 'failpoint $FAILPOINT: aborting'"
collect
finish
