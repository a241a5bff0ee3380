//! Unit tests of the hub's decisions, without any I/O.

use renkei_catalog::{ItemCode, KindCode, OfficeWorkCode};
use renkei_crypto::{CodeKeyring, SealingKeyPair, SigningKey, Suite};
use renkei_ids::{CorporateNumber, LinkId, MessageId};
use renkei_protocol::{DenialCode, FiscalYear, LinkageRequest, SignedRequest, UnixMillis};
use zeroize::Zeroizing;

use crate::{Endpoint, HubCore, HubPolicy, Institution, InstitutionStatus, PeerInstitution};

struct Inst {
    entry: Institution,
    sign: SigningKey,
    /// Stands in for the DER certificate; registered by its SHA-256.
    cert: Vec<u8>,
}

fn inst(n: u64, kind: &str) -> Inst {
    let suite = Suite::default();
    let sign = SigningKey::generate(suite.signature());
    let cert = format!("certificate of {n}").into_bytes();
    let entry = Institution {
        id: CorporateNumber::from_base_number(n).unwrap(),
        name: format!("inst {n}"),
        kind: KindCode::parse(kind).unwrap(),
        endpoint: Endpoint::parse("https://127.0.0.1:1").unwrap(),
        tls_certificate: renkei_crypto::sha256_plain(&cert),
        signing_key: sign.verifying_key(),
        sealing_key: SealingKeyPair::generate(suite.sealing()).public_key(),
        status: InstitutionStatus::Active,
        updated_at: UnixMillis(0),
        certificate: cert.clone(),
    };
    Inst { entry, sign, cert }
}

const NOW: UnixMillis = UnixMillis(1_790_000_000_000);

fn hub() -> (HubCore, CodeKeyring) {
    let (catalog, table) = renkei_catalog::sample();
    let ring = CodeKeyring::generate();
    let parts: Vec<_> = ring.parts().into_iter().map(|(v, k, s)| (v, *k, s)).collect();
    let core = HubCore::new(
        catalog,
        table,
        CodeKeyring::from_parts(parts.clone()).unwrap(),
        SigningKey::generate(Suite::default().signature()),
        Zeroizing::new([9u8; 32]),
        HubPolicy::default(),
    );
    (core, CodeKeyring::from_parts(parts).unwrap())
}

fn request(
    from: &Inst,
    to: &Inst,
    ring: &CodeKeyring,
    link: &LinkId,
    work: &str,
    item: &str,
    fy: Option<u16>,
) -> SignedRequest {
    LinkageRequest {
        message_id: MessageId::random(),
        requester: from.entry.id,
        provider: to.entry.id,
        office_work: OfficeWorkCode::parse(work).unwrap(),
        item: ItemCode::parse(item).unwrap(),
        fiscal_year: fy.map(|y| FiscalYear::new(y).unwrap()),
        subject: ring.encode(link, &from.entry.id),
        issued_at: NOW,
        consent: None,
        person_proof: None,
        payload: None,
    }
    .sign(&from.sign, from.cert.clone())
}

fn peer(i: &Inst) -> PeerInstitution {
    PeerInstitution {
        institution: i.entry.id,
        certificate_fingerprint: i.entry.tls_certificate,
    }
}

#[test]
fn lawful_request_is_authorized_and_translated() {
    let (hub, ring) = hub();
    let city = inst(1, "municipality");
    let other_city = inst(2, "municipality");
    let link = LinkId::random();
    let req = request(
        &city,
        &other_city,
        &ring,
        &link,
        "child_allowance",
        "resident_tax_income",
        Some(2025),
    );
    hub.authenticate(&peer(&city), &req, Some(&city.entry), NOW)
        .unwrap();
    let auth = hub
        .authorize(&req, &city.entry, Some(&other_city.entry), NOW)
        .unwrap();
    assert_eq!(auth.table_row.row_id.as_str(), "R0101");
    // The provider gets its own code for the same person.
    assert_eq!(auth.provider_code, ring.encode(&link, &other_city.entry.id));
    let fwd = hub.forward(&req, &auth, NOW);
    fwd.verify(&hub.verifying_key()).unwrap();
    assert_eq!(fwd.query.request.digest(), req.digest());
    // The provider sees who asked what, not the requester's code.
    assert_eq!(fwd.query.request.core, req.request.core());
    assert!(!format!("{:?}", fwd.query).contains(&req.request.subject.to_string()));
}

