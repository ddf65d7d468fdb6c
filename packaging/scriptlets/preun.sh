# %preun, as Fedora's %systemd_preun: on erase (not upgrade) disable the unit
# and stop it. Stopping the oneshot unmounts nothing: the volumes it mounted
# stay mounted, and their .mount units in /etc/systemd/system stay in place.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl --no-reload disable --now datavol.service datavol-early.service >/dev/null 2>&1 || :
    else
        systemctl --no-reload disable datavol.service datavol-early.service >/dev/null 2>&1 || :
    fi
fi
exit 0
