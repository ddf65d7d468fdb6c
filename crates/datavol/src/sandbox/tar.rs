//! Just enough of tar to find an image archive's `index.json` and
//! `manifest.json` without unpacking anything: 512-byte headers (v7, ustar,
//! GNU), pax and GNU long names, read the way Go's archive/tar reads them
//! for `ctr images import`, so both see the same entries. What it cannot
//! read that way (a bad checksum, a sparse entry, a base-256 size) is an
//! error, never a guess.

use std::io::Read;

const BLOCK: usize = 512;
/// A larger index or manifest list is not a sandbox image's.
pub const MAX_JSON: u64 = 1 << 20;
/// pax and GNU long-name records.
const MAX_META: u64 = 64 << 10;

#[derive(Debug, thiserror::Error)]
pub enum TarError {
    #[error("is not a tar archive datavol can read: {0}")]
    Bad(String),
    #[error("cannot be read: {0}")]
    Io(#[from] std::io::Error),
}

fn bad(what: impl Into<String>) -> TarError {
    TarError::Bad(what.into())
}

/// A NUL-terminated header field.
fn field(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(b)
}

/// An octal number field, as Go parses it (spaces and NULs trimmed).
fn octal(b: &[u8]) -> Result<u64, TarError> {
    if b.first().is_some_and(|c| c & 0x80 != 0) {
        return Err(bad("a base-256 number field (an entry over 8 GiB)"));
    }
    let s = String::from_utf8_lossy(b);
    let s = s.trim_matches(|c| c == ' ' || c == '\0');
    if s.is_empty() {
        return Ok(0);
    }
    u64::from_str_radix(s, 8).map_err(|_| bad(format!("a number field {s:?} that is not octal")))
}

fn checksum_ok(h: &[u8; BLOCK]) -> Result<bool, TarError> {
    let want = octal(&h[148..156])?;
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, &b) in h.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    Ok(want == unsigned || i64::try_from(want).is_ok_and(|w| w == signed))
}

/// The entry's name from its header: ustar (and star) keep a prefix.
fn header_name(h: &[u8; BLOCK]) -> String {
    let name = field(&h[0..100]);
    let prefix = match (&h[257..263], &h[508..512]) {
        (b"ustar\0", b"tar\0") => field(&h[345..476]),
        (b"ustar\0", _) => field(&h[345..500]),
        _ => &[],
    };
    let name = String::from_utf8_lossy(name);
    if prefix.is_empty() {
        name.into_owned()
    } else {
        format!("{}/{name}", String::from_utf8_lossy(prefix))
    }
}

