//! RFC 9162 §2.1.1: MTH({}) = SHA-256(); leaf = SHA-256(0x00 ‖ d);
//! node = SHA-256(0x01 ‖ left ‖ right).

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// The hash of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}
