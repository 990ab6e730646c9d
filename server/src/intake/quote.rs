//! The new part of a message: the quoted history a mail client appends
//! below a reply ("On … wrote:", "-----Original Message-----", Outlook's
//! header block, Chinese clients' "在 … 写道：", `>` lines) and the
//! signature after "-- " are cut off.

/// Lines that start the quoted history, whatever follows them.
fn starts_history(line: &str, next: Option<&str>) -> bool {
    let t = line.trim();
    let lower = t.to_lowercase();
    if lower.starts_with("-----original message-----")
        || lower.starts_with("----- original message -----")
        || lower.starts_with("-------- original message --------")
        || lower.starts_with("---------- forwarded message")
        || t.starts_with("-----原始邮件-----")
        || t.starts_with("------------------ 原始邮件 ------------------")
    {
        return true;
    }
    // "On Mon, 1 Jan 2024 at 10:00, Ann <a@b.c> wrote:" (possibly wrapped
    // over two lines by the client).
    if lower.starts_with("on ") {
        if lower.ends_with("wrote:") {
            return true;
        }
        if let Some(next) = next
            && next.trim().to_lowercase().ends_with("wrote:")
        {
            return true;
        }
    }
    if t.starts_with('在') && (t.ends_with("写道：") || t.ends_with("写道:")) {
        return true;
    }
    // Outlook: "From: …" directly followed by "Sent: …" / "Date: …".
    if (lower.starts_with("from:") || t.starts_with("发件人:") || t.starts_with("发件人："))
        && let Some(next) = next
    {
        let n = next.trim().to_lowercase();
        if n.starts_with("sent:")
            || n.starts_with("date:")
            || n.starts_with("发送时间")
            || n.starts_with("日期")
        {
            return true;
        }
    }
    false
}

/// `body` without the quoted history and the signature, trimmed.
pub fn strip_quoted(body: &str) -> String {
    let body = body.replace("\r\n", "\n");
    let lines: Vec<&str> = body.lines().collect();
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        if *line == "-- " || *line == "--" {
            break;
        }
        if starts_history(line, lines.get(i + 1).copied()) {
            break;
        }
        kept.push(line);
    }
    // Interleaved `>` quotes are history too; a reply's own text remains.
    let kept: Vec<&str> = kept
        .into_iter()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect();
    let text = kept.join("\n");
    let trimmed = text.trim();
    if trimmed.is_empty() {
        // Nothing but quotes: keep what was written rather than nothing.
        return body.trim().to_owned();
    }
    trimmed.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_style_history_is_cut() {
        let body = "The heater works now, thanks.\n\nOn Tue, 3 Dec 2026 at 09:12, Truckroll <help@acme.test> wrote:\n> Your ticket TR-000001 was closed.\n> Regards";
        assert_eq!(strip_quoted(body), "The heater works now, thanks.");
    }

    #[test]
    fn wrapped_on_wrote_outlook_and_chinese_history_are_cut() {
        let body =
            "Still broken.\nOn Tue, 3 Dec 2026 at 09:12, Truckroll\n<help@acme.test> wrote:\n> old";
        assert_eq!(strip_quoted(body), "Still broken.");
        let body = "See photo.\n\nFrom: Help Desk\nSent: Tuesday\nSubject: TR-000002\n\nold text";
        assert_eq!(strip_quoted(body), "See photo.");
        let body =
            "空调还是不制冷。\n\n在 2026年12月3日 09:12，客服 <help@acme.test> 写道：\n> 旧内容";
        assert_eq!(strip_quoted(body), "空调还是不制冷。");
        let body = "Yes.\n-----Original Message-----\nFrom: x";
        assert_eq!(strip_quoted(body), "Yes.");
    }

    #[test]
    fn signature_and_interleaved_quotes_go_text_stays() {
        let body = "> Is it leaking?\nYes, under the sink.\n-- \nAnn Lee\n+49 30 1234";
        assert_eq!(strip_quoted(body), "Yes, under the sink.");
        assert_eq!(strip_quoted("> only a quote"), "> only a quote");
        assert_eq!(
            strip_quoted("Plain text\nsecond line"),
            "Plain text\nsecond line"
        );
    }
}
