//! The app package: a zip with manifest.json and the two icons at its root,
//! which is what Teams Admin Center and "Upload a custom app" take.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

/// Zips the named files, in order. Every entry carries the same fixed time
/// (1980-01-01, zip's epoch) so one input always gives the same bytes: a
/// package can be rebuilt and compared.
pub fn zip_files(files: &[(&str, &[u8])]) -> zip::result::ZipResult<Vec<u8>> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    for (name, bytes) in files {
        writer.start_file(*name, options)?;
        writer.write_all(bytes)?;
    }
    Ok(writer.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn entries_round_trip_and_the_bytes_are_reproducible() {
        let files: &[(&str, &[u8])] = &[("manifest.json", b"{}"), ("color.png", &[1, 2, 3])];
        let first = zip_files(files).expect("zip");
        assert_eq!(first, zip_files(files).expect("zip"), "same input, same bytes");
        let mut archive = zip::ZipArchive::new(Cursor::new(first)).expect("readable");
        assert_eq!(archive.len(), 2);
        let mut text = String::new();
        archive.by_name("manifest.json").expect("entry").read_to_string(&mut text).expect("read");
        assert_eq!(text, "{}");
    }
}
