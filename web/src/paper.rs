//! QR codes of paper records ([`tinnhiem_shared::seal::paper`]): drawn into the printed
//! minutes (SVG) or a PNG, and read back from a photograph or a scan (PNG or JPEG).

use anyhow::{anyhow, Context, Result};
use qrcode::{EcLevel, QrCode};
use std::path::Path;
use tinnhiem_shared::seal::paper::PAPER_MAGIC;

fn code(bytes: &[u8]) -> Option<QrCode> {
    // Medium error correction survives a fold or a stain; fall back to low for the
    // largest sessions.
    QrCode::with_error_correction_level(bytes, EcLevel::M)
        .or_else(|_| QrCode::with_error_correction_level(bytes, EcLevel::L))
        .ok()
}

/// The QR code as an SVG element, or `None` when the record is too large for one.
pub fn svg(bytes: &[u8]) -> Option<String> {
    Some(
        code(bytes)?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(240, 240)
            .quiet_zone(true)
            .build(),
    )
}

/// The QR code as a PNG image.
pub fn png(bytes: &[u8]) -> Result<Vec<u8>> {
    let img = code(bytes)
        .ok_or_else(|| anyhow!("biên bản quá lớn cho một mã QR"))?
        .render::<image::Luma<u8>>()
        .module_dimensions(6, 6)
        .build();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .context("không ghi được ảnh PNG")?;
    Ok(out.into_inner())
}

/// Every tinnhiem paper record found in an image file.
pub fn read(path: &Path) -> Result<Vec<Vec<u8>>> {
    let img = image::ImageReader::open(path)
        .with_context(|| format!("không mở được {}", path.display()))?
        .with_guessed_format()
        .with_context(|| format!("không đọc được {}", path.display()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(12_000);
    limits.max_image_height = Some(12_000);
    limits.max_alloc = Some(512 << 20);
    let mut img = img;
    img.limits(limits);
    let luma = img
        .decode()
        .with_context(|| format!("{} không phải ảnh PNG hoặc JPEG đọc được", path.display()))?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(luma);
    let mut found = Vec::new();
    for grid in prepared.detect_grids() {
        let mut bytes = Vec::new();
        if grid.decode_to(&mut bytes).is_ok() && bytes.starts_with(PAPER_MAGIC) {
            found.push(bytes);
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_png_reads_back_to_the_same_bytes() {
        let mut payload = PAPER_MAGIC.to_vec();
        payload.extend((0..900u32).map(|i| (i * 7 % 251) as u8));
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("qr.png");
        std::fs::write(&p, png(&payload).expect("png")).expect("write");
        assert_eq!(read(&p).expect("read"), vec![payload.clone()]);
        assert!(svg(&payload).expect("svg").contains("<svg"));
        std::fs::write(&p, b"not an image").expect("write");
        assert!(read(&p).is_err());
    }
}