#[test]
fn authentication_failures() {
    let (hub, ring) = hub();
    let city = inst(1, "municipality");
    let other = inst(2, "municipality");
    let link = LinkId::random();
    let req = request(
        &city,
        &other,
        &ring,
        &link,
        "child_allowance",
        "resident_tax_income",
        Some(2025),
    );
    let code = |r: Result<(), renkei_protocol::Denial>| r.unwrap_err().code;

    assert_eq!(
        code(hub.authenticate(&peer(&other), &req, Some(&city.entry), NOW)),
        DenialCode::CertificateMismatch
    );
    assert_eq!(
        code(hub.authenticate(&peer(&city), &req, None, NOW)),
        DenialCode::UnknownRequester
    );
    let mut wrong_cert = peer(&city);
    wrong_cert.certificate_fingerprint = [0; 32];
    assert_eq!(
        code(hub.authenticate(&wrong_cert, &req, Some(&city.entry), NOW)),
        DenialCode::CertificateMismatch
    );
    // Another certificate in the request than the registered one: the
    // provider would verify the signature with its keys.
    let mut other_cert = req.clone();
    other_cert.certificate = other.cert.clone();
    assert_eq!(
        code(hub.authenticate(&peer(&city), &other_cert, Some(&city.entry), NOW)),
        DenialCode::CertificateMismatch
    );
    let mut forged = req.clone();
    forged.request.item = ItemCode::parse("household").unwrap();
    assert_eq!(
        code(hub.authenticate(&peer(&city), &forged, Some(&city.entry), NOW)),
        DenialCode::BadSignature
    );
    assert_eq!(
        code(hub.authenticate(&peer(&city), &req, Some(&city.entry), NOW.plus_ms(120_001))),
        DenialCode::StaleTimestamp
    );
    assert_eq!(
        code(hub.authenticate(&peer(&city), &req, Some(&city.entry), NOW.plus_ms(-120_001))),
        DenialCode::FutureTimestamp
    );
    hub.authenticate(&peer(&city), &req, Some(&city.entry), NOW)
        .unwrap();
    assert_eq!(
        code(hub.authenticate(&peer(&city), &req, Some(&city.entry), NOW)),
        DenialCode::Replayed
    );
}

#[test]
fn authorization_failures_keep_the_subject_when_known() {
    let (hub, ring) = hub();
    let city = inst(1, "municipality");
    let vehicle = inst(3, "vehicle_registration");
    let registry = inst(4, "registry");
    let link = LinkId::random();
    let deny = |r: Result<crate::Authorized, Box<crate::Rejected>>| *r.unwrap_err();

    // Vehicle registration may ask the registry for the four facts ...
    let ok = request(
        &vehicle,
        &registry,
        &ring,
        &link,
        "vehicle_registration",
        "four_facts",
        None,
    );
    assert!(
        hub.authorize(&ok, &vehicle.entry, Some(&registry.entry), NOW)
            .is_ok()
    );
    // ... but not a municipality for income.
    let r = request(
        &vehicle,
        &city,
        &ring,
        &link,
        "vehicle_registration",
        "resident_tax_income",
        Some(2025),
    );
    let rej = deny(hub.authorize(&r, &vehicle.entry, Some(&city.entry), NOW));
    assert_eq!(rej.denial.code, DenialCode::NotPermitted);
    assert!(rej.subject.is_some(), "a person sees refused attempts about them");

    // The registry's code presented by the vehicle office is refused.
    let mut stolen = ok.request.clone();
    stolen.subject = ring.encode(&link, &registry.entry.id);
    let stolen = stolen.sign(&vehicle.sign, vehicle.cert.clone());
    let rej = deny(hub.authorize(&stolen, &vehicle.entry, Some(&registry.entry), NOW));
    assert_eq!(rej.denial.code, DenialCode::CodeInvalid);
    assert!(rej.subject.is_none());

    let r = request(
        &city,
        &city,
        &ring,
        &link,
        "child_allowance",
        "resident_tax_income",
        None,
    );
    assert_eq!(
        deny(hub.authorize(&r, &city.entry, Some(&city.entry), NOW))
            .denial
            .code,
        DenialCode::FiscalYearRequired
    );
    let r = request(
        &vehicle,
        &registry,
        &ring,
        &link,
        "vehicle_registration",
        "four_facts",
        Some(2025),
    );
    assert_eq!(
        deny(hub.authorize(&r, &vehicle.entry, Some(&registry.entry), NOW))
            .denial
            .code,
        DenialCode::FiscalYearNotApplicable
    );
    let r = request(
        &vehicle,
        &registry,
        &ring,
        &link,
        "vehicle_registration",
        "four_facts",
        None,
    );
    assert_eq!(
        deny(hub.authorize(&r, &vehicle.entry, None, NOW)).denial.code,
        DenialCode::UnknownProvider
    );
    let mut suspended = registry.entry.clone();
    suspended.status = InstitutionStatus::Suspended;
    assert_eq!(
        deny(hub.authorize(&r, &vehicle.entry, Some(&suspended), NOW))
            .denial
            .code,
        DenialCode::ProviderSuspended
    );
    let mut suspended = vehicle.entry.clone();
    suspended.status = InstitutionStatus::Suspended;
    assert_eq!(
        deny(hub.authorize(&r, &suspended, Some(&registry.entry), NOW))
            .denial
            .code,
        DenialCode::RequesterSuspended
    );
    let r = request(
        &vehicle,
        &registry,
        &ring,
        &link,
        "fishing_licence",
        "four_facts",
        None,
    );
    assert_eq!(
        deny(hub.authorize(&r, &vehicle.entry, Some(&registry.entry), NOW))
            .denial
            .code,
        DenialCode::UnknownOfficeWork
    );
}

