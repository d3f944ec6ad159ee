//! The simulator's own implementation of Tencent Cloud's request signatures, written from the
//! vendor documentation (not shared with the exporter, so that one cannot mask a bug in the
//! other):
//!
//! * **API 3.0, TC3-HMAC-SHA256** (Tencent Cloud "Signature v3"): a canonical request
//!   `METHOD\nURI\nQUERY\nCanonicalHeaders\nSignedHeaders\nhex(SHA256(payload))`, where the
//!   canonical headers are `name:value\n` with lower-case names and trimmed values, sorted by
//!   name, and the signed headers are those names joined with `;`; the string to sign
//!   `TC3-HMAC-SHA256\n<timestamp>\n<UTC date>/<service>/tc3_request\nhex(SHA256(canonical))`;
//!   the key chain `HMAC("TC3" + SecretKey, date) → HMAC(·, service) → HMAC(·, "tc3_request")`,
//!   whose HMAC of the string to sign, in lower-case hex, is the signature.
//! * **v2** (Cloud Monitor v2 "Signature Method", Tencent Cloud "Signature" v1): every parameter
//!   except `Signature`, with `_` in names replaced by `.`, sorted by name and joined raw (not
//!   URL-encoded) as `name=value` with `&`; the source string
//!   `METHOD + host + path + "?" + that`; the signature is base64 of its HMAC-SHA1
//!   (`SignatureMethod` absent or `HmacSHA1`) or HMAC-SHA256 (`HmacSHA256`) with the SecretKey.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The v2 signature algorithms (`SignatureMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V2Algorithm {
    /// `HmacSHA1`, used when `SignatureMethod` is absent.
    HmacSha1,
    /// `HmacSHA256`.
    HmacSha256,
}

impl V2Algorithm {
    /// The algorithm a `SignatureMethod` parameter selects (`None`: absent → HmacSHA1); `None`
    /// for an unknown name. Names are matched without regard to case, as the service does.
    pub fn from_param(value: Option<&str>) -> Option<V2Algorithm> {
        match value {
            None => Some(V2Algorithm::HmacSha1),
            Some(v) if v.eq_ignore_ascii_case("HmacSHA1") => Some(V2Algorithm::HmacSha1),
            Some(v) if v.eq_ignore_ascii_case("HmacSHA256") => Some(V2Algorithm::HmacSha256),
            Some(_) => None,
        }
    }
}

