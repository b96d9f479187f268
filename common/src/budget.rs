//! Spending of sandbox runs against the configured limits.
