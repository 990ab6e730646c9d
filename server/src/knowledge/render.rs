//! Markdown to HTML that is safe to put into a page: raw HTML in the
//! Markdown is shown as text (never parsed by the browser), and a link or
//! image whose address has a scheme other than http, https, mailto or tel
//! (`javascript:`, `data:`, `vbscript:` …) loses its address.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

/// Schemes a link or image may use; an address without a scheme is relative.
const ALLOWED_SCHEMES: &[&str] = &["http", "https", "mailto", "tel"];

/// Whether `url` may be a link's or image's address.
pub fn is_safe_url(url: &str) -> bool {
    // Browsers ignore whitespace and control characters inside a scheme
    // ("java\tscript:"), so they are ignored here too.
    let cleaned: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    let scheme_end = cleaned.find(':');
    let path_start = cleaned.find(['/', '?', '#']);
    match (scheme_end, path_start) {
        (Some(colon), Some(path)) if path < colon => true,
        (Some(colon), _) => {
            let scheme = cleaned[..colon].to_ascii_lowercase();
            ALLOWED_SCHEMES.contains(&scheme.as_str())
        }
        (None, _) => true,
    }
}

fn neutralise(url: CowStr<'_>) -> CowStr<'_> {
    if is_safe_url(&url) {
        url
    } else {
        CowStr::Borrowed("")
    }
}

/// The article body as HTML without script.
pub fn render_markdown(markdown: &str) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: neutralise(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: neutralise(dest_url),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_text() {
        let html =
            render_markdown("Hi <script>alert(1)</script>\n\n<img src=x onerror=alert(1)>\n");
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn dangerous_links_lose_their_address() {
        for md in [
            "[x](javascript:alert(1))",
            "[x](JaVaScRiPt:alert(1))",
            "[x](java\tscript:alert(1))",
            "![x](data:text/html;base64,PHNjcmlwdD4=)",
            "<javascript:alert(1)>",
            "[x][r]\n\n[r]: vbscript:msgbox",
        ] {
            let html = render_markdown(md);
            let lower = html.to_ascii_lowercase();
            for scheme in ["javascript:", "data:", "vbscript:"] {
                assert!(!lower.contains(&format!("=\"{scheme}")), "{md} → {html}");
            }
        }
    }

    #[test]
    fn ordinary_markdown_renders() {
        let html = render_markdown(
            "# Reset\n\n1. Hold **reset**\n2. See [manual](https://example.com/m.pdf) or [faq](/faq#x)\n",
        );
        assert!(html.contains("<h1>Reset</h1>"), "{html}");
        assert!(html.contains("<strong>reset</strong>"), "{html}");
        assert!(
            html.contains("href=\"https://example.com/m.pdf\""),
            "{html}"
        );
        assert!(html.contains("href=\"/faq#x\""), "{html}");
    }
}
