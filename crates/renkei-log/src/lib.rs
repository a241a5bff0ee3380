//! The transparency log's mathematics and formats, independent of storage.
//!
//! * [`hash`]: RFC 9162 §2.1.1 tree hashing (leaf `0x00`, node `0x01`).
//! * [`tree`]: complete subtrees as [`NodeId`]s, the hash of any range
//!   computed from them, and the [`Frontier`] that appends in O(log n).
//! * [`proof`]: inclusion and consistency proofs (RFC 9162 §2.1.3–2.1.4),
//!   built from whatever subtree hashes a caller can supply, and verified.
//! * [`note`], [`checkpoint`]: the C2SP signed-note and checkpoint formats,
//!   Ed25519 note keys and `cosignature/v1` (C2SP tlog-cosignature).
//! * [`tiles`]: the C2SP tlog-tiles layout — tile paths, partial tiles and
//!   entry bundles.
//!
//! Proofs are built in two passes so that storage can be asynchronous: the
//! caller asks which subtrees a proof needs ([`proof::inclusion_nodes`]),
//! fetches them however it likes, and then assembles the proof.

pub mod checkpoint;
pub mod hash;
pub mod note;
pub mod proof;
pub mod tiles;
pub mod tree;

pub use checkpoint::Checkpoint;
pub use hash::{Hash, leaf_hash, node_hash};
pub use note::{Cosignature, Note, NoteError, NoteSigner, NoteVerifier, Signature};
pub use proof::{
    ProofError, consistency_nodes, inclusion_nodes, prove_consistency, prove_inclusion, verify_consistency,
    verify_inclusion,
};
pub use tree::{Frontier, NodeId};
