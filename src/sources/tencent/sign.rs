//! Request signing for both Tencent API generations.
//!
//! * v2 (`/v2/index.php`): sort every parameter except `Signature` by name, turn `_` in names
//!   into `.`, join the raw (not URL-encoded) `name=value` pairs with `&`, sign
//!   `METHOD + host + path + "?" + joined` with HMAC-SHA1 (default) or HMAC-SHA256, base64.
//! * API 3.0: TC3-HMAC-SHA256 over a canonical request with the signed headers
//!   `content-type;host`, a key chain `"TC3"+key → date → service → "tc3_request"`, hex.
//!
//! The host in both is the host of the URL actually called, with the port when it is not the
//! scheme's default (what the `Host` header carries).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The v2 signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum V2Method {
    /// `HmacSHA1`, the default (the `SignatureMethod` parameter is then optional).
    #[default]
    HmacSha1,
    /// `HmacSHA256`, selected by `SignatureMethod=HmacSHA256`.
    HmacSha256,
}

impl V2Method {
    /// Parses the config / wire name (case-insensitive).
    pub fn parse(name: &str) -> Option<V2Method> {
        match name.to_ascii_lowercase().as_str() {
            "hmacsha1" => Some(V2Method::HmacSha1),
            "hmacsha256" => Some(V2Method::HmacSha256),
            _ => None,
        }
    }

    /// The value of the `SignatureMethod` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            V2Method::HmacSha1 => "HmacSHA1",
            V2Method::HmacSha256 => "HmacSHA256",
        }
    }
}

/// The v2 request string: parameters (without `Signature`) sorted by name, `_` in names turned
/// into `.`, raw values, joined with `&`.
pub fn v2_request_string(params: &[(String, String)]) -> String {
    let mut pairs: Vec<(String, &str)> = params
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.replace('_', "."), v.as_str()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The v2 string to sign: `METHOD + host + path + "?" + request string`.
pub fn v2_string_to_sign(
    method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
) -> String {
    format!(
        "{}{host}{path}?{}",
        method.to_ascii_uppercase(),
        v2_request_string(params)
    )
}

/// Signs a v2 string to sign: base64 of the HMAC.
pub fn v2_sign_string(key: &str, string_to_sign: &str, method: V2Method) -> String {
    let raw = match method {
        V2Method::HmacSha1 => hmac_sha1(key.as_bytes(), string_to_sign.as_bytes()),
        V2Method::HmacSha256 => hmac_sha256(key.as_bytes(), string_to_sign.as_bytes()),
    };
    base64::engine::general_purpose::STANDARD.encode(raw)
}

/// The v2 `Signature` of a request.
pub fn v2_signature(
    key: &str,
    http_method: &str,
    host: &str,
    path: &str,
    params: &[(String, String)],
    method: V2Method,
) -> String {
    v2_sign_string(
        key,
        &v2_string_to_sign(http_method, host, path, params),
        method,
    )
}

/// The inputs of a TC3-HMAC-SHA256 signature (POST to `/` with no query string).
#[derive(Debug, Clone)]
pub struct Tc3Request<'a> {
    /// Service name, e.g. `monitor`.
    pub service: &'a str,
    /// Host header value (with port when not the scheme default).
    pub host: &'a str,
    /// Content-Type header value, signed as sent.
    pub content_type: &'a str,
    /// The exact body bytes.
    pub payload: &'a [u8],
    /// `X-TC-Timestamp`, Unix seconds.
    pub timestamp: i64,
}

