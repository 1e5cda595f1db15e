//! The simulation's one source of randomness: a seeded SplitMix64.
//!
//! Every random choice of a run (fault probabilities, split points, stall lengths) is drawn
//! from a generator forked from the run's seed, so the same seed replays the same run.

use theater_tcp_test_support::{SPLITMIX64_GAMMA, splitmix64};

/// A small deterministic generator (SplitMix64): fast, seedable, good enough for fault choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRng(u64);

impl SimRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        SimRng(seed)
    }

    /// An independent generator for a sub-component named by `tag` (a connection number, ...).
    pub fn fork(&self, tag: u64) -> SimRng {
        let mut mixed = SimRng(self.0 ^ tag.wrapping_mul(0xA076_1D64_78BD_642F));
        SimRng(mixed.next_u64())
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let out = splitmix64(self.0);
        self.0 = self.0.wrapping_add(SPLITMIX64_GAMMA);
        out
    }

    /// A value in `lo..=hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        let span = hi - lo + 1;
        lo + if span == 0 {
            self.next_u64()
        } else {
            self.next_u64() % span
        }
    }

    /// True with probability `p` (clamped to 0..=1).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        // 53 random bits as a float in [0, 1).
        let x = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        x < p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_forks_differ() {
        let mut a = SimRng::new(7);
        let mut b = SimRng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(
            SimRng::new(7).fork(1).next_u64(),
            SimRng::new(7).fork(2).next_u64()
        );
    }

    #[test]
    fn range_and_chance_stay_in_bounds() {
        let mut r = SimRng::new(1);
        for _ in 0..1000 {
            let v = r.range(3, 9);
            assert!((3..=9).contains(&v));
        }
        assert!(!r.chance(0.0));
        assert!(r.chance(1.0));
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!((2_000..3_000).contains(&hits), "{hits}");
    }
}
