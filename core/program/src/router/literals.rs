//! A node's literal children: a short list scanned linearly, or a hash map once there are many
//! (the root of a large API has hundreds; a binary search there cost ~100 ns per lookup).

use std::collections::HashMap;

/// Up to this many children a linear scan beats hashing the segment.
const LINEAR: usize = 8;

/// Literal segment -> child node.
#[derive(Debug, Clone)]
pub(super) enum Literals {
    Few(Vec<(Box<str>, u32)>),
    Many(HashMap<Box<str>, u32, ahash::RandomState>),
}

impl Default for Literals {
    fn default() -> Self {
        Literals::Few(Vec::new())
    }
}

impl Literals {
    /// The child for `text`, inserting `fresh` when there is none.
    pub(super) fn get_or_insert(&mut self, text: &str, fresh: u32) -> u32 {
        match self {
            Literals::Few(list) => {
                if let Some(&(_, id)) = list.iter().find(|(k, _)| **k == *text) {
                    return id;
                }
                if list.len() < LINEAR {
                    list.push((text.into(), fresh));
                } else {
                    let mut map: HashMap<Box<str>, u32, ahash::RandomState> =
                        list.drain(..).collect();
                    map.insert(text.into(), fresh);
                    *self = Literals::Many(map);
                }
                fresh
            }
            Literals::Many(map) => *map.entry(text.into()).or_insert(fresh),
        }
    }

    /// The child for a path segment.
    #[inline]
    pub(super) fn get(&self, seg: &str) -> Option<u32> {
        match self {
            Literals::Few(list) => list.iter().find(|(k, _)| **k == *seg).map(|p| p.1),
            Literals::Many(map) => map.get(seg).copied(),
        }
    }
}
