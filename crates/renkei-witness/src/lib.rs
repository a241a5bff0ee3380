//! A witness (C2SP tlog-witness) as pure logic.
//!
//! A witness remembers, per log, the last checkpoint it cosigned. It
//! cosigns a new one only if the log signed it and a consistency proof
//! shows the old tree is a prefix of the new. Two different checkpoints of
//! the same size signed by the log are a split view — the log showing
//! different histories to different parties — and the witness refuses and
//! keeps both as evidence. Because a witness cosigns each size once and
//! never goes back, a log that forks cannot get both branches cosigned.

use std::future::Future;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use renkei_log::hash::Hash;
use renkei_log::{Checkpoint, Note, NoteVerifier};
use renkei_protocol::StoreError;

/// A log this witness follows.
#[derive(Debug, Clone)]
pub struct FollowedLog {
    pub origin: String,
    pub verifier: NoteVerifier,
}

/// What the witness remembers of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub size: u64,
    pub root: Hash,
    /// The signed note, kept as evidence.
    pub note: String,
}

/// Why a checkpoint is not cosigned; each maps to a status of the protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("malformed request: {0}")]
    Malformed(String),
    #[error("this witness does not follow a log with origin {0}")]
    UnknownLog(String),
    #[error("the checkpoint is not signed by the log's key")]
    BadSignature,
    /// The request's old size is not the size this witness has; the log
    /// should prove consistency from `current`.
    #[error("{current}")]
    Conflict { current: u64 },
    #[error("the consistency proof does not verify")]
    Inconsistent,
    /// The log signed two different trees of the same size.
    #[error("split view: the log signed two different trees of size {size}")]
    SplitView { size: u64, earlier_note: String },
}

impl Refusal {
    /// The HTTP status the C2SP tlog-witness protocol uses.
    pub fn status(&self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::BadSignature => 403,
            Self::UnknownLog(_) => 404,
            Self::Conflict { .. } | Self::SplitView { .. } => 409,
            Self::Inconsistent => 422,
        }
    }
}

/// A parsed `add-checkpoint` request.
#[derive(Debug, Clone)]
pub struct AddCheckpoint {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub note: Note,
    pub checkpoint: Checkpoint,
}

/// Parse the body: `old <N>`, proof hashes one per line, a blank line, the
/// signed checkpoint.
pub fn parse_request(body: &str) -> Result<AddCheckpoint, Refusal> {
    let bad = |m: &str| Refusal::Malformed(m.to_owned());
    let (head, note) = body
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line before the checkpoint"))?;
    let mut lines = head.lines();
    let old = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| bad("the first line must be `old <size>`"))?;
    let proof = lines
        .map(|l| {
            STANDARD
                .decode(l)
                .ok()
                .and_then(|v| v.try_into().ok())
                .ok_or_else(|| bad("a proof line is not a base64 SHA-256 hash"))
        })
        .collect::<Result<Vec<Hash>, _>>()?;
    if proof.len() > 64 {
        return Err(bad("a consistency proof has at most 64 hashes"));
    }
    let note = Note::parse(note).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let checkpoint = Checkpoint::parse(&note.text).map_err(|e| Refusal::Malformed(e.to_string()))?;
    Ok(AddCheckpoint {
        old,
        proof,
        note,
        checkpoint,
    })
}

/// Decide whether to cosign. On success the caller stores the new state
/// (only if its state is still `known`) and cosigns.
pub fn check(logs: &[FollowedLog], known: Option<&Known>, req: &AddCheckpoint) -> Result<Known, Refusal> {
    let cp = &req.checkpoint;
    let log = logs
        .iter()
        .find(|l| l.origin == cp.origin)
        .ok_or_else(|| Refusal::UnknownLog(cp.origin.clone()))?;
    req.note
        .verify(&log.verifier)
        .map_err(|_| Refusal::BadSignature)?;
    let current = known.map_or(0, |k| k.size);
    if req.old != current {
        return Err(Refusal::Conflict { current });
    }
    if cp.size < req.old {
        return Err(Refusal::Malformed(
            "the checkpoint is smaller than the old size".into(),
        ));
    }
    let next = Known {
        size: cp.size,
        root: cp.root,
        note: req.note.to_text(),
    };
    match known {
        Some(k) if cp.size == k.size => {
            if cp.root == k.root {
                Ok(next)
            } else {
                Err(Refusal::SplitView {
                    size: k.size,
                    earlier_note: k.note.clone(),
                })
            }
        }
        Some(k) => renkei_log::verify_consistency(k.size, cp.size, &k.root, &cp.root, &req.proof)
            .map(|()| next)
            .map_err(|_| Refusal::Inconsistent),
        // First sight of the log: trust on first use, as the protocol says.
        None => Ok(next),
    }
}

