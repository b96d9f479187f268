use std::path::PathBuf;

/// A path claimed by one session.
#[derive(Debug, Clone)]
pub struct Claim {
    pub session: String,
    pub path: PathBuf,
    pub exclusive: bool,
}

#[derive(Default)]
pub struct ClaimSet {
    claims: Vec<Claim>,
}

impl ClaimSet {
    pub fn add(&mut self, claim: Claim) {
        self.claims.push(claim);
    }

    pub fn claims_for<'a>(&'a self, session: &'a str) -> impl Iterator<Item = &'a Claim> + 'a {
        self.claims.iter().filter(move |c| c.session == session)
    }

    pub fn is_exclusive(&self, path: &PathBuf) -> bool {
        self.claims.iter().any(|c| &c.path == path && c.exclusive)
    }
}
