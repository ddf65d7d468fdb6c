//! The boot-test scenarios, one entry each: disks, boots (what each installs, its guest
//! checker under xtask/vm/payload/checks, the host's checks after it) and the facts that
//! must survive a reboot. scenario::run executes an entry; host.rs holds the host side.
use super::host;
use super::image::Containerd;
use super::metrics;
use super::scenario::{
    containerd, Boot, DiskSpec, GuestFile, Host, Make, Scenario, Throttle, Until,
};
use std::time::Duration;

/// The scenarios that run on containerd 2 as well, as `<name>-ctrd2`: the control, a
/// migration's boots, the sandbox guard and a refusal (EKS AL2023 ships 2.x for
/// Kubernetes 1.30 and later).
const ON_CONTAINERD2: &[&str] = &[
    "blank-mount",
    "seed",
    "reboot",
    "power-cut",
    "sandbox-restore",
    "refused-reason",
];

/// Every scenario, in the order `cargo xtask vm-test` runs them: the table on
/// containerd 1.6, then the containerd 2 set. Add a scenario as one entry in the group
/// it belongs to (plus its checker script).
pub fn all() -> Vec<Scenario> {
    let ctrd2 = table()
        .into_iter()
        .filter(|s| ON_CONTAINERD2.contains(&s.name))
        .map(on_containerd2);
    table().into_iter().chain(ctrd2).collect()
}

fn table() -> Vec<Scenario> {
    let groups = [
        controls_and_migration(),
        refusals_and_crashes(),
        new_disks_and_devices(),
        lifecycle(),
        signals(),
        fleet(),
    ];
    groups.into_iter().flatten().collect()
}

/// The same entry on the containerd 2 image: same disks, boots and checkers.
fn on_containerd2(s: Scenario) -> Scenario {
    // A name made once per process, for the life of the process.
    let name: &'static str = Box::leak(format!("{}-ctrd2", s.name).into_boxed_str());
    Scenario {
        name,
        containerd: Containerd::V2,
        ..s
    }
}

