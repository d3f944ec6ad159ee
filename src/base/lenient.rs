//! Lenient JSON: the one set of field policies every source's model uses.
//!
//! Vendor payloads drift between versions: numbers arrive as strings, lists as one bare item or
//! `null`, field names in two spellings. Each field of a model picks a named policy here, so the
//! same oddity is treated the same way in every source:
//!
//! | policy | on a value it cannot read |
//! |---|---|
//! | [`number::or_absent`], [`flag`], [`text`] | the field is absent (`None`): one odd field never costs the others |
//! | [`number::or_fail`] | the endpoint fails with a `decode` error naming the field: for values a counter or total is built from, where a silent gap would lie |
//!
//! Spelling variants (`MetricId`/`metricID`/`metricId`) are folded with [`fold_keys`] before
//! decoding rather than declared as serde aliases, because serde rejects a payload carrying two
//! aliases of one field as a "duplicate field".

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Why a JSON value is not a usable number.
#[derive(Debug, Clone, PartialEq)]
pub struct NotANumber(pub String);

impl std::fmt::Display for NotANumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected a number, got {}", self.0)
    }
}

/// The one rule for reading a number: a JSON number or a numeric string (surrounding blanks
/// ignored) is a number; `null`, a missing field and an empty string are absent; anything else
/// — including `"NaN"`, `"inf"` and numbers too large for f64, which are no usage figures — is
/// [`NotANumber`].
pub fn number_from(value: &Value) -> Result<Option<f64>, NotANumber> {
    match value {
        Value::Null => Ok(None),
        Value::Number(n) => n
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| NotANumber(n.to_string())),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| NotANumber(format!("{s:?}"))),
        Value::Bool(b) => Err(NotANumber(format!("the boolean {b}"))),
        Value::Array(_) => Err(NotANumber("an array".into())),
        Value::Object(_) => Err(NotANumber("an object".into())),
    }
}

/// Number policies for `#[serde(default, deserialize_with = "…")]` on `Option<f64>` fields.
pub mod number {
    use super::*;

    /// A number; anything unreadable is absent.
    pub fn or_absent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let value = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
        Ok(number_from(&value).unwrap_or(None))
    }

    /// A number; anything unreadable fails the decode (and with it the endpoint's poll).
    pub fn or_fail<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        let value = Option::<Value>::deserialize(d)?.unwrap_or(Value::Null);
        number_from(&value).map_err(serde::de::Error::custom)
    }
}

/// Text from a string, number or boolean (numbers and booleans rendered as JSON writes them);
/// `null`, arrays and objects are absent. The text is kept as sent.
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    // Moves the decoded string out rather than copying it: payloads carry many text fields.
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(other) => text_from(&other),
        None => None,
    })
}

/// Like [`text`], but trimmed, and blank text is absent (identifiers and names).
pub fn trimmed_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(text(d)?
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// The [`text`] rule on a JSON value.
pub fn text_from(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A boolean from a JSON bool, `"true"`/`"false"` (any case, blanks or quotes around it) or a
/// number (0 is false); anything else is absent.
pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(flag_from(
        &Option::<Value>::deserialize(d)?.unwrap_or(Value::Null),
    ))
}

/// The [`flag`] rule on a JSON value.
pub fn flag_from(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) => bool_text(s),
        Value::Number(n) => n.as_f64().map(|v| v != 0.0),
        _ => None,
    }
}

