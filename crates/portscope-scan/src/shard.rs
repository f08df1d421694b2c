//! `--shard I/N`: N scanners split one randomised probe order, as masscan and ZMap do.
//!
//! Every probe (host index × port index, `T` in all) gets a position in a permutation of
//! `0..T` that depends only on `T` and the seed, so every shard computes the same order without
//! talking to the others; shard `I` takes positions `I-1`, `I-1+N`, `I-1+2N`, ... The
//! permutation is an affine map `i → (a·i + b) mod T` with `a` coprime to `T`: a bijection that
//! spreads neighbouring probes across hosts and ports, so one shard's load on any host is even.

use crate::SpecError;

/// Which part of the probes this scanner takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1-based, as on the command line.
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `I/N` with 1 ≤ I ≤ N.
    pub fn parse(text: &str) -> Result<Shard, SpecError> {
        let bad = || SpecError::new(format!("--shard {text:?}: give I/N with 1 <= I <= N, e.g. 1/3"));
        let (i, n) = text.trim().split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The permutation of `0..total` all shards share.
#[derive(Clone, Copy, Debug)]
pub struct Permutation {
    total: u64,
    a: u64,
    b: u64,
}

impl Permutation {
    pub fn new(total: u64, seed: u64) -> Permutation {
        if total <= 1 {
            return Permutation { total, a: 1, b: 0 };
        }
        // A multiplier near the golden ratio of `total`, made coprime to it.
        let mut a = ((total as f64 * 0.618_033_988_7) as u64 ^ (seed & 0xffff)) % total;
        a = a.max(1);
        while gcd(a, total) != 1 {
            a = a % total + 1;
        }
        Permutation {
            total,
            a,
            b: seed % total,
        }
    }

    /// The probe at position `i` (`i < total`).
    pub fn at(&self, i: u64) -> u64 {
        if self.total <= 1 {
            return 0;
        }
        ((u128::from(self.a) * u128::from(i) + u128::from(self.b)) % u128::from(self.total)) as u64
    }

    /// The probes of `shard`, in the shared order.
    pub fn shard(self, shard: Shard) -> impl Iterator<Item = u64> {
        (shard.index - 1..self.total)
            .step_by(usize::try_from(shard.count).unwrap_or(usize::MAX))
            .map(move |i| self.at(i))
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shards() {
        assert_eq!(Shard::parse("2/3").unwrap(), Shard { index: 2, count: 3 });
        for bad in ["0/3", "4/3", "1/0", "x/2", "1", "", "-1/2"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_cover_every_probe_exactly_once() {
        for total in [1u64, 2, 10, 97, 1000, 65535] {
            let perm = Permutation::new(total, 42);
            let mut seen = vec![0u8; total as usize];
            for index in 1..=3 {
                for p in perm.shard(Shard { index, count: 3 }) {
                    seen[p as usize] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "total {total}");
        }
        // The order is not the natural one.
        let perm = Permutation::new(1000, 7);
        let first: Vec<u64> = (0..5).map(|i| perm.at(i)).collect();
        assert_ne!(first, [0, 1, 2, 3, 4]);
    }
}