impl Tc3Request<'_> {
    /// The UTC date of the timestamp, `YYYY-MM-DD`.
    pub fn date(&self) -> String {
        chrono::DateTime::from_timestamp(self.timestamp, 0)
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_else(|| "1970-01-01".into())
    }

    /// The canonical request.
    pub fn canonical_request(&self) -> String {
        format!(
            "POST\n/\n\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{}",
            self.content_type,
            self.host,
            hex::encode(Sha256::digest(self.payload))
        )
    }

    /// The credential scope `<date>/<service>/tc3_request`.
    pub fn scope(&self) -> String {
        format!("{}/{}/tc3_request", self.date(), self.service)
    }

    /// The string to sign.
    pub fn string_to_sign(&self) -> String {
        format!(
            "TC3-HMAC-SHA256\n{}\n{}\n{}",
            self.timestamp,
            self.scope(),
            hex::encode(Sha256::digest(self.canonical_request().as_bytes()))
        )
    }

    /// The hex signature with `secret_key`.
    pub fn signature(&self, secret_key: &str) -> String {
        let date_key = hmac_sha256(
            format!("TC3{secret_key}").as_bytes(),
            self.date().as_bytes(),
        );
        let service_key = hmac_sha256(&date_key, self.service.as_bytes());
        let signing_key = hmac_sha256(&service_key, b"tc3_request");
        hex::encode(hmac_sha256(&signing_key, self.string_to_sign().as_bytes()))
    }

    /// The `Authorization` header value.
    pub fn authorization(&self, secret_id: &str, secret_key: &str) -> String {
        format!(
            "TC3-HMAC-SHA256 Credential={secret_id}/{}, SignedHeaders=content-type;host, Signature={}",
            self.scope(),
            self.signature(secret_key)
        )
    }
}

/// The parts of a TC3 `Authorization` header (for the simulator's verification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Authorization {
    /// Key id from the credential.
    pub secret_id: String,
    /// Date from the credential.
    pub date: String,
    /// Service from the credential.
    pub service: String,
    /// Signed header names.
    pub signed_headers: String,
    /// Hex signature.
    pub signature: String,
}

impl Tc3Authorization {
    /// Parses `TC3-HMAC-SHA256 Credential=id/date/service/tc3_request, SignedHeaders=..., Signature=...`.
    pub fn parse(header: &str) -> Option<Tc3Authorization> {
        let rest = header.strip_prefix("TC3-HMAC-SHA256 ")?;
        let mut credential = None;
        let mut signed_headers = None;
        let mut signature = None;
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=')?;
            match k {
                "Credential" => credential = Some(v.to_string()),
                "SignedHeaders" => signed_headers = Some(v.to_string()),
                "Signature" => signature = Some(v.to_string()),
                _ => {}
            }
        }
        let credential = credential?;
        let mut parts = credential.split('/');
        let secret_id = parts.next()?.to_string();
        let date = parts.next()?.to_string();
        let service = parts.next()?.to_string();
        if parts.next()? != "tc3_request" {
            return None;
        }
        Some(Tc3Authorization {
            secret_id,
            date,
            service,
            signed_headers: signed_headers?,
            signature: signature?,
        })
    }
}

