//! The service report as a PDF (krilla): text is real text in embedded,
//! subset fonts — the tenant's font first, the built-in Latin font for
//! characters it lacks — so any script the fonts cover is searchable; the
//! photos' JPEG thumbnails and the signature PNG are embedded as images.
//!
//! Layout is two passes: [`Layout`] places lines and images on A4 pages
//! (measuring text with the fonts' own advances), then [`render`] draws the
//! placed pages.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect, Size, Transform};
use krilla::image::Image;
use krilla::metadata::Metadata;
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use serde::Serialize;
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size as FontSize};

const PAGE_W: f32 = 595.28;
const PAGE_H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const BODY: f32 = 10.0;
const SMALL: f32 = 8.0;
const HEADING: f32 = 13.0;
const TITLE: f32 = 18.0;
/// Photo thumbnails are drawn in a grid of this many per row.
const PHOTOS_PER_ROW: usize = 3;

/// Everything a report shows. Byte fields are skipped when serialized:
/// the fingerprint ([`super::fingerprint`]) hashes them separately.
#[derive(Debug, Clone, Serialize)]
pub struct ReportContent {
    pub tenant_name: String,
    #[serde(skip)]
    pub logo: Option<Vec<u8>>,
    pub logo_sha256: Option<String>,
    pub ticket_number: String,
    pub title: String,
    pub status: String,
    pub customer: String,
    pub customer_contact: Option<String>,
    pub site: String,
    pub site_address: String,
    pub asset: Option<String>,
    pub technician: Option<String>,
    pub completed_at: Option<DateTime<Utc>>,
    pub notes: String,
    pub checklist: Vec<(String, bool)>,
    /// Part number, quantity, serial.
    pub parts: Vec<(String, f64, Option<String>)>,
    pub time: Vec<TimeRow>,
    pub travel_seconds: i64,
    pub work_seconds: i64,
    pub waiting_seconds: i64,
    pub break_seconds: i64,
    pub total_seconds: i64,
    /// JPEG thumbnails, with the originals' hashes.
    #[serde(skip)]
    pub photos: Vec<Vec<u8>>,
    pub photo_sha256: Vec<String>,
    /// Photos recorded on the phone but not uploaded (yet).
    pub photos_missing: usize,
    pub signature: Option<SignatureBlock>,
    /// Office corrections written after the signature.
    pub corrections_after_signing: usize,
    /// The priced job (issue 23): parts × catalogue prices plus labour.
    pub value: Option<crate::parts::value::JobValue>,
}

/// One time entry as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct TimeRow {
    pub kind: String,
    pub from: DateTime<Utc>,
    /// `None` while it runs.
    pub to: Option<DateTime<Utc>>,
    pub seconds: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SignatureBlock {
    #[serde(skip)]
    pub png: Vec<u8>,
    pub image_sha256: String,
    pub signer_name: String,
    pub signed_at: DateTime<Utc>,
    pub position: Option<(f64, f64)>,
    /// What verifying the signature found when the report was made.
    pub intact: bool,
}

/// What the issue of one version adds: its number, code and predecessor.
#[derive(Debug, Clone)]
pub struct Issue {
    pub version: i64,
    pub code: String,
    pub issued_at: DateTime<Utc>,
    /// Where the code is checked (printed as is).
    pub verify_at: String,
    /// The version this one supersedes: number, code, issue time.
    pub supersedes: Option<(i64, String, DateTime<Utc>)>,
}

/// A font file (a face of a collection by index).
#[derive(Debug, Clone)]
pub struct FontData {
    pub bytes: Arc<Vec<u8>>,
    pub index: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("font: {0}")]
    Font(String),
    #[error("image: {0}")]
    Image(String),
    #[error("pdf: {0}")]
    Pdf(String),
}

/// The faces in the order characters are looked up in.
struct Faces {
    data: Vec<FontData>,
    fonts: Vec<Font>,
}

