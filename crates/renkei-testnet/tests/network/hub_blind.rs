//! A hostile hub. It holds everything the hub holds — its certificate and
//! TLS key, its signing key, the code keys — and tries what the hub must not
//! be able to do: make a provider answer a request nobody made, swap in
//! keys of its choosing, replay a request for another person, read an
//! answer, or hand a requester an answer the provider never gave. Each
//! attempt is refused at the node and the node records the refusal.

use super::*;

use std::sync::Mutex as StdMutex;

use axum::Json;
use axum::routing::post;
use renkei_api::net::{SignedAnswerWire, SignedForwardWire};
use renkei_catalog::{ItemCode, OfficeWorkCode, RowId, TableRowRef};
use renkei_crypto::{KeyFile, SealingKeyPair};
use renkei_demo::institutions::TAX;
use renkei_demo::network::RawNode;
use renkei_ids::QueryId;
use renkei_pki::Role;
use renkei_protocol::{
    AnswerPayload, CertifiedParty, FiscalYear, ForwardedQuery, HubReceipt, LinkageAnswer, SignedAnswer,
    SignedForward,
};
use renkei_transport::{Expect, NetClient, TrustState};

/// The hub's own credentials, in hostile hands.
struct RogueHub {
    client: Arc<NetClient>,
    signing: SigningKey,
    trust: Arc<TrustState>,
}

impl RogueHub {
    fn load(h: &Harness) -> Self {
        let s = &h.net.hub_settings;
        let identity = renkei_pki::Identity::load(&s.tls.cert, &s.tls.key).unwrap();
        assert_eq!(identity.certificate().identity.role, Role::Hub);
        let anchors = renkei_pki::TrustAnchors::load(&s.tls.ca_cert, &s.tls.crl).unwrap();
        let trust = TrustState::new(identity, anchors);
        let text = renkei_pki::read_private(&s.signing_key).unwrap();
        let KeyFile::Signing(signing) = KeyFile::parse(std::str::from_utf8(&text).unwrap()).unwrap() else {
            panic!("the hub's signing key file holds another kind of key")
        };
        Self {
            client: trust.client(Duration::from_secs(10)).unwrap(),
            signing,
            trust,
        }
    }

    /// A forward as the hub signs them, of whatever request it likes.
    fn forward(&self, request: &SignedRequest, subject: InstitutionCode) -> SignedForward {
        ForwardedQuery {
            query_id: QueryId::random(),
            request: request.provider_view(),
            subject,
            previous_subjects: Vec::new(),
            table_row: TableRowRef {
                table_version: "2026.1".into(),
                row_id: RowId::parse("R0101").unwrap(),
            },
            non_disclosure: false,
            forwarded_at: UnixMillis::now(),
        }
        .sign(&self.signing)
    }

    async fn provide(&self, provider_url: &str, forward: &SignedForward) -> Result<SignedAnswer, ApiFailure> {
        let w: SignedAnswerWire = self
            .client
            .post(
                &format!("{provider_url}/v1/provide"),
                &SignedForwardWire::from(forward),
                Expect::Role(Role::Node),
                None,
            )
            .await?;
        Ok(SignedAnswer::try_from(&w).unwrap())
    }
}

/// 世田谷区's question to 横浜市 about a person, signed by `signer` with
/// `certificate` attached (the genuine pair, or whatever a rogue chooses).
fn income_question(subject: InstitutionCode, signer: &SigningKey, certificate: Vec<u8>) -> SignedRequest {
    LinkageRequest {
        message_id: MessageId::random(),
        requester: SETAGAYA.id(),
        provider: YOKOHAMA.id(),
        office_work: OfficeWorkCode::parse("child_allowance").unwrap(),
        item: ItemCode::parse("resident_tax_income").unwrap(),
        fiscal_year: Some(FiscalYear::new(2025).unwrap()),
        subject,
        issued_at: UnixMillis::now(),
        consent: None,
        person_proof: None,
        payload: None,
    }
    .sign(signer, certificate)
}

/// An institution "certified" by a CA of the rogue's own, with keys it holds.
fn impostor(institution: renkei_ids::CorporateNumber, dir: &std::path::Path) -> RawNode {
    let ca_dir = dir.join("rogue-ca");
    let ca = renkei_pki::NetworkCa::create(&ca_dir, "rogue CA", renkei_pki::KeyAlgorithm::Ed25519).unwrap();
    let files = renkei_pki::provision::provision_role(
        &ca,
        &dir.join("impostor"),
        Role::Node,
        Some(institution),
        "impostor",
        Suite::default(),
    )
    .unwrap();
    RawNode::load(&ca_dir, &files, institution, Suite::default()).unwrap()
}

