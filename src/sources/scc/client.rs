//! HTTP access to one Cloud Connector: stateless basic auth (`Connection: close`, SCC's
//! documented stateless mode: no session, no CSRF token), JSON only, and the mapping of SCC's
//! status codes onto the error taxonomy.

use crate::base::{ErrorReason, PollError};
use crate::config::Secret;
use crate::upstream::{Response, Upstream};
use reqwest::header::{ACCEPT, CONNECTION};
use serde::de::DeserializeOwned;

/// The requests of one target.
pub struct Client {
    upstream: Upstream,
    base: String,
    username: String,
    password: Secret,
}

impl Client {
    /// A client for the Cloud Connector at `base` (scheme, host, port; no trailing slash needed).
    pub fn new(upstream: Upstream, base: &str, username: String, password: Secret) -> Self {
        Client {
            upstream,
            base: base.trim_end_matches('/').to_string(),
            username,
            password,
        }
    }

    /// Target name, for logs.
    pub fn target(&self) -> &str {
        self.upstream.target()
    }

    /// GETs `path_and_query`; with `authenticated`, sends basic auth. Non-2xx answers become
    /// errors classified by [`classify_status`].
    pub async fn get(
        &self,
        path_and_query: &str,
        authenticated: bool,
    ) -> Result<Response, PollError> {
        let what = format!("GET {path_and_query}");
        let mut request = self
            .upstream
            .client()
            .get(format!("{}{path_and_query}", self.base))
            .header(ACCEPT, "application/json")
            .header(CONNECTION, "close");
        if authenticated {
            request = request.basic_auth(&self.username, Some(self.password.expose()));
        }
        let response = self.upstream.send(request, &what).await?;
        classify_status(response, &what)
    }
}

/// `{type, message}`, SCC's error body, as one line (empty if the body is something else).
pub fn vendor_error(response: &Response) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "type", default)]
        kind: Option<String>,
        #[serde(default)]
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(&response.body) {
        Ok(Body {
            kind: Some(k),
            message: Some(m),
        }) => format!("{k}: {m}"),
        Ok(Body {
            kind: None,
            message: Some(m),
        }) => m,
        Ok(Body {
            kind: Some(k),
            message: None,
        }) => k,
        _ if response.is_html() => String::new(),
        _ => response.excerpt(200),
    }
}

/// `Ok` for 2xx; SCC's meaning of the other codes otherwise.
pub fn classify_status(response: Response, what: &str) -> Result<Response, PollError> {
    let status = response.status;
    if status.is_success() {
        return Ok(response);
    }
    let vendor = vendor_error(&response);
    let said = if vendor.is_empty() {
        String::new()
    } else {
        format!("; the Cloud Connector said: {vendor}")
    };
    let error = match status.as_u16() {
        // SCC answers 400 both for an API its version lacks and for a master-only API on a
        // shadow instance; only the source, which can ask the instance for its role, can tell.
        400 => PollError::new(
            ErrorReason::Http4xx,
            format!(
                "{what}: HTTP 400: the Cloud Connector rejected the request (an API this version lacks, or a master-only API on a shadow){said}"
            ),
        ),
        401 => PollError::auth(format!(
            "{what}: HTTP 401: credentials rejected; check username and password{said}"
        )),
        403 => PollError::auth(format!(
            "{what}: HTTP 403: the user lacks the Monitoring (sccmonitoring) or Administrator role, \
             or its initial password has not been changed yet (log in to the UI once and change it){said}"
        )),
        409 => PollError::new(
            ErrorReason::Http4xx,
            format!("{what}: HTTP 409: conflicting state (is this a shadow instance?){said}"),
        ),
        // A redirect's message names where to and why it is not followed.
        _ if status.is_redirection() => response.status_error().context(what),
        _ => {
            let mut e = response.status_error();
            e.message = format!("{what}: HTTP {status}{said}");
            e
        }
    };
    Err(error.with_status(status.as_u16()))
}

/// Decodes a 2xx body as JSON; an HTML page (SCC's login page) or other non-JSON text is an
/// authentication problem, broken JSON a decode problem.
pub fn decode<T: DeserializeOwned>(response: &Response, what: &str) -> Result<T, PollError> {
    check_json_body(response, what)?;
    response.json::<T>().map_err(|e| e.context(what))
}