#[test]
fn leaves_commit_to_the_person_unlinkably_and_delayed_ones_need_their_record_key() {
    let (hub, ring) = hub();
    let city = inst(1, "municipality");
    let other = inst(2, "municipality");
    let tax = inst(5, "tax_agency");
    let link = LinkId::random();
    let someone_else = LinkId::random();
    let record_for = |from: &Inst, work: &str, link: &LinkId| {
        let req = request(from, &other, &ring, link, work, "resident_tax_income", Some(2025));
        let auth = hub.authorize(&req, &from.entry, Some(&other.entry), NOW).unwrap();
        hub.record_forwarded(&req, &auth, crate::Outcome::Provided, Some(NOW))
    };
    let a = record_for(&city, "child_allowance", &link);
    let b = record_for(&city, "child_allowance", &link);
    let c = record_for(&city, "child_allowance", &someone_else);
    let hidden = record_for(&tax, "tax_investigation", &link);

    // Two leaves about one person share no person-derived value.
    assert_eq!(a.subject, b.subject, "the hub's index links them …");
    let (ca, cb) = (a.leaf.commitment.unwrap(), b.leaf.commitment.unwrap());
    assert_ne!(ca, cb, "… the log's commitments do not");
    for leaf in [a.leaf_bytes(), b.leaf_bytes()] {
        let tag = a.subject.unwrap().0;
        assert!(
            !leaf.windows(32).any(|w| w == tag),
            "the subject tag never enters the log"
        );
    }
    // The person's key opens both, and only theirs.
    let (key, token_hash) = hub.person_key(&a.subject.unwrap());
    assert_eq!(crate::person::commitment(&key, &a.leaf.query_id), ca);
    assert_eq!(crate::person::commitment(&key, &b.leaf.query_id), cb);
    assert_ne!(
        crate::person::commitment(&key, &c.leaf.query_id),
        c.leaf.commitment.unwrap()
    );
    assert_eq!(
        crate::person::token_hash(&crate::person::access_token(&key)),
        token_hash
    );

    // A delayed record: hidden for a year, with its reason; the person key
    // does not find it, the record key released later does.
    let until = hidden.leaf.hidden_until.unwrap();
    assert_eq!(until.0 - NOW.0, 365 * 86_400_000);
    assert!(
        hidden
            .leaf
            .hidden_reason
            .as_deref()
            .unwrap()
            .contains("investigation")
    );
    assert_ne!(
        crate::person::commitment(&key, &hidden.leaf.query_id),
        hidden.leaf.commitment.unwrap()
    );
    let rk = hub.hidden_record_key(&hidden.subject.unwrap(), &hidden.leaf.query_id);
    assert_eq!(
        crate::person::commitment(&rk, &hidden.leaf.query_id),
        hidden.leaf.commitment.unwrap()
    );

    // Leaves decode to exactly what was encoded.
    for r in [&a, &hidden] {
        assert_eq!(crate::LogLeaf::decode(&r.leaf_bytes()).unwrap(), r.leaf.clone());
    }
    let mut bytes = a.leaf_bytes();
    bytes.push(0);
    assert!(crate::LogLeaf::decode(&bytes).is_err());
}

