# Shell library for the guest-side checkers of the VM test rig.
# Installed per run as /usr/local/lib/vmtest/lib.sh; results go to the 9p share.
OUT=/mnt/vmtest/out
RES=$OUT/result.txt
# The kernel's console= (ttyS0 on x86_64, ttyAMA0 on the arm64 guest's virt machine).
CONSOLE=/dev/$(sed -n 's/.*console=\([^ ,]*\).*/\1/p' /proc/cmdline)
[ "$CONSOLE" != /dev/ ] || CONSOLE=/dev/ttyS0
mkdir -p "$OUT"

kv() { printf '%s=%s\n' "$1" "$2" >>"$RES"; }
ok() { kv "check.$1" ok; }
bad() {
  kv "check.$1" "FAIL: $2"
  echo "VMTEST-CHECK-FAIL $1: $2" >"$CONSOLE"
}
# check NAME COMMAND...: records ok when COMMAND succeeds, else FAIL with its output.
check() {
  local n=$1 o t=$EPOCHREALTIME
  shift
  if o=$("$@" 2>&1); then ok "$n"; else bad "$n" "$(printf '%s' "$o" | tr '\n' ' ' | cut -c1-400)"; fi
  timing "$n" "$t"
}
# Seconds a step took, in out/timing.txt (to see where a boot's time goes).
timing() { awk -v n="$1" -v a="$2" -v b="$EPOCHREALTIME" 'BEGIN { printf "%s %.2f\n", n, b - a }' >>"$OUT/timing.txt"; }
# check_not NAME COMMAND...: the reverse.
check_not() {
  local n=$1 o
  shift
  if o=$("$@" 2>&1); then bad "$n" "succeeded but must not: $(printf '%s' "$o" | tr '\n' ' ' | cut -c1-300)"; else ok "$n"; fi
}
say() { echo "$*"; }

