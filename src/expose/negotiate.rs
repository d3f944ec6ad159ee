//! Content negotiation for `/metrics`, the way client_golang's promhttp does it with
//! `EnableOpenMetrics` (prometheus/common v0.70 `expfmt.NegotiateIncludingOpenMetrics`, with
//! munnerz/goautoneg parsing the `Accept` header):
//!
//! - the clauses of `Accept` are tried in order of preference (higher `q` first; at equal `q`,
//!   a concrete type before a wildcard);
//! - `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`
//!   is the protobuf format; `text/plain` with `version=0.0.4` or no version is the text format;
//!   `application/openmetrics-text` with `version=1.0.0` is OpenMetrics 1.0.0, with `0.0.1` or no
//!   version OpenMetrics 0.0.1 (the same body, labelled as asked);
//! - anything else (`*/*`, `text/plain;version=1.0.0`, garbage, no header) falls back to the text
//!   format 0.0.4;
//! - an `escaping=` parameter (`allow-utf-8`, `underscores`, `dots`, `values`) on any clause tried
//!   up to the chosen one is echoed in the Content-Type; unknown values are ignored and the
//!   default is `underscores` (`model.NameEscapingScheme`). Every name this exporter writes is a
//!   legacy-valid Prometheus name, which no scheme changes, so the body is the same for all.
//!
//! Two deliberate differences: a clause with `q=0` is "not acceptable" (RFC 9110 §12.4.2) and is
//! skipped, where goautoneg would still try it last; protobuf `encoding=text` and
//! `encoding=compact-text` (debugging formats) are not offered, so such a clause is passed over.

/// The encodings the exposition builds (each once per data change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encoding {
    /// OpenMetrics text (1.0.0; also served for 0.0.1).
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4.
    Text,
    /// Delimited protobuf `io.prometheus.client.MetricFamily` messages.
    Protobuf,
}

impl Encoding {
    /// Every encoding, in index order.
    pub const ALL: [Encoding; 3] = [Encoding::OpenMetrics, Encoding::Text, Encoding::Protobuf];

    /// Position in [`Encoding::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The `format` label value of the self-metrics.
    pub fn label(self) -> &'static str {
        match self {
            Encoding::OpenMetrics => "openmetrics",
            Encoding::Text => "text",
            Encoding::Protobuf => "protobuf",
        }
    }
}

/// `text/plain; version=0.0.4; charset=utf-8` (expfmt.FmtText).
pub const TEXT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// expfmt.FmtOpenMetrics_1_0_0.
pub const OPENMETRICS_1_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// expfmt.FmtOpenMetrics_0_0_1.
pub const OPENMETRICS_0_TYPE: &str = "application/openmetrics-text; version=0.0.1; charset=utf-8";
/// expfmt.FmtProtoDelim.
pub const PROTOBUF_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The outcome of negotiation: what to encode and the exact Content-Type to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The body to send.
    pub encoding: Encoding,
    /// The Content-Type header, `escaping=` included.
    pub content_type: String,
}

struct Clause<'a> {
    kind: &'a str,
    subtype: &'a str,
    q: f64,
    params: Vec<(&'a str, &'a str)>,
}

impl<'a> Clause<'a> {
    fn param(&self, name: &str) -> Option<&'a str> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| *v)
    }

    fn wildcards(&self) -> u8 {
        u8::from(self.kind == "*") + u8::from(self.subtype == "*")
    }
}

/// Parses one `Accept` header the way goautoneg does (media ranges split on `,`, parameters on
/// `;`, `q` a float defaulting to 1 and 0 when unparseable), then orders it by preference.
fn parse_accept(header: &str) -> Vec<Clause<'_>> {
    let mut clauses = Vec::new();
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let range = pieces.next().unwrap_or("").trim();
        let (kind, subtype) = match range.split_once('/') {
            Some((k, s)) if !s.contains('/') => (k.trim(), s.trim()),
            None if range == "*" => ("*", "*"),
            _ => continue,
        };
        if kind.is_empty() || subtype.is_empty() {
            continue;
        }
        let mut clause = Clause {
            kind,
            subtype,
            q: 1.0,
            params: Vec::new(),
        };
        for param in pieces {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            if value.contains('=') {
                continue;
            }
            let (name, value) = (name.trim(), value.trim());
            if name == "q" {
                clause.q = value.parse::<f64>().unwrap_or(0.0);
            } else {
                clause.params.push((name, value));
            }
        }
        clauses.push(clause);
    }
    // Stable: equal preference keeps header order.
    clauses.sort_by(|a, b| {
        b.q.partial_cmp(&a.q)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.wildcards().cmp(&b.wildcards()))
    });
    clauses
}