#[test]
fn a_grant_id_never_enters_the_log_and_only_the_person_can_tell_their_grants() {
    let (hub, ring) = hub();
    let portal = inst(9, "digital_agency");
    let city = inst(2, "municipality");
    let link = LinkId::random();
    let grant = "grant-7f3a9c2e41";
    let record = |link: &LinkId, consent: Option<&str>| {
        let mut req = request(
            &portal,
            &city,
            &ring,
            link,
            "own_disclosure",
            "resident_tax_income",
            Some(2025),
        )
        .request;
        req.consent = consent.map(|c| renkei_protocol::ConsentRef::parse(c).unwrap());
        let purpose = match &req.consent {
            Some(c) => renkei_protocol::ProofPurpose::Consent(c.clone()),
            None => renkei_protocol::ProofPurpose::Session,
        };
        req.person_proof =
            Some(hub.issue_person_proof(&portal.entry.id, link, purpose, [3; 32], NOW.plus_ms(60_000), NOW));
        let req = req.sign(&portal.sign, portal.cert.clone());
        let auth = hub
            .authorize(&req, &portal.entry, Some(&city.entry), NOW)
            .unwrap();
        hub.record_forwarded(&req, &auth, crate::Outcome::Provided, Some(NOW))
    };
    let a = record(&link, Some(grant));
    let b = record(&link, Some(grant));
    let none = record(&link, None);

    // The hub's own record keeps the grant id; the public leaf does not,
    // and two exchanges under one grant share no value in the log.
    assert_eq!(a.consent.as_deref(), Some(grant));
    for leaf in [a.leaf_bytes(), b.leaf_bytes()] {
        assert!(!leaf.windows(grant.len()).any(|w| w == grant.as_bytes()));
    }
    let (ca, cb) = (
        a.leaf.consent_commitment.unwrap(),
        b.leaf.consent_commitment.unwrap(),
    );
    assert_ne!(ca, cb);
    assert_eq!(none.leaf.consent_commitment, None);
    // The person, with their key, recognises which of their grants it was.
    let (key, _) = hub.person_key(&a.subject.unwrap());
    assert_eq!(
        crate::person::consent_commitment(&key, &a.leaf.query_id, grant),
        ca
    );
    assert_ne!(
        crate::person::consent_commitment(&key, &a.leaf.query_id, "grant-other"),
        ca
    );
    assert_eq!(crate::LogLeaf::decode(&a.leaf_bytes()).unwrap(), a.leaf);

    // With no person (a forged code), the commitment opens for no one.
    let mut forged = request(
        &portal,
        &city,
        &ring,
        &link,
        "own_disclosure",
        "resident_tax_income",
        Some(2025),
    )
    .request;
    forged.subject = ring.encode(&link, &city.entry.id);
    forged.consent = renkei_protocol::ConsentRef::parse(grant);
    let forged = forged.sign(&portal.sign, portal.cert.clone());
    let rejected = *hub
        .authorize(&forged, &portal.entry, Some(&city.entry), NOW)
        .unwrap_err();
    let r = hub.record_rejected(&forged, &rejected);
    assert_eq!(r.subject, None);
    let c = r.leaf.consent_commitment.unwrap();
    assert_ne!(
        crate::person::consent_commitment(&key, &r.leaf.query_id, grant),
        c
    );
    assert!(!r.leaf_bytes().windows(grant.len()).any(|w| w == grant.as_bytes()));
}

