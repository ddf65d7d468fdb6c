# rpm-upgrade, boot 1: release 1 (installed by the rig) seeds data0 as in seed. Then the
# operator edits the packaged /etc/datavol/datavol.toml (metrics on), and the package is
# upgraded in place to release 2 under the running node: the volume stays mounted,
# containerd keeps its process, datavol.service is neither restarted nor disabled, no
# unit fails, and the edited config is left as the operator wrote it (noreplace).
. /usr/local/lib/vmtest/lib.sh
CONF=/etc/datavol/datavol.toml
SAVED=/usr/local/lib/vmtest/datavol.toml.operator
check_migrated
kv rpm.before "$(rpm -q datavol)"
# %config(noreplace), as the package says.
check config_noreplace sh -c "rpm -q --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' datavol | grep -qx '$CONF cn'"
edit() {
  printf '\n# Set by the operator (vmtest).\n[metrics]\ntextfile_dir = "/var/lib/node_exporter/textfile_collector"\n' >>"$CONF"
  cp "$CONF" "$SAVED" && touch /usr/local/lib/vmtest/config-edited
  datavol validate
}
check operator_edit edit
dv_started=$(prop datavol.service ExecMainStartTimestampMonotonic)
pkg_before upgrade
check rpm_upgrade sh -c 'rpm -U --nodeps /var/tmp/datavol-upgrade.rpm >/mnt/vmtest/out/rpm-U.txt 2>&1 || { cat /mnt/vmtest/out/rpm-U.txt; exit 1; }'
kv rpm.after "$(rpm -q datavol)"
check release_2 sh -c '[ "$(rpm -q --qf "%{RELEASE}" datavol)" = 2 ] || rpm -q datavol'
check one_datavol_installed sh -c '[ "$(rpm -q datavol | wc -l)" = 1 ] || rpm -q datavol'
pkg_after upgrade
check config_kept cmp "$SAVED" "$CONF"
check no_rpmnew test ! -e "$CONF.rpmnew"
check still_enabled prop_is datavol.service UnitFileState enabled
check datavol_not_restarted prop_is datavol.service ExecMainStartTimestampMonotonic "$dv_started"
check datavol_still_active systemctl is-active datavol.service
check reloaded prop_is datavol.service NeedDaemonReload no
check package_verifies rpm_verify
collect
finish
