use std::sync::RwLock;

use renkei_catalog::{Catalog, PermissionTable, TableRowRef};
use renkei_crypto::{
    CodeError, CodeKeyring, CryptoError, Digest32, SigningKey, VerifyingKey, hmac_sha256, sha256_plain,
};
use renkei_ids::{AcquisitionNumber, CorporateNumber, InstitutionCode, LinkId, QueryId};
use renkei_protocol::{
    CodeDelivery, DeliveredCode, Denial, DenialCode, ForwardedQuery, HubReceipt, PersonProof, ProofPurpose,
    SignedAnswer, SignedForward, SignedPersonProof, SignedReceipt, SignedRequest, UnixMillis, date_of,
};
use zeroize::Zeroizing;

use crate::institution::{Institution, InstitutionStatus};
use crate::person;
use crate::record::{LogLeaf, Outcome, ProvisionRecord, SubjectTag};
use crate::replay::ReplayGuard;

/// Tunables of the hub's checks.
#[derive(Debug, Clone, Copy)]
pub struct HubPolicy {
    /// How far a request's timestamp may be from the hub's clock, either way.
    pub max_skew_ms: i64,
}

impl Default for HubPolicy {
    fn default() -> Self {
        Self { max_skew_ms: 120_000 }
    }
}

/// Who is on the other end of the TLS connection, as the HTTP layer read
/// it from the verified client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInstitution {
    pub institution: CorporateNumber,
    pub certificate_fingerprint: Digest32,
}

/// A request that passed every check, with what the forward needs.
#[derive(Debug, Clone)]
pub struct Authorized {
    pub query_id: QueryId,
    pub table_row: TableRowRef,
    pub non_disclosure: bool,
    pub subject: SubjectTag,
    pub provider_code: InstitutionCode,
    /// The provider's codes under older keys still accepted.
    pub provider_previous_codes: Vec<InstitutionCode>,
}

/// A request refused after authentication, with what its record needs.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub denial: Denial,
    pub subject: Option<SubjectTag>,
    pub table_row: Option<TableRowRef>,
    pub non_disclosure: bool,
}

/// The hub's decisions. See the crate documentation for the split between
/// this and the HTTP layer.
pub struct HubCore {
    catalog: Catalog,
    table: PermissionTable,
    keyring: RwLock<CodeKeyring>,
    signer: SigningKey,
    subject_key: Zeroizing<[u8; 32]>,
    /// Derived from the subject key: the root of person keys and
    /// commitments (see [`crate::person`]).
    commit_master: Zeroizing<[u8; 32]>,
    policy: HubPolicy,
    replay: ReplayGuard,
}

impl std::fmt::Debug for HubCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubCore")
            .field("catalog", &self.catalog.version)
            .field("table", &self.table.version)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

fn deny(code: DenialCode, message: impl Into<String>) -> Denial {
    Denial::new(code, message)
}