/// The controls (the EKS bug reproduces, so checks can fail), then a migration: first
/// boot, reboot, power cut.
fn controls_and_migration() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "baked",
            about: "control: the baked image runs from the root disk (no datavol)",
            boots: vec![Boot::new("boot", "baked")],
            ..Scenario::default()
        },
        Scenario {
            name: "blank-mount",
            about: "control: a blank xfs mounted on /var/lib/containerd breaks containerd (the EKS bug)",
            disks: vec![DiskSpec::virtio("data0", Make::Fixture(host::blank_xfs))],
            boots: vec![Boot {
                // What the EKS user data effectively did: mount a blank fs there before containerd.
                units: vec![(
                    "/etc/systemd/system/var-lib-containerd.mount",
                    "[Unit]\nBefore=containerd.service\n\n[Mount]\nWhat=/dev/disk/by-id/virtio-data0\n\
                     Where=/var/lib/containerd\nType=xfs\n\n[Install]\nRequiredBy=containerd.service\n".into(),
                )],
                ..Boot::new("boot", "blank-mount")
            }],
            ..Scenario::default()
        },
        Scenario {
            name: "seed",
            about: "blank data disk: formatted, migrated, mounted by UUID before containerd",
            disks: vec![data0()],
            boots: vec![Boot {
                host: vec![Host::Migrated],
                ..Boot::eks("boot", "seed")
            }],
            ..Scenario::default()
        },
        Scenario {
            name: "reboot",
            about: "second boot: data kept, no format/copy/unit rewrite, datavol's boot cost",
            disks: vec![data0()],
            token: Some("token"),
            boots: vec![
                Boot::eks("boot1", "reboot-1"),
                // Same disks; the payload only brings the next checker.
                Boot {
                    host: vec![
                        Host::Migrated,
                        Host::Note("boot.cost_us", "boot2: containerd waited {} us for datavol after its other dependencies"),
                        Host::Note("boot.generated", "boot2: mounted by datavol-generator's unit: {}"),
                        Host::Note("boot.check_took", "boot2: datavol-check@containerd: {}"),
                    ],
                    ..Boot::new("boot2", "reboot-2")
                },
            ],
            expect_kept: vec![("data.uuid", "data disk UUID")],
            ..Scenario::default()
        },
        Scenario {
            name: "baked-record",
            about: "issue #18 defect 5: an AMI baked after datavol ran boots as a new instance (another DMI UUID) whose user data names another disk: the generator trusts no record, datavol follows the config",
            disks: vec![data0(), DiskSpec::virtio("data1", Make::Blank("4G"))],
            boots: vec![
                Boot::eks("boot1", "seed"),
                Boot {
                    instance: Some("ec2a0000-0000-4000-8000-0000000000ff"),
                    // cloud-init's write_files, after local-fs.target (and so
                    // after the generator's mounts), before datavol.service.
                    files: vec![GuestFile::text(
                        "/usr/local/lib/vmtest/userdata.toml",
                        "[volume.containerd]\ndevice = \"/dev/disk/by-id/virtio-data1\"\n",
                        0o644,
                    )],
                    units: vec![(
                        "/etc/systemd/system/vmtest-userdata.service",
                        "[Unit]\nDefaultDependencies=no\nAfter=local-fs.target\nBefore=datavol.service\n\n\
                         [Service]\nType=oneshot\nExecStart=/bin/cp /usr/local/lib/vmtest/userdata.toml /etc/datavol/conf.d/60-userdata.toml\n\n\
                         [Install]\nWantedBy=datavol.service\n"
                            .into(),
                    )],
                    ..Boot::new("boot2", "baked-record")
                },
            ],
            ..Scenario::default()
        },
        Scenario {
            name: "power-cut",
            about: "power cut in the middle of the copy, then a normal boot completes it",
            disks: vec![data0()],
            boots: vec![
                Boot {
                    failpoints: Some("copy-halfway=pause".into()),
                    files: vec![GuestFile::recipe(
                        "/usr/local/lib/vmtest/cutwatch.sh",
                        "payload/checks/cutwatch.sh",
                        0o755,
                    )],
                    units: vec![(
                        "/etc/systemd/system/vmtest-cutwatch.service",
                        "[Unit]\nDescription=VM test: report the copy-halfway pause\nDefaultDependencies=no\n\n\
                         [Service]\nExecStart=/usr/local/lib/vmtest/cutwatch.sh\n\n[Install]\nWantedBy=sysinit.target\n".into(),
                    )],
                    until: Until::Marker("VMTEST-PAUSED"),
                    host: vec![Host::Check(host::after_cut)],
                    ..Boot::eks("boot1", "power-cut-1")
                },
                Boot {
                    run: vec!["rm -f /etc/systemd/system/sysinit.target.wants/vmtest-cutwatch.service".into()],
                    host: vec![Host::Migrated],
                    ..Boot::new("boot2", "power-cut-2")
                },
            ],
            ..Scenario::default()
        },
    ]
}