fn refused_as(r: &Result<SignedAnswer, ApiFailure>) -> String {
    match r {
        Err(ApiFailure::Rejected { status, code, .. }) => {
            assert_eq!(*status, 403, "{code}");
            code.clone()
        }
        other => format!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_hub_cannot_make_a_provider_answer_what_nobody_asked() {
    let h = harness().await;
    let rogue = RogueHub::load(&h);
    let setagaya = h.net.impersonate(SETAGAYA.key).unwrap();
    let yokohama_url = h.net.node(YOKOHAMA.key).network_url();
    let (mover_setagaya, mover_yokohama) = h.country.cast.mover.clone();
    let requester_code = h.code(SETAGAYA.key, &mover_setagaya).await;
    let provider_code = h.code(YOKOHAMA.key, &mover_yokohama).await;
    let records_before = h.node_records(YOKOHAMA.key).await.len();

    // 1. A request 世田谷区 never made, signed by the hub, with 世田谷区's
    //    genuine certificate attached.
    let invented = income_question(
        requester_code.clone(),
        &rogue.signing,
        setagaya.certificate.clone(),
    );
    let r = rogue
        .provide(&yokohama_url, &rogue.forward(&invented, provider_code.clone()))
        .await;
    assert_eq!(refused_as(&r), "request_not_from_requester");

    // 2. Keys of the hub's choosing: a certificate for 世田谷区 from a CA of
    //    its own, and the request signed with the matching key.
    let dir = tempfile::tempdir().unwrap();
    let fake = impostor(SETAGAYA.id(), dir.path());
    let substituted = income_question(requester_code.clone(), &fake.signing, fake.certificate.clone());
    let r = rogue
        .provide(&yokohama_url, &rogue.forward(&substituted, provider_code.clone()))
        .await;
    assert_eq!(refused_as(&r), "requester_certificate_refused");

    // 3. A real institution's certificate and signature (one the hub
    //    colludes with) passed off as 世田谷区's request.
    let tax = h.net.impersonate(TAX.key).unwrap();
    let colluding = income_question(requester_code.clone(), &tax.signing, tax.certificate.clone());
    let r = rogue
        .provide(&yokohama_url, &rogue.forward(&colluding, provider_code.clone()))
        .await;
    assert_eq!(refused_as(&r), "requester_certificate_refused");

    // 4. A genuine request is answered — sealed to 世田谷区's certified key
    //    from 横浜市's, so the hub holds nothing that opens it. The forward
    //    never carried 世田谷区's code for the person.
    let genuine = income_question(
        requester_code.clone(),
        &setagaya.signing,
        setagaya.certificate.clone(),
    );
    let forward = rogue.forward(&genuine, provider_code.clone());
    let wire = serde_json::to_string(&SignedForwardWire::from(&forward)).unwrap();
    assert!(!wire.contains(&requester_code.to_string()));
    let answer = rogue.provide(&yokohama_url, &forward).await.unwrap();
    let yokohama: CertifiedParty = setagaya
        .trust
        .certified_party(&answer.certificate, YOKOHAMA.id(), Suite::default())
        .unwrap();
    assert_eq!(&answer.answer.envelope.recipient, setagaya.sealing.key_id());
    assert_eq!(
        answer.answer.envelope.sender.as_ref(),
        Some(yokohama.sealing.key_id())
    );
    answer.verify(&yokohama.signing).unwrap();
    let plain = setagaya
        .sealing
        .open_from(
            &yokohama.sealing,
            &answer.answer.envelope,
            b"renkei/answer/v2",
            &forward.query.answer_aad(),
        )
        .unwrap();
    let payload: AnswerPayload = serde_json::from_slice(&plain).unwrap();
    assert!(matches!(payload, AnswerPayload::Found { .. }), "{payload:?}");
    // Any key the hub could bring (say, a fresh one it claims is 世田谷区's)
    // is not the recipient.
    let hubs_own = SealingKeyPair::generate(Suite::default().sealing());
    assert!(
        hubs_own
            .open_from(
                &yokohama.sealing,
                &answer.answer.envelope,
                b"renkei/answer/v2",
                &forward.query.answer_aad(),
            )
            .is_err()
    );

    // 5. The same genuine request again, now with another person's code:
    //    a request is answered once.
    let other = h
        .country
        .people
        .iter()
        .filter_map(|p| p.ids.get(YOKOHAMA.key))
        .find(|id| **id != mover_yokohama)
        .unwrap()
        .clone();
    let other_code = h.code(YOKOHAMA.key, &other).await;
    let r = rogue
        .provide(&yokohama_url, &rogue.forward(&genuine, other_code))
        .await;
    assert_eq!(refused_as(&r), "request_replayed");

    // 横浜市 keeps a record of each attempt, refusals included.
    let records = h.node_records(YOKOHAMA.key).await;
    let outcomes: Vec<&str> = records[records_before..]
        .iter()
        .map(|r| r.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        [
            "request_not_from_requester",
            "requester_certificate_refused",
            "requester_certificate_refused",
            "provided",
            "request_replayed",
        ]
    );
    assert!(records[records_before..].iter().all(|r| r.role == "provider"
        && r.counterpart == SETAGAYA.id().to_string()
        && r.office_work == "child_allowance"));
    // Refusals name no person.
    assert!(
        records[records_before..]
            .iter()
            .filter(|r| r.outcome != "provided")
            .all(|r| r.local_id.is_none())
    );

    // And after a restart, the provider still remembers what it answered.
    let mut h = h;
    h.net.kill_node(YOKOHAMA.key);
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.net.restart_node(YOKOHAMA.key).await.unwrap();
    let r = rogue
        .provide(&yokohama_url, &rogue.forward(&genuine, provider_code.clone()))
        .await;
    assert_eq!(refused_as(&r), "request_replayed");
}

/// What the fake hub does with the next request it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Play {
    /// Relay honestly to the provider (a hostile hub can still do that).
    Relay,
    /// Seal a made-up income to the requester with a key of its own and
    /// sign the answer with the hub's key (the attack the review reproduced
    /// against the earlier protocol).
    ForgeWithHubKey,
    /// A certificate for 横浜市 from a CA of its own, and keys to match.
    ForgeWithImpostorCertificate,
    /// A real institution's certificate and keys, claimed to be 横浜市's.
    ForgeWithColluder,
    /// The genuine answer to an earlier request, re-receipted for this one.
    ReplayEarlierAnswer,
}

struct FakeHub {
    play: StdMutex<Play>,
    signing: SigningKey,
    client: Arc<NetClient>,
    yokohama_url: String,
    /// 横浜市's code for the person every request here is about.
    provider_code: InstitutionCode,
    impostor: RawNode,
    colluder: RawNode,
    earlier: StdMutex<Option<SignedAnswer>>,
}

impl FakeHub {
    fn receipt(&self, request: &SignedRequest, answer: &SignedAnswer) -> renkei_protocol::SignedReceipt {
        HubReceipt {
            query_id: answer.answer.query_id,
            request_digest: request.digest(),
            answer_digest: answer.digest(),
            record_seq: 42,
            recorded_at: UnixMillis::now(),
        }
        .sign(&self.signing)
    }

    /// An answer to `forward` made by whoever holds `sealer` and `signer`.
    fn forged(
        &self,
        forward: &SignedForward,
        requester: &CertifiedParty,
        sealer: &SealingKeyPair,
        signer: &SigningKey,
        certificate: Vec<u8>,
    ) -> SignedAnswer {
        let payload = AnswerPayload::Found {
            value: serde_json::json!({"taxable_income": 1}),
            updated_at_ms: 0,
        };
        LinkageAnswer::seal(&forward.query, requester, sealer, &payload, UnixMillis::now())
            .unwrap()
            .sign(signer, certificate)
    }

    async fn reply(&self, w: renkei_api::net::SignedRequestWire) -> renkei_api::net::HubReplyWire {
        let request = SignedRequest::try_from(&w).unwrap();
        let forward = ForwardedQuery {
            query_id: QueryId::random(),
            request: request.provider_view(),
            subject: self.provider_code.clone(),
            previous_subjects: Vec::new(),
            table_row: TableRowRef {
                table_version: "2026.1".into(),
                row_id: RowId::parse("R0101").unwrap(),
            },
            non_disclosure: false,
            forwarded_at: UnixMillis::now(),
        }
        .sign(&self.signing);
        // The requester's sealing key, as its own certificate says.
        let cert = renkei_pki::PeerCertificate::parse(&request.certificate).unwrap();
        let requester = renkei_transport::certified::party_of(&cert, Suite::default()).unwrap();
        let play = *self.play.lock().unwrap();
        let answer = match play {
            Play::Relay => {
                let w: SignedAnswerWire = self
                    .client
                    .post(
                        &format!("{}/v1/provide", self.yokohama_url),
                        &SignedForwardWire::from(&forward),
                        Expect::Role(Role::Node),
                        None,
                    )
                    .await
                    .unwrap();
                let a = SignedAnswer::try_from(&w).unwrap();
                *self.earlier.lock().unwrap() = Some(a.clone());
                a
            }
            Play::ForgeWithHubKey => {
                let yokohama_cert = self.earlier.lock().unwrap().clone().unwrap().certificate;
                let random = SealingKeyPair::generate(Suite::default().sealing());
                self.forged(&forward, &requester, &random, &self.signing, yokohama_cert)
            }
            Play::ForgeWithImpostorCertificate => self.forged(
                &forward,
                &requester,
                &self.impostor.sealing,
                &self.impostor.signing,
                self.impostor.certificate.clone(),
            ),
            Play::ForgeWithColluder => self.forged(
                &forward,
                &requester,
                &self.colluder.sealing,
                &self.colluder.signing,
                self.colluder.certificate.clone(),
            ),
            Play::ReplayEarlierAnswer => self.earlier.lock().unwrap().clone().unwrap(),
        };
        let receipt = self.receipt(&request, &answer);
        renkei_api::net::HubReplyWire {
            answer: (&answer).into(),
            receipt: (&receipt).into(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_hub_cannot_hand_a_requester_an_answer_the_provider_never_gave() {
    let mut h = harness().await;
    let rogue = RogueHub::load(&h);
    let (mover_setagaya, mover_yokohama) = h.country.cast.mover.clone();
    let dir = tempfile::tempdir().unwrap();
    let hubs_keys = RogueHub::load(&h);
    let fake = Arc::new(FakeHub {
        play: StdMutex::new(Play::Relay),
        signing: hubs_keys.signing,
        client: hubs_keys.client,
        yokohama_url: h.net.node(YOKOHAMA.key).network_url(),
        provider_code: h.code(YOKOHAMA.key, &mover_yokohama).await,
        impostor: impostor(YOKOHAMA.id(), dir.path()),
        colluder: h.net.impersonate(TAX.key).unwrap(),
        earlier: StdMutex::new(None),
    });
    let app = axum::Router::new().route(
        "/v1/linkage",
        post({
            let fake = fake.clone();
            move |Json(w): Json<renkei_api::net::SignedRequestWire>| {
                let fake = fake.clone();
                async move { Json(fake.reply(w).await) }
            }
        }),
    );
    let server = renkei_transport::serve_tls(
        "127.0.0.1:0".parse().unwrap(),
        app,
        rogue
            .trust
            .server_config(renkei_pki::ClientAuth::Required)
            .unwrap(),
    )
    .await
    .unwrap();

    // 世田谷区's node now talks to the hostile hub.
    let real_hub = h.net.node(SETAGAYA.key).settings.hub_url.clone();
    h.net.kill_node(SETAGAYA.key);
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.net.nodes.get_mut(SETAGAYA.key).unwrap().settings.hub_url = server.url();
    h.net.restart_node(SETAGAYA.key).await.unwrap();

    let q = query(
        &mover_setagaya,
        &YOKOHAMA,
        "child_allowance",
        "resident_tax_income",
        Some(2025),
    );
    async fn ask(h: &Harness, q: &QueryRequest) -> Result<QueryResult, ApiFailure> {
        h.net.node(SETAGAYA.key).local.post("/local/v1/queries", q).await
    }
    // An honest relay works (the hostile hub can pass answers on).
    let honest = ask(&h, &q).await.unwrap();
    assert_eq!(honest.status, "found");
    let genuine_income = honest.value.clone().unwrap();

    let before = h.node_records(SETAGAYA.key).await.len();
    for (play, recorded) in [
        (Play::ForgeWithHubKey, "answer_signature_invalid"),
        (Play::ForgeWithImpostorCertificate, "provider_certificate_refused"),
        (Play::ForgeWithColluder, "provider_certificate_refused"),
        (Play::ReplayEarlierAnswer, "answer_not_bound"),
    ] {
        *fake.play.lock().unwrap() = play;
        let r = ask(&h, &q).await;
        assert_eq!(rejected_code(&r), "reply_invalid", "{play:?}");
        let last = h.node_records(SETAGAYA.key).await.pop().unwrap();
        assert_eq!(last.outcome, recorded, "{play:?}");
        assert_eq!(last.role, "requester");
    }
    assert_eq!(h.node_records(SETAGAYA.key).await.len(), before + 4);
    // Nothing forged ever reached the business system: the only value it
    // got is the genuine one.
    assert_ne!(genuine_income, serde_json::json!({"taxable_income": 1}));

    // Back to the real hub.
    h.net.kill_node(SETAGAYA.key);
    tokio::time::sleep(Duration::from_millis(200)).await;
    h.net.nodes.get_mut(SETAGAYA.key).unwrap().settings.hub_url = real_hub;
    h.net.restart_node(SETAGAYA.key).await.unwrap();
    assert_eq!(ask(&h, &q).await.unwrap().status, "found");
    server.kill();
}
