# `cargo xtask bench --only prewarm`: what a pre-warm buys on a lazily loaded disk.
# The source (a containerd-like tree with one big blob) is read through a
# device-mapper delay target: every read waits DELAY_MS, as a first read of an EBS
# volume made from a snapshot does. dm-delay does not remember what was read, so
# "after the pre-warm" is modelled by swapping the delay for a linear target once a
# whole pre-warm finished (every block fetched), which is what EBS does per block.
# Results: bench.<what>.<round>=seconds bytes.
. /usr/local/lib/vmtest/lib.sh
SRC=$(readlink -f /dev/disk/by-id/virtio-src)
SECTORS=$(blockdev --getsz "$SRC")
SLOW=/dev/mapper/vmtest-slow
MP=/var/lib/bench-cache
check dm_delay_loaded modprobe dm-delay
check dm_delay_created dmsetup create vmtest-slow --table "0 $SECTORS delay $SRC 0 $DELAY_MS"
kv table "$(dmsetup table vmtest-slow)"
mkdir -p "$MP"
cat >/etc/datavol/conf.d/50-bench.toml <<TOML
[volume.cache]
device = "$SLOW"
filesystem = "xfs"
mount_point = "$MP"
adopt_existing = true
services = []
device_timeout = 5
TOML
check adopted datavol apply
BLOB=$(find "$MP/io.containerd.content.v1.content/blobs/sha256" -type f -printf '%s %p\n' | sort -n | tail -n1 | cut -d' ' -f2)
kv blob "$BLOB $(stat -c %s "$BLOB")"
kv device.bytes "$(blockdev --getsize64 "$SLOW")"

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# timed NAME ROUND BYTES COMMAND...: one cold-cache run.
timed() {
  local n=$1 r=$2 bytes=$3 t0 t1
  shift 3
  cold
  t0=$EPOCHREALTIME
  "$@" >"$OUT/$n-$r.log" 2>&1 || { cat "$OUT/$n-$r.log"; return 1; }
  t1=$EPOCHREALTIME
  kv "bench.$n.$r" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $bytes"
  echo "bench: $n round $r: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s" >"$CONSOLE"
}
table() { dmsetup suspend vmtest-slow && dmsetup reload vmtest-slow --table "0 $SECTORS $1" && dmsetup resume vmtest-slow; }
blob_bytes=$(stat -c %s "$BLOB")
dev_bytes=$(blockdev --getsize64 "$SLOW")
# What the pre-warm reads: every blob, then the whole device.
read_bytes=$(( dev_bytes + $(find "$MP/io.containerd.content.v1.content/blobs" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }') ))
for r in $(seq 1 "$ROUNDS"); do
  check "delayed_$r" table "delay $SRC 0 $DELAY_MS"
  # As containerd reads a blob to unpack it: one sequential stream.
  check "blob_cold_$r" timed blob_cold "$r" "$blob_bytes" dd if="$BLOB" of=/dev/null bs=1M
  # AWS's single-stream initialization.
  check "dd_$r" timed dd "$r" "$dev_bytes" dd if="$SLOW" of=/dev/null bs=1M
  check "prewarm_$r" timed prewarm "$r" "$read_bytes" datavol prewarm cache --again
  check "hydrated_$r" table "linear $SRC 0"
  check "blob_warm_$r" timed blob_warm "$r" "$blob_bytes" dd if="$BLOB" of=/dev/null bs=1M
done
kv prewarm.marker "$(jq -c .prewarm "$MP/.datavol/state.json")"
journalctl -b -o cat SYSLOG_IDENTIFIER=datavol --no-pager >"$OUT/datavol.txt" 2>&1
check unmounted systemctl stop "$(systemd-escape --path "$MP").mount"
dmsetup remove vmtest-slow
collect
finish