/// The v2 source string ("original signature string") of a request.
pub fn v2_source(http_method: &str, host: &str, path: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(String, &str)> = params
        .iter()
        .filter(|(name, _)| name != "Signature")
        .map(|(name, value)| (name.replace('_', "."), value.as_str()))
        .collect();
    sorted.sort();
    let mut out = format!("{}{host}{path}?", http_method.to_ascii_uppercase());
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// The v2 signature (base64) of a source string.
pub fn v2_sign(secret_key: &str, source: &str, algorithm: V2Algorithm) -> String {
    let key = secret_key.as_bytes();
    let mac = match algorithm {
        V2Algorithm::HmacSha1 => {
            let mut m = Hmac::<Sha1>::new_from_slice(key).expect("HMAC accepts any key");
            m.update(source.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        V2Algorithm::HmacSha256 => hmac256(key, source.as_bytes()).to_vec(),
    };
    base64::engine::general_purpose::STANDARD.encode(mac)
}

/// The TC3 canonical request. `headers` are the signed headers as (name, value) in any order.
pub fn tc3_canonical_request(
    http_method: &str,
    uri: &str,
    query: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) -> String {
    let (canonical, signed) = tc3_headers(headers);
    format!(
        "{}\n{uri}\n{query}\n{canonical}\n{signed}\n{}",
        http_method.to_ascii_uppercase(),
        hex::encode(Sha256::digest(payload))
    )
}

/// `(CanonicalHeaders, SignedHeaders)` of a header list.
pub fn tc3_headers(headers: &[(&str, &str)]) -> (String, String) {
    let mut list: Vec<(String, &str)> = headers
        .iter()
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim()))
        .collect();
    list.sort();
    let canonical = list.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed = list
        .iter()
        .map(|(n, _)| n.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (canonical, signed)
}

/// The UTC date (`YYYY-MM-DD`) of a Unix timestamp, as used in the credential scope.
pub fn tc3_date(timestamp: i64) -> String {
    chrono::DateTime::from_timestamp(timestamp, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The TC3 string to sign.
pub fn tc3_string_to_sign(timestamp: i64, service: &str, canonical_request: &str) -> String {
    format!(
        "TC3-HMAC-SHA256\n{timestamp}\n{}/{service}/tc3_request\n{}",
        tc3_date(timestamp),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// The TC3 signature (lower-case hex) of a string to sign.
pub fn tc3_sign(secret_key: &str, date: &str, service: &str, string_to_sign: &str) -> String {
    let k_date = hmac256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = hmac256(&k_date, service.as_bytes());
    let k_signing = hmac256(&k_service, b"tc3_request");
    hex::encode(hmac256(&k_signing, string_to_sign.as_bytes()))
}

/// A parsed `Authorization: TC3-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tc3Header {
    /// SecretId of the credential.
    pub secret_id: String,
    /// Date of the credential scope.
    pub date: String,
    /// Service of the credential scope.
    pub service: String,
    /// The `SignedHeaders` list as sent.
    pub signed_headers: String,
    /// The hex signature as sent.
    pub signature: String,
}

impl Tc3Header {
    /// Parses the header value; `None` when it is not a complete TC3 authorization.
    pub fn parse(value: &str) -> Option<Tc3Header> {
        let fields = value.trim().strip_prefix("TC3-HMAC-SHA256")?;
        let field = |name: &str| {
            fields.split(',').find_map(|part| {
                let (k, v) = part.trim().split_once('=')?;
                (k == name).then(|| v.trim().to_string())
            })
        };
        let credential = field("Credential")?;
        let scope: Vec<&str> = credential.split('/').collect();
        let [secret_id, date, service, "tc3_request"] = scope.as_slice() else {
            return None;
        };
        Some(Tc3Header {
            secret_id: secret_id.to_string(),
            date: date.to_string(),
            service: service.to_string(),
            signed_headers: field("SignedHeaders")?,
            signature: field("Signature")?,
        })
    }
}

/// Compares two signatures in constant time (for equal lengths).
pub fn signatures_match(sent: &str, expected: &str) -> bool {
    use subtle::ConstantTimeEq;
    sent.len() == expected.len() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

fn hmac256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    //! Published vectors (the same ones the exporter's own signer is tested against):
    //! * v2 HmacSHA1: the worked example of the Cloud Monitor v2 API documentation, section
    //!   "Signature Method" (copy in shared/api-docs/tencent-cloud-monitor-v2.txt; the same
    //!   example appears in Tencent Cloud's "Signature" v1 documentation).
    //! * v2 POST/GET HmacSHA1 and POST HmacSHA256: the unit tests of Tencent's Python SDK
    //!   for the v2 API (QcloudApi/qcloudapi-sdk-python, `tests/unit/common/test_sign.py`).
    //! * TC3-HMAC-SHA256: the worked example of Tencent Cloud's "Signature v3" documentation
    //!   (CVM DescribeInstances, 2019-02-25), with its older `...EXAMPLE` and its current
    //!   `...*******` example key; both recorded in shared/API-NOTES.md §4.
    use super::*;

    fn params(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn v2_documentation_example() {
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
        let source = v2_source("GET", "cvm.api.qcloud.com", "/v2/index.php", &p);
        assert_eq!(
            source,
            "GETcvm.api.qcloud.com/v2/index.php?Action=DescribeInstances&Nonce=11886&Region=gz&SecretId=AKIDz8krbsJ5yKBZQpn74WFkmLPx3gnPhESA&Timestamp=1465185768&instanceIds.0=ins-09dx96dg&limit=20&offset=0"
        );
        let key = "Gu5t9xGARNpq86cd98joQYCN3Cozk1qA";
        assert_eq!(
            v2_sign(key, &source, V2Algorithm::HmacSha1),
            "NSI3UqqD99b/UJb4tbG/xZpRW64="
        );
        // "If the input parameter contains an underscore, convert it to '.'": the same request
        // written with `instanceIds_0` has the same source string.
        let mut underscored = p.clone();
        underscored[5].0 = "instanceIds_0".into();
        assert_eq!(
            v2_source("GET", "cvm.api.qcloud.com", "/v2/index.php", &underscored),
            source
        );
        // A Signature parameter already present is not signed.
        let mut signed = p.clone();
        signed.push(("Signature".into(), "NSI3UqqD99b/UJb4tbG/xZpRW64=".into()));
        assert_eq!(
            v2_source("get", "cvm.api.qcloud.com", "/v2/index.php", &signed),
            source
        );
    }

    #[test]
    fn v2_sdk_vectors() {
        let sign = |http: &str, method: &str| {
            let p = params(&[
                ("SecretId", "secretIdFoo"),
                ("Region", "ap-guangzhou"),
                ("SignatureMethod", method),
                ("Nonce", "1290303896666895346"),
                ("Timestamp", "1512393162"),
                ("Action", "DescribeInstances"),
                ("Version", "2017-03-12"),
            ]);
            let algorithm = V2Algorithm::from_param(Some(method)).unwrap();
            let source = v2_source(http, "cvm.api.qcloud.com", "/v2/index.php", &p);
            v2_sign("secretKeyBar", &source, algorithm)
        };
        assert_eq!(sign("POST", "HmacSHA1"), "p3n+pxBqF5JGZtDSxoVn5tGngf0=");
        assert_eq!(sign("post", "HmacSHA1"), "p3n+pxBqF5JGZtDSxoVn5tGngf0=");
        assert_eq!(sign("GET", "HmacSHA1"), "5HAq1BOKNLEE2/uauWnp6Zv9Z3c=");
        assert_eq!(
            sign("POST", "HmacSHA256"),
            "B2T37FRSP6Fk0/q/cdfrTE0p3zX5ooB/2BPWZUFpsj4="
        );
    }

    #[test]
    fn v2_signature_method_names() {
        assert_eq!(V2Algorithm::from_param(None), Some(V2Algorithm::HmacSha1));
        assert_eq!(
            V2Algorithm::from_param(Some("hmacsha256")),
            Some(V2Algorithm::HmacSha256)
        );
        assert_eq!(V2Algorithm::from_param(Some("HmacMD5")), None);
    }

    const TC3_PAYLOAD: &str =
        r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;
    const TC3_TIMESTAMP: i64 = 1551113065;

    fn tc3_canonical() -> String {
        tc3_canonical_request(
            "POST",
            "/",
            "",
            &[
                ("Host", "cvm.tencentcloudapi.com"),
                ("Content-Type", "application/json; charset=utf-8"),
            ],
            TC3_PAYLOAD.as_bytes(),
        )
    }

    #[test]
    fn tc3_documentation_example() {
        assert_eq!(
            hex::encode(Sha256::digest(TC3_PAYLOAD.as_bytes())),
            "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        let canonical = tc3_canonical();
        assert_eq!(
            canonical,
            "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
        );
        assert_eq!(tc3_date(TC3_TIMESTAMP), "2019-02-25");
        let to_sign = tc3_string_to_sign(TC3_TIMESTAMP, "cvm", &canonical);
        assert!(to_sign.starts_with("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"));
        assert_eq!(
            tc3_sign(
                "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
                "2019-02-25",
                "cvm",
                &to_sign
            ),
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
        assert_eq!(
            tc3_sign(
                "Gu5t9xGARNpq86cd98joQYCN3*******",
                "2019-02-25",
                "cvm",
                &to_sign
            ),
            "2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"
        );
    }

    #[test]
    fn tc3_authorization_header_parses() {
        let header = "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168";
        let parsed = Tc3Header::parse(header).unwrap();
        assert_eq!(parsed.secret_id, "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE");
        assert_eq!(parsed.date, "2019-02-25");
        assert_eq!(parsed.service, "cvm");
        assert_eq!(parsed.signed_headers, "content-type;host");
        assert!(signatures_match(
            &parsed.signature,
            "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        ));
        assert!(!signatures_match(&parsed.signature, "72e4"));
        assert!(Tc3Header::parse("Basic dXNlcjpwYXNz").is_none());
        assert!(Tc3Header::parse(
            "TC3-HMAC-SHA256 Credential=id/2019-02-25/cvm/v1, SignedHeaders=host, Signature=00"
        )
        .is_none());
    }
}
