//! Concurrency as each server sees it, per session: the sessions established on its
//! server just before it began and when its teardown started, and the sessions connecting
//! then. One sort per server and a binary search per session: O(n log n).

use crate::session::{ConnectingEnd, Session};
use std::collections::HashMap;
use std::net::SocketAddr;
use teardown_wire::time::Timestamp;

/// The sessions of one server in one phase (established, or connecting), as sorted
/// instants, counted at any instant with the sessions whose teardown starts then.
#[derive(Default)]
struct Phase {
    /// Instants a session entered the phase.
    begins: Vec<Timestamp>,
    /// Instants a session left it by its teardown (still in it at that instant).
    torn_down: Vec<Timestamp>,
    /// Instants a session left it by being established (no longer in it then).
    established: Vec<Timestamp>,
}

impl Phase {
    fn sort(&mut self) {
        self.begins.sort_unstable();
        self.torn_down.sort_unstable();
        self.established.sort_unstable();
    }

    /// Sessions in the phase at `t`.
    fn at(&self, t: Timestamp) -> usize {
        // Every end counted has its begin counted (a phase never ends before it begins).
        self.begins.partition_point(|b| *b <= t)
            - self.torn_down.partition_point(|e| *e < t)
            - self.established.partition_point(|e| *e <= t)
    }
}

/// Sets [`Session::established_at_start`], [`Session::established_at_teardown`] and
/// [`Session::connecting_at_teardown`] of every session from all the sessions of its
/// server.
pub fn set_server_load(sessions: &mut [Session]) {
    let mut by: HashMap<SocketAddr, [Phase; 2]> = HashMap::new();
    for s in sessions.iter() {
        let [established, connecting] = by.entry(s.server).or_default();
        connecting.begins.push(s.start_ts);
        match s.connecting_until() {
            ConnectingEnd::Established(t) => {
                connecting.established.push(t);
                established.begins.push(t);
                established.torn_down.push(s.closed_at());
            }
            ConnectingEnd::TornDown(t) => connecting.torn_down.push(t),
        }
    }
    for phases in by.values_mut() {
        phases.iter_mut().for_each(Phase::sort);
    }
    for s in sessions.iter_mut() {
        let [established, connecting] = &by[&s.server];
        let teardown = s.teardown_start_ts.map(|_| s.closed_at());
        s.established_at_start = established.at(Timestamp(s.start_ts.0 - 1));
        s.established_at_teardown = teardown.map(|t| established.at(t));
        s.connecting_at_teardown = teardown.map(|t| connecting.at(t));
    }
}
