//! The hub's log as the store keeps it: leaf hashes and the nodes of every
//! fourth level; everything else is computed from those. With that stride a
//! proof needs at most 8 stored hashes per proof hash, and storage is
//! 1/15 more than the leaves alone.

use std::collections::{BTreeSet, HashMap};

use renkei_log::hash::{Hash, node_hash};
use renkei_log::tree::NodeId;

/// Levels kept by the store: multiples of this.
pub const STORED_STRIDE: u8 = 4;

/// The log after the last durable append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogHead {
    pub size: u64,
    pub root: Hash,
}

pub fn is_stored(node: NodeId) -> bool {
    node.level.is_multiple_of(STORED_STRIDE)
}

/// The stored nodes `node` is computed from (itself if stored).
pub fn stored_under(node: NodeId) -> impl Iterator<Item = NodeId> {
    let base = node.level - node.level % STORED_STRIDE;
    let span = 1u64 << (node.level - base);
    let first = node.index << (node.level - base);
    (0..span).map(move |j| NodeId::new(base, first + j))
}

/// Every stored node needed to compute all of `nodes`.
pub fn stored_needed(nodes: &[NodeId]) -> Vec<NodeId> {
    let set: BTreeSet<NodeId> = nodes.iter().flat_map(|n| stored_under(*n)).collect();
    set.into_iter().collect()
}

/// The hash of `node` from stored hashes; `None` if one is missing.
pub fn hash_from_stored(node: NodeId, stored: &HashMap<NodeId, Hash>) -> Option<Hash> {
    let mut layer: Vec<Hash> = stored_under(node)
        .map(|n| stored.get(&n).copied())
        .collect::<Option<_>>()?;
    while layer.len() > 1 {
        layer = layer.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
    }
    layer.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_log::hash::leaf_hash;
    use renkei_log::tree::Frontier;

    #[test]
    fn any_node_is_computed_from_the_stored_ones() {
        let mut f = Frontier::new();
        let mut all = HashMap::new();
        for i in 0..1000u64 {
            all.extend(f.push(leaf_hash(&i.to_be_bytes())));
        }
        let stored: HashMap<NodeId, Hash> = all
            .iter()
            .filter(|(n, _)| is_stored(**n))
            .map(|(n, h)| (*n, *h))
            .collect();
        for (n, h) in &all {
            assert_eq!(hash_from_stored(*n, &stored), Some(*h), "{n:?}");
            assert!(stored_under(*n).count() <= 8);
        }
        let proof_nodes = renkei_log::inclusion_nodes(500, 1000);
        assert!(stored_needed(&proof_nodes).len() <= 8 * proof_nodes.len());
    }
}
