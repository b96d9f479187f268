//! Mistakes a user can make (a path that is not a repository, a process that
//! is not running, an unknown config key). They carry a hint and are shown as
//! one line; every other failure is an `anyhow` error with context.

use std::fmt;

/// An error caused by the user's input or environment, with an optional hint
/// that says what to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(message: impl Into<String>, hint: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            hint: Some(hint.into()),
        }
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// Returns early with a [`UserError`].
#[macro_export]
macro_rules! bail_user {
    ($($arg:tt)*) => {
        return Err($crate::UserError::new(format!($($arg)*)).into())
    };
}
