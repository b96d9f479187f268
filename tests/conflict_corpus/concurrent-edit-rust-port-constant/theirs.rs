use std::net::{Ipv4Addr, SocketAddr};

/// Port the MCP server listens on when neither the flag nor the
/// environment variable sets one.
pub const DEFAULT_PORT: u16 = 47070;

/// Environment variable that overrides the port.
pub const PORT_ENV: &str = "PCC_MCP_PORT";

/// Works out the address to bind from the command line and environment.
pub fn bind_addr(flag: Option<u16>) -> SocketAddr {
    let port = flag
        .or_else(|| std::env::var(PORT_ENV).ok().and_then(|v| v.parse().ok()))
        .unwrap_or(DEFAULT_PORT);
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_wins() {
        assert_eq!(bind_addr(Some(9999)).port(), 9999);
    }
}
