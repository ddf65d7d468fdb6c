# %preun, as Fedora's %systemd_preun: on erase (not upgrade) disable the unit
# and stop it. Stopping the oneshot unmounts nothing: the volumes it mounted
# stay mounted, and the generator's units go with the package at the next boot.
if [ "$1" -eq 0 ]; then
    if [ -d /run/systemd/system ]; then
        systemctl --no-reload disable --now datavol.service >/dev/null 2>&1 || :
    else
        systemctl --no-reload disable datavol.service >/dev/null 2>&1 || :
    fi
fi
exit 0
