//! Zip archives, read from their central directory with limits checked before anything is inflated: member
//! count, declared expansion ratio, total expanded size (overlapping members count each time), and nesting
//! depth. A member that inflates past what its header declared is a bomb too. Stored and deflated members
//! are read; encrypted ones are reported, not guessed at.

/// Limits against archive bombs; exceeding one makes the archive unscannable (a verdict, not a crash).
#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Archives inside archives, counting the outermost as 1.
    pub depth: u32,
    /// Members of one archive.
    pub members: usize,
    /// Declared uncompressed size ÷ compressed size of one member.
    pub ratio: u64,
    /// Bytes inflated from one message's archives altogether.
    pub expanded_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { depth: 3, members: 1000, ratio: 200, expanded_bytes: 24 << 20 }
    }
}

/// One member, inflated.
pub struct Member {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Why an archive could not be scanned in full.
#[derive(Debug, Clone, PartialEq)]
pub enum Unscannable {
    /// A limit was exceeded: the archive is built to exhaust the scanner.
    Bomb(String),
    Encrypted(String),
    Corrupt(String),
}

/// Tracks the expansion budget of one message across all its archives.
pub struct Budget {
    pub left: u64,
}

pub fn is_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?)))
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?)))
}

/// The members of a zip archive, inflated within `limits` and `budget`.
pub fn members(zip: &[u8], limits: &Limits, budget: &mut Budget) -> Result<Vec<Member>, Unscannable> {
    let corrupt = |what: &str| Unscannable::Corrupt(what.to_owned());
    // The end-of-central-directory record is in the last 64 KiB + 22 bytes.
    let search_from = zip.len().saturating_sub(65_557);
    let eocd = (search_from..zip.len().saturating_sub(21))
        .rev()
        .find(|&i| zip[i..].starts_with(b"PK\x05\x06"))
        .ok_or_else(|| corrupt("no central directory"))?;
    let count = u16_at(zip, eocd + 10).ok_or_else(|| corrupt("truncated directory"))? as usize;
    let mut at = u32_at(zip, eocd + 16).ok_or_else(|| corrupt("truncated directory"))? as usize;
    if count == 0xffff || at == 0xffff_ffff {
        return Err(corrupt("zip64 archives are not supported"));
    }
    if count > limits.members {
        return Err(Unscannable::Bomb(format!("{count} members (limit {})", limits.members)));
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let entry = zip.get(at..at + 46).ok_or_else(|| corrupt("truncated directory entry"))?;
        if !entry.starts_with(b"PK\x01\x02") {
            return Err(corrupt("bad directory entry"));
        }
        let flags = u16_at(entry, 8).unwrap_or(0);
        let method = u16_at(entry, 10).unwrap_or(0);
        let compressed = u32_at(entry, 20).unwrap_or(0);
        let declared = u32_at(entry, 24).unwrap_or(0);
        let name_len = u16_at(entry, 28).unwrap_or(0) as usize;
        let extra_len = u16_at(entry, 30).unwrap_or(0) as usize;
        let comment_len = u16_at(entry, 32).unwrap_or(0) as usize;
        let local = u32_at(entry, 42).unwrap_or(0) as usize;
        let name = zip.get(at + 46..at + 46 + name_len).ok_or_else(|| corrupt("truncated member name"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if name.ends_with('/') {
            continue;
        }
        if flags & 1 != 0 {
            return Err(Unscannable::Encrypted(name));
        }
        if compressed == 0xffff_ffff || declared == 0xffff_ffff {
            return Err(corrupt("zip64 members are not supported"));
        }
        if declared > limits.ratio.saturating_mul(compressed.max(1)) {
            return Err(Unscannable::Bomb(format!("{name} expands {declared} bytes from {compressed}")));
        }
        if declared > budget.left {
            return Err(Unscannable::Bomb(format!("more than {} bytes expanded", limits.expanded_bytes)));
        }
        let header = zip.get(local..local + 30).ok_or_else(|| corrupt("member outside the archive"))?;
        if !header.starts_with(b"PK\x03\x04") {
            return Err(corrupt("bad member header"));
        }
        let data_at = local + 30 + u16_at(header, 26).unwrap_or(0) as usize + u16_at(header, 28).unwrap_or(0) as usize;
        let data = zip.get(data_at..data_at + compressed as usize).ok_or_else(|| corrupt("truncated member"))?;
        let bytes = match method {
            0 => data.to_vec(),
            8 => {
                // One byte more than declared: a member that inflates past its header is lying.
                let limit = declared as usize + 1;
                let inflated = miniz_oxide::inflate::decompress_to_vec_with_limit(data, limit)
                    .map_err(|_| Unscannable::Bomb(format!("{name} inflates past its declared {declared} bytes")))?;
                if inflated.len() as u64 > declared {
                    return Err(Unscannable::Bomb(format!("{name} inflates past its declared {declared} bytes")));
                }
                inflated
            }
            other => return Err(corrupt(&format!("{name}: compression method {other} is not supported"))),
        };
        budget.left -= bytes.len() as u64;
        out.push(Member { name, bytes });
    }
    Ok(out)
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A zip of stored or deflated members, for tests (local headers, central directory, end record).
    pub fn zip(members: &[(&str, &[u8], bool)]) -> Vec<u8> {
        let (mut out, mut directory) = (Vec::new(), Vec::new());
        for (name, content, deflate) in members {
            let data = if *deflate { miniz_oxide::deflate::compress_to_vec(content, 9) } else { content.to_vec() };
            let method: u16 = if *deflate { 8 } else { 0 };
            let offset = out.len() as u32;
            let fields = |out: &mut Vec<u8>| {
                out.extend_from_slice(&method.to_le_bytes());
                out.extend_from_slice(&[0; 4]); // time, date
                out.extend_from_slice(&[0; 4]); // crc (not checked by the scanner)
                out.extend_from_slice(&(data.len() as u32).to_le_bytes());
                out.extend_from_slice(&(content.len() as u32).to_le_bytes());
                out.extend_from_slice(&(name.len() as u16).to_le_bytes());
                out.extend_from_slice(&0u16.to_le_bytes());
            };
            out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00");
            fields(&mut out);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&data);
            directory.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00");
            fields(&mut directory);
            directory.extend_from_slice(&[0; 10]); // comment length, disk, internal and external attributes
            directory.extend_from_slice(&offset.to_le_bytes());
            directory.extend_from_slice(name.as_bytes());
        }
        let directory_at = out.len() as u32;
        out.extend_from_slice(&directory);
        out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(members.len() as u16).to_le_bytes());
        out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
        out.extend_from_slice(&directory_at.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out
    }

    fn budget() -> Budget {
        Budget { left: Limits::default().expanded_bytes }
    }

    #[test]
    fn stored_and_deflated_members_are_read() {
        let archive = zip(&[("a.txt", b"hello", false), ("dir/b.txt", &[b'x'; 1000], true)]);
        let read = members(&archive, &Limits::default(), &mut budget()).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!((read[0].name.as_str(), read[0].bytes.as_slice()), ("a.txt", b"hello".as_slice()));
        assert_eq!(read[1].bytes, vec![b'x'; 1000]);
    }

    #[test]
    fn a_bomb_is_refused_before_it_is_inflated() {
        let zeros = vec![0u8; 20 << 20];
        let archive = zip(&[("zeros.bin", &zeros, true)]);
        assert!(archive.len() < 100_000, "{}", archive.len());
        match members(&archive, &Limits::default(), &mut budget()) {
            Err(Unscannable::Bomb(why)) => assert!(why.contains("expands"), "{why}"),
            other => panic!("{:?}", other.map(|m| m.len())),
        }
        let many: Vec<(String, &[u8], bool)> = (0..1001).map(|i| (format!("{i}"), b"x".as_slice(), false)).collect();
        let refs: Vec<(&str, &[u8], bool)> = many.iter().map(|(n, b, d)| (n.as_str(), *b, *d)).collect();
        assert!(matches!(members(&zip(&refs), &Limits::default(), &mut budget()), Err(Unscannable::Bomb(_))));
    }

    #[test]
    fn the_budget_spans_archives_and_corrupt_input_is_said() {
        let archive = zip(&[("a", &[1u8; 4000], true)]);
        let mut small = Budget { left: 6000 };
        assert!(members(&archive, &Limits::default(), &mut small).is_ok());
        assert!(matches!(members(&archive, &Limits::default(), &mut small), Err(Unscannable::Bomb(_))));
        assert!(matches!(
            members(b"PK\x03\x04garbage", &Limits::default(), &mut budget()),
            Err(Unscannable::Corrupt(_))
        ));
    }
}