impl Faces {
    fn new(order: &[FontData]) -> Result<Self, RenderError> {
        let mut data = Vec::new();
        let mut fonts = Vec::new();
        for face in order {
            let Some(font) = Font::new(face.bytes.clone().into(), face.index) else {
                return Err(RenderError::Font(format!(
                    "cannot read face {} of a {}-byte font file",
                    face.index,
                    face.bytes.len()
                )));
            };
            data.push(face.clone());
            fonts.push(font);
        }
        if fonts.is_empty() {
            return Err(RenderError::Font("no font".into()));
        }
        Ok(Self { data, fonts })
    }

    fn font_ref(&self, i: usize) -> Option<skrifa::FontRef<'_>> {
        let face = self.data.get(i)?;
        skrifa::FontRef::from_index(face.bytes.as_slice(), face.index).ok()
    }

    /// Splits `text` into runs of one face each: the first face that has a
    /// glyph for a character (whitespace stays with the run it is in).
    fn runs(&self, text: &str) -> Vec<(usize, String)> {
        let refs: Vec<_> = (0..self.data.len()).map(|i| self.font_ref(i)).collect();
        let maps: Vec<_> = refs
            .iter()
            .map(|r| r.as_ref().map(|f| f.charmap()))
            .collect();
        let mut runs: Vec<(usize, String)> = Vec::new();
        for ch in text.chars() {
            let face = if ch.is_whitespace() {
                runs.last().map_or(0, |r| r.0)
            } else {
                maps.iter()
                    .position(|m| {
                        m.as_ref()
                            .and_then(|m| m.map(ch))
                            .is_some_and(|g| g.to_u32() != 0)
                    })
                    .unwrap_or(0)
            };
            match runs.last_mut() {
                Some((f, s)) if *f == face => s.push(ch),
                _ => runs.push((face, ch.to_string())),
            }
        }
        runs
    }

    /// Advance of each character of `text` at `size` points.
    fn advances(&self, text: &str, size: f32) -> Vec<f32> {
        let mut out = Vec::with_capacity(text.len());
        for (face, run) in self.runs(text) {
            let Some(font) = self.font_ref(face) else {
                out.extend(run.chars().map(|_| size * 0.5));
                continue;
            };
            let charmap = font.charmap();
            let metrics = font.glyph_metrics(FontSize::new(size), LocationRef::default());
            for ch in run.chars() {
                let advance = charmap
                    .map(ch)
                    .and_then(|g| metrics.advance_width(g))
                    .unwrap_or(size * 0.5);
                out.push(advance);
            }
        }
        out
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        self.advances(text, size).iter().sum()
    }
}

/// Where a line may break before a character: after a space, and around
/// ideographs (CJK text has no spaces).
fn breakable(prev: char, ch: char) -> bool {
    let wide = |c: char| {
        ('\u{2E80}'..='\u{9FFF}').contains(&c)
            || ('\u{AC00}'..='\u{D7AF}').contains(&c)
            || ('\u{F900}'..='\u{FAFF}').contains(&c)
            || ('\u{FF00}'..='\u{FFEF}').contains(&c)
    };
    prev.is_whitespace() || wide(prev) || wide(ch)
}

enum Cmd {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    Image {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
        image: usize,
    },
    Rule {
        y: f32,
    },
}

struct Layout<'a> {
    faces: &'a Faces,
    pages: Vec<Vec<Cmd>>,
    y: f32,
}

