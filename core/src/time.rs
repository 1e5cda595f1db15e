//! Time as an input: the core never reads a clock.
//!
//! [`Instant`] is a point on the transport's monotonic timeline, in nanoseconds since an
//! arbitrary origin the transport picks (the driver's start, or the simulation's zero).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time supplied by the caller of every `handle_*` input.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the timeline.
    pub const ZERO: Instant = Instant(0);

    /// An instant `nanos` nanoseconds after the origin.
    pub const fn from_nanos(nanos: u64) -> Self {
        Instant(nanos)
    }

    /// An instant `d` after the origin (saturating at the end of the timeline).
    pub fn from_duration(d: Duration) -> Self {
        Instant(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Nanoseconds since the origin.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time since the origin.
    pub const fn since_origin(self) -> Duration {
        Duration::from_nanos(self.0)
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the end of the timeline instead of overflowing: a huge timeout means "never".
    fn add(self, d: Duration) -> Instant {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(nanos))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.since_origin())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_is_nanoseconds_since_the_origin() {
        let t = Instant::from_duration(Duration::from_millis(1500));
        assert_eq!(t.as_nanos(), 1_500_000_000);
        assert_eq!(t, Instant::from_nanos(1_500_000_000));
        assert_eq!(t.since_origin(), Duration::from_millis(1500));
        assert_eq!(Instant::from_nanos(7).as_nanos(), 7);
        // Past the end of the timeline (about 584 years) it saturates.
        assert_eq!(
            Instant::from_duration(Duration::from_secs(u64::MAX)).as_nanos(),
            u64::MAX
        );
        assert_eq!(t.to_string(), "1.5s");
        assert_eq!(Instant::ZERO.to_string(), "0ns");
    }
}
