//! Socket states named the way ss(8) names them (`--state time-wait`, `--state connected`): every
//! state and state group its manual documents, and the other spellings its parser takes, mapped
//! onto [`SocketState`]. People arrive with `ss -tan state time-wait` in their fingers; the names
//! mean exactly what they mean there.

use std::fmt;

use crate::model::SocketState;

/// A set of socket states; repeated names add up, as `ss state A state B` does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateSet(u16);

/// A name that is neither an ss state nor an ss state group.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown socket state {name:?}: use one of {}", StateSet::NAMES.join(", "))]
pub struct UnknownState {
    pub name: String,
}

use SocketState::*;

/// Every state a socket can be in, for `all` and the groups defined by what they leave out.
const ALL: &[SocketState] = &SocketState::ALL;

/// ss's CLOSE: a TCP socket that is neither listening nor connected, and a UDP or raw socket with
/// no peer (ss prints those as UNCONN).
const CLOSED: &[SocketState] = &[Close, BoundInactive, Unconnected];
/// ss's SYN-RECV: the kernel lists a connection still in the handshake as NEW_SYN_RECV.
const SYN_RECV: &[SocketState] = &[SynRecv, NewSynRecv];
/// ss's "bucket": the minisockets the kernel keeps in its hash buckets.
const BUCKET: &[SocketState] = &[SynRecv, NewSynRecv, TimeWait];

impl StateSet {
    /// The names [`StateSet::parse`] takes, as ss(8) documents them (states, then groups).
    pub const NAMES: &'static [&'static str] = &[
        "established",
        "syn-sent",
        "syn-recv",
        "fin-wait-1",
        "fin-wait-2",
        "time-wait",
        "closed",
        "close-wait",
        "last-ack",
        "listening",
        "closing",
        "all",
        "connected",
        "synchronized",
        "bucket",
        "big",
    ];

    pub fn of(states: &[SocketState]) -> StateSet {
        StateSet(states.iter().fold(0, |bits, &s| bits | bit(s)))
    }

    /// One ss state or group name, in any case, with `-` or `_` (so `TIME_WAIT` as JSON spells
    /// it and `TIME-WAIT` as the table does both work). Also ss's other spellings: `close`,
    /// `unconnected`, `syn-rcv`, and `listen`.
    pub fn parse(name: &str) -> Result<StateSet, UnknownState> {
        let key = name.trim().to_ascii_lowercase().replace('_', "-");
        let all = StateSet::of(ALL);
        let set = match key.as_str() {
            "established" | "estab" => StateSet::of(&[Established]),
            "syn-sent" => StateSet::of(&[SynSent]),
            "syn-recv" | "syn-rcv" => StateSet::of(SYN_RECV),
            "fin-wait-1" | "fin-wait1" => StateSet::of(&[FinWait1]),
            "fin-wait-2" | "fin-wait2" => StateSet::of(&[FinWait2]),
            "time-wait" => StateSet::of(&[TimeWait]),
            "closed" | "close" | "unconnected" | "unconn" => StateSet::of(CLOSED),
            "close-wait" => StateSet::of(&[CloseWait]),
            "last-ack" => StateSet::of(&[LastAck]),
            "listening" | "listen" => StateSet::of(&[Listen]),
            "closing" => StateSet::of(&[Closing]),
            "all" => all,
            "connected" => all.without(StateSet::of(CLOSED)).without(StateSet::of(&[Listen])),
            "synchronized" => all
                .without(StateSet::of(CLOSED))
                .without(StateSet::of(&[Listen, SynSent])),
            "bucket" => StateSet::of(BUCKET),
            "big" => all.without(StateSet::of(BUCKET)),
            _ => {
                return Err(UnknownState {
                    name: name.to_string(),
                });
            }
        };
        Ok(set)
    }

    /// The union of several names (`--state a --state b`); empty means every state.
    pub fn union(sets: &[StateSet]) -> StateSet {
        StateSet(sets.iter().fold(0, |bits, s| bits | s.0))
    }

    pub fn without(self, other: StateSet) -> StateSet {
        StateSet(self.0 & !other.0)
    }

    pub fn contains(self, state: SocketState) -> bool {
        self.0 & bit(state) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::str::FromStr for StateSet {
    type Err = UnknownState;

    fn from_str(text: &str) -> Result<StateSet, UnknownState> {
        StateSet::parse(text)
    }
}

impl fmt::Display for StateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ALL
            .iter()
            .filter(|&&s| self.contains(s))
            .map(|s| s.as_str())
            .collect();
        f.write_str(&names.join(","))
    }
}

fn bit(state: SocketState) -> u16 {
    1 << (state as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_ss_documents_parses_to_a_non_empty_set() {
        for name in StateSet::NAMES {
            let set = StateSet::parse(name).unwrap_or_else(|e| panic!("{e}"));
            assert!(!set.is_empty(), "{name}");
            assert_eq!(StateSet::parse(&name.to_uppercase()), Ok(set), "{name}");
            assert_eq!(StateSet::parse(&name.replace('-', "_")), Ok(set), "{name}");
        }
        for alias in ["close", "unconnected", "syn-rcv", "listen"] {
            assert!(StateSet::parse(alias).is_ok(), "{alias}");
        }
    }

    #[test]
    fn the_groups_mean_what_ss_means() {
        let set = |n: &str| StateSet::parse(n).unwrap();
        let connected = set("connected");
        assert!(
            connected.contains(Established) && connected.contains(TimeWait) && connected.contains(SynSent)
        );
        assert!(
            !connected.contains(Listen) && !connected.contains(Close) && !connected.contains(Unconnected)
        );
        assert!(!set("synchronized").contains(SynSent) && set("synchronized").contains(CloseWait));
        assert_eq!(set("bucket"), StateSet::of(&[SynRecv, NewSynRecv, TimeWait]));
        assert!(!set("big").contains(TimeWait) && set("big").contains(Listen));
        assert!(ALL.iter().all(|&s| set("all").contains(s)));
        // A UDP socket without a peer is ss's UNCONN, the CLOSE state.
        assert!(set("closed").contains(Unconnected) && !set("listening").contains(Unconnected));
        assert_eq!(
            StateSet::union(&[set("established"), set("time-wait")]),
            StateSet::of(&[Established, TimeWait])
        );
    }

    #[test]
    fn an_unknown_name_lists_the_names_ss_takes() {
        let err = StateSet::parse("half-open\x1b[2J").unwrap_err().to_string();
        assert!(err.contains("time-wait") && err.contains("synchronized"), "{err}");
        assert!(!err.contains('\x1b'), "{err}");
    }
}
