//! The public provision log: checkpoints, consistency proofs, retention,
//! and a person's records with what proves each is in the log (checked by
//! the person's own client with [`verify_person_records`]).

use crate::net::EnvelopeWire;
use renkei_crypto::unb64;
use renkei_hub::LogLeaf;
use renkei_log::hash::Hash;
use renkei_log::{Checkpoint, Note, NoteVerifier};
use serde::{Deserialize, Serialize};

/// Seven years, leap days included.
pub const SEVEN_YEARS_DAYS: u64 = 7 * 365 + 2;

/// The C2SP tlog-witness `add-checkpoint` request body.
pub fn add_checkpoint_body(old: u64, proof: &[Hash], note: &str) -> String {
    use base64::Engine;
    let mut body = format!("old {old}\n");
    for h in proof {
        body.push_str(&base64::engine::general_purpose::STANDARD.encode(h));
        body.push('\n');
    }
    body.push('\n');
    body.push_str(note);
    body
}

/// The minimum index (`minimum-index <n>`), a blank line, and the signed,
/// cosigned checkpoint of size ≥ n saved more than the retention period
/// ago: entries below n may be gone, and the witnesses' timestamps on that
/// checkpoint show they are old enough. 404 while nothing is pruned.
pub fn pruned_body(min_index: u64, checkpoint: &str) -> String {
    format!("minimum-index {min_index}\n\n{checkpoint}")
}

/// Parse what [`pruned_body`] writes.
pub fn parse_pruned(body: &str) -> Result<(u64, String), String> {
    let (first, rest) = body
        .split_once("\n\n")
        .ok_or("expected `minimum-index <n>`, a blank line and a checkpoint")?;
    let n = first
        .strip_prefix("minimum-index ")
        .and_then(|n| n.parse().ok())
        .ok_or("expected `minimum-index <n>`")?;
    Ok((n, rest.to_owned()))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProofWire {
    pub proof: Vec<String>,
}

/// One of a person's records, with what proves it is in the log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonRecordWire {
    pub index: u64,
    /// The leaf, base64url (`None` once pruned).
    pub leaf: Option<String>,
    /// Inclusion proof against the checkpoint (`None` if the record came
    /// after it: it will be in the next one).
    pub proof: Option<Vec<String>>,
    /// For a record that was hidden until a date now past: the key that
    /// opens its commitment.
    pub record_key: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonRecordsWire {
    /// The signed checkpoint the proofs are against.
    pub checkpoint: String,
    pub records: Vec<PersonRecordWire>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonKeyRequest {
    /// The portal's institution code for the person.
    pub code: String,
    /// The hub's session proof that the person logged in with their card
    /// (or the principal's consent proof for a proxy): a person's log key
    /// is handed over on the person's authority only.
    pub person_proof: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
}

/// The person key, sealed to the portal that asked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PersonKeyWire {
    pub envelope: EnvelopeWire,
    pub log_origin: String,
    pub log_key: String,
}

/// The AAD binding a sealed person key to who asked and for whom.
pub fn person_key_aad(institution: &str, code: &str) -> Vec<u8> {
    renkei_protocol::canon::Canon::new("renkei/person-key-delivery/v1")
        .str(institution)
        .str(code)
        .finish()
}

pub const PERSON_KEY_INFO: &[u8] = b"renkei/person-key/v1";

/// One of a person's records after checking: its index, the leaf, and
/// whether its inclusion in the checkpoint was proven.
#[derive(Debug, Clone)]
pub struct VerifiedRecord {
    pub index: u64,
    pub leaf: LogLeaf,
    pub included: bool,
}

/// How one of a person's records checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCheck {
    /// In the tree of the signed checkpoint, and about this person.
    Included,
    /// About this person; appended after the checkpoint (no proof yet).
    Pending,
    /// Not verifiable: why.
    Failed(String),
}

/// One record as a person is shown it.
#[derive(Debug, Clone)]
pub struct CheckedRecord {
    pub index: u64,
    /// The decoded leaf, when it decodes.
    pub leaf: Option<LogLeaf>,
    pub check: RecordCheck,
}

