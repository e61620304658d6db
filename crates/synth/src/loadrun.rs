//! The load-run mode: a ramp of long calls against one server that sheds load above a cap
//! (resets, FINs without a close frame, close 1011 and 1013, HTTP 503), with a handshake
//! that slows down as sessions pile up; and the server's own count of established sessions
//! at each session's start and teardown, as its log would show it.

use super::{SessionTruth, Truth};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The shape of a load run against a server that sheds load.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadShape {
    /// Sessions started in each step of the ramp (spread evenly over the step).
    pub step_sessions: usize,
    /// Length of a ramp step, seconds.
    pub step_s: f64,
    /// Shortest and longest call, seconds (uniform), for sessions within the cap.
    pub call_s: (f64, f64),
    /// The server sheds load once more than this many sessions are established on it: the
    /// session over the cap is dropped a moment after its 101 (reset, FIN without a close
    /// frame, close 1011 or close 1013, in turn); while at the cap, some upgrades get a 503.
    pub cap: usize,
    /// Handshake delay the server adds per established session, µs.
    pub delay_per_session_us: u64,
}

impl Default for LoadShape {
    fn default() -> LoadShape {
        LoadShape {
            step_sessions: 50,
            step_s: 10.0,
            call_s: (60.0, 120.0),
            cap: 300,
            delay_per_session_us: 1500,
        }
    }
}

impl LoadShape {
    /// Arrival time of session `i`, µs from the capture start, before jitter `u` in 0..1.
    pub(crate) fn arrival_us(&self, i: usize, u: f64) -> f64 {
        let step = (i / self.step_sessions) as f64;
        let within = ((i % self.step_sessions) as f64 + 0.9 * u) / self.step_sessions as f64;
        (step + within) * self.step_s * 1e6
    }
}

/// One change of a server's counts, in the order the server's log applies changes at one
/// instant: sessions come in, connecting ones become established, counts are read,
/// torn-down ones leave.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Change {
    /// A session's SYN: connecting.
    Syn(usize),
    /// Its 101: established, no longer connecting.
    Established(usize),
    /// Read the counts just before its SYN.
    ReadAtStart(usize),
    /// Read the counts at its teardown.
    ReadAtTeardown(usize),
    /// Its teardown: it leaves the phase it was in.
    TornDown(usize),
}

impl Change {
    fn rank(self) -> u8 {
        match self {
            Change::Syn(_) => 0,
            Change::Established(_) => 1,
            Change::ReadAtStart(_) | Change::ReadAtTeardown(_) => 2,
            Change::TornDown(_) => 3,
        }
    }
}

/// Fills every session's `established_at_start`, `established_at_teardown` and
/// `connecting_at_teardown` by replaying its server's log: the running counts of sessions
/// established (101 sent, teardown not started) and connecting (SYN seen, neither
/// established nor torn down).
pub(crate) fn server_counts(truth: &mut Truth) {
    let mut by: BTreeMap<SocketAddr, Vec<(u64, u8, Change)>> = BTreeMap::new();
    for (i, s) in truth.sessions.iter().enumerate() {
        let log = by.entry(s.server).or_default();
        let mut add = |t: u64, c: Change| log.push((t, c.rank(), c));
        add(s.start_us, Change::Syn(i));
        add(s.start_us - 1, Change::ReadAtStart(i));
        if let Some(t) = s.established_us {
            add(t, Change::Established(i));
        }
        if let Some(t) = s.teardown_us {
            add(t, Change::ReadAtTeardown(i));
            add(t, Change::TornDown(i));
        }
    }
    for mut log in by.into_values() {
        log.sort();
        let (mut established, mut connecting) = (0usize, 0usize);
        for (_, _, change) in log {
            match change {
                Change::Syn(_) => connecting += 1,
                Change::Established(_) => {
                    connecting -= 1;
                    established += 1;
                }
                Change::ReadAtStart(i) => truth.sessions[i].established_at_start = established,
                Change::ReadAtTeardown(i) => {
                    let s: &mut SessionTruth = &mut truth.sessions[i];
                    s.established_at_teardown = Some(established);
                    s.connecting_at_teardown = Some(connecting);
                }
                Change::TornDown(i) => match truth.sessions[i].established_us {
                    Some(_) => established -= 1,
                    None => connecting -= 1,
                },
            }
        }
    }
}
