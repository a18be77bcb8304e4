//! How many lessons from confident verdicts (autolearn) a node teaches per second. A lesson costs about what
//! judging the message did, and writes a thousand or more counters: at a few messages a second every one is
//! taught, while a node flooded with mail teaches a steady sample of it instead of spending its CPU and its
//! store's writer on learning.
//!
//! The node's lessons are shared by the tenants asking for them: each tenant that asked in the last
//! `ACTIVE` gets an equal share of the second, so one customer's flood of mail cannot take every lesson while
//! another customer's classifier learns nothing. A tenant alone gets the whole budget.

use moat_store::TenantId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a tenant that asked for a lesson counts among those sharing the budget.
const ACTIVE: Duration = Duration::from_secs(10);

/// A token bucket of lessons per node, shared fairly by its tenants.
#[derive(Debug)]
pub struct LessonBudget {
    per_second: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    node: Bucket,
    tenants: HashMap<TenantId, Share>,
}

/// A tenant's share of the budget, and when it last asked.
#[derive(Debug)]
struct Share {
    bucket: Bucket,
    asked_at: Instant,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    filled_at: Instant,
}

impl Bucket {
    fn full(tokens: f64, now: Instant) -> Self {
        Bucket { tokens, filled_at: now }
    }

    /// Adds what `rate` a second gave since the last fill, up to `capacity`.
    fn refill(&mut self, rate: f64, capacity: f64, now: Instant) {
        let refill = now.duration_since(self.filled_at).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(capacity);
        self.filled_at = now;
    }
}

impl LessonBudget {
    /// `per_second` lessons a second, up to a second's worth at once; 0 teaches none.
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second);
        let node = Bucket::full(per_second, Instant::now());
        Self { per_second, state: Mutex::new(State { node, tenants: HashMap::new() }) }
    }

    /// Takes one lesson's turn for `tenant` if the node's budget has one now and the tenant has not used up
    /// its share.
    pub fn try_spend(&self, tenant: TenantId) -> bool {
        let mut guard = self.state.lock().expect("lesson budget lock");
        let state = &mut *guard;
        let now = Instant::now();
        state.tenants.retain(|_, s| now.duration_since(s.asked_at) < ACTIVE);
        let sharing = state.tenants.len() + usize::from(!state.tenants.contains_key(&tenant));
        let share = self.per_second / sharing as f64;
        let capacity = share.max(1.0);
        state.node.refill(self.per_second, self.per_second, now);
        let own =
            state.tenants.entry(tenant).or_insert_with(|| Share { bucket: Bucket::full(capacity, now), asked_at: now });
        own.asked_at = now;
        own.bucket.refill(share, capacity, now);
        if own.bucket.tokens < 1.0 || state.node.tokens < 1.0 {
            return false;
        }
        own.bucket.tokens -= 1.0;
        state.node.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holds_its_budget_and_refills() {
        let budget = LessonBudget::new(3);
        let acme = TenantId(1);
        assert_eq!((0..5).filter(|_| budget.try_spend(acme)).count(), 3, "a second's worth at once");
        std::thread::sleep(Duration::from_millis(400));
        assert!(budget.try_spend(acme), "a third of a second refills one");
        assert!(!LessonBudget::new(0).try_spend(acme), "0 teaches none");
    }

    /// One tenant's flood does not take every lesson while another tenant's mail asks for some.
    #[test]
    fn tenants_asking_share_the_budget() {
        let budget = LessonBudget::new(10);
        let (flood, quiet) = (TenantId(1), TenantId(2));
        assert_eq!((0..20).filter(|_| budget.try_spend(flood)).count(), 10, "alone, the whole budget");
        assert!(!budget.try_spend(quiet), "the node's second is spent");
        std::thread::sleep(Duration::from_millis(500));
        // Half a second refills five lessons; the flood asks first, and still takes only its half of them (a
        // shared bucket would give it every one, however long the pause).
        let flooded = (0..20).filter(|_| budget.try_spend(flood)).count();
        let taught = (0..20).filter(|_| budget.try_spend(quiet)).count();
        assert!(taught >= 2, "the quiet tenant got {taught}, the flood {flooded}");
    }
}
