//! `${ENV_VAR}` expansion in every string value of the parsed YAML tree (`$$` is a literal `$`).

use serde_yaml_ng::Value;

/// Expands `${NAME}` in all string scalars; returns (key path, reason) for an undefined variable.
pub fn expand_tree(
    value: &mut Value,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), (String, String)> {
    match value {
        Value::String(s) if s.contains('$') => {
            *s = expand(s, lookup).map_err(|reason| (path.to_string(), reason))?;
        }
        Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_tree(item, &format!("{path}[{i}]"), lookup)?;
            }
        }
        Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = match key {
                    Value::String(k) => k.clone(),
                    other => format!("{other:?}"),
                };
                let child = if path.is_empty() {
                    key
                } else {
                    format!("{path}.{key}")
                };
                expand_tree(item, &child, lookup)?;
            }
        }
        Value::Tagged(tagged) => expand_tree(&mut tagged.value, path, lookup)?,
        _ => {}
    }
    Ok(())
}

/// Expands one string.
pub fn expand(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('{') {
            let end = inner
                .find('}')
                .ok_or_else(|| format!("unterminated ${{ in {text:?}"))?;
            let name = &inner[..end];
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(format!("invalid environment variable name {name:?}"));
            }
            let value =
                lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "USER_A" => Some("alice".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_and_escapes() {
        assert_eq!(expand("u=${USER_A}!", &env).unwrap(), "u=alice!");
        assert_eq!(expand("$${USER_A} $5", &env).unwrap(), "${USER_A} $5");
        assert_eq!(expand("${EMPTY}x", &env).unwrap(), "x");
    }

    #[test]
    fn undefined_variable_is_named() {
        assert_eq!(
            expand("${NOPE}", &env).unwrap_err(),
            "environment variable NOPE is not set"
        );
        assert!(expand("${A", &env).unwrap_err().contains("unterminated"));
    }

    #[test]
    fn tree_error_names_the_key() {
        let mut v: Value =
            serde_yaml_ng::from_str("sources:\n  scc:\n    - name: a\n      password: ${NOPE}\n")
                .unwrap();
        let (key, reason) = expand_tree(&mut v, "", &env).unwrap_err();
        assert_eq!(key, "sources.scc[0].password");
        assert!(reason.contains("NOPE"));
    }
}
