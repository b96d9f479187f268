//! `git pcc budget`: spending of sandbox runs against the limits.
