//! Secrets: values that never reach logs, errors, the landing page or `/metrics`.

use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::{Path, PathBuf};

/// A secret string. `Debug` and `Display` print `<secret>`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: only for building an upstream request.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret file, trimming one trailing newline (`\n` or `\r\n`).
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let mut text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        Ok(Secret(text))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// One secret of a target config: the inline value and its `*_file` alternative.
pub struct SecretSlot<'a> {
    /// Key of the inline form, e.g. `password`; the file form is `password_file`.
    pub key: &'static str,
    /// Inline value; filled from the file by [`SecretSlot::resolve`].
    pub value: &'a mut Option<Secret>,
    /// The `*_file` path.
    pub file: &'a mut Option<PathBuf>,
}

impl SecretSlot<'_> {
    /// Reads the file form into the value; both forms at once is an error.
    pub fn resolve(self) -> Result<(), (String, String)> {
        let file_key = format!("{}_file", self.key);
        match (self.value.is_some(), self.file.take()) {
            (true, Some(_)) => Err((
                self.key.to_string(),
                format!("set either {} or {file_key}, not both", self.key),
            )),
            (_, Some(path)) => {
                *self.value = Some(Secret::from_file(&path).map_err(|e| (file_key, e))?);
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "<secret> <secret>");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(<secret>)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn file_form_trims_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "pa ss\r\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "pa ss");
        std::fs::write(&path, "two\n\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "two\n");
    }
}