. /usr/local/lib/vmtest/manifest.sh
# Compare the canary tree under DIR to what the bake boot recorded.
check_canary() {
  local dir=$1
  check canary_content diff -u /usr/local/lib/vmtest/canary.content <(manifest_content "$dir/vmtest-canary")
  check canary_mtimes diff -u /usr/local/lib/vmtest/canary.mtimes <(manifest_mtimes "$dir/vmtest-canary")
}
# Content-addressed blobs must hash to their names.
blobs_intact() {
  local d=$1/io.containerd.content.v1.content/blobs/sha256 f n=0
  for f in "$d"/*; do
    [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "$(basename "$f")" ] || { echo "bad blob $f"; return 1; }
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || { echo "no blobs in $d"; return 1; }
}
# Microseconds since boot of a unit property (0 if never).
prop() { systemctl show -P "$2" "$1"; }
# datavol had finished its work before containerd began to start: its READY=1
# (Type=notify, sent once every volume is done: ActiveEnter), or, for a failed
# run that sends none, its exit.
datavol_before_containerd() {
  local dv_start dv_end ct_start
  dv_start=$(prop datavol.service ExecMainStartTimestampMonotonic)
  dv_end=$(prop datavol.service ActiveEnterTimestampMonotonic)
  [ "${dv_end:-0}" -gt 0 ] || dv_end=$(prop datavol.service ExecMainExitTimestampMonotonic)
  ct_start=$(prop containerd.service InactiveExitTimestampMonotonic)
  echo "datavol $dv_start..$dv_end containerd $ct_start"
  [ "${dv_start:-0}" -gt 0 ] && [ "${dv_end:-0}" -gt 0 ] && [ "${ct_start:-0}" -gt 0 ] && [ "$dv_end" -le "$ct_start" ]
}
# The DATAVOL_STAGE values datavol logged in this boot, space separated. By
# SYSLOG_IDENTIFIER, which datavol sends itself: journald reads _COMM from /proc, too
# late for a process that has exited.
datavol_stages() {
  journalctl -b -o verbose SYSLOG_IDENTIFIER=datavol 2>/dev/null | sed -n 's/^ *DATAVOL_STAGE=//p' | awk '!s[$0]++' | tr '\n' ' '
}
has_stage() { datavol_stages | grep -qw "$1" || { echo "stages: $(datavol_stages)"; return 1; }; }
lacks_stage() { ! datavol_stages | grep -qw "$1" || { echo "stages: $(datavol_stages)"; return 1; }; }
# ctr waits for a dead socket; say so at once instead.
containerd_up() { systemctl is-active -q containerd.service || { echo "containerd is $(systemctl is-active containerd.service)"; return 1; }; }
image_listed() { containerd_up && ctr -n k8s.io images ls -q | grep -qx localhost/kubernetes/pause:latest; }
image_pinned() { containerd_up && ctr -n k8s.io images ls | grep '^localhost/kubernetes/pause:latest ' | grep -q 'io.cri-containerd.pinned=pinned'; }
container_runs() { containerd_up && timeout 120 ctr -n k8s.io run --rm localhost/kubernetes/pause:latest "t$RANDOM" /bin/true; }
container_writes() { containerd_up && timeout 120 ctr -n k8s.io run localhost/kubernetes/pause:latest keep /bin/sh -c "echo $1 > /token"; }
# What container_writes "$TOKEN" left in its container's layer is still there.
token_kept() { grep -rqx "$TOKEN" /var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots/*/fs/token; }
# The kubelet's call (issue #19): containerd's CRI (runtime.v1) runs a host-network pod
# sandbox from the sandbox image its config names, as kubelet's first pod on a node does.
# ctr run above proves the image; this proves what kubelet needs of it.
CRI=/usr/local/lib/vmtest/cri.py
# Facts: cri.runtime, cri.sandbox_image (and where it was read), cri.image_pinned.
cri_facts() { containerd_up && timeout 60 python3 "$CRI" info >>"$RES" 2>>"$OUT/cri.err"; }
cri_pod() { containerd_up && timeout 300 python3 "$CRI" run; }
check_cri() {
  cri_facts
  check cri cri_pod
}
# Where the sandbox image is gone (the controls, a lost image): the pod fails, and the
# reason is the pull a node without a registry cannot do (cri.error says it).
cri_pull_fails() {
  local o
  o=$(cri_pod 2>&1) && { echo "the pod sandbox ran: $o"; return 1; }
  kv cri.error "$(printf '%s' "$o" | tr '\n' ' ' | cut -c1-400)"
  printf '%s' "$o" | grep -q 'failed to pull' || { echo "not an image pull error: $o"; return 1; }
}
# journal_has UNIT TEXT: a line of this boot under UNIT (journalctl -u) holds TEXT.
journal_has() {
  journalctl -b -u "$1" -o cat --no-pager | grep -qF -- "$2" ||
    { echo "not under $1: $2; last lines: $(journalctl -b -u "$1" -o cat --no-pager | tail -3)"; return 1; }
}
# entry_has MATCH FIELD=VALUE: an entry of this boot matching MATCH carries that field.
entry_has() {
  journalctl -b -o verbose --no-pager "$1" | grep -qE "^ +$2\$" ||
    { echo "no entry $1 with $2: $(journalctl -b -o verbose --no-pager "$1" | grep -E '^ +[A-Z_]+=' | tr -s ' ' | head -c 600)"; return 1; }
}
# explained UNIT TEXT: journalctl -x shows TEXT (the catalog's) among UNIT's lines.
explained() {
  journalctl -b -x -u "$1" --no-pager | grep -qF -- "$2" ||
    { echo "journalctl -x -u $1 lacks: $2"; return 1; }
}
is_mountpoint() { findmnt -n "$1" >/dev/null || { echo "$1 is not a mount point"; return 1; }; }