#[test]
fn the_persons_own_office_works_need_the_hubs_proof_of_their_card() {
    use renkei_protocol::{ConsentRef, ProofPurpose};
    let (hub, ring) = hub();
    let portal = inst(9, "digital_agency");
    let city = inst(2, "municipality");
    let link = LinkId::random();
    let someone_else = LinkId::random();
    let ask = |proof: Option<renkei_protocol::SignedPersonProof>, consent: Option<&str>| {
        let mut r = request(
            &portal,
            &city,
            &ring,
            &link,
            "own_disclosure",
            "resident_tax_income",
            Some(2025),
        )
        .request;
        r.person_proof = proof;
        r.consent = consent.map(|c| ConsentRef::parse(c).unwrap());
        r.sign(&portal.sign, portal.cert.clone())
    };
    let code = |r: &renkei_protocol::SignedRequest, now| {
        hub.authorize(r, &portal.entry, Some(&city.entry), now)
            .map(|_| ())
            .map_err(|e| e.denial.code)
    };
    let hour = 3_600_000;
    let session = |l: &LinkId, by: &Inst| {
        hub.issue_person_proof(
            &by.entry.id,
            l,
            ProofPurpose::Session,
            [1; 32],
            NOW.plus_ms(hour),
            NOW,
        )
    };

    // No proof: refused, and recorded with the person (they see it).
    let r = ask(None, None);
    let rejected = *hub
        .authorize(&r, &portal.entry, Some(&city.entry), NOW)
        .unwrap_err();
    assert_eq!(rejected.denial.code, DenialCode::PersonProofRequired);
    assert!(rejected.subject.is_some());

    // The person's own session proof: allowed.
    assert_eq!(code(&ask(Some(session(&link, &portal)), None), NOW), Ok(()));
    // Someone else's proof, another institution's, an expired one.
    assert_eq!(
        code(&ask(Some(session(&someone_else, &portal)), None), NOW),
        Err(DenialCode::PersonProofInvalid)
    );
    assert_eq!(
        code(&ask(Some(session(&link, &city)), None), NOW),
        Err(DenialCode::PersonProofInvalid)
    );
    assert_eq!(
        code(&ask(Some(session(&link, &portal)), None), NOW.plus_ms(hour + 1)),
        Err(DenialCode::PersonProofInvalid)
    );
    // A consent proof serves its own grant only, and a session proof no grant.
    let grant = ConsentRef::parse("grant-1").unwrap();
    let consent = hub.issue_person_proof(
        &portal.entry.id,
        &link,
        ProofPurpose::Consent(grant),
        [2; 32],
        NOW.plus_ms(30 * 24 * hour),
        NOW,
    );
    assert_eq!(code(&ask(Some(consent.clone()), Some("grant-1")), NOW), Ok(()));
    assert_eq!(
        code(&ask(Some(consent.clone()), Some("grant-2")), NOW),
        Err(DenialCode::PersonProofInvalid)
    );
    assert_eq!(
        code(&ask(Some(consent), None), NOW),
        Err(DenialCode::PersonProofInvalid)
    );
    assert_eq!(
        code(&ask(Some(session(&link, &portal)), Some("grant-1")), NOW),
        Err(DenialCode::PersonProofInvalid)
    );
    // A proof the portal made up (signed with its own key) is not the hub's.
    let mut forged = session(&link, &portal);
    forged.signature = portal.sign.sign(b"anything");
    assert_eq!(
        code(&ask(Some(forged), None), NOW),
        Err(DenialCode::PersonProofInvalid)
    );
    // Lifetimes are capped by purpose whatever is asked for.
    let long = hub.issue_person_proof(
        &portal.entry.id,
        &link,
        ProofPurpose::Session,
        [1; 32],
        UnixMillis(i64::MAX),
        NOW,
    );
    assert_eq!(long.proof.expires_at, NOW.plus_ms(12 * hour));
    // Office works not done for the person need none.
    let lawful = request(
        &city,
        &city,
        &ring,
        &link,
        "child_allowance",
        "resident_tax_income",
        Some(2025),
    );
    assert!(
        hub.authorize(&lawful, &city.entry, Some(&city.entry), NOW)
            .is_ok()
    );
}

