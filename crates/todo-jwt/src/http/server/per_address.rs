//! Connections per client address: one address may hold at most its share of the service's
//! connections (`TODO_JWT_MAX_CONNECTIONS_PER_ADDRESS`), so a single patient client cannot take
//! them all and keep everyone else out. The trusted proxies' addresses are exempt (every
//! client behind a proxy shares its address). Refusals are counted, and logged at most once a
//! minute per address: a client refused in a loop must not fill the log.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use ipnet::IpNet;

/// How often one address's refusals are logged, at most.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Addresses remembered for logging; past it the memory starts over (a log line more).
const MAX_LOGGED: usize = 10_000;

/// The open connections of each address.
#[derive(Debug)]
pub struct PerAddress {
    limit: usize,
    exempt: Vec<IpNet>,
    open: Mutex<HashMap<IpAddr, usize>>,
    logged: Mutex<HashMap<Option<IpAddr>, Instant>>,
}

/// One open connection of an address, given back when dropped.
#[derive(Debug)]
pub struct Held {
    table: Arc<PerAddress>,
    address: Option<IpAddr>,
}

impl PerAddress {
    /// At most `limit` connections per address, but from `exempt` networks.
    pub fn new(limit: usize, exempt: Vec<IpNet>) -> Arc<Self> {
        Arc::new(Self {
            limit: limit.max(1),
            exempt,
            open: Mutex::default(),
            logged: Mutex::default(),
        })
    }

    /// A place for one more connection from `address`, unless it holds its share already.
    pub fn take(self: &Arc<Self>, address: IpAddr) -> Option<Held> {
        let address = address.to_canonical();
        if self.exempt.iter().any(|net| net.contains(&address)) {
            return Some(Held {
                table: Arc::clone(self),
                address: None,
            });
        }
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Held {
            table: Arc::clone(self),
            address: Some(address),
        })
    }

    /// Counts a refused connection (`reason`: `per_address` or `total`), and says whether it
    /// is the first from `address` (`None`: any) this minute, the one worth a log line.
    pub fn refused(&self, address: Option<IpAddr>, reason: &'static str) -> bool {
        metrics::counter!("connections_refused_total", "reason" => reason).increment(1);
        let mut logged = self.logged.lock().unwrap_or_else(PoisonError::into_inner);
        if logged.len() >= MAX_LOGGED {
            logged.clear();
        }
        let now = Instant::now();
        match logged.get(&address) {
            Some(at) if now.duration_since(*at) < LOG_EVERY => false,
            _ => {
                logged.insert(address, now);
                true
            }
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(address) = self.address else {
            return;
        };
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_its_share_and_gets_it_back() {
        let table = PerAddress::new(2, vec!["10.0.0.0/8".parse().expect("net")]);
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        let first = table.take(one).expect("first");
        let _second = table.take(one).expect("second");
        assert!(table.take(one).is_none(), "over its share");
        assert!(table.take("192.0.2.2".parse().expect("ip")).is_some());
        drop(first);
        assert!(table.take(one).is_some(), "given back");
        let proxy: IpAddr = "10.1.2.3".parse().expect("ip");
        let held: Vec<_> = (0..10).map(|_| table.take(proxy)).collect();
        assert!(
            held.iter().all(Option::is_some),
            "a trusted proxy is exempt"
        );
    }

    #[test]
    fn refusals_are_logged_once_a_minute_per_address() {
        let table = PerAddress::new(1, Vec::new());
        let one: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(table.refused(Some(one), "per_address"));
        assert!(!table.refused(Some(one), "per_address"));
        assert!(table.refused(Some("192.0.2.2".parse().expect("ip")), "per_address"));
        assert!(table.refused(None, "total"));
        assert!(!table.refused(None, "total"));
    }
}