/// Go's path.Clean, for comparing names as the importer does.
pub fn clean(name: &str) -> String {
    let rooted = name.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in name.split('/') {
        match p {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// What a pax extended header sets for the next entry.
#[derive(Default)]
struct Pax {
    path: Option<String>,
    size: Option<u64>,
}

fn parse_pax(data: &[u8]) -> Result<Pax, TarError> {
    let mut pax = Pax::default();
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest
            .iter()
            .position(|&c| c == b' ')
            .ok_or_else(|| bad("a malformed pax record"))?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|l| l.parse().ok())
            .filter(|&l| l > sp + 1 && l <= rest.len())
            .ok_or_else(|| bad("a malformed pax record length"))?;
        let rec = rest[sp + 1..len]
            .strip_suffix(b"\n")
            .ok_or_else(|| bad("a pax record without its newline"))?;
        let eq = rec
            .iter()
            .position(|&c| c == b'=')
            .ok_or_else(|| bad("a pax record without `=`"))?;
        let (key, value) = (&rec[..eq], &rec[eq + 1..]);
        match key {
            b"path" => pax.path = Some(String::from_utf8_lossy(value).into_owned()),
            b"size" => {
                let v = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
                pax.size = Some(v.ok_or_else(|| bad("a pax size that is not a number"))?);
            }
            k if k.starts_with(b"GNU.sparse.") => return Err(bad("a sparse entry")),
            _ => {}
        }
        rest = &rest[len..];
    }
    Ok(pax)
}

/// Reads a whole block; false at a clean end of input.
fn read_block<R: Read>(r: &mut R, b: &mut [u8; BLOCK]) -> Result<bool, TarError> {
    let mut got = 0;
    while got < BLOCK {
        match r.read(&mut b[got..])? {
            0 if got == 0 => return Ok(false),
            0 => return Err(bad("it ends in the middle of a header")),
            n => got += n,
        }
    }
    Ok(true)
}

/// Reads `size` bytes of data (up to `max`, else an error naming `what`),
/// then the padding to the next block.
fn read_data<R: Read>(r: &mut R, size: u64, max: u64, what: &str) -> Result<Vec<u8>, TarError> {
    if size > max {
        return Err(bad(format!(
            "{what} is {size} bytes, over the {max} a sandbox archive needs"
        )));
    }
    let mut data = Vec::new();
    r.take(size).read_to_end(&mut data)?;
    if (data.len() as u64) < size {
        return Err(bad("it ends in the middle of an entry"));
    }
    skip(r, pad(size))?;
    Ok(data)
}

fn pad(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

fn skip<R: Read>(r: &mut R, n: u64) -> Result<(), TarError> {
    let skipped = std::io::copy(&mut r.take(n), &mut std::io::sink())?;
    if skipped < n {
        return Err(bad("it ends in the middle of an entry"));
    }
    Ok(())
}

/// Each regular entry whose cleaned name is one of `wanted`, with its
/// content, in archive order (a name may come twice).
pub fn find<R: Read>(r: &mut R, wanted: &[&str]) -> Result<Vec<(String, Vec<u8>)>, TarError> {
    let mut found = Vec::new();
    let (mut pax, mut long_name) = (Pax::default(), None::<String>);
    let mut h = [0u8; BLOCK];
    while read_block(r, &mut h)? {
        if h.iter().all(|&b| b == 0) {
            return Ok(found);
        }
        if !checksum_ok(&h)? {
            return Err(bad("a header with a wrong checksum (is it compressed?)"));
        }
        let flag = h[156];
        let size = match pax.size {
            Some(s) if !matches!(flag, b'x' | b'g' | b'L' | b'K') => s,
            _ => octal(&h[124..136])?,
        };
        match flag {
            b'x' => {
                pax = parse_pax(&read_data(r, size, MAX_META, "a pax header")?)?;
                continue;
            }
            b'L' => {
                let d = read_data(r, size, MAX_META, "a long name")?;
                long_name = Some(String::from_utf8_lossy(field(&d)).into_owned());
                continue;
            }
            b'g' | b'K' => {
                skip(r, size + pad(size))?;
                continue;
            }
            b'S' => return Err(bad("a GNU sparse entry")),
            _ => {}
        }
        let name = long_name
            .take()
            .or(pax.path.take())
            .unwrap_or_else(|| header_name(&h));
        pax = Pax::default();
        // Go reads no data for these, whatever the size field says.
        let size = if matches!(flag, b'1'..=b'6') { 0 } else { size };
        let regular = flag == b'0' || (flag == 0 && !name.ends_with('/'));
        let cleaned = clean(&name);
        if regular && wanted.contains(&cleaned.as_str()) {
            found.push((cleaned.clone(), read_data(r, size, MAX_JSON, &cleaned)?));
        } else {
            skip(r, size + pad(size))?;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One ustar header and its padded data; `flag` as in tar.
    fn entry(name: &str, flag: u8, data: &[u8]) -> Vec<u8> {
        let mut h = [0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = flag;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let mut v = h.to_vec();
        v.extend_from_slice(data);
        v.resize(v.len() + pad(data.len() as u64) as usize, 0);
        v
    }

    fn end() -> Vec<u8> {
        vec![0; 2 * BLOCK]
    }

    const WANT: &[&str] = &["index.json", "manifest.json"];

    #[test]
    fn finds_the_named_entries() {
        let mut t = entry("./", b'5', b"");
        t.extend(entry("./blobs/sha256/aa", b'0', &[7; 700]));
        t.extend(entry("./index.json", b'0', b"{}"));
        t.extend(entry("manifest.json", 0, b"[]"));
        t.extend(end());
        let got = find(&mut t.as_slice(), WANT).unwrap();
        assert_eq!(
            got,
            [
                ("index.json".to_string(), b"{}".to_vec()),
                ("manifest.json".to_string(), b"[]".to_vec())
            ]
        );
    }

    #[test]
    fn names_come_from_pax_and_gnu_long_names() {
        let mut t = entry("PaxHeaders/x", b'x', b"19 path=index.json\n");
        t.extend(entry("innocent", b'0', b"{\"a\":1}"));
        t.extend(entry("././@LongLink", b'L', b"manifest.json\0"));
        t.extend(entry("other", b'0', b"[1]"));
        // A symlink's size field carries no data in Go's reader.
        let mut link = entry("x", b'2', b"");
        link[124..136].copy_from_slice(b"00000001000\0");
        link[148..156].copy_from_slice(b"        ");
        let sum: u32 = link[..BLOCK].iter().map(|&b| u32::from(b)).sum();
        link[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        t.extend(link);
        t.extend(entry("a/../index.json", b'0', b"{}"));
        t.extend(end());
        let got = find(&mut t.as_slice(), WANT).unwrap();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["index.json", "manifest.json", "index.json"]);
    }

    #[test]
    fn what_go_would_read_otherwise_is_refused() {
        let mut t = entry("index.json", b'0', b"{}");
        t[0] = b'j';
        assert!(find(&mut t.as_slice(), WANT).is_err(), "bad checksum");
        let t = entry("x", b'S', b"");
        assert!(find(&mut t.as_slice(), WANT).is_err(), "sparse");
        let t = entry("index.json", b'0', &vec![b' '; MAX_JSON as usize + 1]);
        assert!(find(&mut t.as_slice(), WANT).is_err(), "too big");
        let t = entry("index.json", b'0', b"{}");
        assert!(find(&mut &t[..600], WANT).is_err(), "truncated");
        assert!(find(&mut &b"\x1f\x8b\x08rest"[..], WANT).is_err(), "gzip");
        // A directory is not the index, whatever it is called.
        let t = entry("index.json/", 0, b"");
        assert!(find(&mut t.as_slice(), WANT).unwrap().is_empty());
    }

    #[test]
    fn cleans_like_go() {
        for (a, b) in [
            ("./index.json", "index.json"),
            ("a//b/../index.json", "a/index.json"),
            ("/index.json", "/index.json"),
            ("../index.json", "../index.json"),
            ("", "."),
        ] {
            assert_eq!(clean(a), b, "{a}");
        }
    }
}
