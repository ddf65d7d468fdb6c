# node-exporter: Debian's prometheus-node-exporter (its own unit, user prometheus, a
# drop-in for the directory) scraped over HTTP after the seeding boot: its textfile
# collector read datavol.prom without an error, and datavol's series are there with
# the values of this run. The host parses the whole page again (metrics::scraped).
. /usr/local/lib/vmtest/lib.sh
URL=http://127.0.0.1:9100/metrics
SCRAPE=$OUT/scrape.txt
# node_exporter listens shortly after its start; retry for 30 s.
scrape() {
  local i
  for i in $(seq 30); do
    busybox wget -q -O "$SCRAPE" "$URL" 2>/dev/null && [ -s "$SCRAPE" ] && return 0
    sleep 1
  done
  echo "no answer from $URL; prometheus-node-exporter is $(systemctl is-active prometheus-node-exporter)"
  return 1
}
# value_is SAMPLE OP NUMBER: the sample's value (exact name and labels) compares so.
value_is() {
  local v
  v=$(awk -v k="$1" '$1 == k { print $2; exit }' "$SCRAPE")
  [ -n "$v" ] || { echo "no $1 in the scrape"; return 1; }
  awk -v a="$v" -v op="$2" -v b="$3" 'BEGIN { a += 0; b += 0; exit !((op == "==" && a == b) || (op == ">" && a > b)) }' ||
    { echo "$1 is $v, want $2 $3"; return 1; }
}
read_by_collector() { grep -E '^node_textfile_mtime_seconds\{file="[^"]*datavol\.prom"\} ' "$SCRAPE" || { grep '^node_textfile' "$SCRAPE"; return 1; }; }
check datavol_succeeded prop_is datavol.service Result success
check mounted mounted_from /var/lib/containerd /dev/disk/by-id/virtio-data0
exporter_user() {
  local pid u
  pid=$(prop prometheus-node-exporter.service MainPID)
  u=$(stat -c %U "/proc/$pid" 2>&1)
  [ "$pid" != 0 ] && [ "$u" = prometheus ] || { echo "MainPID $pid runs as $u"; return 1; }
}
check exporter_user exporter_user
check scraped scrape
kv guest.now "$(date +%s)"
check textfile_read read_by_collector
check scrape_error_0 value_is node_textfile_scrape_error == 0
check volume_ready_1 value_is 'datavol_volume_ready{volume="containerd"}' == 1
check seeds_1 value_is 'datavol_seeds_total{volume="containerd"}' == 1
check migration_bytes value_is 'datavol_migration_bytes{volume="containerd"}' '>' $((24 << 20))
check apply_exit_0 value_is 'datavol_last_run_exit_code{verb="apply"}' == 0
cp /var/lib/node_exporter/textfile_collector/datavol.prom "$OUT/datavol-boot.prom" 2>/dev/null
collect
finish
