#!/usr/bin/python3
"""The kubelet's calls to containerd's CRI (runtime.v1) for a host-network pod, with
the stubs baked into the image (Debian has no crictl).

  cri.py info [IMAGE]
                facts as key=value lines: runtime, sandbox image (and where it was
                read), whether the CRI image service has it (or IMAGE) and reports
                it pinned
  cri.py run    RunPodSandbox, PodSandboxStatus (must be READY), StopPodSandbox,
                RemovePodSandbox; exit 1 with the error's text otherwise
"""
import json
import os
import sys
import tomllib
import uuid

sys.path.insert(0, "/usr/local/lib/vmtest/cri")
import grpc  # noqa: E402
import api_pb2 as api  # noqa: E402
import api_pb2_grpc as rpc  # noqa: E402

SOCKET = "unix:///run/containerd/containerd.sock"
CONFIG = "/etc/containerd/config.toml"
TIMEOUT = 120


def connect():
    ch = grpc.insecure_channel(SOCKET)
    grpc.channel_ready_future(ch).result(timeout=30)
    return rpc.RuntimeServiceStub(ch), rpc.ImageServiceStub(ch)


def find(node, keys):
    """The first value under one of `keys` anywhere in a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in keys and isinstance(v, str) and v:
                return v
            if k == "pinnedImages" and isinstance(v, dict) and v.get("sandbox"):
                return v["sandbox"]
            got = find(v, keys)
            if got:
                return got
    elif isinstance(node, list):
        for v in node:
            got = find(v, keys)
            if got:
                return got
    return None


def sandbox_image(rt):
    """What `crictl info` shows (Status verbose), else containerd's config file."""
    info = rt.Status(api.StatusRequest(verbose=True), timeout=TIMEOUT).info
    for v in info.values():
        try:
            got = find(json.loads(v), {"sandboxImage", "sandbox_image"})
        except ValueError:
            continue
        if got:
            return got, "status"
    with open(CONFIG, "rb") as f:
        plugins = tomllib.load(f).get("plugins", {})
    v3 = plugins.get("io.containerd.cri.v1.images", {}).get("pinned_images", {})
    v2 = plugins.get("io.containerd.grpc.v1.cri", {})
    return v3.get("sandbox") or v2.get("sandbox_image"), "config"


def info(other=None):
    rt, im = connect()
    v = rt.Version(api.VersionRequest(), timeout=TIMEOUT)
    print(f"cri.runtime={v.runtime_name} {v.runtime_version} ({v.runtime_api_version})")
    image, source = sandbox_image(rt)
    print(f"cri.sandbox_image={image}")
    print(f"cri.sandbox_from={source}")
    image = other or image
    st = im.ImageStatus(api.ImageStatusRequest(image=api.ImageSpec(image=image)), timeout=TIMEOUT)
    # pinned is what kubelet's image garbage collection obeys.
    print(f"cri.image_pinned={str(st.image.pinned).lower() if st.image.id else 'absent'}")


def run():
    rt, _ = connect()
    uid = uuid.uuid4().hex
    name, ns = "vmtest-cri", "kube-system"
    logs = f"/var/log/pods/{ns}_{name}_{uid}"
    os.makedirs(logs, exist_ok=True)
    # As kubelet asks for a hostNetwork pod: node network, the pod's own IPC, the
    # container's PID namespace; no hostname (the node's UTS namespace: kubelet sets one
    # only for pods with their own network); DNS from the host's settings; with the
    # systemd cgroup driver (nodeadm's SystemdCgroup = true) a pod slice, which systemd
    # makes on demand.
    cfg = api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name=name, uid=uid, namespace=ns, attempt=0),
        log_directory=logs,
        dns_config=api.DNSConfig(servers=["127.0.0.1"]),
        labels={"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns,
                "io.kubernetes.pod.uid": uid},
        linux=api.LinuxPodSandboxConfig(
            cgroup_parent=f"kubepods-besteffort-pod{uid}.slice",
            security_context=api.LinuxSandboxSecurityContext(
                namespace_options=api.NamespaceOption(
                    network=api.NODE, pid=api.CONTAINER, ipc=api.POD))),
    )
    step = "RunPodSandbox"
    try:
        sid = rt.RunPodSandbox(api.RunPodSandboxRequest(config=cfg), timeout=TIMEOUT).pod_sandbox_id
        step = "PodSandboxStatus"
        st = rt.PodSandboxStatus(api.PodSandboxStatusRequest(pod_sandbox_id=sid), timeout=TIMEOUT)
        state = api.PodSandboxState.Name(st.status.state)
        step = "StopPodSandbox"
        rt.StopPodSandbox(api.StopPodSandboxRequest(pod_sandbox_id=sid), timeout=TIMEOUT)
        step = "RemovePodSandbox"
        rt.RemovePodSandbox(api.RemovePodSandboxRequest(pod_sandbox_id=sid), timeout=TIMEOUT)
    except grpc.RpcError as e:
        print(f"{step}: {e.code().name}: {e.details()}")
        return 1
    if state != "SANDBOX_READY":
        print(f"PodSandboxStatus: sandbox {sid} is {state}, not SANDBOX_READY")
        return 1
    print(f"sandbox {sid[:12]} READY, stopped and removed")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["info"] and len(sys.argv) <= 3:
        info(*sys.argv[2:])
    elif sys.argv[1:] == ["run"]:
        sys.exit(run())
    else:
        sys.exit(__doc__)
