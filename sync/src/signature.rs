//! A customer's signature as captured on a phone (a canvas and the pen's
//! strokes) and its rendering to PNG. Shared by the server, which renders
//! and stores the image, and the SDK, which renders the same bytes offline
//! so the ticket document can name the image by its SHA-256 before the
//! server has seen it. Deterministic: the same strokes always give the same
//! bytes (same code, same `png` version), which verification relies on.

use serde::{Deserialize, Serialize};

/// Largest canvas edge, in pixels.
pub const MAX_CANVAS: u32 = 2000;
/// Most points over all strokes.
pub const MAX_POINTS: usize = 20_000;
/// Pen radius in pixels.
const PEN_RADIUS: f64 = 1.6;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// A canvas and the pen's strokes on it (the JSON a phone sends).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strokes {
    pub width: u32,
    pub height: u32,
    pub strokes: Vec<Vec<Point>>,
}

/// Why strokes are not a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct StrokesError {
    pub field: &'static str,
    pub message: String,
}

/// Rendering failed (the PNG encoder's explanation).
#[derive(Debug, thiserror::Error)]
#[error("rendering the signature: {0}")]
pub struct RenderError(#[from] png::EncodingError);

impl Strokes {
    /// The canvas is 16 to [`MAX_CANVAS`] pixels each way, there is at least
    /// one and at most [`MAX_POINTS`] points, and every point is on it.
    pub fn validate(&self) -> Result<(), StrokesError> {
        if !(16..=MAX_CANVAS).contains(&self.width) || !(16..=MAX_CANVAS).contains(&self.height) {
            return Err(StrokesError {
                field: "strokes.width",
                message: format!("width and height must be between 16 and {MAX_CANVAS}"),
            });
        }
        let points: usize = self.strokes.iter().map(Vec::len).sum();
        if points == 0 {
            return Err(StrokesError {
                field: "strokes.strokes",
                message: "a signature needs at least one point".into(),
            });
        }
        if points > MAX_POINTS {
            return Err(StrokesError {
                field: "strokes.strokes",
                message: format!("at most {MAX_POINTS} points"),
            });
        }
        let (w, h) = (f64::from(self.width), f64::from(self.height));
        let inside = |p: &Point| {
            p.x.is_finite()
                && p.y.is_finite()
                && (0.0..=w).contains(&p.x)
                && (0.0..=h).contains(&p.y)
        };
        if !self.strokes.iter().flatten().all(inside) {
            return Err(StrokesError {
                field: "strokes.strokes",
                message: "every point must lie on the canvas (0 ≤ x ≤ width, 0 ≤ y ≤ height)"
                    .into(),
            });
        }
        Ok(())
    }

    /// Black strokes on white, 8-bit greyscale PNG.
    pub fn render_png(&self) -> Result<Vec<u8>, RenderError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let mut pixels = vec![255u8; w * h];
        for stroke in &self.strokes {
            let segments: Vec<(Point, Point)> = match stroke.as_slice() {
                [] => Vec::new(),
                [only] => vec![(*only, *only)],
                many => many.windows(2).map(|pair| (pair[0], pair[1])).collect(),
            };
            for (a, b) in segments {
                draw_segment(&mut pixels, w, h, a, b);
            }
        }
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header()?;
            writer.write_image_data(&pixels)?;
            writer.finish()?;
        }
        Ok(out)
    }
}

/// Darkens pixels by their coverage of a round-capped segment.
fn draw_segment(pixels: &mut [u8], w: usize, h: usize, a: Point, b: Point) {
    let reach = PEN_RADIUS + 1.0;
    let x0 = (a.x.min(b.x) - reach).floor().max(0.0) as usize;
    let y0 = (a.y.min(b.y) - reach).floor().max(0.0) as usize;
    let x1 = ((a.x.max(b.x) + reach).ceil() as usize).min(w.saturating_sub(1));
    let y1 = ((a.y.max(b.y) + reach).ceil() as usize).min(h.saturating_sub(1));
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let length2 = dx * dx + dy * dy;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
            let t = if length2 > 0.0 {
                (((px - a.x) * dx + (py - a.y) * dy) / length2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (cx, cy) = (a.x + t * dx, a.y + t * dy);
            let distance = ((px - cx).powi(2) + (py - cy).powi(2)).sqrt();
            let coverage = (PEN_RADIUS + 0.5 - distance).clamp(0.0, 1.0);
            if coverage > 0.0 {
                let ink = (255.0 * (1.0 - coverage)).round() as u8;
                let pixel = &mut pixels[y * w + x];
                *pixel = (*pixel).min(ink);
            }
        }
    }
}