/// Disks datavol must refuse or wait for, boot orders, and crashes at each failpoint.
fn refusals_and_crashes() -> Vec<Scenario> {
    vec![
        foreign(
            "foreign-disk",
            "data disk holds another ext4 with files: refused, untouched",
            "ext4",
            host::foreign_ext4,
        ),
        foreign(
            "foreign-xfs",
            "data disk holds an xfs with files datavol did not make, no adopt_existing: refused, untouched",
            "xfs",
            host::foreign_xfs,
        ),
        // udev does not watch the data disk, so mkfs produces no change event and no
        // /dev/disk/by-uuid link unless datavol asks udev for one (the race seen on first
        // boots, made certain). The mount unit's What= must still resolve.
        Scenario {
            name: "udev-no-watch",
            about: "udev sends no change event after mkfs: the by-uuid link must still appear",
            disks: vec![data0(), DiskSpec::virtio("scratch0", Make::Blank("1G"))],
            boots: vec![Boot {
                files: vec![GuestFile::text(
                    "/etc/udev/rules.d/99-vmtest-nowatch.rules",
                    "SUBSYSTEM==\"block\", ENV{ID_SERIAL}==\"data0|scratch0\", OPTIONS:=\"nowatch\"\n",
                    0o644,
                )],
                host: vec![Host::Migrated],
                ..Boot::eks("boot", "udev-no-watch")
            }],
            ..Scenario::default()
        },
        Scenario {
            name: "nodeadm-order",
            about: "containerd started late by nodeadm-run.service (AL2023 order)",
            disks: vec![data0()],
            boots: vec![Boot {
                // As on AL2023 EKS AMIs: containerd is not enabled; nodeadm-run starts it late.
                run: vec!["rm -f /etc/systemd/system/multi-user.target.wants/containerd.service".into()],
                units: vec![(
                    "/etc/systemd/system/nodeadm-run.service",
                    "[Unit]\nDescription=stand-in for nodeadm-run.service\nAfter=multi-user.target\n\n\
                     [Service]\nType=oneshot\nRemainAfterExit=yes\nTimeoutStartSec=150\n\
                     ExecStart=/bin/systemctl start containerd.service\n\n[Install]\nWantedBy=multi-user.target\n".into(),
                )],
                after: vec!["nodeadm-run.service"],
                host: vec![Host::Migrated],
                ..Boot::eks("boot", "nodeadm-order")
            }],
            ..Scenario::default()
        },
        missing_disk(
            "missing-disk",
            "no data disk, required=false: containerd runs from the root disk",
            false,
        ),
        missing_disk(
            "missing-disk-required",
            "no data disk, required=true: containerd must not start",
            true,
        ),
        crash(
            "crash-mkfs-done",
            "mkfs-done",
            "datavol crashes right after mkfs; the next boot finishes",
        ),
        crash(
            "crash-verified",
            "verified",
            "datavol crashes after verifying, before commit; the next boot finishes",
        ),
        crash(
            "crash-unit-written",
            "unit-written",
            "datavol crashes after writing the unit, before starting it",
        ),
    ]
}

/// Disks that change under a node (lost, restored from a snapshot, pre-filled), slow
/// disks, NVMe and md/dm holders, and RAID.
fn new_disks_and_devices() -> Vec<Scenario> {
    vec![
        // Boot 1 as seed; then the data disk is swapped for a blank one with the same
        // serial (an instance-store disk after stop/start) and boot 2 must seed it again.
        Scenario {
            name: "reseed",
            about: "data disk lost (instance store after stop/start): reseed from the root disk",
            disks: vec![data0()],
            boots: vec![
                Boot::eks("boot1", "seed"),
                Boot {
                    remake: vec!["data0"],
                    host: vec![Host::Check(host::new_uuid), Host::Migrated],
                    ..Boot::new("boot2", "reseed")
                },
            ],
            ..Scenario::default()
        },
        // Boot 1 seeds a data disk on one root disk; boot 2 attaches it to a fresh root
        // disk (a new node launched with a snapshot of the first node's data volume).
        Scenario {
            name: "snapshot-restore",
            about: "a data disk datavol committed on one node, attached to a new node: mounted as is",
            disks: vec![data0()],
            boots: vec![
                Boot::eks("boot1", "seed"),
                Boot {
                    fresh_root: Some("root2.qcow2"),
                    host: vec![Host::Migrated],
                    ..Boot::eks("boot2", "snapshot-restore")
                },
            ],
            expect_kept: vec![("data.uuid", "data disk UUID")],
            ..Scenario::default()
        },
        Scenario {
            name: "adopt-existing",
            about: "adopt_existing = true and an image-cache xfs datavol did not make: adopted, not copied",
            disks: vec![DiskSpec::virtio("data0", Make::Fixture(host::image_cache))],
            boots: vec![Boot {
                datavol: Some(containerd(30, false) + "adopt_existing = true\n"),
                host: vec![Host::Check(host::adopted_uuid), Host::Migrated],
                ..Boot::new("boot", "adopt-existing")
            }],
            ..Scenario::default()
        },
        slow_source(),
        // One boot with the packaged, empty config; the checker runs datavol by hand
        // against disks it turns into a foreign md array, a device-mapper holder's
        // target, and the root.
        Scenario {
            name: "devices",
            about: "QEMU NVMe through the Identify ioctl (not EBS, not instance store); refusals of a foreign md member, a held disk, the root disk",
            disks: vec![
                DiskSpec::nvme("nvme0", Make::Blank("64M")),
                DiskSpec::virtio("mda", Make::Blank("64M")),
                DiskSpec::virtio("mdb", Make::Blank("64M")),
                DiskSpec::virtio("held", Make::Blank("64M")),
            ],
            token: Some("devices"),
            boots: vec![Boot {
                datavol: Some(String::new()),
                host: vec![
                    Host::Note("identify", "datavol identify: {}"),
                    Host::Check(host::never_written),
                ],
                ..Boot::new("boot", "devices")
            }],
            ..Scenario::default()
        },
        raid0_multi_dir(),
    ]
}

