//! The sandbox-image guard: each `[sandbox]` image must be in containerd's
//! store, with all of its content, and pinned (`io.cri-containerd.pinned=pinned`,
//! which keeps kubelet's image garbage collection off it). kubelet cannot
//! pull the EKS pause image, so a node without it never becomes Ready.
//!
//! What is found decides, per image: nothing to do, pin it, or import the
//! archive (once for all images that need it) and pin what it brought.
//!
//! The pin is the label on containerd 1.6/1.7 and 2.x alike: CRI reports an
//! image pinned from it. containerd 2 also re-adds it by itself to the name its
//! `pinned_images` config names, whenever that image changes (seen in the VM
//! rig), so there pinning that name again is a no-op; any other name, and
//! every name on 1.6/1.7, is pinned only by the label set here.

pub mod archive;
pub mod ctr;
mod tar;

use crate::config::Sandbox;
use crate::record::runs::ImageState;
use ctr::{Ctr, CtrError};

pub const PINNED: &str = "io.cri-containerd.pinned=pinned";

/// What containerd's store holds of one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// It has an image record.
    pub listed: bool,
    /// `ctr images check` finds all of its content.
    pub complete: bool,
    pub pinned: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    Nothing,
    Pin,
    /// Import the archive (which brings record and content), then pin.
    Import,
}

pub fn need(f: Found) -> Need {
    if !f.listed || !f.complete {
        Need::Import
    } else if !f.pinned {
        Need::Pin
    } else {
        Need::Nothing
    }
}

/// One image's verdict: its state and the sentence that says what happened
/// (with a hint when it is missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub image: String,
    pub state: ImageState,
    pub message: String,
}

fn look(c: &Ctr, image: &str) -> Result<Found, CtrError> {
    let filter = ctr::name_filter(image);
    let list = c.run(&["images", "ls", &filter])?;
    let Some(pinned) = ctr::listed_with(&list, image, PINNED) else {
        return Ok(Found {
            listed: false,
            complete: false,
            pinned: false,
        });
    };
    let check = c.run(&["images", "check", &filter])?;
    Ok(Found {
        listed: true,
        complete: ctr::complete(&check, image),
        pinned,
    })
}

fn pin(c: &Ctr, image: &str) -> Result<(), String> {
    let out = c
        .run(&["images", "label", image, PINNED])
        .map_err(|e| e.to_string())?;
    if out.trim().split(',').any(|l| l == PINNED) {
        Ok(())
    } else {
        Err(format!("`ctr images label` answered {:?}, without {PINNED}; hint: label it by hand and check with `ctr images ls`", out.trim()))
    }
}

/// Imports the archive; its output on success.
fn import(sb: &Sandbox, c: &Ctr) -> Result<String, String> {
    let Some(archive) = &sb.archive else {
        return Err("no [sandbox] archive is configured to restore it from; hint: set archive to an image archive that holds it (EKS AL2023 AMIs ship /etc/eks/pause.tar)".into());
    };
    let file = archive::open(archive, &sb.images, &sb.namespace)?;
    c.run_with_input(&["images", "import", "-"], file)
        .map_err(|e| e.to_string())
}

/// Checks every image and restores what it can; never fails as a whole:
/// each image says what became of it.
pub fn check(sb: &Sandbox) -> Vec<Verdict> {
    let c = Ctr::new(&sb.namespace, sb.timeout);
    if let Err(e) = c.wait_ready() {
        let why = match e {
            CtrError::Spawn { .. } => e.to_string(),
            _ => format!("containerd did not answer: {e}"),
        };
        return sb.images.iter().map(|i| missing(sb, i, &why)).collect();
    }
    let found: Vec<Result<Found, CtrError>> = sb.images.iter().map(|i| look(&c, i)).collect();
    let wants_import = found
        .iter()
        .any(|f| f.as_ref().is_ok_and(|f| need(*f) == Need::Import));
    let imported = wants_import.then(|| import(sb, &c));
    sb.images
        .iter()
        .zip(found)
        .map(|(image, f)| match f {
            Err(e) => missing(sb, image, &format!("cannot look it up: {e}")),
            Ok(f) => settle(sb, &c, image, f, imported.as_ref()),
        })
        .collect()
}

