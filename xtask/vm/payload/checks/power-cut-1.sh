# Power cut, boot 1: datavol must block at the copy-halfway failpoint and the host cuts
# the power. Reaching this checker means the failpoint never held datavol.
. /usr/local/lib/vmtest/lib.sh
bad failpoint_held "datavol ran to the end with FAILPOINTS=copy-halfway=pause"
collect
finish
