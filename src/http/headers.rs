//! `http_server_config.headers` of the web config: the security headers the exporter-toolkit
//! allows, checked as it checks them, and added to every response.

use hyper::header::{HeaderName, HeaderValue};
use hyper::Response;

/// The headers that may be configured, with the values allowed (empty: any value).
pub const ALLOWED: [(&str, &[&str]); 5] = [
    ("Strict-Transport-Security", &[]),
    ("X-Content-Type-Options", &["nosniff"]),
    ("X-Frame-Options", &["deny", "sameorigin"]),
    ("X-XSS-Protection", &[]),
    ("Content-Security-Policy", &[]),
];

/// Checked headers, ready to add.
#[derive(Debug, Clone, Default)]
pub struct ExtraHeaders(Vec<(HeaderName, HeaderValue)>);

impl ExtraHeaders {
    /// Checks `(name, value)` pairs; `Err((name, reason))` for the first one refused. Names are
    /// matched exactly as the toolkit does (it is case-sensitive); an empty value leaves the
    /// header unset.
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ExtraHeaders, (String, String)> {
        let mut out = Vec::new();
        for (name, value) in pairs {
            let Some((_, allowed)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = ALLOWED.iter().map(|(n, _)| *n).collect();
                return Err((
                    name.to_string(),
                    format!(
                        "HTTP header {name:?} can not be configured; allowed: {}",
                        names.join(", ")
                    ),
                ));
            };
            if !allowed.is_empty() && !allowed.contains(&value) {
                return Err((
                    name.to_string(),
                    format!("invalid value {value:?}; expected one of {allowed:?}"),
                ));
            }
            if value.is_empty() {
                continue;
            }
            let header_value = HeaderValue::from_str(value)
                .map_err(|e| (name.to_string(), format!("not a valid header value: {e}")))?;
            out.push((
                HeaderName::from_bytes(name.as_bytes()).expect("allowed names are valid"),
                header_value,
            ));
        }
        Ok(ExtraHeaders(out))
    }

    /// True when there is nothing to add.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sets the headers on a response (replacing a value the route set).
    pub fn apply<B>(&self, resp: &mut Response<B>) {
        for (name, value) in &self.0 {
            resp.headers_mut().insert(name.clone(), value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_headers_and_values() {
        let ok = ExtraHeaders::parse([
            ("Strict-Transport-Security", "max-age=31536000"),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "sameorigin"),
            ("X-XSS-Protection", "1; mode=block"),
            ("Content-Security-Policy", ""),
        ])
        .unwrap();
        let mut resp = Response::new(());
        ok.apply(&mut resp);
        assert_eq!(resp.headers()["x-frame-options"], "sameorigin");
        assert_eq!(
            resp.headers()["strict-transport-security"],
            "max-age=31536000"
        );
        assert!(
            !resp.headers().contains_key("content-security-policy"),
            "blank: unset"
        );
        assert_eq!(resp.headers().len(), 4);

        let (name, reason) = ExtraHeaders::parse([("X-Frame-Options", "allow")]).unwrap_err();
        assert_eq!(name, "X-Frame-Options");
        assert!(reason.contains("invalid value \"allow\""), "{reason}");
        let (_, reason) = ExtraHeaders::parse([("X-Content-Type-Options", "sniff")]).unwrap_err();
        assert!(reason.contains("nosniff"), "{reason}");
        let (name, reason) = ExtraHeaders::parse([("Server", "x")]).unwrap_err();
        assert_eq!(name, "Server");
        assert!(reason.contains("can not be configured"), "{reason}");
        assert!(
            ExtraHeaders::parse([("x-frame-options", "deny")]).is_err(),
            "exact names"
        );
    }
}