/// Carries out what `found` needs for one image.
fn settle(
    sb: &Sandbox,
    c: &Ctr,
    image: &str,
    found: Found,
    imported: Option<&Result<String, String>>,
) -> Verdict {
    let ns = &sb.namespace;
    let verdict = |state, message| Verdict {
        image: image.to_string(),
        state,
        message,
    };
    match need(found) {
        Need::Nothing => verdict(
            ImageState::Present,
            format!("sandbox image {image} is present in namespace {ns}, complete and pinned"),
        ),
        Need::Pin => match pin(c, image) {
            Ok(()) => verdict(
                ImageState::Repinned,
                format!("sandbox image {image} in namespace {ns} had lost its pin ({PINNED}), so image garbage collection could have removed it; pinned it again"),
            ),
            Err(e) => missing(sb, image, &format!("it is not pinned, and pinning it failed: {e}")),
        },
        Need::Import => restore(sb, c, image, found, imported),
    }
}

fn restore(
    sb: &Sandbox,
    c: &Ctr,
    image: &str,
    found: Found,
    imported: Option<&Result<String, String>>,
) -> Verdict {
    let was = if found.listed {
        "was incomplete (content missing) in"
    } else {
        "was missing from"
    };
    let out = match imported {
        Some(Ok(out)) => out,
        Some(Err(e)) => {
            return missing(
                sb,
                image,
                &format!("it {was} the store and could not be imported: {e}"),
            )
        }
        None => {
            return missing(
                sb,
                image,
                "no import was attempted; hint: report this as a bug",
            )
        }
    };
    let archive = sb
        .archive
        .as_ref()
        .map(|a| a.display().to_string())
        .unwrap_or_default();
    match look(c, image) {
        Ok(f) if f.listed && f.complete => {}
        Ok(_) => {
            let held = ctr::imported_names(out);
            return missing(sb, image, &format!(
                "it {was} the store, and {archive} does not hold it (the import brought: {}); hint: the archive must hold this exact reference; re-create it with `ctr -n {} images export {archive} {image}` on a node that has it",
                if held.is_empty() { "nothing it named".to_string() } else { held.join(", ") },
                sb.namespace
            ));
        }
        Err(e) => {
            return missing(
                sb,
                image,
                &format!("it was imported, but cannot be looked up: {e}"),
            )
        }
    }
    match pin(c, image) {
        Ok(()) => Verdict {
            image: image.to_string(),
            state: ImageState::Restored,
            message: format!(
                "sandbox image {image} {was} containerd's store (namespace {}); imported it from {archive} and pinned it",
                sb.namespace
            ),
        },
        Err(e) => missing(sb, image, &format!("it was imported from {archive}, but pinning it failed: {e}")),
    }
}

fn missing(sb: &Sandbox, image: &str, why: &str) -> Verdict {
    let hint = if why.contains("hint:") {
        String::new()
    } else {
        "; hint: check containerd (systemctl status containerd) and the [sandbox] settings".into()
    };
    Verdict {
        image: image.to_string(),
        state: ImageState::Missing,
        message: format!(
            "sandbox image {image} is not usable in containerd's store (namespace {}) and was not restored: {why}{hint}",
            sb.namespace
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_finding_needs() {
        let f = |listed, complete, pinned| Found {
            listed,
            complete,
            pinned,
        };
        assert_eq!(need(f(true, true, true)), Need::Nothing);
        assert_eq!(need(f(true, true, false)), Need::Pin);
        // A record without its content cannot run a container: import again.
        assert_eq!(need(f(true, false, true)), Need::Import);
        assert_eq!(need(f(false, false, false)), Need::Import);
    }
}