impl<'a> Layout<'a> {
    fn new(faces: &'a Faces) -> Self {
        Self {
            faces,
            pages: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn page(&mut self) -> &mut Vec<Cmd> {
        if self.pages.is_empty() {
            self.pages.push(Vec::new());
        }
        let last = self.pages.len() - 1;
        &mut self.pages[last]
    }

    /// Starts a new page unless `height` more fits on this one.
    fn room(&mut self, height: f32) {
        if self.y + height > PAGE_H - MARGIN {
            self.pages.push(Vec::new());
            self.y = MARGIN;
        }
    }

    fn gap(&mut self, points: f32) {
        self.y += points;
    }

    /// One line at `x` (no wrapping).
    fn line_at(&mut self, x: f32, size: f32, text: &str) {
        self.room(size * 1.4);
        let y = self.y + size;
        self.page().push(Cmd::Text {
            x,
            y,
            size,
            text: text.to_owned(),
        });
    }

    fn advance_line(&mut self, size: f32) {
        self.y += size * 1.4;
    }

    /// `text` wrapped to the width from `x` to the right margin.
    fn paragraph(&mut self, x: f32, size: f32, text: &str) {
        let max = PAGE_W - MARGIN - x;
        for source in text.split('\n') {
            let chars: Vec<char> = source.chars().collect();
            let advances = self.faces.advances(source, size);
            if chars.is_empty() {
                self.advance_line(size);
                continue;
            }
            let mut start = 0;
            while start < chars.len() {
                let mut width = 0.0;
                let mut end = start;
                let mut last_break = None;
                while end < chars.len() {
                    let w = advances.get(end).copied().unwrap_or(0.0);
                    if end > start && breakable(chars[end - 1], chars[end]) {
                        last_break = Some(end);
                    }
                    if width + w > max && end > start {
                        break;
                    }
                    width += w;
                    end += 1;
                }
                if end < chars.len()
                    && let Some(b) = last_break
                {
                    end = b;
                }
                let line: String = chars[start..end].iter().collect();
                self.line_at(x, size, line.trim_end());
                self.advance_line(size);
                start = end;
                while start < chars.len() && chars[start] == ' ' {
                    start += 1;
                }
            }
        }
    }

    /// A section heading, on the next page unless it and `keep` points of
    /// what follows fit on this one.
    fn heading(&mut self, text: &str, keep: f32) {
        self.room(HEADING * 1.4 + 14.0 + keep.max(BODY * 3.0));
        self.gap(8.0);
        self.line_at(MARGIN, HEADING, text);
        self.advance_line(HEADING);
        let y = self.y - 2.0;
        self.page().push(Cmd::Rule { y });
        self.gap(4.0);
    }

    /// One row of a table: cells at their x positions, each cut to fit.
    fn row(&mut self, size: f32, cells: &[(f32, String)]) {
        self.room(size * 1.4);
        for (i, (x, text)) in cells.iter().enumerate() {
            let limit = cells.get(i + 1).map_or(PAGE_W - MARGIN, |n| n.0 - 6.0) - x;
            let mut shown = text.clone();
            while !shown.is_empty() && self.faces.width(&shown, size) > limit {
                shown.pop();
            }
            self.line_at(*x, size, &shown);
        }
        self.advance_line(size);
    }

    fn image(&mut self, x: f32, w: f32, h: f32, image: usize) {
        let y = self.y;
        self.page().push(Cmd::Image { x, y, w, h, image });
    }
}

fn load_image(bytes: &[u8]) -> Result<Image, RenderError> {
    let data: krilla::Data = Arc::new(bytes.to_vec()).into();
    if bytes.starts_with(&[0x89, b'P', b'N', b'G']) {
        Image::from_png(data, true).map_err(RenderError::Image)
    } else {
        Image::from_jpeg(data, true).map_err(RenderError::Image)
    }
}

/// Width and height of `image` scaled to fit a `max_w` × `max_h` box.
fn fit(image: &Image, max_w: f32, max_h: f32) -> (f32, f32) {
    let (w, h) = image.size();
    let (w, h) = (w.max(1) as f32, h.max(1) as f32);
    let scale = (max_w / w).min(max_h / h);
    (w * scale, h * scale)
}

/// The priced parts and labour of the job (issue 23).
fn charges(layout: &mut Layout<'_>, value: &crate::parts::value::JobValue) {
    use crate::parts::value::money;
    layout.heading("Charges", BODY * 3.0);
    let cols = [MARGIN, MARGIN + 200.0, MARGIN + 280.0, MARGIN + 370.0];
    layout.row(
        SMALL,
        &[
            (cols[0], "Part".into()),
            (cols[1], "Quantity".into()),
            (cols[2], "Unit price".into()),
            (cols[3], "Amount".into()),
        ],
    );
    for part in &value.parts {
        let label = match &part.name {
            Some(name) => format!("{} {}", part.part_number, name),
            None => format!("{} (not in catalogue)", part.part_number),
        };
        layout.row(
            BODY,
            &[
                (cols[0], label),
                (cols[1], quantity(part.quantity)),
                (
                    cols[2],
                    part.unit_price_cents.map(money).unwrap_or_default(),
                ),
                (cols[3], part.cents.map(money).unwrap_or_else(|| "-".into())),
            ],
        );
    }
    layout.row(
        BODY,
        &[
            (
                cols[0],
                format!("Labour {}", duration(value.labour_seconds)),
            ),
            (
                cols[2],
                value
                    .labour_rate_cents_per_hour
                    .map(|r| format!("{}/h", money(r)))
                    .unwrap_or_default(),
            ),
            (cols[3], money(value.labour_cents)),
        ],
    );
    layout.gap(4.0);
    layout.paragraph(
        MARGIN,
        BODY,
        &format!(
            "Parts {} · labour {} · total {}",
            money(value.parts_cents),
            money(value.labour_cents),
            money(value.total_cents)
        ),
    );
}

fn duration(seconds: i64) -> String {
    format!("{}:{:02} h", seconds / 3600, (seconds % 3600) / 60)
}

fn time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn quantity(q: f64) -> String {
    if q.fract() == 0.0 {
        format!("{q:.0}")
    } else {
        format!("{q}")
    }
}

/// The report as PDF bytes, with the faces in lookup order (the tenant's
/// font, then the built-in one).
pub fn render(
    content: &ReportContent,
    issue: &Issue,
    fonts: &[FontData],
) -> Result<Vec<u8>, RenderError> {
    let faces = Faces::new(fonts)?;
    let mut images: Vec<Image> = Vec::new();
    let mut layout = Layout::new(&faces);

    // Header: logo, tenant, title, code.
    let top = layout.y;
    if let Some(logo) = &content.logo {
        let image = load_image(logo)?;
        let (w, h) = fit(&image, 120.0, 48.0);
        images.push(image);
        let x = PAGE_W - MARGIN - w;
        layout.image(x, w, h, images.len() - 1);
    }
    layout.line_at(MARGIN, TITLE, &content.tenant_name);
    layout.advance_line(TITLE);
    layout.line_at(
        MARGIN,
        HEADING,
        &format!("Service report {}", content.ticket_number),
    );
    layout.advance_line(HEADING);
    layout.y = layout.y.max(top + 52.0);
    let mut issued = format!(
        "Version {} · issued {} · verification code {}",
        issue.version,
        time(issue.issued_at),
        issue.code
    );
    if let Some((version, code, at)) = &issue.supersedes {
        issued.push_str(&format!(
            "\nThis version supersedes version {version} (code {code}, issued {}): the work record changed after it was issued.",
            time(*at)
        ));
    }
    issued.push_str(&format!("\nVerify this document: {}", issue.verify_at));
    layout.paragraph(MARGIN, SMALL, &issued);

    layout.heading("Job", BODY * 3.0);
    let label = MARGIN;
    let value = MARGIN + 90.0;
    let mut facts: Vec<(&str, String)> = vec![
        (
            "Ticket",
            format!("{} — {}", content.ticket_number, content.title),
        ),
        ("Status", content.status.replace('_', " ")),
        ("Customer", content.customer.clone()),
    ];
    if let Some(contact) = &content.customer_contact {
        facts.push(("Contact", contact.clone()));
    }
    facts.push((
        "Site",
        format!("{}, {}", content.site, content.site_address),
    ));
    if let Some(asset) = &content.asset {
        facts.push(("Asset", asset.clone()));
    }
    if let Some(technician) = &content.technician {
        facts.push(("Technician", technician.clone()));
    }
    if let Some(done) = content.completed_at {
        facts.push(("Completed", time(done)));
    }
    for (name, text) in facts {
        layout.room(BODY * 1.4);
        let y = layout.y;
        layout.line_at(label, BODY, name);
        layout.paragraph(value, BODY, &text);
        layout.y = layout.y.max(y + BODY * 1.4);
    }

    layout.heading("Work summary", BODY * 3.0);
    if content.notes.trim().is_empty() {
        layout.paragraph(MARGIN, BODY, "(no notes)");
    } else {
        layout.paragraph(MARGIN, BODY, content.notes.trim());
    }

    layout.heading("Checklist", BODY * 3.0);
    if content.checklist.is_empty() {
        layout.paragraph(MARGIN, BODY, "(no checklist)");
    }
    for (item, done) in &content.checklist {
        let mark = if *done { "[x]" } else { "[ ]" };
        layout.row(
            BODY,
            &[(MARGIN, mark.to_owned()), (MARGIN + 24.0, item.clone())],
        );
    }

    layout.heading("Parts", BODY * 3.0);
    if content.parts.is_empty() {
        layout.paragraph(MARGIN, BODY, "(no parts)");
    } else {
        let cols = [MARGIN, MARGIN + 220.0, MARGIN + 300.0];
        layout.row(
            SMALL,
            &[
                (cols[0], "Part number".into()),
                (cols[1], "Quantity".into()),
                (cols[2], "Serial".into()),
            ],
        );
        for (number, qty, serial) in &content.parts {
            layout.row(
                BODY,
                &[
                    (cols[0], number.clone()),
                    (cols[1], quantity(*qty)),
                    (cols[2], serial.clone().unwrap_or_default()),
                ],
            );
        }
    }

    if let Some(value) = &content.value {
        charges(&mut layout, value);
    }

    layout.heading("Time", BODY * 3.0);
    let cols = [MARGIN, MARGIN + 90.0, MARGIN + 230.0, MARGIN + 370.0];
    if !content.time.is_empty() {
        layout.row(
            SMALL,
            &[
                (cols[0], "Kind".into()),
                (cols[1], "From".into()),
                (cols[2], "To".into()),
                (cols[3], "Duration".into()),
            ],
        );
    }
    for row in &content.time {
        layout.row(
            BODY,
            &[
                (cols[0], row.kind.clone()),
                (cols[1], time(row.from)),
                (cols[2], row.to.map_or_else(|| "running".to_owned(), time)),
                (cols[3], duration(row.seconds)),
            ],
        );
    }
    layout.gap(4.0);
    layout.paragraph(
        MARGIN,
        BODY,
        &format!(
            "Totals: travel {} · work {} · waiting {} · break {} · billable total {}",
            duration(content.travel_seconds),
            duration(content.work_seconds),
            duration(content.waiting_seconds),
            duration(content.break_seconds),
            duration(content.total_seconds)
        ),
    );

    let cell =
        (PAGE_W - 2.0 * MARGIN - 12.0 * (PHOTOS_PER_ROW as f32 - 1.0)) / PHOTOS_PER_ROW as f32;
    let first_row = if content.photos.is_empty() {
        0.0
    } else {
        cell * 0.75 + 8.0
    };
    layout.heading(&format!("Photos ({})", content.photos.len()), first_row);
    if content.photos_missing > 0 {
        layout.paragraph(
            MARGIN,
            SMALL,
            &format!(
                "{} photo(s) recorded but not uploaded when this version was issued.",
                content.photos_missing
            ),
        );
    }
    for row in content.photos.chunks(PHOTOS_PER_ROW) {
        let mut placed = Vec::new();
        let mut tallest: f32 = 0.0;
        for photo in row {
            let image = load_image(photo)?;
            let (w, h) = fit(&image, cell, cell * 0.75);
            tallest = tallest.max(h);
            images.push(image);
            placed.push((w, h, images.len() - 1));
        }
        layout.room(tallest + 8.0);
        for (i, (w, h, image)) in placed.into_iter().enumerate() {
            layout.image(MARGIN + i as f32 * (cell + 12.0), w, h, image);
        }
        layout.gap(tallest + 8.0);
    }

    let signature_image = match &content.signature {
        Some(signature) => Some(load_image(&signature.png)?),
        None => None,
    };
    let signature_height = signature_image
        .as_ref()
        .map_or(0.0, |i| fit(i, 220.0, 90.0).1 + BODY * 6.0);
    layout.heading("Customer signature", signature_height);
    match (&content.signature, signature_image) {
        (Some(signature), Some(image)) => {
            let (w, h) = fit(&image, 220.0, 90.0);
            images.push(image);
            layout.image(MARGIN, w, h, images.len() - 1);
            layout.gap(h + 4.0);
            let mut text = format!(
                "Signed by {} on {}",
                signature.signer_name,
                time(signature.signed_at)
            );
            if let Some((lat, lon)) = signature.position {
                text.push_str(&format!(" at {lat:.5}, {lon:.5}"));
            }
            if !signature.intact {
                text.push_str(
                    "\nWARNING: the signature did not verify when this report was issued.",
                );
            }
            if content.corrections_after_signing > 0 {
                text.push_str(&format!(
                    "\nThe office corrected the work record {} time(s) after the customer signed.",
                    content.corrections_after_signing
                ));
            }
            layout.paragraph(MARGIN, BODY, &text);
        }
        _ => layout.paragraph(MARGIN, BODY, "(not signed)"),
    }

    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title(format!(
                "Service report {} v{}",
                content.ticket_number, issue.version
            ))
            .creator("Truckroll".to_owned())
            .document_id(issue.code.clone()),
    );
    let rule_path = |y: f32| {
        let mut builder = PathBuilder::new();
        if let Some(rect) = Rect::from_xywh(MARGIN, y, PAGE_W - 2.0 * MARGIN, 0.6) {
            builder.push_rect(rect);
        }
        builder.finish()
    };
    let pages = layout.pages.len();
    for (n, commands) in layout.pages.into_iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H)
            .ok_or_else(|| RenderError::Pdf("page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        for command in commands {
            match command {
                Cmd::Text { x, y, size, text } => {
                    let mut at = x;
                    for (face, run) in faces.runs(&text) {
                        let width = faces.width(&run, size);
                        surface.draw_text(
                            Point::from_xy(at, y),
                            faces.fonts[face].clone(),
                            size,
                            &run,
                            false,
                            TextDirection::Auto,
                        );
                        at += width;
                    }
                }
                Cmd::Image { x, y, w, h, image } => {
                    let (Some(image), Some(size)) = (images.get(image), Size::from_wh(w, h)) else {
                        continue;
                    };
                    surface.push_transform(&Transform::from_translate(x, y));
                    surface.draw_image(image.clone(), size);
                    surface.pop();
                }
                Cmd::Rule { y } => {
                    if let Some(path) = rule_path(y) {
                        surface.set_fill(Some(Fill {
                            paint: rgb::Color::new(150, 150, 150).into(),
                            opacity: NormalizedF32::ONE,
                            rule: Default::default(),
                        }));
                        surface.draw_path(&path);
                        surface.set_fill(Some(Fill::default()));
                    }
                }
            }
        }
        let footer = format!(
            "{} · {} · version {} · code {} · page {} of {}",
            content.tenant_name,
            content.ticket_number,
            issue.version,
            issue.code,
            n + 1,
            pages
        );
        let mut at = MARGIN;
        for (face, run) in faces.runs(&footer) {
            let width = faces.width(&run, SMALL);
            surface.draw_text(
                Point::from_xy(at, PAGE_H - MARGIN / 2.0),
                faces.fonts[face].clone(),
                SMALL,
                &run,
                false,
                TextDirection::Auto,
            );
            at += width;
        }
        surface.finish();
        page.finish();
    }
    document
        .finish()
        .map_err(|e| RenderError::Pdf(e.to_string()))
}