/// A volume's life after its first boot (issue #13): the disk grows, an adopted cache
/// containerd cannot use, a pre-warm off the boot path.
fn lifecycle() -> Vec<Scenario> {
    let adopt = || containerd(30, false) + "adopt_existing = true\n";
    vec![
        Scenario {
            name: "same-uuid-clone",
            about: "a seeded disk and a clone of it (same UUID, same marker) attached: refused, both untouched, nothing mounted",
            disks: vec![data0(), DiskSpec::virtio("clone0", Make::CopyOf("data0"))],
            boots: vec![
                Boot {
                    host: vec![Host::Migrated],
                    ..Boot::eks("boot1", "seed")
                },
                Boot {
                    // The clone is made from the seeded disk, as a volume restored from
                    // its snapshot would be.
                    remake: vec!["clone0"],
                    host: vec![Host::Check(host::clone_untouched)],
                    ..Boot::new("boot2", "same-uuid-clone")
                },
            ],
            ..Scenario::default()
        },
        Scenario {
            name: "degraded-boot",
            about: "the disk misses one boot (containerd writes to the root disk), then comes back: mounted with the hidden-content warning",
            disks: vec![data0()],
            token: Some("degraded"),
            boots: vec![
                Boot {
                    host: vec![Host::Migrated],
                    ..Boot::eks("boot1", "seed")
                },
                Boot {
                    absent: vec!["data0"],
                    ..Boot::new("boot2", "degraded-2")
                },
                Boot {
                    host: vec![Host::Migrated],
                    ..Boot::new("boot3", "degraded-3")
                },
            ],
            ..Scenario::default()
        },
        Scenario {
            name: "grow",
            about: "both data disks enlarged between two boots: xfs and ext4 grown online to fill them, content kept",
            disks: vec![data0(), DiskSpec::virtio("data1", Make::Blank("1G"))],
            token: Some("grow"),
            boots: vec![
                Boot {
                    datavol: Some(containerd(30, false) + EXT4_VOLUME),
                    files: vec![GuestFile::text("/var/lib/vmtest-ext4/hello", "{TOKEN}\n", 0o644)],
                    host: vec![Host::Check(host::enlarge_disks)],
                    ..Boot::new("boot1", "grow-1")
                },
                Boot {
                    host: vec![Host::Migrated, Host::Check(host::grown)],
                    ..Boot::new("boot2", "grow-2")
                },
            ],
            expect_kept: vec![("data.uuid", "data disk UUID")],
            ..Scenario::default()
        },
        Scenario {
            name: "adopt-ftype0",
            about: "adopt_existing = true and an xfs made with ftype=0: refused (overlayfs needs d_type), untouched",
            disks: vec![DiskSpec::virtio("data0", Make::Fixture(host::ftype0_xfs))],
            boots: vec![Boot {
                datavol: Some(adopt()),
                host: vec![Host::Check(host::foreign_untouched)],
                ..Boot::new("boot", "adopt-ftype0")
            }],
            ..Scenario::default()
        },
        Scenario {
            name: "prewarm",
            about: "an adopted image cache with prewarm = true: mounted, containerd does not wait, the pre-warm unit succeeds",
            disks: vec![DiskSpec::virtio("data0", Make::Fixture(host::image_cache))],
            boots: vec![Boot {
                datavol: Some(adopt() + "prewarm = true\n"),
                host: vec![Host::Check(host::adopted_uuid), Host::Migrated],
                ..Boot::new("boot", "prewarm")
            }],
            ..Scenario::default()
        },
    ]
}

