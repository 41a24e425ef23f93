//! The clock: raw ticks of the fastest monotonic source (the TSC through `quanta` where the CPU
//! has an invariant TSC, the OS monotonic clock otherwise), anchored once to wall time.
//!
//! The hot path stores raw ticks ([`now`]); conversion to Unix nanoseconds ([`to_unix_nanos`])
//! happens when a trace is assembled, off the hot path. Conversions are monotonic in the raw
//! value, so an end taken after a start never converts to an earlier time: durations are never
//! negative.

use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The tick source: quanta's TSC clock; under miri (which cannot run its CPUID probe) the
/// standard monotonic clock in nanoseconds.
#[cfg(not(miri))]
type Ticks = quanta::Clock;

#[cfg(miri)]
struct Ticks(std::time::Instant);

#[cfg(miri)]
impl Ticks {
    fn new() -> Self {
        Ticks(std::time::Instant::now())
    }
    fn raw(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
    fn delta_as_nanos(&self, start: u64, end: u64) -> u64 {
        end.saturating_sub(start)
    }
}

struct Anchor {
    clock: Ticks,
    raw0: u64,
    unix0: u64,
}

static ANCHOR: OnceLock<Anchor> = OnceLock::new();

fn anchor() -> &'static Anchor {
    ANCHOR.get_or_init(|| {
        let clock = Ticks::new();
        let raw0 = clock.raw();
        let unix0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Anchor { clock, raw0, unix0 }
    })
}

/// The current raw tick count. Cheap (one TSC read); only meaningful to [`to_unix_nanos`].
#[inline]
pub fn now() -> u64 {
    anchor().clock.raw()
}

/// Converts raw ticks to Unix nanoseconds. Ticks from before the anchor map to the anchor.
pub fn to_unix_nanos(raw: u64) -> u64 {
    let a = anchor();
    a.unix0.saturating_add(a.clock.delta_as_nanos(a.raw0, raw))
}

/// Nanoseconds between two raw readings (zero if `end` is not after `start`).
#[inline]
pub fn delta_nanos(start: u64, end: u64) -> u64 {
    anchor().clock.delta_as_nanos(start, end)
}

/// The current time in Unix nanoseconds on the same scale as span timestamps.
pub fn unix_nanos_now() -> u64 {
    to_unix_nanos(now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_is_monotonic_and_close_to_wall_time() {
        let a = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = now();
        let (ua, ub) = (to_unix_nanos(a), to_unix_nanos(b));
        assert!(
            ub >= ua + 1_000_000,
            "2 ms sleep measured as {} ns",
            ub - ua
        );
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        // within one second of the wall clock
        assert!(wall.abs_diff(ub) < 1_000_000_000);
        assert_eq!(to_unix_nanos(0), anchor().unix0);
    }
}