/// What a witness keeps. Implementations: `renkei-store-sqlite`.
pub trait WitnessStore: Send + Sync + 'static {
    fn known(&self, origin: &str) -> impl Future<Output = Result<Option<Known>, StoreError>> + Send;

    /// Replace the state of `origin` only if it is still `expected_size`
    /// (`None`: no state yet). `Ok(false)` if someone else moved it.
    fn advance(
        &self,
        origin: &str,
        expected_size: Option<u64>,
        next: Known,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Keep evidence of a split view.
    fn record_split_view(
        &self,
        origin: &str,
        earlier_note: String,
        later_note: String,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    fn split_views(&self) -> impl Future<Output = Result<Vec<(String, String, String)>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use renkei_log::{Frontier, NoteSigner, leaf_hash};

    struct Log {
        salt: u8,
        signer: NoteSigner,
        frontier: Frontier,
        nodes: std::collections::HashMap<renkei_log::NodeId, Hash>,
        roots: Vec<Hash>,
    }

    impl Log {
        fn new() -> Self {
            Self {
                salt: 0,
                signer: NoteSigner::generate("test.example/log").unwrap(),
                frontier: Frontier::new(),
                nodes: Default::default(),
                roots: vec![Frontier::new().root()],
            }
        }
        fn grow(&mut self, n: u64) {
            for _ in 0..n {
                let i = self.frontier.size();
                let mut entry = i.to_be_bytes().to_vec();
                entry.push(self.salt);
                self.nodes.extend(self.frontier.push(leaf_hash(&entry)));
                self.roots.push(self.frontier.root());
            }
        }
        fn note(&self, size: u64, root: Hash) -> Note {
            let text = Checkpoint {
                origin: "test.example/log".into(),
                size,
                root,
                extensions: vec![],
            }
            .to_text();
            Note {
                signatures: vec![self.signer.sign(&text)],
                text,
            }
        }
        fn request(&self, old: u64, new: u64) -> String {
            let mut get = |n| self.nodes[&n];
            let proof = renkei_log::prove_consistency(old, new, &mut get).unwrap();
            let mut body = format!("old {old}\n");
            for h in proof {
                body.push_str(&STANDARD.encode(h));
                body.push('\n');
            }
            body.push('\n');
            body.push_str(&self.note(new, self.roots[new as usize]).to_text());
            body
        }
    }

    #[test]
    fn follows_a_growing_log_and_refuses_forks() {
        let mut log = Log::new();
        let logs = [FollowedLog {
            origin: "test.example/log".into(),
            verifier: log.signer.verifier(),
        }];
        log.grow(10);
        let k1 = check(&logs, None, &parse_request(&log.request(0, 10)).unwrap()).unwrap();
        log.grow(7);
        let k2 = check(&logs, Some(&k1), &parse_request(&log.request(10, 17)).unwrap()).unwrap();
        assert_eq!(k2.size, 17);
        // Wrong old size: the witness says where it is.
        assert_eq!(
            check(&logs, Some(&k2), &parse_request(&log.request(10, 17)).unwrap()).unwrap_err(),
            Refusal::Conflict { current: 17 }
        );
        // The same checkpoint again is fine (idempotent).
        check(&logs, Some(&k2), &parse_request(&log.request(17, 17)).unwrap()).unwrap();
        // A fork of the same size, signed by the log: split view.
        let forked = log.note(17, [9; 32]);
        let body = format!("old 17\n\n{}", forked.to_text());
        assert!(matches!(
            check(&logs, Some(&k2), &parse_request(&body).unwrap()),
            Err(Refusal::SplitView { size: 17, .. })
        ));
        // A bigger tree that does not extend this one: inconsistent.
        let mut other = Log::new();
        other.salt = 1;
        other.signer = NoteSigner::parse_private(&log.signer.to_private_text()).unwrap();
        other.grow(20);
        let r = check(&logs, Some(&k2), &parse_request(&other.request(17, 20)).unwrap());
        assert_eq!(r.unwrap_err(), Refusal::Inconsistent);
        // Another key or another log.
        let stranger = Log::new();
        let mut s2 = stranger;
        s2.grow(18);
        assert_eq!(
            check(&logs, Some(&k2), &parse_request(&s2.request(17, 18)).unwrap()).unwrap_err(),
            Refusal::BadSignature
        );
        assert!(parse_request("old x\n\nfoo").is_err());
        assert_eq!(Refusal::Inconsistent.status(), 422);
    }
}