/// Refuses what is no JSON API answer: SCC's HTML login page (credentials not accepted) and
/// an empty body.
pub fn check_json_body(response: &Response, what: &str) -> Result<(), PollError> {
    let first = response
        .body
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .copied();
    if response.is_html() || first == Some(b'<') {
        return Err(PollError::auth(format!(
            "{what}: answered {} with an HTML page instead of JSON (the login page): the request was not \
             authenticated; check username and password, and that no proxy or SSO intercepts basic auth",
            response.status
        )));
    }
    if first.is_none() {
        return Err(PollError::decode(format!(
            "{what}: answered {} with an empty body instead of JSON",
            response.status
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use reqwest::header::{HeaderMap, CONTENT_TYPE};
    use reqwest::StatusCode;

    fn response(status: u16, content_type: &str, body: &str) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, content_type.parse().unwrap());
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: Bytes::from(body.to_string()),
        }
    }

    fn err(status: u16, body: &str) -> PollError {
        classify_status(response(status, "application/json", body), "GET /x").unwrap_err()
    }

    #[test]
    fn status_400_keeps_its_status_and_vendor_text_for_the_source_to_judge() {
        let e = err(400, r#"{"type":"INVALID_REQUEST","message":"Unknown API"}"#);
        assert_eq!(e.reason, ErrorReason::Http4xx);
        assert_eq!(e.http_status, Some(400));
        assert_eq!(e.retry_after, None);
        assert!(
            e.message.contains("INVALID_REQUEST: Unknown API"),
            "{}",
            e.message
        );
        assert!(e.message.starts_with("GET /x: HTTP 400"), "{}", e.message);
    }

    #[test]
    fn status_401_and_403_are_auth_with_hints() {
        let e = err(401, "");
        assert_eq!(e.reason, ErrorReason::Auth);
        assert!(e.message.contains("username and password"), "{}", e.message);
        let e = err(
            403,
            r#"{"type":"FORBIDDEN_REQUEST","message":"Password change required"}"#,
        );
        assert_eq!(e.reason, ErrorReason::Auth);
        assert!(e.message.contains("initial password"), "{}", e.message);
        assert!(e.message.contains("role"), "{}", e.message);
        assert!(
            e.message
                .contains("FORBIDDEN_REQUEST: Password change required"),
            "{}",
            e.message
        );
    }

    #[test]
    fn other_statuses_keep_the_core_classification() {
        let e = err(500, r#"{"type":"INTERNAL","message":"boom"}"#);
        assert_eq!(e.reason, ErrorReason::Http5xx);
        assert_eq!(
            e.message,
            "GET /x: HTTP 500 Internal Server Error; the Cloud Connector said: INTERNAL: boom"
        );
        assert_eq!(err(404, "").reason, ErrorReason::Http4xx);
        assert_eq!(err(409, "").reason, ErrorReason::Http4xx);
        assert_eq!(err(429, "").reason, ErrorReason::RateLimited);
    }

    #[test]
    fn html_or_text_200_is_auth_broken_json_is_decode() {
        let r = response(
            200,
            "text/html;charset=UTF-8",
            usage_exporter_sim::LOGIN_PAGE,
        );
        let e = decode::<serde_json::Value>(&r, "GET /x").unwrap_err();
        assert_eq!(e.reason, ErrorReason::Auth);
        let r = response(200, "application/json", "  <html>");
        assert_eq!(
            decode::<serde_json::Value>(&r, "GET /x")
                .unwrap_err()
                .reason,
            ErrorReason::Auth
        );
        let r = response(200, "application/json", r#"{"subaccounts":[{"#);
        let e = decode::<serde_json::Value>(&r, "GET /x").unwrap_err();
        assert_eq!(e.reason, ErrorReason::Decode);
        assert!(e.message.starts_with("GET /x: "), "{}", e.message);
        let r = response(200, "application/json", "");
        assert_eq!(
            decode::<serde_json::Value>(&r, "GET /x")
                .unwrap_err()
                .reason,
            ErrorReason::Decode
        );
        let r = response(200, "application/json", r#"{"a":1}"#);
        assert_eq!(decode::<serde_json::Value>(&r, "GET /x").unwrap()["a"], 1);
    }
}
