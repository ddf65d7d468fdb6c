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
    /// Set once copy_file_range failed with "unsupported": use read/write.
    pub no_cfr: AtomicBool,
}

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
