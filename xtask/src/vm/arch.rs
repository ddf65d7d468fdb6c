//! The guest's architecture: everything the rig does differently for an arm64
//! (Graviton-like) guest, in one place. x86_64 is the default and the only one
//! the default suite boots; `vm-test --arch aarch64` selects the other, which
//! runs under `qemu-system-aarch64 -M virt` with TCG on this x86_64 host.

/// qemu-efi-aarch64's firmware image.
pub const AAVMF: &str = "/usr/share/AAVMF/AAVMF_CODE.fd";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Arch {
    #[default]
    X86_64,
    Aarch64,
}

impl Arch {
    /// `--arch NAME` (the RPM's arch name, or Debian's for arm64).
    pub fn parse(s: &str) -> Result<Arch, String> {
        match s {
            "x86_64" | "amd64" => Ok(Arch::X86_64),
            "aarch64" | "arm64" => Ok(Arch::Aarch64),
            other => Err(format!("unknown --arch {other:?} (x86_64 or aarch64)")),
        }
    }

    /// The RPM's (and Rust's) name of the architecture.
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }

    pub fn qemu(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Aarch64 => "qemu-system-aarch64",
        }
    }

    /// Machine type arguments before the common ones (x86_64: qemu's default pc).
    pub fn machine_args(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &[],
            Arch::Aarch64 => &["-machine", "virt"],
        }
    }

    /// Firmware for `-bios`. The arm64 guest boots -kernel through UEFI (AAVMF), which
    /// is what publishes qemu's SMBIOS tables: without it the guest has no
    /// /sys/class/dmi/id/product_uuid, and datavol trusts no record on a reboot.
    pub fn firmware(self) -> Option<&'static str> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some(AAVMF),
        }
    }

    /// The serial console's device in the guest.
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS0",
            Arch::Aarch64 => "ttyAMA0",
        }
    }

    /// Whether KVM could run this guest here at all (never an arm64 guest on x86_64).
    pub fn may_use_kvm(self) -> bool {
        self.name() == std::env::consts::ARCH
    }

    /// The image cache directories' prefix: `image-KEY` for x86_64, as it always was.
    pub fn image_prefix(self) -> &'static str {
        match self {
            Arch::X86_64 => "image-",
            Arch::Aarch64 => "image-aarch64-",
        }
    }

    /// The wrapper (relative to xtask/vm) that runs the generic image scripts for this
    /// arch, if any; it is part of this arch's image recipe only.
    pub fn recipe_wrapper(self) -> Option<&'static str> {
        match self {
            Arch::X86_64 => None,
            Arch::Aarch64 => Some("arch/arm64.sh"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names() {
        assert_eq!(Arch::parse("arm64"), Ok(Arch::Aarch64));
        assert_eq!(Arch::parse("aarch64"), Ok(Arch::Aarch64));
        assert_eq!(Arch::parse("x86_64"), Ok(Arch::X86_64));
        assert!(Arch::parse("riscv64").is_err());
    }
}