/// The grow scenario's second volume: ext4 on data1.
const EXT4_VOLUME: &str =
    "[volume.extra]\ndevice = \"/dev/disk/by-id/virtio-data1\"\nfilesystem = \"ext4\"\n\
    mount_point = \"/var/lib/vmtest-ext4\"\ndevice_timeout = 30\nservices = []\n";

/// What a node shows of the pause image and of datavol's runs (issue #14): the image
/// lost from containerd's store and restored, the metrics file parsed on the host,
/// journalctl -x, and a refusal's reason under the unit.
fn signals() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "sandbox-restore",
            about: "pause image removed from containerd (record and content): restored from the archive, pinned, runnable; metrics parsed on the host; journalctl -x explains",
            disks: vec![data0()],
            boots: vec![
                Boot {
                    datavol: Some(format!("{}{SANDBOX_AND_METRICS}", containerd(30, false))),
                    host: vec![Host::Migrated, Host::Check(metrics::after_migration)],
                    ..Boot::new("boot1", "sandbox-restore-1")
                },
                Boot {
                    host: vec![Host::Check(metrics::after_restore)],
                    ..Boot::new("boot2", "sandbox-restore-2")
                },
                Boot {
                    host: vec![Host::Check(metrics::after_loss)],
                    ..Boot::new("boot3", "sandbox-restore-3")
                },
            ],
            ..Scenario::default()
        },
        Scenario {
            name: "refused-reason",
            about: "a refusal's reason under journalctl -u datavol.service and systemctl status (OBJECT_SYSTEMD_UNIT), explained by journalctl -x",
            disks: vec![DiskSpec::virtio("data0", Make::Fixture(host::foreign_ext4))],
            boots: vec![Boot {
                host: vec![Host::Check(host::foreign_untouched)],
                ..Boot::eks("boot", "refused-reason")
            }],
            ..Scenario::default()
        },
    ]
}

/// What a fleet runs around datavol (issue #20): a real node_exporter scraping its
/// metrics file, and the package upgraded and erased on a running node.
fn fleet() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "node-exporter",
            about: "Debian's prometheus-node-exporter, as its own user, reads datavol.prom with its textfile collector: the seeding boot's series scraped over HTTP with the run's values, no scrape error",
            disks: vec![data0()],
            boots: vec![Boot {
                datavol: Some(format!("{}{METRICS}", containerd(30, false))),
                // The Debian unit with the directory datavol writes to instead of
                // Debian's default (/var/lib/prometheus/node-exporter); the image
                // leaves the service disabled.
                files: vec![GuestFile::text(
                    "/etc/systemd/system/prometheus-node-exporter.service.d/50-vmtest.conf",
                    format!(
                        "[Service]\nExecStart=\nExecStart=/usr/bin/prometheus-node-exporter \
                         --web.listen-address=127.0.0.1:9100 --collector.textfile.directory={TEXTFILE_DIR}\n"
                    ),
                    0o644,
                )],
                run: vec!["systemctl --no-reload enable prometheus-node-exporter.service".into()],
                after: vec!["prometheus-node-exporter.service"],
                host: vec![Host::Check(metrics::scraped)],
                ..Boot::new("boot", "node-exporter")
            }],
            ..Scenario::default()
        },
        Scenario {
            name: "rpm-upgrade",
            about: "the package upgraded (rpm -U to release 2) after the seeding boot and erased (rpm -e) on a generator reboot: volume mounted, containerd not restarted, no failed unit, the operator's datavol.toml kept; after erase a reboot leaves the disk alone and containerd runs from the root disk; installed again, the volume comes back",
            disks: vec![data0()],
            boots: vec![
                Boot {
                    files: vec![GuestFile::upgrade_package("/var/tmp/datavol-upgrade.rpm")],
                    ..Boot::eks("boot1", "rpm-upgrade-1")
                },
                Boot {
                    host: vec![Host::Migrated],
                    ..Boot::new("boot2", "rpm-upgrade-2")
                },
                Boot {
                    // The disk as datavol left it: its filesystem, marker and canary.
                    host: vec![Host::Migrated],
                    ..Boot::new("boot3", "rpm-upgrade-3")
                },
                // Installed again: the volume comes back.
                Boot {
                    host: vec![Host::Migrated],
                    ..Boot::eks("boot4", "rpm-upgrade-4")
                },
            ],
            expect_kept: vec![("data.uuid", "data disk UUID")],
            ..Scenario::default()
        },
    ]
}

