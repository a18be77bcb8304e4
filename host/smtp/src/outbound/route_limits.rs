//! Per-destination limits: each route (the domain whose servers receive the mail) gets at most a few
//! deliveries at once, and a route whose servers time out is left alone for a while. Without them one
//! tenant's stalled server holds every delivery slot and everyone else's mail waits behind it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a destination whose servers timed out is not tried, doubling on each further timeout.
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const LONGEST_BACKOFF: Duration = Duration::from_secs(30 * 60);

#[derive(Default)]
struct Destination {
    slots: Option<Arc<Semaphore>>,
    /// Not tried before this, after timeouts.
    resting_until: Option<Instant>,
    backoff: Duration,
}

/// Why a route is not delivered to right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Busy {
    /// Its deliveries already run at the limit.
    Full,
    /// Its servers timed out; retry after this long.
    Resting(Duration),
}

pub struct RouteLimits {
    per_destination: usize,
    routes: Mutex<HashMap<String, Destination>>,
}

impl RouteLimits {
    pub fn new(per_destination: usize) -> Self {
        Self { per_destination: per_destination.max(1), routes: Mutex::default() }
    }

    /// A delivery slot for `route`, held until dropped, unless the route is full or resting.
    pub fn claim(&self, route: &str) -> Result<OwnedSemaphorePermit, Busy> {
        let mut routes = self.routes.lock().expect("destinations lock");
        let destination = routes.entry(route.to_owned()).or_default();
        if let Some(until) = destination.resting_until {
            let now = Instant::now();
            if until > now {
                return Err(Busy::Resting(until - now));
            }
            destination.resting_until = None;
        }
        let slots = destination.slots.get_or_insert_with(|| Arc::new(Semaphore::new(self.per_destination))).clone();
        slots.try_acquire_owned().map_err(|_| Busy::Full)
    }

    /// Free slots of every route in use or resting (0 when full or resting), for a claim to budget against;
    /// a route not listed has all its slots free.
    pub fn free_slots(&self) -> HashMap<String, usize> {
        let routes = self.routes.lock().expect("destinations lock");
        let now = Instant::now();
        routes
            .iter()
            .map(|(route, d)| {
                let resting = d.resting_until.is_some_and(|until| until > now);
                let free = d.slots.as_ref().map_or(self.per_destination, |s| s.available_permits());
                (route.clone(), if resting { 0 } else { free })
            })
            .collect()
    }

    pub fn per_destination(&self) -> usize {
        self.per_destination
    }

    /// The route's servers timed out: rest it, longer each time in a row.
    pub fn timed_out(&self, route: &str) {
        let mut routes = self.routes.lock().expect("destinations lock");
        let destination = routes.entry(route.to_owned()).or_default();
        destination.backoff = (destination.backoff * 2).clamp(FIRST_BACKOFF, LONGEST_BACKOFF);
        destination.resting_until = Some(Instant::now() + destination.backoff);
        tracing::warn!(route, backoff = ?destination.backoff, "destination timed out: resting it");
    }

    /// The route answered: no more resting.
    pub fn answered(&self, route: &str) {
        let mut routes = self.routes.lock().expect("destinations lock");
        if let Some(destination) = routes.get_mut(route) {
            destination.backoff = Duration::ZERO;
            destination.resting_until = None;
        }
        // Routes with no delivery running and no rest are forgotten, so the map stays as small as the traffic.
        let all = self.per_destination;
        routes
            .retain(|_, d| d.resting_until.is_some() || d.slots.as_ref().is_some_and(|s| s.available_permits() < all));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_or_resting_route_waits_while_others_go() {
        let limits = RouteLimits::new(2);
        let (a, b) = (limits.claim("slow.test").unwrap(), limits.claim("slow.test").unwrap());
        assert_eq!(limits.claim("slow.test").unwrap_err(), Busy::Full);
        assert!(limits.claim("fast.test").is_ok(), "another route has its own slots");
        assert_eq!(limits.free_slots().get("slow.test"), Some(&0));
        drop(a);
        assert!(limits.claim("slow.test").is_ok(), "a slot came back");
        drop(b);
        limits.timed_out("slow.test");
        assert!(matches!(limits.claim("slow.test"), Err(Busy::Resting(d)) if d > Duration::from_secs(50)));
        assert_eq!(limits.free_slots().get("slow.test"), Some(&0), "resting: nothing to claim for it");
        limits.timed_out("slow.test");
        assert!(matches!(limits.claim("slow.test"), Err(Busy::Resting(d)) if d > Duration::from_secs(110)));
        limits.answered("slow.test");
        assert!(limits.claim("slow.test").is_ok());
    }
}
