//! survey: one walk that sizes the tree and proves it has no submounts.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::path::Path;

use crate::sys::{self, Stat};
use crate::walk::{self, Ctx, Descend, Visitor};
use crate::{CopyError, TreeUsage};

struct SurveyVisitor {
    usage: TreeUsage,
    /// Hardlinked inodes seen, with links still expected.
    links: HashMap<(u64, u64), u64>,
}

impl Visitor for SurveyVisitor {
    fn entry(&mut self, _cx: &Ctx, _name: &CStr, st: &Stat) -> Result<Descend, CopyError> {
        self.usage.entries += 1;
        let ft = sys::file_type(st);
        let mut count = true;
        if ft != libc::S_IFDIR && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            match self.links.get_mut(&key) {
                Some(rem) => {
                    count = false;
                    *rem = rem.saturating_sub(1);
                    if *rem == 0 {
                        self.links.remove(&key);
                    }
                }
                None => {
                    self.links.insert(key, crate::sys::nlink(st) - 1);
                }
            }
        }
        if count {
            self.usage.allocated_bytes += (st.st_blocks.max(0) as u64) * 512;
            if ft == libc::S_IFREG {
                self.usage.files += 1;
                self.usage.apparent_bytes += st.st_size.max(0) as u64;
            }
        }
        if ft == libc::S_IFDIR {
            return Ok(Descend::Yes(None));
        }
        Ok(Descend::No)
    }

    fn leave(&mut self, _cx: &Ctx, _st: &Stat) -> Result<(), CopyError> {
        Ok(())
    }
}

pub(crate) fn survey(src: &Path) -> Result<TreeUsage, CopyError> {
    crate::mounts::check_no_submounts(src)?;
    let fd = sys::open_dir_path(src).map_err(|source: io::Error| CopyError::Io {
        path: src.into(),
        op: "open directory",
        source,
    })?;
    let mut v = SurveyVisitor {
        usage: TreeUsage::default(),
        links: HashMap::new(),
    };
    walk::walk(src, fd, None, &mut v)?;
    Ok(v.usage)
}
