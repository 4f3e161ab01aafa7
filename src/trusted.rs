//! `server.trusted_proxies`: whose `X-Forwarded-*` headers are believed. A forwarded header
//! that would change a limit or an audit field counts only when the connection comes from one
//! of these networks; from anyone else it is ignored, so a client cannot forge its address
//! (to spread its failures over fake ones, or to lock out someone else's) or its request line.

use std::net::IpAddr;

use ipnet::IpNet;

#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies { nets }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the rightmost
    /// `X-Forwarded-For` address that is not itself a trusted proxy (entries further left were
    /// written by the client and prove nothing). An entry that is not an address ends the walk
    /// at the last trusted hop.
    pub fn client_addr<'a>(
        &self,
        peer: Option<IpAddr>,
        forwarded_for: impl DoubleEndedIterator<Item = &'a [u8]>,
    ) -> Option<IpAddr> {
        let mut client = peer?.to_canonical();
        if !self.contains(client) {
            return Some(client);
        }
        let hops = forwarded_for
            .rev()
            .flat_map(|value| value.rsplit(|b| *b == b','));
        for hop in hops {
            let Some(ip) = std::str::from_utf8(hop.trim_ascii())
                .ok()
                .and_then(parse_hop)
            else {
                break;
            };
            client = ip.to_canonical();
            if !self.contains(client) {
                break;
            }
        }
        Some(client)
    }

    /// The source address of a request: its peer's, or the client a trusted proxy forwarded
    /// for (`client_addr`).
    pub fn source_of(&self, req: &actix_web::HttpRequest) -> Option<IpAddr> {
        self.client_addr(
            req.peer_addr().map(|a| a.ip()),
            req.headers()
                .get_all("x-forwarded-for")
                .map(actix_web::http::header::HeaderValue::as_bytes)
                .collect::<Vec<_>>()
                .into_iter(),
        )
    }

    /// The header's value when the peer is trusted, else nothing.
    pub fn forwarded<'a>(&self, peer: Option<IpAddr>, value: Option<&'a [u8]>) -> Option<&'a str> {
        if !peer.is_some_and(|ip| self.contains(ip)) {
            return None;
        }
        value.and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// An `X-Forwarded-For` hop: an address, `[v6]`, or either with a port.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        TrustedProxies::new(nets.iter().map(|n| n.parse().unwrap()).collect())
    }

    fn client(t: &TrustedProxies, peer: &str, xff: &[&str]) -> Option<IpAddr> {
        t.client_addr(
            Some(peer.parse().unwrap()),
            xff.iter().map(|v| v.as_bytes()),
        )
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_peer() {
        let none = proxies(&[]);
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            client(&none, "203.0.113.9", &["10.9.9.9"]),
            ip("203.0.113.9")
        );
        let t = proxies(&["10.0.0.0/8", "::1/128"]);
        assert_eq!(client(&t, "203.0.113.9", &["1.1.1.1"]), ip("203.0.113.9"));
        // Rightmost untrusted hop; the client's own entries on the left are ignored.
        assert_eq!(
            client(&t, "10.0.0.1", &["6.6.6.6, 198.51.100.7", "10.0.0.2"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            client(&t, "::1", &["[2001:db8::1]:4711"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            client(&t, "10.0.0.1", &["garbage, 10.0.0.3"]),
            ip("10.0.0.3")
        );
        assert_eq!(client(&t, "10.0.0.1", &[]), ip("10.0.0.1"));
        // An IPv4-mapped peer is the IPv4 address.
        assert_eq!(
            client(&t, "::ffff:10.0.0.1", &["192.0.2.1"]),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn audit_headers_count_only_from_a_trusted_peer() {
        let t = proxies(&["127.0.0.1/32"]);
        let uri = Some(&b"/admin"[..]);
        assert_eq!(
            t.forwarded(Some("127.0.0.1".parse().unwrap()), uri),
            Some("/admin")
        );
        assert_eq!(t.forwarded(Some("127.0.0.2".parse().unwrap()), uri), None);
        assert_eq!(t.forwarded(None, uri), None);
    }
}
