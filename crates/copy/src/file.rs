//! Regular file data: holes preserved with SEEK_DATA/SEEK_HOLE, each data
//! segment copied with copy_file_range, falling back to pread/pwrite where
//! the kernel or filesystem pair does not support it.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::sys::{self, Stat};

/// Bytes per copy_file_range call (keeps progress moving on big files).
const CFR_CHUNK: usize = 64 << 20;
/// Read/write fallback buffer.
pub(crate) const BUF_SIZE: usize = 1 << 20;

/// Per-copy state shared by the workers.
#[derive(Default)]
pub(crate) struct DataCtx {
    /// Set once copy_file_range failed with "unsupported" (e.g. EXDEV
    /// between two filesystems): go straight to sendfile.
    pub no_cfr: AtomicBool,
    /// Set once sendfile failed with "unsupported": use read/write.
    pub no_sendfile: AtomicBool,
}

/// Files at least this big get sequential read-ahead advice.
const SEQ_ADVICE: i64 = 1 << 20;

/// Copies the data of `src` into the empty file `dst`. `on_bytes` is told
/// about progress. Returns the bytes of data actually transferred.
pub(crate) fn copy_data(
    src: RawFd,
    dst: RawFd,
    st: &Stat,
    ctx: &DataCtx,
    buf: &mut Vec<u8>,
    on_bytes: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let size = st.st_size;
    if size <= 0 {
        return Ok(0);
    }
    let sparse = st.st_blocks.saturating_mul(512) < size;
    if size >= SEQ_ADVICE {
        sys::fadvise_sequential(src);
    }
    let mut copied = 0u64;
    if !sparse {
        let end = copy_range(src, dst, 0, size, ctx, buf, on_bytes)?;
        copied += end as u64;
        if end != size {
            sys::ftruncate(dst, size)?;
        }
        return Ok(copied);
    }
    let mut off = 0i64;
    while off < size {
        let Some(data) = sys::lseek(src, off, libc::SEEK_DATA)? else {
            break;
        };
        if data >= size {
            break;
        }
        let hole = sys::lseek(src, data, libc::SEEK_HOLE)?
            .unwrap_or(size)
            .min(size);
        let end = copy_range(src, dst, data, hole, ctx, buf, on_bytes)?;
        copied += (end - data) as u64;
        if end < hole {
            // Source shrank under us; the final truncate fixes the size.
            break;
        }
        off = hole;
    }
    sys::ftruncate(dst, size)?;
    Ok(copied)
}

fn cfr_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV | libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// Copies [start, end) at the same offsets; returns the offset reached
/// (less than `end` only if the source hit EOF early).
fn copy_range(
    src: RawFd,
    dst: RawFd,
    start: i64,
    end: i64,
    ctx: &DataCtx,
    buf: &mut Vec<u8>,
    on_bytes: &mut dyn FnMut(u64),
) -> io::Result<i64> {
    let mut off = start;
    if !ctx.no_cfr.load(Ordering::Relaxed) {
        while off < end {
            let len = ((end - off) as u64).min(CFR_CHUNK as u64) as usize;
            let (mut oi, mut oo) = (off, off);
            match sys::copy_file_range(src, &mut oi, dst, &mut oo, len) {
                Ok(0) => return Ok(off),
                Ok(n) => {
                    off += n as i64;
                    on_bytes(n as u64);
                }
                Err(e) if cfr_unsupported(&e) => {
                    log::debug!("copy_file_range unsupported here ({e}); using read/write");
                    ctx.no_cfr.store(true, Ordering::Relaxed);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if off >= end {
            return Ok(off);
        }
    }
    // In-kernel copy through the page cache: no round trip through our buffer.
    if !ctx.no_sendfile.load(Ordering::Relaxed) {
        sys::seek_set(dst, off)?;
        while off < end {
            let len = ((end - off) as u64).min(CFR_CHUNK as u64) as usize;
            let before = off;
            match sys::sendfile(dst, src, &mut off, len) {
                Ok(0) => return Ok(off),
                Ok(n) => {
                    off = before + n as i64;
                    on_bytes(n as u64);
                }
                Err(e) if cfr_unsupported(&e) => {
                    log::debug!("sendfile unsupported here ({e}); using read/write");
                    ctx.no_sendfile.store(true, Ordering::Relaxed);
                    off = before;
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if off >= end {
            return Ok(off);
        }
    }
    if buf.len() < BUF_SIZE {
        buf.resize(BUF_SIZE, 0);
    }
    while off < end {
        let len = ((end - off) as u64).min(buf.len() as u64) as usize;
        let n = sys::pread(src, &mut buf[..len], off)?;
        if n == 0 {
            return Ok(off);
        }
        sys::pwrite_all(dst, &buf[..n], off)?;
        off += n as i64;
        on_bytes(n as u64);
    }
    Ok(off)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{FileExt, MetadataExt};

    fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    /// Every copy method keeps data and holes.
    #[test]
    fn all_methods_keep_data_and_holes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src_path = dir.path().join("src");
        let src = std::fs::File::create(&src_path).expect("create");
        let a = noise(300_000, 1);
        let b = noise(70_000, 2);
        src.write_all_at(&a, 0).expect("write");
        src.write_all_at(&b, 64 << 20).expect("write");
        src.set_len(100 << 20).expect("len");
        drop(src);
        let dense_path = dir.path().join("dense");
        std::fs::write(&dense_path, noise(3 << 20, 3)).expect("write dense");
        for (i, (no_cfr, no_sendfile)) in [(false, false), (true, false), (true, true)]
            .into_iter()
            .enumerate()
        {
            for path in [&src_path, &dense_path] {
                let ctx = DataCtx::default();
                ctx.no_cfr.store(no_cfr, Ordering::Relaxed);
                ctx.no_sendfile.store(no_sendfile, Ordering::Relaxed);
                let s = std::fs::File::open(path).expect("open");
                let dst_path = dir.path().join(format!("dst{i}"));
                let d = std::fs::File::create(&dst_path).expect("create dst");
                let st = sys::fstat(s.as_raw_fd()).expect("fstat");
                let mut buf = Vec::new();
                let mut seen = 0u64;
                copy_data(
                    s.as_raw_fd(),
                    d.as_raw_fd(),
                    &st,
                    &ctx,
                    &mut buf,
                    &mut |n| seen += n,
                )
                .expect("copy");
                drop(d);
                let want = std::fs::read(path).expect("read src");
                let got = std::fs::read(&dst_path).expect("read dst");
                assert!(want == got, "content differs (method {i}, {path:?})");
                let md = std::fs::metadata(&dst_path).expect("stat");
                let smd = std::fs::metadata(path).expect("stat");
                assert!(
                    md.blocks() <= smd.blocks() + 2048,
                    "holes lost (method {i})"
                );
                assert!(seen <= smd.blocks() * 512 + (1 << 20));
                std::fs::remove_file(&dst_path).expect("rm");
            }
        }
    }
}
