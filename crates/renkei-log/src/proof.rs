//! Inclusion and consistency proofs (RFC 9162 §2.1.3, §2.1.4).

use crate::hash::{Hash, node_hash};
use crate::tree::{NodeId, range_hash, split_point};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("a tree of size {old} cannot be a prefix of a tree of size {new}")]
    SizesOutOfOrder { old: u64, new: u64 },
    #[error("the proof has {got} hashes, a proof for these sizes has {expected}")]
    WrongLength { expected: usize, got: usize },
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

fn path(m: u64, a: u64, b: u64, get: &mut dyn FnMut(NodeId) -> Hash, out: &mut Vec<Hash>) {
    if b - a <= 1 {
        return;
    }
    let k = split_point(b - a);
    if m < a + k {
        path(m, a, a + k, get, out);
        out.push(range_hash(a + k, b, get));
    } else {
        path(m, a + k, b, get, out);
        out.push(range_hash(a, a + k, get));
    }
}

/// The audit path of leaf `index` in a tree of `size` leaves.
pub fn prove_inclusion(
    index: u64,
    size: u64,
    get: &mut dyn FnMut(NodeId) -> Hash,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path(index, 0, size, get, &mut out);
    Ok(out)
}

fn subproof(m: u64, a: u64, b: u64, start: bool, get: &mut dyn FnMut(NodeId) -> Hash, out: &mut Vec<Hash>) {
    let n = b - a;
    if m == n {
        if !start {
            out.push(range_hash(a, b, get));
        }
        return;
    }
    let k = split_point(n);
    if m <= k {
        subproof(m, a, a + k, start, get, out);
        out.push(range_hash(a + k, b, get));
    } else {
        subproof(m - k, a + k, b, false, get, out);
        out.push(range_hash(a, a + k, get));
    }
}

/// The proof that the tree of `old` leaves is a prefix of the tree of
/// `new` leaves. Empty when `old` is 0 or equals `new`.
pub fn prove_consistency(
    old: u64,
    new: u64,
    get: &mut dyn FnMut(NodeId) -> Hash,
) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(old, 0, new, true, get, &mut out);
    }
    Ok(out)
}

fn collect(f: impl FnOnce(&mut dyn FnMut(NodeId) -> Hash)) -> Vec<NodeId> {
    let mut nodes = Vec::new();
    f(&mut |n| {
        nodes.push(n);
        [0; 32]
    });
    nodes.sort();
    nodes.dedup();
    nodes
}

/// The complete subtrees [`prove_inclusion`] will ask for.
pub fn inclusion_nodes(index: u64, size: u64) -> Vec<NodeId> {
    collect(|get| {
        let _ = prove_inclusion(index, size, get);
    })
}

/// The complete subtrees [`prove_consistency`] will ask for.
pub fn consistency_nodes(old: u64, new: u64) -> Vec<NodeId> {
    collect(|get| {
        let _ = prove_consistency(old, new, get);
    })
}

const fn lsb(x: u64) -> bool {
    x & 1 == 1
}

