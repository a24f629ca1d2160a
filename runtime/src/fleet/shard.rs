//! Sharding a fleet: `K/N` takes a deterministic share of the targets, so
//! `N` jobs started by any job runner (a Kubernetes Indexed Job, a CI
//! matrix, GNU parallel), each given the same list and its own `K`, cover
//! every target exactly once with no coordinator.

use crate::error::{FleetError, Result};
use std::fmt;
use std::str::FromStr;

/// Share `index` of `count` (`index` from 0, below `count`).
///
/// The targets are sorted by where they are (their URL without password,
/// and schema) and dealt out in turn: share `K` takes the targets at
/// positions `K`, `K + N`, `K + 2N`, ... of that order. The order a list is
/// given in does not matter, only which targets it holds, and the shares
/// differ in size by at most one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    index: usize,
    count: usize,
}

impl Shard {
    /// Share `index` of `count`: refused unless `index < count`.
    pub fn new(index: usize, count: usize) -> Result<Self> {
        let given = format!("{index}/{count}");
        if count == 0 {
            return Err(
                FleetError::InvalidShard { given, reason: "there must be at least one shard".to_owned() }.into()
            );
        }
        if index >= count {
            return Err(FleetError::InvalidShard {
                given,
                reason: format!("shards are numbered from 0 to {}, so K must be below N", count - 1),
            }
            .into());
        }
        Ok(Shard { index, count })
    }

    /// Which share this is, from 0.
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many shares there are.
    pub fn count(&self) -> usize {
        self.count
    }

    /// The items of this share, in the order they were given.
    pub(crate) fn select<T>(&self, items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
        let mut keyed: Vec<(String, usize)> = items.iter().enumerate().map(|(at, item)| (key(item), at)).collect();
        keyed.sort();
        let mut mine: Vec<bool> = vec![false; items.len()];
        for (position, (_, at)) in keyed.into_iter().enumerate() {
            mine[at] = position % self.count == self.index;
        }
        items.into_iter().zip(mine).filter_map(|(item, mine)| mine.then_some(item)).collect()
    }
}

impl FromStr for Shard {
    type Err = crate::error::Error;

    /// `K/N`, such as `0/4`.
    fn from_str(text: &str) -> Result<Self> {
        let invalid = |reason: &str| FleetError::InvalidShard { given: text.to_owned(), reason: reason.to_owned() };
        let (index, count) = text.split_once('/').ok_or_else(|| invalid("write it as K/N, such as 0/4"))?;
        let number =
            |part: &str| part.trim().parse::<usize>().map_err(|_| invalid("K and N must be whole numbers, as in 0/4"));
        Self::new(number(index)?, number(count)?)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_item_exactly_once_whatever_the_order() {
        let items: Vec<String> = (0..23).map(|i| format!("tenant_{i:02}")).collect();
        let mut reversed = items.clone();
        reversed.reverse();
        for count in 1..=7 {
            let mut seen: Vec<String> = Vec::new();
            for index in 0..count {
                let shard = Shard::new(index, count).unwrap();
                let share = shard.select(items.clone(), Clone::clone);
                let mut other = shard.select(reversed.clone(), Clone::clone);
                other.sort();
                let mut sorted = share.clone();
                sorted.sort();
                assert_eq!(sorted, other, "shard {shard} depends on the order");
                assert!(share.len() >= 23 / count && share.len() <= 23 / count + 1, "{shard}: {}", share.len());
                seen.extend(share);
            }
            seen.sort();
            assert_eq!(seen, items, "{count} shards");
        }
    }

    #[test]
    fn a_bad_shard_is_refused_saying_why() {
        for (bad, why) in
            [("3/2", "below N"), ("2/2", "below N"), ("0/0", "at least one"), ("a/2", "whole"), ("1", "K/N")]
        {
            let error = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(error.contains(why) && error.contains(bad), "{bad}: {error}");
        }
        assert_eq!("1/4".parse::<Shard>().unwrap(), Shard::new(1, 4).unwrap());
    }
}