/// node_exporter's usual textfile directory.
const TEXTFILE_DIR: &str = "/var/lib/node_exporter/textfile_collector";
const METRICS: &str = "[metrics]\ntextfile_dir = \"/var/lib/node_exporter/textfile_collector\"\n";

/// The EKS AL2023 values of [sandbox], and node_exporter's usual textfile directory.
const SANDBOX_AND_METRICS: &str = "[sandbox]\nimages = [\"localhost/kubernetes/pause:latest\"]\n\
    archive = \"/etc/eks/pause.tar\"\nnamespace = \"k8s.io\"\n\
    [metrics]\ntextfile_dir = \"/var/lib/node_exporter/textfile_collector\"\n";

/// The data disk most scenarios use: blank, virtio, serial data0.
fn data0() -> DiskSpec {
    DiskSpec::virtio("data0", Make::Blank("4G"))
}

/// The data disk holds a filesystem with files that datavol did not make (of another
/// type than configured, or of the same type without adopt_existing): refused, untouched.
fn foreign(
    name: &'static str,
    about: &'static str,
    fstype: &'static str,
    fixture: super::scenario::Fixture,
) -> Scenario {
    Scenario {
        name,
        about,
        disks: vec![DiskSpec::virtio("data0", Make::Fixture(fixture))],
        boots: vec![Boot {
            env: vec![("FSTYPE", fstype.into())],
            host: vec![Host::Check(host::foreign_untouched)],
            ..Boot::eks("boot", "foreign-disk")
        }],
        ..Scenario::default()
    }
}

/// No data disk at all; `required` decides whether containerd may start without it.
fn missing_disk(name: &'static str, about: &'static str, required: bool) -> Scenario {
    Scenario {
        name,
        about,
        boots: vec![Boot {
            datavol: Some(containerd(5, required)),
            ..Boot::new("boot", name)
        }],
        ..Scenario::default()
    }
}

/// datavol aborts at `point` on boot 1 (a process crash; the machine stays up), then a
/// normal boot 2 must complete the migration.
fn crash(name: &'static str, point: &'static str, about: &'static str) -> Scenario {
    Scenario {
        name,
        about,
        disks: vec![data0()],
        boots: vec![
            Boot {
                failpoints: Some(format!("{point}=return")),
                env: vec![("FAILPOINT", point.into())],
                ..Boot::eks("boot1", "crash-1")
            },
            Boot {
                host: vec![Host::Migrated],
                ..Boot::new("boot2", "crash-2")
            },
        ],
        ..Scenario::default()
    }
}

/// The data disk's writes are throttled (over QMP) as soon as the console shows datavol's
/// mkfs-done failpoint (which sleeps 8 s to leave time for it), so the copy takes minutes.
fn slow_source() -> Scenario {
    Scenario {
        name: "slow-source",
        about: "writes to the data disk throttled: a copy of minutes, not killed, progress logged",
        disks: vec![data0()],
        timeout: Duration::from_secs(600),
        boots: vec![Boot {
            failpoints: Some("mkfs-done=sleep(8000)".into()),
            files: vec![
                // With 1 GiB of RAM and the default dirty limits, the whole 35 MiB copy
                // lands in the page cache at once and all the waiting happens in the final
                // sync. Small limits keep the ratio of a real node (GiBs of data, dirty
                // limits of a few seconds of disk time), so the copy itself is slow and
                // has progress to report.
                GuestFile::text(
                    "/etc/sysctl.d/99-vmtest-slow.conf",
                    "vm.dirty_bytes = 4194304\nvm.dirty_background_bytes = 2097152\n",
                    0o644,
                ),
                // A short default start timeout, so a copy of under a minute proves that
                // datavol's own TimeoutStartSec= (not the default) applies.
                GuestFile::text(
                    "/etc/systemd/system.conf.d/vmtest-timeout.conf",
                    "[Manager]\nDefaultTimeoutStartSec=20s\n",
                    0o644,
                ),
            ],
            throttle: Some(Throttle {
                when: "failpoint mkfs-done",
                disk: 0,
                bytes_per_sec: 700_000,
            }),
            host: vec![
                Host::Note("progress.lines", "boot: {} progress lines"),
                Host::Migrated,
            ],
            ..Boot::eks("boot", "slow-source")
        }],
        ..Scenario::default()
    }
}