/// RFC 9162 §2.1.3.2.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(ProofError::RootMismatch);
        }
        if lsb(fnode) || fnode == snode {
            r = node_hash(p, &r);
            if !lsb(fnode) {
                while !lsb(fnode) && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && r == *root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

/// RFC 9162 §2.1.4.2.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                expected: 0,
                got: proof.len(),
            });
        }
        return if old == 0 || old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(ProofError::WrongLength { expected: 1, got: 0 });
    };
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while lsb(fnode) {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if snode == 0 {
            return Err(ProofError::RootMismatch);
        }
        if lsb(fnode) || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if !lsb(fnode) {
                while !lsb(fnode) && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode == 0 && fr == *old_root && sr == *new_root {
        Ok(())
    } else {
        Err(ProofError::RootMismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::leaf_hash;
    use crate::tree::Frontier;
    use proptest::prelude::*;
    use std::collections::HashMap;

    struct Tree {
        nodes: HashMap<NodeId, Hash>,
        roots: Vec<Hash>,
        leaves: Vec<Hash>,
    }

    fn tree(n: u64) -> Tree {
        let mut f = Frontier::new();
        let mut t = Tree {
            nodes: HashMap::new(),
            roots: vec![f.root()],
            leaves: Vec::new(),
        };
        for i in 0..n {
            let l = leaf_hash(format!("entry {i}").as_bytes());
            t.leaves.push(l);
            t.nodes.extend(f.push(l));
            t.roots.push(f.root());
        }
        t
    }

    /// An independent implementation: ct-merkle (RFC 6962).
    fn reference(n: u64) -> ct_merkle::mem_backed_tree::MemoryBackedTree<sha2::Sha256, Vec<u8>> {
        let mut t = ct_merkle::mem_backed_tree::MemoryBackedTree::new();
        for i in 0..n {
            t.push(format!("entry {i}").into_bytes());
        }
        t
    }

    #[test]
    fn roots_and_proofs_match_an_independent_implementation() {
        for n in 1..=70u64 {
            let t = tree(n);
            let r = reference(n);
            assert_eq!(
                t.roots[n as usize].as_slice(),
                r.root().as_bytes().as_slice(),
                "root of {n}"
            );
            for i in 0..n {
                let mut get = |id: NodeId| t.nodes[&id];
                let ours = prove_inclusion(i, n, &mut get).unwrap();
                let theirs = r.prove_inclusion(i as usize);
                assert_eq!(ours.concat(), theirs.as_bytes(), "inclusion {i} of {n}");
                verify_inclusion(i, n, &t.leaves[i as usize], &ours, &t.roots[n as usize]).unwrap();
            }
            for m in 1..n {
                let mut get = |id: NodeId| t.nodes[&id];
                let ours = prove_consistency(m, n, &mut get).unwrap();
                // ct-merkle proves the tree `n - m` additions ago against now.
                let theirs = r.prove_consistency((n - m) as usize);
                assert_eq!(ours.concat(), theirs.as_bytes(), "consistency {m} → {n}");
                verify_consistency(m, n, &t.roots[m as usize], &t.roots[n as usize], &ours).unwrap();
            }
        }
    }

    proptest! {
        #[test]
        fn tampering_is_detected(n in 2u64..200, seed in any::<u64>()) {
            let t = tree(n);
            let i = seed % n;
            let mut get = |id: NodeId| t.nodes[&id];
            let proof = prove_inclusion(i, n, &mut get).unwrap();
            let root = t.roots[n as usize];
            // Another leaf, another index, a changed hash, a wrong size: all fail.
            let other = leaf_hash(b"not in the log");
            prop_assert!(verify_inclusion(i, n, &other, &proof, &root).is_err());
            if !proof.is_empty() {
                let mut bad = proof.clone();
                bad[(seed as usize) % proof.len()][0] ^= 1;
                prop_assert!(verify_inclusion(i, n, &t.leaves[i as usize], &bad, &root).is_err());
                prop_assert!(verify_inclusion((i + 1) % n, n, &t.leaves[i as usize], &proof, &root).is_err());
            }

            let m = 1 + seed % (n - 1);
            let mut get = |id: NodeId| t.nodes[&id];
            let c = prove_consistency(m, n, &mut get).unwrap();
            prop_assert!(verify_consistency(m, n, &t.roots[m as usize], &t.roots[n as usize], &c).is_ok());
            // A forked old tree (different root) is not consistent.
            let mut forked = t.roots[m as usize];
            forked[5] ^= 0x10;
            prop_assert!(verify_consistency(m, n, &forked, &t.roots[n as usize], &c).is_err());
            let mut bad = c.clone();
            bad[(seed as usize) % c.len()][31] ^= 1;
            prop_assert!(verify_consistency(m, n, &t.roots[m as usize], &t.roots[n as usize], &bad).is_err());
        }
    }

    #[test]
    fn node_lists_are_what_the_builders_ask_for() {
        let t = tree(1000);
        for (i, n) in [(0u64, 1000u64), (999, 1000), (513, 777), (256, 257)] {
            let needed = inclusion_nodes(i, n);
            let mut asked = Vec::new();
            let mut get = |id: NodeId| {
                asked.push(id);
                t.nodes[&id]
            };
            prove_inclusion(i, n, &mut get).unwrap();
            asked.sort();
            asked.dedup();
            assert_eq!(asked, needed);
        }
        assert!(consistency_nodes(1000, 1000).is_empty());
        assert!(!consistency_nodes(300, 1000).is_empty());
    }
}
