//! Photo thumbnails: decoded once at completion, scaled to fit a square,
//! stored as JPEG beside the original. JPEG and PNG only (the `image`
//! crate's HEIC/WebP support would cost far more build time than it earns).

use std::io::Cursor;

use image::{ImageReader, Limits, codecs::jpeg::JpegEncoder};

/// Largest photo edge decoded, and the decoder's memory cap: a 12000 px
/// RGBA photo is ~576 MB, a hostile header claims more.
const MAX_EDGE: u32 = 12_000;
const MAX_ALLOC: u64 = 600 * 1024 * 1024;

pub fn supported(content_type: &str) -> bool {
    matches!(content_type, "image/jpeg" | "image/png")
}

/// A JPEG no larger than `edge` × `edge`, keeping the aspect ratio.
pub fn render(bytes: &[u8], edge: u32) -> Result<Vec<u8>, image::ImageError> {
    let mut reader = ImageReader::new(Cursor::new(bytes)).with_guessed_format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_EDGE);
    limits.max_image_height = Some(MAX_EDGE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    let photo = reader.decode()?;
    let small = photo.thumbnail(edge, edge).to_rgb8();
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 80).encode_image(&small)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_a_png_into_the_box() {
        let photo = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 90]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(photo)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let thumb = render(&png, 160).expect("thumbnail");
        let decoded = image::load_from_memory(&thumb).expect("decodes");
        assert_eq!((decoded.width(), decoded.height()), (160, 120));
        assert!(render(b"\x89PNG\r\n\x1a\nnot really", 160).is_err());
    }
}
