//! The two icons Teams requires, checked from their PNG header alone: Teams
//! rejects an upload whose colour icon is not 192×192 or whose outline icon is
//! not a 32×32 PNG with transparency, and says so only after the upload.

/// What the IHDR chunk (and the presence of a tRNS chunk) says about a PNG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PngInfo {
    pub width: u32,
    pub height: u32,
    /// Greyscale+alpha or RGBA, or a tRNS chunk: the picture can be transparent.
    pub has_alpha: bool,
}

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// Reads the PNG header; `None` for anything that is not a well-formed PNG start.
pub fn png_info(bytes: &[u8]) -> Option<PngInfo> {
    let rest = bytes.strip_prefix(SIGNATURE)?;
    // The first chunk must be IHDR, 13 bytes long.
    let (length, rest) = split_u32(rest)?;
    let (kind, rest) = rest.split_at_checked(4)?;
    if length != 13 || kind != b"IHDR" {
        return None;
    }
    let (width, rest) = split_u32(rest)?;
    let (height, rest) = split_u32(rest)?;
    let (&[_bit_depth, colour_type, ..], _) = rest.split_at_checked(5)? else { return None };
    if width == 0 || height == 0 {
        return None;
    }
    let has_alpha = matches!(colour_type, 4 | 6) || has_trns_chunk(bytes);
    Some(PngInfo { width, height, has_alpha })
}

fn split_u32(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = bytes.split_at_checked(4)?;
    Some((u32::from_be_bytes(head.try_into().ok()?), rest))
}

/// Walks the chunks (length, type, data, CRC) looking for tRNS before IDAT.
fn has_trns_chunk(bytes: &[u8]) -> bool {
    let mut rest = &bytes[SIGNATURE.len()..];
    while let Some((length, after)) = split_u32(rest) {
        let Some((kind, after)) = after.split_at_checked(4) else { return false };
        match kind {
            b"tRNS" => return true,
            b"IDAT" | b"IEND" => return false,
            _ => {}
        }
        let Some(skip) = (length as usize).checked_add(4) else { return false };
        let Some((_, next)) = after.split_at_checked(skip) else { return false };
        rest = next;
    }
    false
}

/// Checks one icon against what Teams requires of it.
pub fn check(role: IconRole, name: &str, bytes: &[u8]) -> Result<(), String> {
    let Some(info) = png_info(bytes) else {
        return Err(format!("{name} ({}) is not a PNG", role.label()));
    };
    let (width, height) = role.size();
    if (info.width, info.height) != (width, height) {
        return Err(format!(
            "{name} ({}) is {}×{}; Teams requires {width}×{height}",
            role.label(),
            info.width,
            info.height
        ));
    }
    if role == IconRole::Outline && !info.has_alpha {
        return Err(format!("{name} (outline icon) has no transparency; Teams requires a transparent background"));
    }
    Ok(())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IconRole {
    Color,
    Outline,
}

impl IconRole {
    fn size(self) -> (u32, u32) {
        match self {
            IconRole::Color => (192, 192),
            IconRole::Outline => (32, 32),
        }
    }

    fn label(self) -> &'static str {
        match self {
            IconRole::Color => "colour icon",
            IconRole::Outline => "outline icon",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG start with the given IHDR (no image data: the header is all we read).
    fn header(width: u32, height: u32, colour_type: u8, extra: &[u8]) -> Vec<u8> {
        let mut png = SIGNATURE.to_vec();
        png.extend(13u32.to_be_bytes());
        png.extend(b"IHDR");
        png.extend(width.to_be_bytes());
        png.extend(height.to_be_bytes());
        png.extend([8, colour_type, 0, 0, 0]);
        png.extend([0; 4]); // CRC, not checked
        png.extend(extra);
        png
    }

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend(kind);
        out.extend(data);
        out.extend([0; 4]);
        out
    }

    #[test]
    fn the_committed_icons_pass() {
        let color = include_bytes!("../../manifest/color.png");
        let outline = include_bytes!("../../manifest/outline.png");
        assert_eq!(png_info(color).map(|i| (i.width, i.height)), Some((192, 192)));
        assert!(check(IconRole::Color, "color.png", color).is_ok());
        assert!(check(IconRole::Outline, "outline.png", outline).is_ok());
    }

    #[test]
    fn sizes_and_transparency_are_enforced() {
        let big = header(256, 256, 6, &[]);
        assert!(check(IconRole::Color, "c.png", &big).unwrap_err().contains("256×256"));
        let opaque = header(32, 32, 2, &[]);
        assert!(check(IconRole::Outline, "o.png", &opaque).unwrap_err().contains("transparen"));
        let palette_with_trns = header(32, 32, 3, &[chunk(b"PLTE", &[255; 6]), chunk(b"tRNS", &[0])].concat());
        assert!(check(IconRole::Outline, "o.png", &palette_with_trns).is_ok());
        assert!(check(IconRole::Color, "c.png", &header(192, 192, 2, &[])).is_ok());
    }

    #[test]
    fn garbage_is_not_a_png_and_never_panics() {
        assert!(png_info(b"").is_none());
        assert!(png_info(b"GIF89a").is_none());
        assert!(png_info(&SIGNATURE[..5]).is_none());
        assert!(png_info(&header(0, 32, 6, &[])).is_none());
        let mut truncated = header(32, 32, 3, &[]);
        truncated.extend(u32::MAX.to_be_bytes());
        truncated.extend(b"zzzz");
        assert_eq!(png_info(&truncated).map(|i| i.has_alpha), Some(false));
        for cut in 0..truncated.len() {
            let _ = png_info(&truncated[..cut]);
        }
        assert!(check(IconRole::Color, "c.png", b"not a png").unwrap_err().contains("not a PNG"));
    }
}
