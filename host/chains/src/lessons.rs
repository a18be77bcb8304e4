//! How many lessons from confident verdicts (autolearn) a node teaches per second. A lesson costs about what
//! judging the message did, and writes a thousand or more counters: at a few messages a second every one is
//! taught, while a node flooded with mail teaches a steady sample of it instead of spending its CPU and its
//! store's writer on learning.

use std::sync::Mutex;
use std::time::Instant;

/// A token bucket of lessons, one per node, shared by its tenants.
#[derive(Debug)]
pub struct LessonBudget {
    per_second: f64,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    filled_at: Instant,
}

impl LessonBudget {
    /// `per_second` lessons a second, up to a second's worth at once; 0 teaches none.
    pub fn new(per_second: u32) -> Self {
        let per_second = f64::from(per_second);
        Self { per_second, bucket: Mutex::new(Bucket { tokens: per_second, filled_at: Instant::now() }) }
    }

    /// Takes one lesson's turn if the budget has one now.
    pub fn try_spend(&self) -> bool {
        let mut bucket = self.bucket.lock().expect("lesson budget lock");
        let now = Instant::now();
        let refill = now.duration_since(bucket.filled_at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.per_second);
        bucket.filled_at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holds_its_budget_and_refills() {
        let budget = LessonBudget::new(3);
        assert_eq!((0..5).filter(|_| budget.try_spend()).count(), 3, "a second's worth at once");
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert!(budget.try_spend(), "a third of a second refills one");
        assert!(!LessonBudget::new(0).try_spend(), "0 teaches none");
    }
}
