# %post, as Fedora's %systemd_post: apply the preset on first install only.
# Never fails: in an image build or chroot nothing is booted, and systemctl
# preset works offline on the unit files; an absent systemctl is tolerated.
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset datavol.service datavol-early.service >/dev/null 2>&1 || :
fi
# Let a running systemd see the new unit and containerd drop-in.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
