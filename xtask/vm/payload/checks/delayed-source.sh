# `cargo xtask bench`'s delayed fixture: a containerd-like tree on a disk read through a
# device-mapper delay target (every read waits DELAY_MS, as first reads of a lazily
# hydrated EBS snapshot do), copied by datavol, cp -a and rsync in turn to a fresh xfs.
# Results: bench.<tool>.<round>=wall_s sync_s cpu_s peak_rss_kib.
. /usr/local/lib/vmtest/lib.sh
SRC=$(readlink -f /dev/disk/by-id/virtio-src)
DST=$(readlink -f /dev/disk/by-id/virtio-dst)
check dm_delay_loaded modprobe dm-delay
check dm_delay_created dmsetup create vmtest-slow --table "0 $(blockdev --getsz "$SRC") delay $SRC 0 $DELAY_MS"
mkdir -p /bench/src /bench/dst
check source_mounted mount -o ro /dev/mapper/vmtest-slow /bench/src
kv table "$(dmsetup table vmtest-slow)"
entries=$(find /bench/src | wc -l)
kv source.entries "$entries"

# run TOOL ROUND: one cold-cache copy; the wall time includes sync -f of the destination.
run() {
  local tool=$1 r=$2 t0 t1 t2 n
  mkfs.xfs -q -f "$DST" && mount "$DST" /bench/dst && mkdir /bench/dst/d || return 1
  sync
  echo 3 >/proc/sys/vm/drop_caches
  t0=$EPOCHREALTIME
  case $tool in
    datavol) /usr/bin/time -f '%M %U %S' -o /run/bench-time datavol copy --no-verify --workers "$WORKERS" /bench/src /bench/dst/d ;;
    cp) /usr/bin/time -f '%M %U %S' -o /run/bench-time cp -a /bench/src/. /bench/dst/d ;;
    rsync) /usr/bin/time -f '%M %U %S' -o /run/bench-time rsync -aHAX --sparse --numeric-ids /bench/src/ /bench/dst/d/ ;;
  esac >"$OUT/$tool-$r.log" 2>&1 || { cat "$OUT/$tool-$r.log"; umount /bench/dst; return 1; }
  t1=$EPOCHREALTIME
  sync -f /bench/dst/d
  t2=$EPOCHREALTIME
  n=$(find /bench/dst/d | wc -l)
  umount /bench/dst
  read -r rss user sys < <(tail -n1 /run/bench-time)
  kv "bench.$tool.$r" "$(awk -v a="$t0" -v b="$t1" -v c="$t2" -v u="$user" -v s="$sys" -v m="$rss" \
    'BEGIN { printf "%.3f %.3f %.2f %d", c - a, c - b, u + s, m }')"
  [ "$n" = "$entries" ] || { echo "$tool copied $n entries of $entries"; return 1; }
  echo "bench: $tool round $r: $(awk -v a="$t0" -v c="$t2" 'BEGIN { printf "%.1f", c - a }') s" >"$CONSOLE"
}

# Each round rotates the order, so no tool always goes first.
set -- $TOOLS
for r in $(seq 1 "$ROUNDS"); do
  for i in $(seq 0 $(($# - 1))); do
    k=$(( (i + r - 1) % $# + 1 ))
    check "run_${!k}_$r" run "${!k}" "$r"
  done
done
umount /bench/src
dmsetup remove vmtest-slow
collect
finish
