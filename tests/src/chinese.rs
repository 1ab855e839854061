//! Whether a page reads as Chinese to a person: its visible text (no scripts, styles or tags)
//! holds no English slug of a closed set, no `true`/`false`/`null`, no English notice and no ISO
//! time stamp. The crawl (`tests/crawl.rs`) and the browser journeys (`crate::browser`) use it.

/// Words a person must never read on a page: the identifiers of closed sets and states, the
/// roles, JSON's literals, English notices.
pub const ENGLISH: &[&str] = &[
    "in-service",
    "key-public",
    "key-industry",
    "fixed-bullet",
    "faulty",
    "removed",
    "on-track",
    "on-time",
    "returned",
    "accepted",
    "overdue",
    "behind",
    "subscriber",
    "connected",
    "revoked",
    "true",
    "false",
    "null",
    "not found",
    "error",
];

/// `html` without its `open … close` elements.
fn without(html: &str, open: &str, close: &str) -> String {
    let mut kept = String::new();
    let mut rest = html;
    while let Some(i) = rest.find(open) {
        kept.push_str(&rest[..i]);
        rest = rest[i..]
            .find(close)
            .map(|j| &rest[i + j + close.len()..])
            .unwrap_or("");
    }
    kept.push_str(rest);
    kept
}

/// The visible text of a page: no scripts, no styles, no tags, entities of `&` and quotes read.
pub fn visible(html: &str) -> String {
    let html = without(&without(html, "<script", "</script>"), "<style", "</style>");
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text.replace("&amp;", "&").replace("&quot;", "\"")
}

/// What a person would object to in `text`: English words of `ENGLISH` standing alone, and
/// ISO time stamps.
pub fn objections(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let lower = text.to_lowercase();
    for w in ENGLISH {
        for (i, _) in lower.match_indices(w) {
            let before = lower[..i].chars().next_back();
            let after = lower[i + w.len()..].chars().next();
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
            if !word(before) && !word(after) {
                found.push(format!("“{w}”"));
            }
        }
    }
    // 2026-11-26T02:01: a stamp as the store keeps it.
    let b = text.as_bytes();
    for i in 0..b.len().saturating_sub(16) {
        let d = |k: usize| b[i + k].is_ascii_digit();
        if (0..4).all(d)
            && b[i + 4] == b'-'
            && d(5)
            && d(6)
            && b[i + 7] == b'-'
            && d(8)
            && d(9)
            && b[i + 10] == b'T'
        {
            found.push(format!("ISO “{}”", &text[i..i + 16]));
        }
    }
    found
}

/// What a person would object to on the page `html`.
pub fn objections_on(html: &str) -> Vec<String> {
    objections(&visible(html))
}