impl HubCore {
    pub fn new(
        catalog: Catalog,
        table: PermissionTable,
        keyring: CodeKeyring,
        signer: SigningKey,
        subject_key: Zeroizing<[u8; 32]>,
        policy: HubPolicy,
    ) -> Self {
        Self {
            catalog,
            table,
            keyring: RwLock::new(keyring),
            signer,
            commit_master: Zeroizing::new(hmac_sha256(subject_key.as_slice(), &[b"renkei/commit-master/v1"])),
            subject_key,
            policy,
            replay: ReplayGuard::default(),
        }
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signer.verifying_key()
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn table(&self) -> &PermissionTable {
        &self.table
    }

    pub fn policy(&self) -> HubPolicy {
        self.policy
    }

    /// Re-arm the replay guard from stored records after a restart.
    pub fn seed_replay(
        &self,
        seen: impl IntoIterator<Item = (CorporateNumber, renkei_ids::MessageId, UnixMillis)>,
        now: UnixMillis,
    ) {
        for (requester, id, at) in seen {
            self.replay
                .check_and_remember(requester, id, at.plus_ms(self.policy.max_skew_ms), now);
        }
    }

    fn subject_of(&self, link: &LinkId) -> SubjectTag {
        SubjectTag(hmac_sha256(
            self.subject_key.as_slice(),
            &[b"renkei/subject-tag/v1", link.as_bytes()],
        ))
    }

    /// Step 1 of a linkage: who is asking, and is this message fresh
    /// and theirs? Failures here are not attributable and are not recorded
    /// as provision records.
    pub fn authenticate(
        &self,
        peer: &PeerInstitution,
        request: &SignedRequest,
        requester: Option<&Institution>,
        now: UnixMillis,
    ) -> Result<(), Denial> {
        let r = &request.request;
        if peer.institution != r.requester {
            return Err(deny(
                DenialCode::CertificateMismatch,
                format!(
                    "the TLS client certificate is {}'s but the request is signed as {}",
                    peer.institution, r.requester
                ),
            ));
        }
        let Some(requester) = requester else {
            return Err(deny(
                DenialCode::UnknownRequester,
                format!("institution {} is not registered at this hub", r.requester),
            ));
        };
        if peer.certificate_fingerprint != requester.tls_certificate {
            return Err(deny(
                DenialCode::CertificateMismatch,
                "the TLS client certificate is not the one registered for this institution",
            ));
        }
        // The certificate the request carries is what the provider will
        // verify the signature with: it must be the registered one too.
        if sha256_plain(&request.certificate) != requester.tls_certificate {
            return Err(deny(
                DenialCode::CertificateMismatch,
                "the certificate in the request is not the one registered for this institution",
            ));
        }
        request.verify(&requester.signing_key).map_err(|e| {
            deny(
                DenialCode::BadSignature,
                format!("request signature rejected: {e}"),
            )
        })?;
        let skew = self.policy.max_skew_ms;
        if r.issued_at.0 < now.0 - skew {
            return Err(deny(
                DenialCode::StaleTimestamp,
                format!(
                    "request was issued at {} — more than {} s before the hub's time {}",
                    r.issued_at,
                    skew / 1000,
                    now
                ),
            ));
        }
        if r.issued_at.0 > now.0 + skew {
            return Err(deny(
                DenialCode::FutureTimestamp,
                format!(
                    "request was issued at {} — more than {} s after the hub's time {}",
                    r.issued_at,
                    skew / 1000,
                    now
                ),
            ));
        }
        // Remember only after the signature verified: an attacker cannot
        // burn a legitimate sender's ids with unsigned junk.
        if !self
            .replay
            .check_and_remember(r.requester, r.message_id, r.issued_at.plus_ms(skew), now)
        {
            return Err(deny(
                DenialCode::Replayed,
                format!("message id {} was already received", r.message_id),
            ));
        }
        Ok(())
    }

    /// Steps 2–3: is it lawful, and who is it about?
    pub fn authorize(
        &self,
        request: &SignedRequest,
        requester: &Institution,
        provider: Option<&Institution>,
        now: UnixMillis,
    ) -> Result<Authorized, Box<Rejected>> {
        let r = &request.request;
        let mut rejected = Rejected {
            denial: deny(DenialCode::NotPermitted, ""),
            subject: None,
            table_row: None,
            non_disclosure: false,
        };
        let fail = |mut rej: Rejected, code, message: String| {
            rej.denial = deny(code, message);
            Err(Box::new(rej))
        };

        if requester.status == InstitutionStatus::Suspended {
            return fail(
                rejected,
                DenialCode::RequesterSuspended,
                format!("institution {} is suspended", r.requester),
            );
        }
        let link = {
            let ring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
            match ring.decode(&r.subject, &r.requester, now.0) {
                Ok(link) => link,
                Err(e) => {
                    let code = match e {
                        CodeError::NotValid => DenialCode::CodeInvalid,
                        CodeError::KeyVersionExpired(_) => DenialCode::CodeKeyExpired,
                        CodeError::UnknownKeyVersion(_) => DenialCode::CodeKeyUnknown,
                    };
                    return fail(rejected, code, e.to_string());
                }
            }
        };
        rejected.subject = Some(self.subject_of(&link));

        let Some(work) = self.catalog.office_work(&r.office_work) else {
            return fail(
                rejected,
                DenialCode::UnknownOfficeWork,
                format!(
                    "office work `{}` is not in catalog {}",
                    r.office_work, self.catalog.version
                ),
            );
        };
        rejected.non_disclosure = work.non_disclosure;
        let Some(item) = self.catalog.item(&r.item) else {
            return fail(
                rejected,
                DenialCode::UnknownItem,
                format!("item `{}` is not in catalog {}", r.item, self.catalog.version),
            );
        };
        if work.person_proof {
            let Some(proof) = &r.person_proof else {
                return fail(
                    rejected,
                    DenialCode::PersonProofRequired,
                    format!(
                        "office work `{}` is done for the person themselves: the request must carry \
                         the hub's proof that they are present with their card",
                        r.office_work
                    ),
                );
            };
            if let Err(e) = self.check_person_proof(proof, &r.requester, &r.subject, r.consent.as_ref(), now)
            {
                return fail(rejected, DenialCode::PersonProofInvalid, e);
            }
        }
        match (item.periodic, r.fiscal_year) {
            (true, None) => {
                return fail(
                    rejected,
                    DenialCode::FiscalYearRequired,
                    format!("item `{}` needs a fiscal year", r.item),
                );
            }
            (false, Some(_)) => {
                return fail(
                    rejected,
                    DenialCode::FiscalYearNotApplicable,
                    format!("item `{}` has no fiscal year; omit it", r.item),
                );
            }
            _ => {}
        }
        let Some(provider) = provider else {
            return fail(
                rejected,
                DenialCode::UnknownProvider,
                format!("provider {} is not registered at this hub", r.provider),
            );
        };
        if provider.status == InstitutionStatus::Suspended {
            return fail(
                rejected,
                DenialCode::ProviderSuspended,
                format!("provider {} is suspended", r.provider),
            );
        }
        // A request carrying a sealed payload is a push: only a push row
        // allows it, and only a query row allows a request without one.
        let direction = if r.payload.is_some() {
            renkei_catalog::Direction::Push
        } else {
            renkei_catalog::Direction::Query
        };
        let row = match self.table.check(
            direction,
            &r.requester,
            &requester.kind,
            &r.office_work,
            &provider.kind,
            &r.item,
            date_of(now),
        ) {
            Ok(row) => row,
            Err(e) => return fail(rejected, DenialCode::NotPermitted, e.to_string()),
        };
        let (provider_code, provider_previous_codes) = {
            let ring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
            (
                ring.encode(&link, &provider.id),
                ring.previous_codes(&link, &provider.id, now.0),
            )
        };
        Ok(Authorized {
            query_id: QueryId::random(),
            table_row: self.table.row_ref(row),
            non_disclosure: work.non_disclosure,
            subject: rejected.subject.expect("set above"),
            provider_code,
            provider_previous_codes,
        })
    }

    /// Step 3: the signed forward to the provider: the requester's own
    /// signed request without the hub-only fields, and what the hub adds.
    pub fn forward(
        &self,
        request: &SignedRequest,
        authorized: &Authorized,
        now: UnixMillis,
    ) -> SignedForward {
        ForwardedQuery {
            query_id: authorized.query_id,
            request: request.provider_view(),
            subject: authorized.provider_code.clone(),
            previous_subjects: authorized.provider_previous_codes.clone(),
            table_row: authorized.table_row.clone(),
            non_disclosure: authorized.non_disclosure,
            forwarded_at: now,
        }
        .sign(&self.signer)
    }

    /// The provider's answer must be signed by the provider (with the key
    /// of its registered certificate, which the answer carries), be the
    /// answer to this very forward, and be sealed to the requester's
    /// certified key: the hub refuses what the requester would refuse, so a
    /// faulty provider costs no one a wasted record of "provided".
    pub fn check_answer(
        &self,
        forward: &SignedForward,
        answer: &SignedAnswer,
        requester: &Institution,
        provider: &Institution,
    ) -> Result<(), Denial> {
        if sha256_plain(&answer.certificate) != provider.tls_certificate {
            return Err(deny(
                DenialCode::ProviderError,
                "the provider's answer carries a certificate other than the one registered",
            ));
        }
        answer.verify(&provider.signing_key).map_err(|e| {
            deny(
                DenialCode::ProviderError,
                format!("the provider's answer signature was rejected: {e}"),
            )
        })?;
        let q = &forward.query;
        let a = &answer.answer;
        if a.query_id != q.query_id
            || a.request_digest != q.request.digest()
            || a.provider != q.request.core.provider
            || a.requester != q.request.core.requester
        {
            return Err(deny(
                DenialCode::ProviderError,
                "the provider answered a different query",
            ));
        }
        if a.envelope.recipient != *requester.sealing_key.key_id()
            || a.envelope.sender.as_ref() != Some(provider.sealing_key.key_id())
        {
            return Err(deny(
                DenialCode::ProviderError,
                "the provider did not seal the answer from its own certified key to the requester's",
            ));
        }
        Ok(())
    }

    /// The provision record of an exchange that was forwarded.
    pub fn record_forwarded(
        &self,
        request: &SignedRequest,
        authorized: &Authorized,
        outcome: Outcome,
        provided_at: Option<UnixMillis>,
    ) -> ProvisionRecord {
        self.record(
            request,
            authorized.query_id,
            Some(authorized.table_row.clone()),
            Some(authorized.subject),
            outcome,
            provided_at,
            authorized.non_disclosure,
        )
    }

    /// The provision record of a request refused after authentication.
    pub fn record_rejected(&self, request: &SignedRequest, rejected: &Rejected) -> ProvisionRecord {
        self.record(
            request,
            QueryId::random(),
            rejected.table_row.clone(),
            rejected.subject,
            Outcome::Denied(rejected.denial.code),
            None,
            rejected.non_disclosure,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        request: &SignedRequest,
        query_id: QueryId,
        table_row: Option<TableRowRef>,
        subject: Option<SubjectTag>,
        outcome: Outcome,
        provided_at: Option<UnixMillis>,
        non_disclosure: bool,
    ) -> ProvisionRecord {
        let r = &request.request;
        let delay = self
            .catalog
            .office_work(&r.office_work)
            .and_then(|w| w.disclosure_delay.clone());
        let hidden_until = delay.as_ref().map(|(secs, _)| {
            r.issued_at.plus_ms(
                i64::try_from(*secs)
                    .unwrap_or(i64::MAX / 2000)
                    .saturating_mul(1000),
            )
        });
        let key = subject.map(|s| {
            if hidden_until.is_some() {
                person::hidden_record_key(&self.commit_master, &s, &query_id)
            } else {
                person::person_key(&self.commit_master, &s)
            }
        });
        let commitment = key.as_ref().map(|k| person::commitment(k, &query_id));
        let consent = r.consent.as_ref().map(|c| c.as_str().to_owned());
        let consent_commitment = consent.as_deref().map(|grant| {
            // Without a person there is no person key: commit under a key
            // of the hub's alone, which no one else can open.
            let key = key.unwrap_or_else(|| {
                hmac_sha256(self.commit_master.as_slice(), &[b"renkei/unowned-consent/v1"])
            });
            person::consent_commitment(&key, &query_id, grant)
        });
        ProvisionRecord {
            leaf: LogLeaf {
                query_id,
                message_id: r.message_id,
                request_digest: request.digest(),
                requester: r.requester,
                provider: r.provider,
                office_work: r.office_work.clone(),
                item: r.item.clone(),
                fiscal_year: r.fiscal_year,
                table_row,
                commitment,
                consent_commitment,
                requested_at: r.issued_at,
                provided_at,
                outcome,
                non_disclosure,
                hidden_until,
                hidden_reason: delay.map(|(_, reason)| reason),
            },
            subject,
            consent,
        }
    }

    /// Step 5: the hub's signed statement handed over with the answer.
    pub fn receipt(
        &self,
        forward: &SignedForward,
        answer: &SignedAnswer,
        record_seq: u64,
        now: UnixMillis,
    ) -> SignedReceipt {
        HubReceipt {
            query_id: forward.query.query_id,
            request_digest: forward.query.request.digest(),
            answer_digest: answer.digest(),
            record_seq,
            recorded_at: now,
        }
        .sign(&self.signer)
    }

    /// The code service: codes for people the registry
    /// identified, sealed to the institution so the registry relays them
    /// unread.
    pub fn issue_codes(
        &self,
        institution: &Institution,
        entries: &[(AcquisitionNumber, LinkId)],
    ) -> Result<CodeDelivery, CryptoError> {
        let ring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
        let codes: Vec<DeliveredCode> = entries
            .iter()
            .map(|(acq, link)| DeliveredCode {
                acquisition_number: *acq,
                code: ring.encode(link, &institution.id),
            })
            .collect();
        CodeDelivery::seal(institution.id, &institution.sealing_key, &codes)
    }

    /// A person proof presented by `presenter` with its `code` for the
    /// person: the hub's own signature, for this presenter and purpose,
    /// unexpired, and about the same person as the code.
    pub fn check_person_proof(
        &self,
        proof: &SignedPersonProof,
        presenter: &CorporateNumber,
        code: &InstitutionCode,
        consent: Option<&renkei_protocol::ConsentRef>,
        now: UnixMillis,
    ) -> Result<(), String> {
        proof
            .verify(&self.signer.verifying_key(), presenter, consent, now)
            .map_err(|e| e.to_string())?;
        let ring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
        let same = match (
            ring.decode(&proof.proof.subject, presenter, now.0),
            ring.decode(code, presenter, now.0),
        ) {
            (Ok(a), Ok(b)) => a.as_bytes() == b.as_bytes(),
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err("the person proof is about another person".into())
        }
    }

    /// A person proof (see `renkei_protocol::SignedPersonProof`) for
    /// `institution`'s code of the person behind `link`, after the registry
    /// verified the person's card over the challenge whose digest is
    /// `card_challenge`. It holds until `until`, or the purpose's limit if
    /// that comes first.
    pub fn issue_person_proof(
        &self,
        institution: &CorporateNumber,
        link: &LinkId,
        purpose: ProofPurpose,
        card_challenge: Digest32,
        until: UnixMillis,
        now: UnixMillis,
    ) -> SignedPersonProof {
        let subject = self
            .keyring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .encode(link, institution);
        let limit = now.plus_ms(purpose.max_lifetime_ms());
        PersonProof {
            institution: *institution,
            subject,
            card_challenge,
            issued_at: now,
            expires_at: UnixMillis(until.0.min(limit.0)),
            purpose,
        }
        .sign(&self.signer)
    }

    /// Rotate the code key; returns the new version and the keyring's file
    /// text, which the caller persists.
    pub fn rotate_code_key(&self, now: UnixMillis, grace_ms: i64) -> (u32, Zeroizing<String>) {
        let mut ring = self.keyring.write().unwrap_or_else(|p| p.into_inner());
        ring.retire_expired(now.0);
        let v = ring.rotate(now.0, grace_ms);
        (v, ring.to_file_text())
    }

    /// Take a keyring rotated elsewhere (another hub process on the same
    /// key file).
    pub fn replace_keyring(&self, ring: CodeKeyring) {
        *self.keyring.write().unwrap_or_else(|p| p.into_inner()) = ring;
    }

    pub fn code_key_version(&self) -> u32 {
        self.keyring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .current_version()
    }

    /// The subject tag of the person behind `code` (for issuing a person key).
    pub fn subject_of_code(
        &self,
        institution: &CorporateNumber,
        code: &InstitutionCode,
        now: UnixMillis,
    ) -> Result<SubjectTag, CodeError> {
        let ring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
        Ok(self.subject_of(&ring.decode(code, institution, now.0)?))
    }

    /// The person key for a subject (handed to the person through the
    /// portal) and the hash of its access token (kept by the hub).
    pub fn person_key(&self, subject: &SubjectTag) -> (Zeroizing<Digest32>, Digest32) {
        let key = Zeroizing::new(person::person_key(&self.commit_master, subject));
        let token_hash = person::token_hash(&person::access_token(&key));
        (key, token_hash)
    }

    /// The key that opens a delayed record's commitment; released to the
    /// person only once the record's date has passed.
    pub fn hidden_record_key(&self, subject: &SubjectTag, query_id: &QueryId) -> Digest32 {
        person::hidden_record_key(&self.commit_master, subject, query_id)
    }

    /// The person behind `from`'s `code`, as `to`'s code: how a notice an
    /// institution addresses by its own code reaches the portal.
    pub fn translate_code(
        &self,
        from: &CorporateNumber,
        code: &InstitutionCode,
        to: &CorporateNumber,
        now: UnixMillis,
    ) -> Result<InstitutionCode, CodeError> {
        let ring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
        let link = ring.decode(code, from, now.0)?;
        Ok(ring.encode(&link, to))
    }

    /// A fresh code for an institution's person under the current key, for
    /// an institution whose code is in its grace period.
    pub fn refresh_code(
        &self,
        institution: &CorporateNumber,
        code: &InstitutionCode,
        now: UnixMillis,
    ) -> Result<InstitutionCode, CodeError> {
        let ring = self.keyring.read().unwrap_or_else(|p| p.into_inner());
        let link = ring.decode(code, institution, now.0)?;
        Ok(ring.encode(&link, institution))
    }
}