/// Check each record a person is shown on its own: the checkpoint must be
/// the log's (else nothing is believed), then each leaf must be about the
/// person (its commitment opens with the person's key, or the record key
/// released for it) and in the signed tree.
pub fn check_person_records(
    records: &PersonRecordsWire,
    log_key: &NoteVerifier,
    person_key: &[u8; 32],
) -> Result<(Checkpoint, Vec<CheckedRecord>), String> {
    let note = Note::parse(&records.checkpoint).map_err(|e| e.to_string())?;
    note.verify(log_key).map_err(|e| e.to_string())?;
    let cp = Checkpoint::parse(&note.text).map_err(|e| e.to_string())?;
    let out = records
        .records
        .iter()
        .filter(|r| r.leaf.is_some())
        .map(|r| check_one(r, &cp, person_key))
        .collect();
    Ok((cp, out))
}

fn check_one(r: &PersonRecordWire, cp: &Checkpoint, person_key: &[u8; 32]) -> CheckedRecord {
    let failed = |leaf, why: String| CheckedRecord {
        index: r.index,
        leaf,
        check: RecordCheck::Failed(why),
    };
    let Some(bytes) = r.leaf.as_deref().and_then(|l| unb64("leaf", l).ok()) else {
        return failed(None, "the leaf is not base64".into());
    };
    let leaf = match LogLeaf::decode(&bytes) {
        Ok(l) => l,
        Err(e) => return failed(None, e.to_string()),
    };
    let key: [u8; 32] = match &r.record_key {
        Some(k) => match unb64("record key", k).ok().and_then(|v| v.try_into().ok()) {
            Some(k) => k,
            None => return failed(Some(leaf), "bad record key".into()),
        },
        None => *person_key,
    };
    if leaf.commitment != Some(renkei_hub::person::commitment(&key, &leaf.query_id)) {
        return failed(Some(leaf), "not about this person".into());
    }
    let Some(p) = &r.proof else {
        return CheckedRecord {
            index: r.index,
            leaf: Some(leaf),
            check: RecordCheck::Pending,
        };
    };
    let proof: Option<Vec<Hash>> = p
        .iter()
        .map(|h| unb64("proof", h).ok().and_then(|v| v.try_into().ok()))
        .collect();
    let Some(proof) = proof else {
        return failed(Some(leaf), "malformed proof".into());
    };
    match renkei_log::verify_inclusion(r.index, cp.size, &renkei_log::leaf_hash(&bytes), &proof, &cp.root) {
        Ok(()) => CheckedRecord {
            index: r.index,
            leaf: Some(leaf),
            check: RecordCheck::Included,
        },
        Err(e) => failed(Some(leaf), e.to_string()),
    }
}

/// Check what a person is shown, all or nothing: the first record that
/// fails verification fails the whole view. Returns the decoded leaves.
pub fn verify_person_records(
    records: &PersonRecordsWire,
    log_key: &NoteVerifier,
    person_key: &[u8; 32],
) -> Result<(Checkpoint, Vec<VerifiedRecord>), String> {
    let (cp, checked) = check_person_records(records, log_key, person_key)?;
    let mut out = Vec::with_capacity(checked.len());
    for c in checked {
        let included = match c.check {
            RecordCheck::Included => true,
            RecordCheck::Pending => false,
            RecordCheck::Failed(why) => return Err(format!("record {}: {why}", c.index)),
        };
        let leaf = c.leaf.ok_or_else(|| format!("record {}: undecodable", c.index))?;
        out.push(VerifiedRecord {
            index: c.index,
            leaf,
            included,
        });
    }
    Ok((cp, out))
}

/// How much older than the retention period the checkpoint that proves an
/// entry's age must be: witnesses cosign a few seconds after the hub saves
/// a checkpoint, so their timestamps (what auditors check) are later than
/// the hub's own; a day covers that with room to spare.
pub const PRUNE_MARGIN_MS: i64 = 86_400_000;

/// What a pruning did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneResult {
    /// Entries below this index have no leaf data any more.
    pub min_index: u64,
    /// Leaves whose data this pruning deleted.
    pub pruned: u64,
}
