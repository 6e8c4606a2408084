//! QR codes as PNG images, for `GET /api/v2/pins/qr/{code}`.

use qrcode::{Color, QrCode};

/// Pixels per QR module, and the quiet zone around the code in modules.
const SCALE: usize = 8;
const QUIET_ZONE: usize = 4;

/// Encodes `text` as a black-on-white QR code PNG.
pub fn png(text: &str) -> Result<Vec<u8>, String> {
    let code = QrCode::new(text.as_bytes()).map_err(|e| format!("QR encoding failed: {e}"))?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET_ZONE) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == Color::Dark {
            let (mx, my) = (i % modules + QUIET_ZONE, i / modules + QUIET_ZONE);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let side_u32 = u32::try_from(side).map_err(|_| "QR image too large".to_string())?;
    let mut encoder = png::Encoder::new(&mut out, side_u32, side_u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| e.to_string())?;
    writer
        .write_image_data(&pixels)
        .map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn makes_a_png() {
        let png = super::png("http://127.0.0.1:8080/link?pin=ABCD").expect("png");
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
}
