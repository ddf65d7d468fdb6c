#!/bin/bash
# Power cut helper: tells the host (on the console) once datavol sits still inside the
# copy stage, i.e. is held by the copy-halfway pause failpoint.
# The kernel's console (ttyS0, or ttyAMA0 on the arm64 guest), as in lib.sh.
CONSOLE=/dev/$(sed -n 's/.*console=\([^ ,]*\).*/\1/p' /proc/cmdline)
[ "$CONSOLE" != /dev/ ] || CONSOLE=/dev/ttyS0
sample() { cat "/proc/$1/io" 2>/dev/null; awk '{print $14, $15}' "/proc/$1/stat" 2>/dev/null; }
for _ in $(seq 1 400); do
  pid=$(pidof -s datavol)
  if [ -n "$pid" ] && journalctl -b -o verbose _SYSTEMD_UNIT=datavol.service | grep -q '^ *DATAVOL_STAGE=copy$' &&
     journalctl -b -o cat _SYSTEMD_UNIT=datavol.service | grep -q 'failpoint copy-halfway'; then
    a=$(sample "$pid"); sleep 3; b=$(sample "$pid")
    if [ -n "$a" ] && [ "$a" = "$b" ] && [ -d "/proc/$pid" ]; then
      echo "VMTEST-PAUSED pid $pid" >"$CONSOLE"
      exit 0
    fi
  fi
  sleep 0.5
done
echo "VMTEST-NOT-PAUSED" >"$CONSOLE"