/// The timestamp check and the replay guard agree at the boundary: a
/// request issued exactly `max_skew_ms` before the hub's time is accepted,
/// so its replay at that same instant must be refused, not forgotten.
#[test]
fn a_replay_at_the_edge_of_the_skew_window_is_refused() {
    let (hub, ring) = hub();
    let city = inst(1, "municipality");
    let other = inst(2, "municipality");
    let req = request(
        &city,
        &other,
        &ring,
        &LinkId::random(),
        "child_allowance",
        "resident_tax_income",
        Some(2025),
    );
    let edge = NOW.plus_ms(HubPolicy::default().max_skew_ms);
    hub.authenticate(&peer(&city), &req, Some(&city.entry), edge)
        .unwrap();
    assert_eq!(
        hub.authenticate(&peer(&city), &req, Some(&city.entry), edge)
            .unwrap_err()
            .code,
        DenialCode::Replayed
    );
    assert_eq!(
        hub.authenticate(&peer(&city), &req, Some(&city.entry), edge.plus_ms(1))
            .unwrap_err()
            .code,
        DenialCode::StaleTimestamp
    );
}

/// `request`, made a push: a payload sealed to the receiver.
fn push(
    from: &Inst,
    to: &Inst,
    ring: &CodeKeyring,
    link: &LinkId,
    work: &str,
    item: &str,
    fy: Option<u16>,
) -> SignedRequest {
    let mut r = request(from, to, ring, link, work, item, fy).request;
    let receiver = renkei_protocol::CertifiedParty {
        institution: to.entry.id,
        signing: to.entry.signing_key.clone(),
        sealing: to.entry.sealing_key.clone(),
    };
    let mut core = r.core();
    core.seal_payload(
        &SealingKeyPair::generate(Suite::default().sealing()),
        &receiver,
        b"{\"document\":{}}",
    )
    .unwrap();
    r.payload = core.payload;
    r.sign(&from.sign, from.cert.clone())
}

#[test]
fn a_push_needs_a_push_row_and_a_query_a_query_row() {
    let (hub, ring) = hub();
    let tax = inst(1, "tax_agency");
    let city = inst(2, "municipality");
    let other_city = inst(3, "municipality");
    let portal = inst(4, "digital_agency");
    let link = LinkId::random();
    let w = "statutory_filing";
    let report = "salary_payment_report";
    let deny = |r: Result<crate::Authorized, Box<crate::Rejected>>| *r.unwrap_err();

    // The tax agency delivers a salary-payment report under its push row.
    let ok = push(&tax, &city, &ring, &link, w, report, Some(2025));
    let auth = hub.authorize(&ok, &tax.entry, Some(&city.entry), NOW).unwrap();
    assert_eq!(auth.table_row.row_id.as_str(), "R1601");
    // ... but cannot ask for one with a query: the push row allows no query.
    let asked = request(&tax, &city, &ring, &link, w, report, Some(2025));
    let rej = deny(hub.authorize(&asked, &tax.entry, Some(&city.entry), NOW));
    assert_eq!(rej.denial.code, DenialCode::NotPermitted);
    assert!(rej.denial.message.contains("R1601"), "{}", rej.denial.message);
    assert!(rej.subject.is_some(), "a refusal is recorded about the person");
    // Nor may a municipality push one: no row of either direction.
    let rej = deny(hub.authorize(
        &push(&other_city, &city, &ring, &link, w, report, Some(2025)),
        &other_city.entry,
        Some(&city.entry),
        NOW,
    ));
    assert_eq!(rej.denial.code, DenialCode::NotPermitted);

    // A query row allows no push: a municipality cannot deliver income
    // it may only ask for.
    let pushed = push(
        &city,
        &other_city,
        &ring,
        &link,
        "child_allowance",
        "resident_tax_income",
        Some(2025),
    );
    let rej = deny(hub.authorize(&pushed, &city.entry, Some(&other_city.entry), NOW));
    assert_eq!(rej.denial.code, DenialCode::NotPermitted);
    assert!(rej.denial.message.contains("R0101"), "{}", rej.denial.message);

    // A notice is a push; asking for one as a query is refused.
    let notice = push(&city, &portal, &ring, &link, "notice_delivery", "notice", None);
    assert!(
        hub.authorize(&notice, &city.entry, Some(&portal.entry), NOW)
            .is_ok()
    );
    let asked = request(&city, &portal, &ring, &link, "notice_delivery", "notice", None);
    let rej = deny(hub.authorize(&asked, &city.entry, Some(&portal.entry), NOW));
    assert_eq!(rej.denial.code, DenialCode::NotPermitted);
}
