# %post, as Fedora's %systemd_post: apply the preset on first install only.
# Never fails: in an image build or chroot nothing is booted, and systemctl
# preset works offline on the unit files; an absent systemctl is tolerated.
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset datavol.service >/dev/null 2>&1 || :
fi
# An upgrade from a datavol with datavol-early.service (now the generator's
# job) leaves its wants link dangling: remove it.
if [ "$1" -gt 1 ]; then
    rm -f /etc/systemd/system/local-fs.target.wants/datavol-early.service 2>/dev/null || :
fi
# Let a running systemd see the new unit and containerd drop-in.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
# So that journalctl -x explains datavol's results (works offline too).
journalctl --update-catalog >/dev/null 2>&1 || :
exit 0