/// Chooses the format for the given `Accept` header values (joined with `,`, as Go's
/// `Header.Get` would see only the first; several headers are rare and this is kinder).
pub fn negotiate<'a>(accept: impl IntoIterator<Item = &'a str>) -> Negotiated {
    let header = accept.into_iter().collect::<Vec<_>>().join(",");
    let mut escaping = "underscores";
    let mut chosen = None;
    for clause in parse_accept(&header) {
        if clause.q <= 0.0 {
            continue;
        }
        if let Some(scheme) = clause.param("escaping") {
            if matches!(scheme, "allow-utf-8" | "underscores" | "dots" | "values") {
                escaping = scheme;
            }
        }
        let version = clause.param("version").unwrap_or("");
        let media = (clause.kind, clause.subtype);
        if media == ("application", "vnd.google.protobuf")
            && clause.param("proto") == Some("io.prometheus.client.MetricFamily")
            && clause.param("encoding") == Some("delimited")
        {
            chosen = Some((Encoding::Protobuf, PROTOBUF_TYPE));
            break;
        }
        if media == ("text", "plain") && (version == "0.0.4" || version.is_empty()) {
            chosen = Some((Encoding::Text, TEXT_TYPE));
            break;
        }
        if media == ("application", "openmetrics-text") {
            match version {
                "1.0.0" => chosen = Some((Encoding::OpenMetrics, OPENMETRICS_1_TYPE)),
                "0.0.1" | "" => chosen = Some((Encoding::OpenMetrics, OPENMETRICS_0_TYPE)),
                _ => continue,
            }
            break;
        }
    }
    let (encoding, content_type) = chosen.unwrap_or((Encoding::Text, TEXT_TYPE));
    Negotiated {
        encoding,
        content_type: format!("{content_type}; escaping={escaping}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &str) -> (Encoding, String) {
        let n = negotiate([accept]);
        (n.encoding, n.content_type)
    }

    // Prometheus v2.42.0 scrape/scrape.go scrapeAcceptHeader / scrapeAcceptHeaderWithProtobuf.
    const PROM_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    const PROM_2_42_PROTO: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    // Prometheus v2.49 acceptHeader(DefaultScrapeProtocols): its `fmt.Sprintf("*/*;q=%d", weight)`
    // writes `*/*;q=2`; v2.50-v2.55 write `*/*;q=0.2`.
    const PROM_2_49: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=2";
    const PROM_2_55: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    const PROM_2_55_PROTO: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,application/openmetrics-text;version=0.0.1;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    // Prometheus v3.0.0 (UTF-8 validation, the default: every clause gets escaping=allow-utf-8).
    const PROM_3_0: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;escaping=allow-utf-8;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;escaping=allow-utf-8;q=0.3,*/*;q=0.2";
    // Prometheus 3.x (main): escaping only on the 1.0.0 text formats, PrometheusText1.0.0 added.
    const PROM_3_X: &str = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    const PROM_3_X_PROTO: &str = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    const PROM_3_X_UNDERSCORES: &str = "application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=underscores;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    const PROM_3_TEXT_ONLY: &str = "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";

    #[test]
    fn prometheus_headers() {
        let om = |esc: &str| {
            (
                Encoding::OpenMetrics,
                format!(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping={esc}"
                ),
            )
        };
        let proto = (
            Encoding::Protobuf,
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=underscores".to_string(),
        );
        assert_eq!(pick(PROM_2_42), om("underscores"));
        assert_eq!(pick(PROM_2_55), om("underscores"));
        assert_eq!(pick(PROM_3_0), om("allow-utf-8"));
        assert_eq!(pick(PROM_3_X), om("allow-utf-8"));
        assert_eq!(pick(PROM_3_X_UNDERSCORES), om("underscores"));
        assert_eq!(pick(PROM_2_42_PROTO), proto);
        assert_eq!(pick(PROM_2_55_PROTO), proto);
        assert_eq!(pick(PROM_3_X_PROTO), proto);
        // v2.49's `*/*;q=2` comes first and matches nothing (client_golang v0.70 matches no
        // wildcard), so the next clause, OpenMetrics 1.0.0, wins.
        assert_eq!(pick(PROM_2_49), om("underscores"));
        // Text-only scrape protocols of Prometheus 3: 1.0.0 is not offered, 0.0.4 is.
        assert_eq!(
            pick(PROM_3_TEXT_ONLY),
            (
                Encoding::Text,
                "text/plain; version=0.0.4; charset=utf-8; escaping=allow-utf-8".into()
            )
        );
    }

    #[test]
    fn other_clients_get_text() {
        let text = (
            Encoding::Text,
            "text/plain; version=0.0.4; charset=utf-8; escaping=underscores".to_string(),
        );
        for accept in [
            "*/*",
            "",
            "text/plain",
            "text/plain;version=0.0.4",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "garbage",
            ";;;,,,/",
            "a/b/c",
            "application/json",
            "text/plain;version=9.9",
            "application/openmetrics-text;version=7.0.0",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text",
            "application/vnd.google.protobuf;encoding=delimited",
            "application/openmetrics-text;q=0",
            "text/plain;escaping=bogus",
        ] {
            assert_eq!(pick(accept), text, "{accept:?}");
        }
        assert_eq!(negotiate([]), negotiate([""]));
    }

    #[test]
    fn q_values_order_the_choice() {
        assert_eq!(
            pick("text/plain;q=0.2,application/openmetrics-text;version=1.0.0;q=0.9").0,
            Encoding::OpenMetrics
        );
        assert_eq!(
            pick("application/openmetrics-text;version=1.0.0;q=0.1,text/plain;q=0.2").0,
            Encoding::Text
        );
        assert_eq!(
            pick("application/openmetrics-text").1,
            format!("{OPENMETRICS_0_TYPE}; escaping=underscores")
        );
        assert_eq!(
            pick("application/openmetrics-text;version=0.0.1;escaping=values").1,
            format!("{OPENMETRICS_0_TYPE}; escaping=values")
        );
        assert_eq!(
            pick("application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=dots").1,
            format!("{PROTOBUF_TYPE}; escaping=dots")
        );
        // An escaping parameter on a clause tried before the chosen one carries over (expfmt).
        assert_eq!(
            pick("text/plain;version=1.0.0;escaping=allow-utf-8;q=0.9,text/plain;q=0.5").1,
            format!("{TEXT_TYPE}; escaping=allow-utf-8")
        );
        // Several Accept headers are read as one list.
        assert_eq!(
            negotiate(["text/html", "application/openmetrics-text;version=1.0.0"]).encoding,
            Encoding::OpenMetrics
        );
    }
}
