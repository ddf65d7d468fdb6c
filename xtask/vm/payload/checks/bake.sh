# Baking boot (part of the image recipe, self-contained): import the pause stand-in into
# containerd's k8s.io namespace, as the EKS AMI build does (cache-pause-container: the
# image, its pin label and its archive in /etc/eks/pause.tar), and record the canary tree.
. /usr/local/lib/vmtest/manifest.sh
OUT=/mnt/vmtest/out
IMG=localhost/kubernetes/pause:latest
set -x
{
  mkdir -p /etc/eks && cp /mnt/vmtest/pause.tar /etc/eks/pause.tar &&
  ctr -n k8s.io images import /etc/eks/pause.tar &&
  ctr -n k8s.io images label $IMG io.cri-containerd.pinned=pinned &&
  ctr -n k8s.io images ls | grep "^$IMG .*io.cri-containerd.pinned=pinned" &&
  timeout 120 ctr -n k8s.io run --rm $IMG bake /bin/true &&
  manifest_content /var/lib/containerd/vmtest-canary >/usr/local/lib/vmtest/canary.content &&
  manifest_mtimes /var/lib/containerd/vmtest-canary >/usr/local/lib/vmtest/canary.mtimes &&
  test -s /usr/local/lib/vmtest/canary.content &&
  cp /usr/local/lib/vmtest/canary.* "$OUT/" &&
  ls -la /var/lib/containerd &&
  containerd --version &&
  echo check.bake=ok >>"$OUT/result.txt"
} >"$OUT/bake.log" 2>&1 || echo "check.bake=FAIL: see bake.log" >>"$OUT/result.txt"
journalctl -b -o short-monotonic --no-pager >"$OUT/journal.txt" 2>&1
echo done=1 >>"$OUT/result.txt"
sync
