# rpm-upgrade, boot 2: a reboot on release 2. The generator's mount, the operator's
# config in effect (its [metrics] wrote datavol.prom). Then the package is erased under
# the running node: the volume stays mounted, containerd keeps its process, no unit
# fails; the edited config is kept as .rpmsave, the conf.d drop-in and the seed
# history stay, datavol's files and its enablement go.
. /usr/local/lib/vmtest/lib.sh
CONF=/etc/datavol/datavol.toml
PROM=/var/lib/node_exporter/textfile_collector/datavol.prom
check_migrated
kv rpm.before "$(rpm -q datavol)"
check release_2 sh -c '[ "$(rpm -q --qf "%{RELEASE}" datavol)" = 2 ] || rpm -q datavol'
check generator_mount prop_is var-lib-containerd.mount FragmentPath /run/systemd/generator/var-lib-containerd.mount
check config_kept cmp /usr/local/lib/vmtest/datavol.toml.operator "$CONF"
check operator_metrics_in_effect test -s "$PROM"
kv history "$(ls -A /var/lib/datavol 2>&1 | tr '\n' ' ')"
pkg_before erase
check rpm_erase sh -c 'rpm -e datavol >/mnt/vmtest/out/rpm-e.txt 2>&1 || { cat /mnt/vmtest/out/rpm-e.txt; exit 1; }'
check_not still_installed rpm -q datavol
pkg_after erase
check binary_gone test ! -e /usr/bin/datavol
check generator_gone test ! -e /usr/lib/systemd/system-generators/datavol-generator
check dropin_gone test ! -e /usr/lib/systemd/system/containerd.service.d/50-datavol.conf
check unit_gone sh -c '! systemctl cat datavol.service >/dev/null 2>&1'
check no_enable_links sh -c '! ls /etc/systemd/system/*.wants/datavol.service 2>/dev/null'
check config_rpmsave cmp /usr/local/lib/vmtest/datavol.toml.operator "$CONF.rpmsave"
check confd_kept test -s /etc/datavol/conf.d/50-vmtest.toml
check history_kept sh -c '[ -n "$(ls -A /var/lib/datavol)" ] || { ls -la /var/lib/datavol; exit 1; }'
kv history.after "$(ls -A /var/lib/datavol 2>&1 | tr '\n' ' ')"
collect
finish