# Everything worth reading afterwards on the host.
collect() {
  local t=$EPOCHREALTIME
  journalctl -b -o short-monotonic --no-pager >"$OUT/journal.txt" 2>&1
  journalctl -b -o verbose --no-pager SYSLOG_IDENTIFIER=datavol >"$OUT/datavol-verbose.txt" 2>&1
  systemctl status --no-pager -l datavol.service containerd.service >"$OUT/status.txt" 2>&1
  systemd-analyze blame >"$OUT/blame.txt" 2>&1
  findmnt >"$OUT/findmnt.txt" 2>&1
  lsblk -f >"$OUT/lsblk.txt" 2>&1
  ls -l /dev/disk/by-id /dev/md >"$OUT/by-id.txt" 2>&1
  cat /proc/mdstat >"$OUT/mdstat.txt" 2>&1
  ls -la /etc/systemd/system >"$OUT/etc-systemd-system.txt" 2>&1
  ls -laR /run/systemd/system /run/systemd/generator >"$OUT/run-systemd.txt" 2>&1
  cp /run/systemd/system/*.mount "$OUT/" 2>/dev/null
  datavol status --json >"$OUT/status.json" 2>"$OUT/status.err"
  kv datavol.stages "$(datavol_stages)"
  kv datavol.result "$(prop datavol.service Result)"
  kv datavol.status "$(prop datavol.service ExecMainStatus)"
  local s e
  s=$(prop datavol.service ExecMainStartTimestampMonotonic); e=$(prop datavol.service ExecMainExitTimestampMonotonic)
  kv datavol.usec "$(( ${e:-0} - ${s:-0} ))"
  kv containerd.active "$(systemctl is-active containerd.service)"
  kv rpm.q "$(rpm -q datavol 2>&1)"
  kv boot.userspace_usec "$(prop init.scope ActiveEnterTimestampMonotonic 2>/dev/null)"
  timing collect "$t"
}
finish() {
  kv done 1
  sync
  echo "VMTEST-DONE" >"$CONSOLE"
}

# Per-run variables written by the host (TOKEN=..., etc.).
[ -f /usr/local/lib/vmtest/env ] && . /usr/local/lib/vmtest/env

# The root fs's own /var/lib/containerd, as it is underneath any mount on it.
lower() {
  if ! findmnt -n /run/vmtest-lower >/dev/null; then
    mkdir -p /run/vmtest-lower && mount --bind / /run/vmtest-lower
  fi
  echo /run/vmtest-lower/var/lib/containerd
}
not_mountpoint() { ! findmnt -n "$1" || { echo "$1 is a mount point"; return 1; }; }
# unit_what_is_device UNIT DEV: What= resolves to DEV by a path a clone of
# the volume cannot share (not by-uuid/by-label/by-partuuid; issue #18).
unit_what_is_device() {
  local what
  what=$(sed -n 's/^What=//p' "$1")
  case $what in /dev/disk/by-uuid/* | /dev/disk/by-label/* | /dev/disk/by-partuuid/*) echo "What=$what names content a clone shares"; return 1 ;; esac
  [ "$(readlink -f "$what")" = "$(readlink -f "$2")" ] || { echo "What=$what is not $2"; return 1; }
}
mounted_from() {
  local want got
  want=$(readlink -f "$2"); got=$(findmnt -n -o SOURCE "$1")
  [ -n "$got" ] && [ "$(readlink -f "$got")" = "$want" ] || { echo "$1 from '$got', want $want"; return 1; }
}
fstype_is() { [ "$(findmnt -n -o FSTYPE "$1")" = "$2" ] || { echo "fstype $(findmnt -n -o FSTYPE "$1")"; return 1; }; }
has_option() { findmnt -n -o OPTIONS "$1" | tr ',' '\n' | grep -qx "$2" || { echo "options $(findmnt -n -o OPTIONS "$1")"; return 1; }; }
committed() { grep -Eq '"(state|phase)" *: *"committed"' "$1/.datavol/state.json" || { cat "$1/.datavol/state.json"; return 1; }; }
prop_is() { local v; v=$(prop "$1" "$2"); [ "$v" = "$3" ] || { echo "$1 $2=$v, want $3"; return 1; }; }
# Top-level entries of the migrated dir that the original dir does not have (besides
# .datavol, and the CRI plugin's state, made by check_cri's pods after the migration).
no_stray() {
  local extra
  extra=$(comm -13 <(ls -A "$(lower)" | sort) <(ls -A "$1" | grep -vx -e '.datavol' -e 'io.containerd.grpc.v1.cri' | sort))
  [ -z "$extra" ] || { echo "unexpected entries: $extra"; return 1; }
}
containerd_on_root() {
  check on_root_disk not_mountpoint /var/lib/containerd
  check containerd_active systemctl is-active containerd.service
  check image_listed image_listed
  check image_pinned image_pinned
  check container_runs container_runs
  check_cri
  check_canary /var/lib/containerd
  check no_mount_unit test ! -e /run/systemd/system/var-lib-containerd.mount
}

# datavol came from its RPM: installed, files intact (but the binary, where the rig
# swapped in its failpoints build), and enabled by the package's preset.
rpm_verify() {
  local out
  out=$(rpm -V --nodeps datavol 2>&1)
  [ -e /usr/local/lib/vmtest/binary-replaced ] && out=$(printf '%s\n' "$out" | grep -v -e ' /usr/bin/datavol$' -e ' /usr/lib/systemd/system-generators/datavol-generator$')
  # rpm-upgrade: the operator edited the packaged config on purpose.
  [ -e /usr/local/lib/vmtest/config-edited ] && out=$(printf '%s\n' "$out" | grep -v ' c /etc/datavol/datavol.toml$')
  [ -z "$out" ] || { echo "rpm -V: $out"; return 1; }
}
check_package() {
  check rpm_installed rpm -q datavol
  check rpm_verify rpm_verify
  check enabled_by_preset sh -c '[ "$(systemctl is-enabled datavol.service)" = enabled ] || { systemctl is-enabled datavol.service; exit 1; }'
}

# Everything a finished migration of /var/lib/containerd onto virtio-data0 must show.
check_migrated() {
  local dev=/dev/disk/by-id/virtio-data0 uuid unit
  uuid=$(blkid -s UUID -o value "$dev")
  kv data.uuid "$uuid"
  kv data.type "$(blkid -s TYPE -o value "$dev")"
  # datavol.service's own unit (/run/systemd/system) on a first boot, the
  # generator's (/run/systemd/generator) on a healthy reboot.
  unit=$(prop var-lib-containerd.mount FragmentPath)
  kv unit.path "$unit"
  kv datavol.dir "$(ls -A /var/lib/containerd/.datavol 2>&1 | tr '\n' ' ')"
  check_package
  check datavol_succeeded prop_is datavol.service Result success
  check mounted is_mountpoint /var/lib/containerd
  check mounted_from_data0 mounted_from /var/lib/containerd "$dev"
  check fstype_xfs fstype_is /var/lib/containerd xfs
  check option_noatime has_option /var/lib/containerd noatime
  check unit_what_is_device unit_what_is_device "$unit" "$dev"
  check mount_unit_active systemctl is-active var-lib-containerd.mount
  check containerd_active systemctl is-active containerd.service
  check datavol_before_containerd datavol_before_containerd
  check image_listed image_listed
  check image_pinned image_pinned
  check container_runs container_runs
  check_cri
  check state_committed committed /var/lib/containerd
  check_canary /var/lib/containerd
  check blobs_intact blobs_intact /var/lib/containerd
  check no_stray_entries no_stray /var/lib/containerd
  check no_staging_left test ! -e /var/lib/containerd/.datavol/staging
}

# RAID0 of two NVMe disks serving /var/lib/containerd and /var/lib/kubelet (raid0-multi-dir).
check_raid_multi_dir() {
  local md=/dev/md/dv-data vol=/var/lib/datavol/volumes/data
  kv md.detail "$(mdadm --detail --export "$md" 2>&1 | tr '\n' ' ')"
  kv data.uuid "$(blkid -s UUID -o value "$md")"
  kv state "$(tr -d ' \n' <"$vol/.datavol/state.json" 2>&1)"
  check_package
  check datavol_succeeded prop_is datavol.service Result success
  check md_exists test -b "$md"
  check md_raid0 sh -c "mdadm --detail --export $md | grep -qx MD_LEVEL=raid0"
  check md_two_members sh -c "[ \$(mdadm --detail --export $md | grep -c '^MD_DEVICE_.*_DEV=') -eq 2 ]"
  check volume_mounted mounted_from "$vol" "$md"
  check volume_xfs fstype_is "$vol" xfs
  check volume_private sh -c "[ \"\$(findmnt -n -o PROPAGATION $vol)\" = private ]"
  for d in /var/lib/containerd /var/lib/kubelet; do
    local esc; esc=$(systemd-escape --path "$d")
    check "bind_$esc" sh -c "findmnt -n -o SOURCE $d | grep -qF '[/$esc]'"
    check "bind_unit_$esc" systemctl is-active "$esc.mount"
  done
  check volume_committed committed "$vol"
  check kubelet_content_kept sh -c "grep -qx '$TOKEN' /var/lib/kubelet/pki/token"
  check containerd_active systemctl is-active containerd.service
  check datavol_before_containerd datavol_before_containerd
  check image_listed image_listed
  check image_pinned image_pinned
  check container_runs container_runs
  check_cri
  check_canary /var/lib/containerd
  check blobs_intact blobs_intact /var/lib/containerd
  check no_stray_entries no_stray /var/lib/containerd
}

# What a healthy boot cost containerd for its data disk (issue #11): how long,
# after every other unit containerd is ordered after was up, it still waited
# for the data-disk step: datavol.service's exit, or (MODE=fstab) the mount.
# Reports boot.cost_us, the step's and the others' times, the last other unit,
# and datavol's own "where the time went" lines.
boot_cost() {
  local mode=${1:-datavol} step u t last=0 last_unit= disk
  case $mode in
    fstab) step=var-lib-containerd.mount ;;
    *) step=datavol.service ;;
  esac
  disk=$(prop "$step" ActiveEnterTimestampMonotonic)
  for u in $(prop containerd.service After); do
    case $u in datavol.service|datavol-check@*|var-lib-containerd.mount) continue ;; esac
    t=$(prop "$u" ActiveEnterTimestampMonotonic 2>/dev/null)
    if [ "${t:-0}" -gt "$last" ]; then last=$t; last_unit=$u; fi
  done
  kv boot.mode "$mode"
  kv boot.step_us "${disk:-0}"
  kv boot.others_us "$last"
  kv boot.last_other "$last_unit"
  kv boot.containerd_us "$(prop containerd.service InactiveExitTimestampMonotonic)"
  if [ "${disk:-0}" -gt "$last" ]; then kv boot.cost_us $((disk - last)); else kv boot.cost_us 0; fi
  # The generator's path: its mount unit, and how long its check ran.
  kv boot.generated "$([ -e /run/systemd/generator/var-lib-containerd.mount ] && echo yes || echo no)"
  local cs ce
  cs=$(prop datavol-check@containerd.service ExecMainStartTimestampMonotonic)
  ce=$(prop datavol-check@containerd.service ExecMainExitTimestampMonotonic)
  if [ "${cs:-0}" -gt 0 ] && [ "${ce:-0}" -ge "$cs" ]; then kv boot.check_took "$(((ce - cs) / 1000)) ms"; else kv boot.check_took -; fi
  kv boot.late_took "$(journalctl -b -o cat -u datavol.service | sed -n 's/.*ready on [^ ]* (\(.*\))$/\1/p' | tail -1)"
}

# A package step on a running node (rpm-upgrade): what must not change across it.
# pkg_before records the node; pkg_after checks it against the record.
no_failed_units() {
  local f
  f=$(systemctl --failed --no-legend --plain)
  [ -z "$f" ] || { echo "failed: $f"; return 1; }
}
pkg_before() {
  mkdir -p /run/vmtest-pkg
  prop containerd.service MainPID >/run/vmtest-pkg/containerd.pid
  findmnt -n -o SOURCE,FSTYPE /var/lib/containerd >/run/vmtest-pkg/mount
  check "$1_before_no_failed_units" no_failed_units
}
same_containerd() {
  local was now
  was=$(cat /run/vmtest-pkg/containerd.pid); now=$(prop containerd.service MainPID)
  [ "$now" != 0 ] && [ "$now" = "$was" ] || { echo "containerd MainPID $was before, $now after"; return 1; }
}
same_mount() {
  local now
  now=$(findmnt -n -o SOURCE,FSTYPE /var/lib/containerd)
  [ -n "$now" ] && [ "$now" = "$(cat /run/vmtest-pkg/mount)" ] || { echo "mount '$(cat /run/vmtest-pkg/mount)' before, '$now' after"; return 1; }
}
pkg_after() {
  check "$1_still_mounted" same_mount
  check "$1_mount_unit_active" systemctl is-active var-lib-containerd.mount
  check "$1_containerd_same_pid" same_containerd
  check "$1_containerd_active" systemctl is-active containerd.service
  check "$1_no_failed_units" no_failed_units
  check "$1_container_runs" container_runs
  check "$1_canary" diff -u /usr/local/lib/vmtest/canary.content <(manifest_content /var/lib/containerd/vmtest-canary)
}
