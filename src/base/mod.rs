//! The ground floor: small types every layer above uses and that use nothing of the crate.
//!
//! Nothing in `base` imports another module of the crate (see `docs/architecture.md`).

pub mod budget;
pub mod clock;
pub mod duration;
pub mod error;
pub mod lenient;
pub mod redact;

pub use error::{ErrorReason, FailedUnit, PollError};
pub use redact::Redactor;
