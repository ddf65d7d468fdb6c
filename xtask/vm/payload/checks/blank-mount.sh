# Control: the EKS failure. A blank xfs mounted on /var/lib/containerd before containerd
# starts hides the baked image; the checks that datavol scenarios need must fail here.
. /usr/local/lib/vmtest/lib.sh
check mounted is_mountpoint /var/lib/containerd
check containerd_active systemctl is-active containerd.service
check_not image_hidden image_listed
check_not container_cannot_run container_runs
cri_facts
check cri_pull_fails cri_pull_fails
check lower_still_has_image test -d "$(lower)/io.containerd.content.v1.content"
collect
finish