/// The host as signed: host, plus `:port` when the port is not the scheme's default.
pub fn signing_host(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time comparison of two signatures.
pub fn same_signature(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn v2_doc_vector() {
        let p = params(&[
            ("Action", "DescribeInstances"),
            ("SecretId", "AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA"),
            ("Timestamp", "1465185768"),
            ("Nonce", "11886"),
            ("Region", "gz"),
            ("instanceIds.0", "ins-09dx96dg"),
            ("offset", "0"),
            ("limit", "20"),
        ]);
        let s = v2_string_to_sign("GET", "cvm.api.qcloud.com", "/v2/index.php", &p);
        assert_eq!(
            s,
            "GETcvm.api.qcloud.com/v2/index.php?Action=DescribeInstances&Nonce=11886&Region=gz&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&Timestamp=1465185768&instanceIds.0=ins-09dx96dg&limit=20&offset=0"
        );
        let key = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";
        assert_eq!(
            v2_sign_string(key, &s, V2Method::HmacSha1),
            "NSI3UqqD99b/UJb4tbG/xZpRW64="
        );
        // Underscores in names become dots before sorting: the same request written with
        // `instanceIds_0` signs identically.
        let mut underscored = p.clone();
        underscored[5].0 = "instanceIds_0".into();
        assert_eq!(
            v2_signature(
                key,
                "GET",
                "cvm.api.qcloud.com",
                "/v2/index.php",
                &underscored,
                V2Method::HmacSha1
            ),
            "NSI3UqqD99b/UJb4tbG/xZpRW64="
        );
    }

    fn sdk_params(method: V2Method) -> Vec<(String, String)> {
        params(&[
            ("SecretId", "secretIdFoo"),
            ("Region", "ap-guangzhou"),
            ("SignatureMethod", method.as_str()),
            ("Nonce", "1290303896666895346"),
            ("Timestamp", "1512393162"),
            ("Action", "DescribeInstances"),
            ("Version", "2017-03-12"),
        ])
    }

    #[test]
    fn v2_sdk_vectors() {
        let sign = |http: &str, m: V2Method| {
            v2_signature(
                "secretKeyBar",
                http,
                "cvm.api.qcloud.com",
                "/v2/index.php",
                &sdk_params(m),
                m,
            )
        };
        assert_eq!(
            sign("POST", V2Method::HmacSha1),
            "p3n+pxBqF5JGZtDSxoVn5tGngf0="
        );
        assert_eq!(
            sign("GET", V2Method::HmacSha1),
            "5HAq1BOKNLEE2/uauWnp6Zv9Z3c="
        );
        assert_eq!(
            sign("POST", V2Method::HmacSha256),
            "B2T37FRSP6Fk0/q/cdfrTE0p3zX5ooB/2BPWZUFpsj4="
        );
    }

    #[test]
    fn v2_method_names() {
        assert_eq!(V2Method::parse("hmacsha256"), Some(V2Method::HmacSha256));
        assert_eq!(V2Method::parse("HmacSHA1"), Some(V2Method::HmacSha1));
        assert_eq!(V2Method::parse("md5"), None);
    }

    const TC3_PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    fn tc3_vector() -> Tc3Request<'static> {
        Tc3Request {
            service: "cvm",
            host: "cvm.tencentcloudapi.com",
            content_type: "application/json; charset=utf-8",
            payload: TC3_PAYLOAD.as_bytes(),
            timestamp: 1551113065,
        }
    }

    #[test]
    fn tc3_vectors() {
        let r = tc3_vector();
        assert_eq!(r.date(), "2019-02-25");
        assert_eq!(
            hex::encode(Sha256::digest(r.payload)),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            r.canonical_request(),
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(
            r.signature("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert_eq!(
            r.signature("Gu5t9xGARNpq86cd98joQYCN3*******"),
            "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
    }

    #[test]
    fn tc3_authorization_round_trip() {
        let r = tc3_vector();
        let header = r.authorization("AKIDEXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE");
        assert_eq!(
            header,
            "TC3-HMAC-SHA256 Credential=AKIDEXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        let parsed = Tc3Authorization::parse(&header).unwrap();
        assert_eq!(parsed.secret_id, "AKIDEXAMPLE");
        assert_eq!(parsed.date, "2019-02-25");
        assert_eq!(parsed.service, "cvm");
        assert_eq!(parsed.signed_headers, "content-type;host");
        assert!(Tc3Authorization::parse("Basic abc").is_none());
    }

    #[test]
    fn signing_host_keeps_non_default_ports() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert_eq!(
            signing_host(&u("https://monitor.tencentcloudapi.com")),
            "monitor.tencentcloudapi.com"
        );
        assert_eq!(
            signing_host(&u("https://monitor.tencentcloudapi.com:443/")),
            "monitor.tencentcloudapi.com"
        );
        assert_eq!(signing_host(&u("http://127.0.0.1:8080")), "127.0.0.1:8080");
    }
}
