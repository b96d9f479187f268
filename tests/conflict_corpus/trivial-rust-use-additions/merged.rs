use std::collections::HashMap;
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use crate::config::Settings;

/// Keeps track of the files each session has claimed.
pub struct ClaimTable {
    claims: HashMap<PathBuf, String>,
    settings: Settings,
}

impl ClaimTable {
    pub fn new(settings: Settings) -> Self {
        Self {
            claims: HashMap::new(),
            settings,
        }
    }

    pub fn claim(&mut self, path: PathBuf, session: &str) -> bool {
        if self.claims.len() >= self.settings.max_claims {
            return false;
        }
        if self.claims.contains_key(&path) {
            return false;
        }
        self.claims.insert(path, session.to_string());
        true
    }

    pub fn release(&mut self, session: &str) {
        self.claims.retain(|_, owner| owner != session);
    }

    pub fn sessions(&self) -> HashSet<&str> {
        self.claims.values().map(String::as_str).collect()
    }
}

impl fmt::Display for ClaimTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} claimed files", self.claims.len())
    }
}
