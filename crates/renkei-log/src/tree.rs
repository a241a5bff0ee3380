//! Complete subtrees and the right edge of a growing tree.

use crate::hash::{Hash, empty_root, node_hash};

/// A complete subtree: the `2^level` leaves starting at `index << level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub level: u8,
    pub index: u64,
}

impl NodeId {
    pub const fn new(level: u8, index: u64) -> Self {
        Self { level, index }
    }

    pub const fn leaf(index: u64) -> Self {
        Self { level: 0, index }
    }

    pub const fn first_leaf(&self) -> u64 {
        self.index << self.level
    }

    pub const fn width(&self) -> u64 {
        1 << self.level
    }
}

/// The largest power of two strictly less than `n` (n ≥ 2).
pub(crate) fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[a:b]) from complete subtrees, following the RFC 9162 recursion.
/// Every range the proofs ask for starts on a boundary of its first
/// complete subtree, which is what makes `[a, a + k)` a single node.
pub fn range_hash(a: u64, b: u64, get: &mut dyn FnMut(NodeId) -> Hash) -> Hash {
    let n = b - a;
    if n == 0 {
        return empty_root();
    }
    if n.is_power_of_two() && a.is_multiple_of(n) {
        return get(NodeId::new(n.trailing_zeros() as u8, a / n));
    }
    let k = split_point(n);
    let left = range_hash(a, a + k, get);
    let right = range_hash(a + k, b, get);
    node_hash(&left, &right)
}

/// The complete subtrees that make up `[0, size)`, largest first.
pub fn decomposition(size: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if size & (1 << level) != 0 {
            out.push(NodeId::new(level, start >> level));
            start += 1 << level;
        }
    }
    out
}

/// The right edge of a tree: one complete subtree per set bit of its size.
/// Appending a leaf merges equal-sized subtrees like a binary counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// (node, hash), largest (leftmost) first.
    stack: Vec<(NodeId, Hash)>,
}

impl Frontier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuild from the hashes of [`decomposition`]`(size)`, in that order.
    pub fn from_decomposition(size: u64, hashes: &[Hash]) -> Option<Self> {
        let nodes = decomposition(size);
        if nodes.len() != hashes.len() {
            return None;
        }
        Some(Self {
            size,
            stack: nodes.into_iter().zip(hashes.iter().copied()).collect(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Append a leaf hash. Returns every subtree this completed (the leaf
    /// itself first, then each merge), so a store can keep the ones it needs.
    pub fn push(&mut self, leaf: Hash) -> Vec<(NodeId, Hash)> {
        let mut done = vec![(NodeId::leaf(self.size), leaf)];
        let mut cur = (NodeId::leaf(self.size), leaf);
        while let Some(&(top, top_hash)) = self.stack.last() {
            if top.level != cur.0.level {
                break;
            }
            self.stack.pop();
            let merged = (
                NodeId::new(top.level + 1, top.index >> 1),
                node_hash(&top_hash, &cur.1),
            );
            done.push(merged);
            cur = merged;
        }
        self.stack.push(cur);
        self.size += 1;
        done
    }

    /// MTH of the whole tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return empty_root();
        };
        for (_, h) in iter {
            acc = node_hash(h, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use std::collections::HashMap;

    /// MTH straight from RFC 9162's definition, for comparison.
    pub(crate) fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn frontier_root_matches_the_definition_and_records_every_node() {
        let mut f = Frontier::new();
        let mut leaves = Vec::new();
        let mut nodes: HashMap<NodeId, Hash> = HashMap::new();
        assert_eq!(f.root(), empty_root());
        for i in 0..300u64 {
            let l = leaf_hash(&i.to_be_bytes());
            leaves.push(l);
            for (n, h) in f.push(l) {
                assert!(nodes.insert(n, h).is_none(), "{n:?} completed twice");
            }
            assert_eq!(f.root(), mth(&leaves), "size {}", i + 1);
            let mut get = |n: NodeId| nodes[&n];
            assert_eq!(range_hash(0, i + 1, &mut get), mth(&leaves));
            let hashes: Vec<Hash> = decomposition(i + 1).into_iter().map(|n| nodes[&n]).collect();
            assert_eq!(Frontier::from_decomposition(i + 1, &hashes).unwrap(), f);
        }
    }
}
