//! Sandboxes: an agent run without a person at the keyboard, isolated from
//! the user's checkout, its work brought back as a branch.

pub mod pack;
