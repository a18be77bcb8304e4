//! What an attachment's first bytes betray of its type, for the types filters most often care about.

pub fn sniff(bytes: &[u8]) -> &'static str {
    match bytes {
        [b'M', b'Z', ..] => "application/x-msdownload",
        [0x7f, b'E', b'L', b'F', ..] => "application/x-executable",
        [b'P', b'K', 3, 4, ..] => "application/zip",
        [b'%', b'P', b'D', b'F', ..] => "application/pdf",
        [0xd0, 0xcf, 0x11, 0xe0, ..] => "application/x-ole-storage",
        [0x89, b'P', b'N', b'G', ..] => "image/png",
        [0xff, 0xd8, 0xff, ..] => "image/jpeg",
        [b'G', b'I', b'F', b'8', ..] => "image/gif",
        [b'R', b'a', b'r', b'!', ..] => "application/x-rar-compressed",
        _ if bytes.iter().take(512).all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) => "text/plain",
        _ => "application/octet-stream",
    }
}
