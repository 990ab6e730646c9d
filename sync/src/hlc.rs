//! Hybrid logical clock stamps for status events.
//!
//! A stamp is `(wall_ms, counter, actor)`: the writer's physical clock in
//! milliseconds since the Unix epoch, a logical counter that orders events
//! within one millisecond (and past a clock that went backwards), and the
//! writer's actor id (lowercase hex). Stamps are totally ordered by that
//! tuple, so every replica sorts the same events the same way.
//!
//! On the wire (inside the document) a stamp is one string of fixed-width
//! fields, `WWWWWWWWWWWWWWW-CCCCCCCCCC-ACTOR`:
//!
//! - `W`: `wall_ms`, 15 decimal digits, zero-padded;
//! - `C`: `counter`, 10 decimal digits, zero-padded (a `u32`);
//! - `ACTOR`: the actor id, lowercase hex, at least 2 characters, even length.
//!
//! Because the numeric fields are fixed-width, comparing two stamp strings
//! byte-wise gives the same order as comparing the tuples.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest wall-clock value a stamp can carry (15 decimal digits).
pub const MAX_WALL_MS: u64 = 999_999_999_999_999;

/// A hybrid-logical-clock stamp, and also the state of one actor's clock.
///
/// Use [`Hlc::new`] for a fresh clock, [`Hlc::observe`] for every stamp seen
/// from others, and [`Hlc::tick`] to issue a stamp for a new local event: the
/// issued stamp is greater than every stamp observed or issued before.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Hlc {
    wall_ms: u64,
    counter: u32,
    actor: String,
}

impl Hlc {
    /// A clock for `actor` (lowercase hex) that has seen nothing yet.
    pub fn new(actor: impl Into<String>) -> Self {
        Self {
            wall_ms: 0,
            counter: 0,
            actor: actor.into(),
        }
    }

    /// A stamp with the given parts. `wall_ms` is clamped to [`MAX_WALL_MS`].
    pub fn from_parts(wall_ms: u64, counter: u32, actor: impl Into<String>) -> Self {
        Self {
            wall_ms: wall_ms.min(MAX_WALL_MS),
            counter,
            actor: actor.into(),
        }
    }

    /// Physical part: milliseconds since the Unix epoch.
    pub fn wall_ms(&self) -> u64 {
        self.wall_ms
    }

    /// Logical part.
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The actor that issued this stamp (or owns this clock).
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Issues a stamp for a new local event at physical time `now_ms`,
    /// strictly greater than anything this clock issued or observed.
    ///
    /// If `now_ms` is ahead of the clock, the stamp is `(now_ms, 0)`;
    /// otherwise (same millisecond, or the physical clock went backwards) the
    /// counter goes up by one, carrying into the wall part on overflow.
    pub fn tick(&mut self, now_ms: u64) -> Hlc {
        let now_ms = now_ms.min(MAX_WALL_MS);
        if now_ms > self.wall_ms {
            self.wall_ms = now_ms;
            self.counter = 0;
        } else if self.counter == u32::MAX {
            self.wall_ms = (self.wall_ms + 1).min(MAX_WALL_MS);
            self.counter = 0;
        } else {
            self.counter += 1;
        }
        self.clone()
    }

    /// Records a stamp seen from any actor (including this one), so that the
    /// next [`tick`](Self::tick) issues a later stamp. Keeps this clock's actor.
    pub fn observe(&mut self, remote: &Hlc) {
        if (remote.wall_ms, remote.counter) > (self.wall_ms, self.counter) {
            self.wall_ms = remote.wall_ms;
            self.counter = remote.counter;
        }
    }
}

impl Ord for Hlc {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.wall_ms, self.counter, &self.actor).cmp(&(other.wall_ms, other.counter, &other.actor))
    }
}

impl PartialOrd for Hlc {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:015}-{:010}-{}",
            self.wall_ms, self.counter, self.actor
        )
    }
}

/// A string that is not a stamp in the canonical form described in [`crate::hlc`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid HLC stamp `{0}`: expected 15 digits, `-`, 10 digits, `-`, lowercase hex actor")]
pub struct ParseHlcError(pub String);

/// Whether `s` is an actor id as Truckroll writes it: non-empty lowercase
/// hex of even length.
pub(crate) fn is_actor_hex(s: &str) -> bool {
    !s.is_empty()
        && s.len().is_multiple_of(2)
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl FromStr for Hlc {
    type Err = ParseHlcError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseHlcError(s.to_owned());
        let bytes = s.as_bytes();
        if bytes.len() < 15 + 1 + 10 + 1 + 2 || bytes[15] != b'-' || bytes[26] != b'-' {
            return Err(err());
        }
        let (wall, counter, actor) = (&s[..15], &s[16..26], &s[27..]);
        let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if !digits(wall) || !digits(counter) || !is_actor_hex(actor) {
            return Err(err());
        }
        Ok(Self {
            wall_ms: wall.parse().map_err(|_| err())?,
            counter: counter.parse().map_err(|_| err())?,
            actor: actor.to_owned(),
        })
    }
}

impl Serialize for Hlc {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hlc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_strictly_increasing_even_when_the_clock_goes_back() {
        let mut c = Hlc::new("aa");
        let a = c.tick(1000);
        let b = c.tick(1000);
        let d = c.tick(500);
        let e = c.tick(2000);
        assert!(a < b && b < d && d < e);
        assert_eq!((b.wall_ms(), b.counter()), (1000, 1));
        assert_eq!((d.wall_ms(), d.counter()), (1000, 2));
        assert_eq!((e.wall_ms(), e.counter()), (2000, 0));
    }

    #[test]
    fn observe_then_tick_is_after_the_remote() {
        let mut c = Hlc::new("aa");
        c.tick(10);
        let remote = Hlc::from_parts(5000, 7, "bb");
        c.observe(&remote);
        let next = c.tick(20);
        assert!(next > remote);
        assert_eq!(
            (next.wall_ms(), next.counter(), next.actor()),
            (5000, 8, "aa")
        );
    }

    #[test]
    fn counter_overflow_carries() {
        let mut c = Hlc::from_parts(10, u32::MAX, "aa");
        let n = c.tick(0);
        assert_eq!((n.wall_ms(), n.counter()), (11, 0));
    }

    #[test]
    fn string_form_round_trips_and_sorts_like_the_tuple() {
        let a = Hlc::from_parts(1_767_225_600_000, 3, "0a1b");
        assert_eq!(a.to_string(), "001767225600000-0000000003-0a1b");
        assert_eq!(a.to_string().parse::<Hlc>().unwrap(), a);
        let stamps = [
            Hlc::from_parts(9, 0, "ff"),
            Hlc::from_parts(10, 0, "00"),
            Hlc::from_parts(10, 1, "00"),
            Hlc::from_parts(10, 1, "01"),
        ];
        for w in stamps.windows(2) {
            assert!(w[0] < w[1]);
            assert!(w[0].to_string() < w[1].to_string());
        }
    }

    #[test]
    fn rejects_non_canonical_strings() {
        for s in [
            "",
            "1-2-aa",
            "001767225600000-0000000003-",
            "001767225600000-0000000003-AB",
            "001767225600000-0000000003-abc",
            "00176722560000x-0000000003-ab",
            "001767225600000_0000000003-ab",
            "001767225600000-9999999999-ab",
        ] {
            assert!(s.parse::<Hlc>().is_err(), "{s}");
        }
    }
}
