//! How a person appears in the log, and how they find themselves in it.
//!
//! The hub keeps a *subject tag* per person (HMAC of the link id under the
//! hub's record key); it never goes into the log. From it the hub derives:
//!
//! * the **person key** `K = HMAC(commit master, "person-key" ‖ tag)`, which
//!   the person receives through the portal;
//! * for each record, the **commitment** `C = HMAC(K, "leaf-subject" ‖ query
//!   id)` that stands for the person in the leaf. C is a PRF output on a
//!   fresh query id, so two leaves about one person share nothing a reader
//!   without K can link; with K the person recognises each of theirs;
//! * for a record hidden until a date (delayed disclosure), a **record key**
//!   `R = HMAC(commit master, "hidden-record-key" ‖ tag ‖ query id)` takes
//!   K's place in C, so the person cannot find the record with K alone; the
//!   hub releases R with the record once the date has passed;
//! * the **access token** `T = HMAC(K, "person-access")`, which the person
//!   presents to list their records. The hub keeps only SHA-256(T);
//! * for an exchange under a consent, the **consent commitment**
//!   `HMAC(key, "leaf-consent" ‖ query id ‖ grant id)` with the same key as
//!   C: the grant id itself never enters the log, so exchanges under one
//!   grant are as unlinkable as exchanges about one person. An exchange
//!   whose person is unknown commits under a key only the hub holds.

use renkei_crypto::{Digest32, hmac_sha256, sha256};
use renkei_ids::QueryId;

use crate::record::SubjectTag;

pub(crate) fn person_key(commit_master: &[u8; 32], subject: &SubjectTag) -> Digest32 {
    hmac_sha256(commit_master, &[b"renkei/person-key/v1", &subject.0])
}

pub(crate) fn hidden_record_key(
    commit_master: &[u8; 32],
    subject: &SubjectTag,
    query_id: &QueryId,
) -> Digest32 {
    hmac_sha256(
        commit_master,
        &[
            b"renkei/hidden-record-key/v1",
            &subject.0,
            query_id.to_string().as_bytes(),
        ],
    )
}

/// The commitment of a leaf, from the person key or a record key.
pub fn commitment(key: &Digest32, query_id: &QueryId) -> Digest32 {
    hmac_sha256(key, &[b"renkei/leaf-subject/v1", query_id.to_string().as_bytes()])
}

/// The commitment to the consent (grant id) a leaf's exchange relied on,
/// under the key of its subject commitment.
pub fn consent_commitment(key: &Digest32, query_id: &QueryId, grant: &str) -> Digest32 {
    hmac_sha256(
        key,
        &[
            b"renkei/leaf-consent/v1",
            query_id.to_string().as_bytes(),
            &(grant.len() as u64).to_be_bytes(),
            grant.as_bytes(),
        ],
    )
}

/// The token a person presents to list their records.
pub fn access_token(person_key: &Digest32) -> Digest32 {
    hmac_sha256(person_key, &[b"renkei/person-access/v1"])
}

/// What the hub stores to recognise a token.
pub fn token_hash(token: &Digest32) -> Digest32 {
    sha256(&[b"renkei/person-token/v1", token])
}