/// Parses `true`/`false` in any case with surrounding whitespace or quotes.
pub fn bool_text(s: &str) -> Option<bool> {
    let t = s.trim().trim_matches('"').trim();
    if t.eq_ignore_ascii_case("true") {
        Some(true)
    } else if t.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// A list that may be missing or `null` (an empty list then); a non-list fails the decode.
pub fn list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// One item from a scalar, through a JSON value (newtype items are transparent there).
fn one_scalar<'de, T: Deserialize<'de>, E: serde::de::Error>(v: Value) -> Result<Vec<T>, E> {
    T::deserialize(v).map(|t| vec![t]).map_err(E::custom)
}

/// A list that may also arrive as one bare item, or be missing or `null`.
///
/// The shape decides (a JSON array is the list, anything else the one item), so an item that
/// fails to decode fails the list with its own error and path — never retried as one item
/// read positionally from the array, as an untagged enum would.
pub fn one_or_many<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    use serde::de::{value, Visitor};
    struct Shape<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for Shape<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list, one item or null")
        }
        fn visit_none<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut items = Vec::new();
            while let Some(item) = seq.next_element()? {
                items.push(item);
            }
            Ok(items)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(value::MapAccessDeserializer::new(map)).map(|t| vec![t])
        }
        // Scalars go through a JSON value, which (like the JSON deserializer) treats newtype
        // structs as transparent, so a bare code or message reads into a newtype item.
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Vec<T>, E> {
            one_scalar(Value::from(v))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Vec<T>, E> {
            one_scalar(Value::from(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Vec<T>, E> {
            one_scalar(Value::from(v))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Vec<T>, E> {
            one_scalar(Value::from(v))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Vec<T>, E> {
            one_scalar(Value::from(v))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Vec<T>, E> {
            one_scalar(Value::from(v))
        }
    }
    d.deserialize_option(Shape(std::marker::PhantomData))
}

/// One item or a list of them (the first one counts); `null` or `[]` is absent. Decided by the
/// shape like [`one_or_many`].
pub fn one_or_first<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(one_or_many(d)?.into_iter().next())
}

/// Folds every object key of the tree to ASCII lower case, so a model declares one spelling
/// (`#[serde(rename = "metricid")]`) and accepts them all. When a payload carries several
/// spellings of one key, the first one with a non-null value wins (keys in their sorted order,
/// which puts the vendor's documented PascalCase first), and decoding never fails on it.
pub fn fold_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut inner) in entries {
                fold_keys(&mut inner);
                let folded = key.to_ascii_lowercase();
                match map.get_mut(&folded) {
                    Some(existing) if existing.is_null() => *existing = inner,
                    Some(_) => {}
                    None => {
                        map.insert(folded, inner);
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(fold_keys),
        _ => {}
    }
}

/// Decodes a JSON value into `T` after [`fold_keys`].
pub fn from_folded<T: DeserializeOwned>(mut value: Value) -> Result<T, serde_json::Error> {
    fold_keys(&mut value);
    serde_json::from_value(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Fields {
        #[serde(default, deserialize_with = "number::or_absent")]
        soft: Option<f64>,
        #[serde(default, deserialize_with = "number::or_fail")]
        hard: Option<f64>,
        #[serde(default, deserialize_with = "text")]
        name: Option<String>,
        #[serde(default, deserialize_with = "trimmed_text")]
        id: Option<String>,
        #[serde(default, deserialize_with = "flag")]
        on: Option<bool>,
        #[serde(default, deserialize_with = "one_or_many")]
        items: Vec<u32>,
        #[serde(default, deserialize_with = "one_or_first")]
        first: Option<u32>,
        #[serde(default, deserialize_with = "list")]
        plain: Vec<u32>,
    }

    fn fields(v: Value) -> Result<Fields, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn numbers_follow_one_rule_with_two_policies() {
        for (input, expected) in [
            (json!(3), Some(3.0)),
            (json!(" 2.5 "), Some(2.5)),
            (json!(""), None),
            (json!(null), None),
        ] {
            let f = fields(json!({"soft": input, "hard": input})).unwrap();
            assert_eq!((f.soft, f.hard), (expected, expected), "{input}");
        }
        for garbage in [
            json!("NaN"),
            json!("inf"),
            json!("1e400"),
            json!("x"),
            json!(true),
        ] {
            let f = fields(json!({ "soft": garbage })).unwrap();
            assert_eq!(f.soft, None, "{garbage}");
            let e = fields(json!({ "hard": garbage })).unwrap_err().to_string();
            assert!(e.starts_with("expected a number, got"), "{e}");
        }
        assert_eq!(fields(json!({})).unwrap().hard, None);
    }

    #[test]
    fn text_flag_and_lists() {
        let f = fields(json!({"name": 443, "id": "  ", "on": "TRUE", "items": 7, "first": [4, 5], "plain": null})).unwrap();
        assert_eq!(f.name.as_deref(), Some("443"));
        assert_eq!(f.id, None);
        assert_eq!(f.on, Some(true));
        assert_eq!((f.items, f.first, f.plain), (vec![7], Some(4), vec![]));
        let f =
            fields(json!({"name": {"x": 1}, "id": " a ", "on": 0, "items": [1, 2], "first": []}))
                .unwrap();
        assert_eq!(
            (f.name, f.id.as_deref(), f.on),
            (None, Some("a"), Some(false))
        );
        assert_eq!((f.items, f.first), (vec![1, 2], None));
        assert!(
            fields(json!({"plain": 3})).is_err(),
            "a non-list is no list"
        );
    }

    #[test]
    fn a_failing_item_fails_its_list_with_its_own_error() {
        #[derive(Debug, Deserialize)]
        struct Item {
            #[serde(default, deserialize_with = "text")]
            _name: Option<String>,
            #[serde(default, deserialize_with = "number::or_fail")]
            total: Option<f64>,
        }
        #[derive(Debug, Deserialize)]
        struct Items {
            #[serde(default, deserialize_with = "one_or_many")]
            items: Vec<Item>,
        }
        for body in [
            json!({"items": [{"total": 1}, {"total": "lots"}]}),
            json!({"items": {"total": "lots"}}),
        ] {
            let e = serde_json::from_value::<Items>(body)
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("expected a number, got \"lots\""), "{e}");
        }
        let text = r#"{"items": [{"total": 1}, {"total": "lots"}]}"#;
        let e = serde_path_to_error::deserialize::<_, Items>(
            &mut serde_json::Deserializer::from_str(text),
        )
        .unwrap_err();
        assert_eq!(e.path().to_string(), "items[1].total");
        let items: Items = serde_json::from_str(r#"{"items": {"total": "2"}}"#).unwrap();
        assert_eq!(items.items[0].total, Some(2.0));
    }

    #[test]
    fn both_spellings_of_a_field_never_fail() {
        #[derive(Debug, Deserialize)]
        struct Metric {
            #[serde(rename = "metricid", default, deserialize_with = "trimmed_text")]
            id: Option<String>,
            #[serde(rename = "dayusage", default, deserialize_with = "one_or_many")]
            days: Vec<Value>,
        }
        let m: Metric = from_folded(
            json!({"MetricId": "a", "metricId": "b", "metricID": null, "DayUsage": {"x": 1}}),
        )
        .unwrap();
        assert_eq!(m.id.as_deref(), Some("a"), "documented spelling first");
        assert_eq!(m.days.len(), 1);
        let m: Metric = from_folded(json!({"MetricId": null, "metricId": "b"})).unwrap();
        assert_eq!(
            m.id.as_deref(),
            Some("b"),
            "a null spelling never hides a value"
        );
        let mut nested = json!([{"Outer": {"Inner": 1}}]);
        fold_keys(&mut nested);
        assert_eq!(nested, json!([{"outer": {"inner": 1}}]));
    }
}
