//! Removing secret values from text before it is logged, shown or exported.

use std::sync::Arc;

/// Removes secret values (and their common encodings) from text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    needles: Arc<Vec<String>>,
}

impl Redactor {
    /// A redactor for these secret values (empty values are ignored).
    pub fn new(secrets: &[&str]) -> Self {
        use base64::Engine;
        let mut needles = Vec::new();
        for s in secrets.iter().filter(|s| s.len() >= 3) {
            needles.push(s.to_string());
            needles.push(base64::engine::general_purpose::STANDARD.encode(s));
            needles.push(url::form_urlencoded::byte_serialize(s.as_bytes()).collect());
        }
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor {
            needles: Arc::new(needles),
        }
    }

    /// Adds more needles (e.g. a `user:password` pair whose base64 form is a Basic header).
    pub fn with(mut self, extra: &[&str]) -> Self {
        let mut all: Vec<String> = self.needles.iter().cloned().collect();
        let more = Redactor::new(extra);
        all.extend(more.needles.iter().cloned());
        all.sort_by_key(|n| std::cmp::Reverse(n.len()));
        all.dedup();
        self.needles = Arc::new(all);
        self
    }

    /// The text with every secret replaced by `<secret>`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in self.needles.iter() {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), "<secret>");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_removes_plain_base64_and_urlencoded_forms() {
        use base64::Engine;
        let r = Redactor::new(&["p@ss word", "ab"]).with(&["user:p@ss word"]);
        let b64 = base64::engine::general_purpose::STANDARD.encode("user:p@ss word");
        let text = format!("x p@ss word y {b64} z p%40ss+word ab");
        assert_eq!(r.redact(&text), "x <secret> y <secret> z <secret> ab");
    }
}
