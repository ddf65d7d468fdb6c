# %postun, as Fedora's %systemd_postun_with_restart minus the restart: the
# oneshot ran at boot and must not migrate again under running containerd on
# an upgrade; the new binary takes over at the next boot. Only reload, so
# systemd forgets removed unit files or picks up changed ones.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
# The catalog file changed or went: rebuild journald's catalog database.
journalctl --update-catalog >/dev/null 2>&1 || :
exit 0
