use std::path::PathBuf;

/// A path claimed by one session.
#[derive(Debug, Clone)]
pub struct FileClaim {
    pub session: String,
    pub path: PathBuf,
    pub exclusive: bool,
}

#[derive(Default)]
pub struct ClaimSet {
    claims: Vec<FileClaim>,
}

impl ClaimSet {
    pub fn add(&mut self, claim: FileClaim) {
        self.claims.push(claim);
    }

    pub fn claims_for(&self, session: &str) -> Vec<&FileClaim> {
        self.claims.iter().filter(|c| c.session == session).collect()
    }

    pub fn is_exclusive(&self, path: &PathBuf) -> bool {
        self.claims.iter().any(|c| &c.path == path && c.exclusive)
    }
}