/// Two blank NVMe disks striped by datavol (raid = "raid0") into one xfs serving
/// /var/lib/containerd and /var/lib/kubelet through bind mounts; then a second boot
/// on the same disks (the array must come back).
fn raid0_multi_dir() -> Scenario {
    let config = "[volume.data]\n\
        device = [\"/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_inst0\", \"/dev/disk/by-id/nvme-QEMU_NVMe_Ctrl_inst1\"]\n\
        raid = \"raid0\"\nfilesystem = \"xfs\"\n\
        directories = [\"/var/lib/containerd\", \"/var/lib/kubelet\"]\n\
        options = [\"noatime\"]\ndevice_timeout = 30\nrequired = true\n";
    Scenario {
        name: "raid0-multi-dir",
        about: "two NVMe disks in RAID0 holding several directories",
        disks: vec![
            DiskSpec::nvme("inst0", Make::Blank("2G")),
            DiskSpec::nvme("inst1", Make::Blank("2G")),
        ],
        token: Some("kubelet"),
        boots: vec![
            Boot {
                datavol: Some(config.into()),
                // kubelet's directory has content before the first boot, as on a node image.
                files: vec![
                    GuestFile::text("/var/lib/kubelet/pki/token", "{TOKEN}\n", 0o600),
                    GuestFile::text(
                        "/var/lib/kubelet/config.yaml",
                        "kind: KubeletConfiguration\n",
                        0o644,
                    ),
                ],
                ..Boot::new("boot1", "raid0-1")
            },
            Boot {
                host: vec![Host::Check(host::raid_members)],
                ..Boot::new("boot2", "raid0-2")
            },
        ],
        expect_kept: vec![("data.uuid", "array filesystem UUID")],
        ..Scenario::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::image::recipe_dir;

    /// A name in ON_CONTAINERD2 that the table lacks would drop its variant silently.
    #[test]
    fn every_containerd2_variant_exists() {
        let all = all();
        for n in ON_CONTAINERD2 {
            let v = all.iter().find(|s| s.name == format!("{n}-ctrd2"));
            assert!(v.is_some_and(|s| s.containerd == Containerd::V2), "{n}");
        }
    }

    /// What the runner would only find out in a VM: a missing checker, a duplicate name
    /// or label, a remake or a migration check without its disk.
    #[test]
    fn every_entry_is_complete() {
        let all = all();
        for (i, s) in all.iter().enumerate() {
            assert!(
                all[..i].iter().all(|o| o.name != s.name),
                "{} twice",
                s.name
            );
            assert!(!s.boots.is_empty(), "{}: no boot", s.name);
            for (j, b) in s.boots.iter().enumerate() {
                let script = recipe_dir().join(format!("payload/checks/{}.sh", b.check));
                assert!(script.is_file(), "{}: no {}", s.name, script.display());
                assert!(
                    s.boots[..j].iter().all(|o| o.label != b.label),
                    "{}: label {} twice",
                    s.name,
                    b.label
                );
                for serial in b.remake.iter().chain(&b.absent) {
                    assert!(s.disks.iter().any(|d| d.serial == *serial), "{}", s.name);
                }
                if b.host.iter().any(|h| matches!(h, Host::Migrated)) {
                    assert!(s.disks.iter().any(|d| d.serial == "data0"), "{}", s.name);
                }
            }
        }
    }
}
