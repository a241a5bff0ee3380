//! The consent API's store (in the portal's store): clients and their
//! events, pushed requests, grants, codes, tokens, one-time values,
//! fetches and alerts.

use std::sync::Arc;

use renkei_catalog::ItemCode;
use renkei_consent::{
    Actor, ApiClient, AuthorizationRequest, ClientAction, ClientAlert, ClientApplication, ClientAuth,
    ClientEvent, ClientId, ClientKeys, ClientStatus, CodeRecord, CodeRedemption, ConsentStore, DeliveryClaim,
    FetchOutcome, FetchRecord, Frequency, Grant, GrantId, PushedRequest, RefreshRedemption, RevokedBy,
    SecretDigest, SelfInformation, TokenRecord, Usage, apply,
};
use renkei_ids::{CorporateNumber, LocalPersonId};
use renkei_protocol::{StoreError, UnixMillis};

use super::{Backend, place, race};

const T0: i64 = 1_700_000_000_000;

fn corp(n: u64) -> CorporateNumber {
    CorporateNumber::from_base_number(n).unwrap()
}

fn client_id(c: char) -> ClientId {
    ClientId::parse(&format!("rc_{}", c.to_string().repeat(22))).unwrap()
}

fn grant_id(c: char) -> GrantId {
    GrantId::parse(&format!("gr_{}", c.to_string().repeat(22))).unwrap()
}

fn person(s: &str) -> LocalPersonId {
    LocalPersonId::parse(s).unwrap()
}

fn client(id: ClientId, created_at: i64) -> ApiClient {
    ApiClient::new(
        id,
        ClientApplication {
            corporate_number: corp(1_000_001),
            name: "れんけい銀行".into(),
            name_en: Some("Renkei Bank".into()),
            purpose: "住宅ローンの審査のため、所得を確認します。".into(),
            redirect_uris: vec![
                "https://bank.example/cb".into(),
                "http://127.0.0.1:8080/cb".into(),
            ],
            keys: ClientKeys::JwksUri("https://bank.example/jwks.json".into()),
            auth: ClientAuth::TlsClientAuth {
                certificate_sha256: "ab".repeat(32),
            },
            items: vec![
                ItemCode::parse("resident_tax_income").unwrap(),
                ItemCode::parse("household").unwrap(),
            ],
            max_data_life_days: 365,
            contact: "api@bank.example".into(),
        },
        UnixMillis(created_at),
    )
}

fn details(frequency: Frequency) -> SelfInformation {
    SelfInformation {
        items: vec![ItemCode::parse("resident_tax_income").unwrap()],
        tax_year: Some(2024),
        period: None,
        purpose: "住宅ローンの審査".into(),
        data_life_days: 30,
        frequency,
        duration_days: (frequency == Frequency::Periodic).then_some(90),
    }
}

fn request(uri: &str, client: &ClientId, expires_at: i64) -> PushedRequest {
    PushedRequest {
        uri: SecretDigest::of(uri),
        client: client.clone(),
        request: AuthorizationRequest {
            redirect_uri: "https://bank.example/cb".into(),
            state: Some("xyz".into()),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            details: SelfInformation {
                period: Some((2020, 2024)),
                tax_year: None,
                ..details(Frequency::Periodic)
            },
            dpop_jkt: None,
        },
        expires_at: UnixMillis(expires_at),
    }
}

fn grant(id: GrantId, client: &ClientId, who: &str, created_at: i64) -> Grant {
    Grant {
        id,
        client: client.clone(),
        person: person(who),
        details: details(Frequency::OneTime),
        created_at: UnixMillis(created_at),
        expires_at: UnixMillis(created_at + 3_600_000),
        revoked: None,
        preview_digest: "preview-digest".into(),
        person_proof: Some(format!("proof-of-{who}.sig")),
        artefact: "eyJhbGciOiJFUzI1NiJ9.e30.sig".into(),
    }
}

fn code(secret: &str, g: &Grant) -> CodeRecord {
    CodeRecord {
        code: SecretDigest::of(secret),
        grant: g.id.clone(),
        client: g.client.clone(),
        redirect_uri: "https://bank.example/cb".into(),
        code_challenge: "challenge".into(),
        dpop_jkt: Some("jkt-1".into()),
        expires_at: UnixMillis(g.created_at.0 + 60_000),
    }
}

fn token(secret: &str, g: &Grant, jkt: &str) -> TokenRecord {
    TokenRecord {
        token: SecretDigest::of(secret),
        grant: g.id.clone(),
        client: g.client.clone(),
        jkt: jkt.into(),
        expires_at: UnixMillis(g.created_at.0 + 600_000),
    }
}

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict(_)))
}

/// What every consent store must do.
async fn consent_store_behaves(s: &impl ConsentStore) {
    let bank = clients(s).await;
    let g = requests_and_grants(s, &bank).await;
    codes(s, &g).await;
    tokens_and_revocation(s, &bank).await;
    refresh_tokens(s, &bank).await;
    grants_of_a_person(s, &bank).await;
    one_time_values(s).await;
    fetches_and_usage(s, &bank, &g).await;
    one_time_deliveries(s, &bank).await;
    alerts(s, &bank).await;
}

/// Clients and every change to them; returns an approved client.
async fn clients(s: &impl ConsentStore) -> ApiClient {
    let a = client(client_id('a'), T0 + 10);
    let b = ApiClient {
        app: ClientApplication {
            name_en: None,
            keys: ClientKeys::JwksUri("https://other.example/jwks".into()),
            auth: ClientAuth::PrivateKeyJwt,
            ..a.app.clone()
        },
        ..client(client_id('B'), T0)
    };
    // Same creation time as `a`: ordered by id, byte-wise ('-' < 'A' < 'a').
    let c = client(client_id('-'), T0 + 10);
    assert_eq!(s.client(&a.id).await.unwrap(), None);
    assert_eq!(s.clients().await.unwrap(), vec![]);
    assert_eq!(s.client_events(&a.id).await.unwrap(), vec![]);
    for x in [&a, &b, &c] {
        s.insert_client(x, &ClientEvent::applied(x)).await.unwrap();
    }
    assert_eq!(s.client(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.client(&b.id).await.unwrap(), Some(b.clone()));
    assert_eq!(s.clients().await.unwrap(), vec![b.clone(), c.clone(), a.clone()]);
    // An id is unique; the refused application records no event.
    let twin = ApiClient {
        created_at: UnixMillis(T0 + 99),
        ..a.clone()
    };
    assert!(is_conflict(
        s.insert_client(&twin, &ClientEvent::applied(&twin)).await
    ));
    assert_eq!(s.client(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        s.client_events(&a.id).await.unwrap(),
        vec![ClientEvent::applied(&a)]
    );

    // Changes need the status the administrator saw.
    let admin = Actor::Administrator("審査 太郎".into());
    let (approved, approval) = apply(&a, &ClientAction::Approve, admin.clone(), UnixMillis(T0 + 20)).unwrap();
    assert!(
        !s.update_client(&approved, ClientStatus::Approved, &approval)
            .await
            .unwrap()
    );
    assert_eq!(s.client(&a.id).await.unwrap(), Some(a.clone()), "unchanged");
    assert_eq!(s.client_events(&a.id).await.unwrap().len(), 1, "no event");
    assert!(
        s.update_client(&approved, ClientStatus::Applied, &approval)
            .await
            .unwrap()
    );
    assert!(
        !s.update_client(&approved, ClientStatus::Applied, &approval)
            .await
            .unwrap(),
        "once"
    );
    // A transfer changes the corporate number and remembers the old one.
    let (moved, transfer) = apply(
        &approved,
        &ClientAction::Transfer {
            to: corp(2_000_002),
            reason: "合併".into(),
        },
        admin.clone(),
        UnixMillis(T0 + 30),
    )
    .unwrap();
    assert!(
        s.update_client(&moved, ClientStatus::Approved, &transfer)
            .await
            .unwrap()
    );
    assert_eq!(s.client(&a.id).await.unwrap(), Some(moved.clone()));
    assert_eq!(
        s.client_events(&a.id).await.unwrap(),
        vec![ClientEvent::applied(&a), approval, transfer.clone()]
    );
    assert_eq!(transfer.previous_corporate_number, Some(corp(1_000_001)));
    let (suspended, suspension) = apply(
        &moved,
        &ClientAction::Suspend {
            reason: "不正の疑い".into(),
        },
        Actor::Monitor,
        UnixMillis(T0 + 40),
    )
    .unwrap();
    assert!(
        s.update_client(&suspended, ClientStatus::Approved, &suspension)
            .await
            .unwrap()
    );
    assert_eq!(s.client(&a.id).await.unwrap(), Some(suspended.clone()));
    assert_eq!(s.client_events(&a.id).await.unwrap().last(), Some(&suspension));
    let (resumed, resumption) = apply(&suspended, &ClientAction::Resume, admin, UnixMillis(T0 + 50)).unwrap();
    assert!(
        s.update_client(&resumed, ClientStatus::Suspended, &resumption)
            .await
            .unwrap()
    );
    assert_eq!(s.client(&a.id).await.unwrap().unwrap().status_reason, None);
    // Other clients' histories are their own; unknown clients update nothing.
    assert_eq!(
        s.client_events(&b.id).await.unwrap(),
        vec![ClientEvent::applied(&b)]
    );
    let ghost = client(client_id('z'), T0);
    let (ghost_next, ghost_event) =
        apply(&ghost, &ClientAction::Approve, Actor::Client, UnixMillis(T0)).unwrap();
    assert!(
        !s.update_client(&ghost_next, ClientStatus::Applied, &ghost_event)
            .await
            .unwrap()
    );
    assert_eq!(s.client(&ghost.id).await.unwrap(), None);
    resumed
}

/// Pushed requests are used once, by the consent that stores the grant
/// and its code together; returns that grant.
async fn requests_and_grants(s: &impl ConsentStore, bank: &ApiClient) -> Grant {
    let r = request("urn:par:1", &bank.id, T0 + 90_000);
    assert_eq!(s.request(&r.uri, UnixMillis(T0)).await.unwrap(), None);
    s.insert_request(&r).await.unwrap();
    assert!(is_conflict(s.insert_request(&r).await));
    assert_eq!(s.request(&r.uri, UnixMillis(T0)).await.unwrap(), Some(r.clone()));
    assert_eq!(
        s.request(&r.uri, UnixMillis(T0 + 89_999)).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        s.request(&r.uri, UnixMillis(T0 + 90_000)).await.unwrap(),
        None,
        "expired"
    );
    // A request for an unknown client is not stored.
    let stray = request("urn:par:stray", &client_id('q'), T0 + 90_000);
    assert!(s.insert_request(&stray).await.is_err());
    assert_eq!(s.request(&stray.uri, UnixMillis(T0)).await.unwrap(), None);

    let g = grant(grant_id('g'), &bank.id, "C-1", T0 + 1);
    // No such request: nothing stored.
    assert!(
        !s.insert_grant(&SecretDigest::of("urn:par:none"), &g, &code("c-1", &g))
            .await
            .unwrap()
    );
    assert_eq!(s.grant(&g.id).await.unwrap(), None);
    assert_eq!(
        s.redeem_code(&SecretDigest::of("c-1"), UnixMillis(T0))
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
    assert!(s.insert_grant(&r.uri, &g, &code("c-1", &g)).await.unwrap());
    assert_eq!(s.grant(&g.id).await.unwrap(), Some(g.clone()));
    assert_eq!(s.request(&r.uri, UnixMillis(T0)).await.unwrap(), None, "used");
    // A used request gives no second consent.
    let g2 = grant(grant_id('h'), &bank.id, "C-1", T0 + 2);
    assert!(!s.insert_grant(&r.uri, &g2, &code("c-2", &g2)).await.unwrap());
    assert_eq!(s.grant(&g2.id).await.unwrap(), None);
    assert_eq!(
        s.redeem_code(&SecretDigest::of("c-2"), UnixMillis(T0))
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );

    // A grant that cannot be stored leaves the request unused.
    let r2 = request("urn:par:2", &bank.id, T0 + 90_000);
    s.insert_request(&r2).await.unwrap();
    let dup = grant(g.id.clone(), &bank.id, "C-2", T0 + 3);
    assert!(is_conflict(
        s.insert_grant(&r2.uri, &dup, &code("c-3", &dup)).await
    ));
    assert_eq!(
        s.grant(&g.id).await.unwrap(),
        Some(g.clone()),
        "the first grant stays"
    );
    assert_eq!(
        s.request(&r2.uri, UnixMillis(T0)).await.unwrap(),
        Some(r2.clone())
    );
    assert_eq!(
        s.redeem_code(&SecretDigest::of("c-3"), UnixMillis(T0))
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
    // Nor does a code that cannot be stored.
    let g3 = grant(grant_id('i'), &bank.id, "C-2", T0 + 3);
    assert!(is_conflict(s.insert_grant(&r2.uri, &g3, &code("c-1", &g3)).await));
    assert_eq!(s.grant(&g3.id).await.unwrap(), None);
    assert_eq!(s.request(&r2.uri, UnixMillis(T0)).await.unwrap(), Some(r2));
    // An expired request is still spent by a consent (the caller checks
    // expiry when it reads the request).
    let late = request("urn:par:late", &bank.id, T0);
    s.insert_request(&late).await.unwrap();
    assert!(s.insert_grant(&late.uri, &g3, &code("c-3", &g3)).await.unwrap());
    g
}

async fn codes(s: &impl ConsentStore, g: &Grant) {
    let c = code("c-1", g);
    assert_eq!(
        s.redeem_code(&SecretDigest::of("c-x"), UnixMillis(T0))
            .await
            .unwrap(),
        CodeRedemption::Unknown
    );
    // Even an expired code is spent; the caller refuses it.
    assert_eq!(
        s.redeem_code(&c.code, UnixMillis(c.expires_at.0 + 1))
            .await
            .unwrap(),
        CodeRedemption::Fresh(c.clone())
    );
    assert_eq!(
        s.redeem_code(&c.code, UnixMillis(T0)).await.unwrap(),
        CodeRedemption::Replayed(g.id.clone())
    );
    assert_eq!(
        s.redeem_code(&c.code, UnixMillis(T0)).await.unwrap(),
        CodeRedemption::Replayed(g.id.clone())
    );
}

async fn tokens_and_revocation(s: &impl ConsentStore, bank: &ApiClient) {
    let g = grant(grant_id('t'), &bank.id, "C-3", T0);
    let r = request("urn:par:t", &bank.id, T0 + 90_000);
    s.insert_request(&r).await.unwrap();
    assert!(s.insert_grant(&r.uri, &g, &code("c-t", &g)).await.unwrap());
    let t1 = token("at-1", &g, "jkt-1");
    let t2 = token("at-2", &g, "jkt-1");
    assert_eq!(s.token(&t1.token).await.unwrap(), None);
    s.insert_token(&t1).await.unwrap();
    s.insert_token(&t2).await.unwrap();
    assert!(is_conflict(s.insert_token(&t1).await));
    assert_eq!(s.token(&t1.token).await.unwrap(), Some(t1.clone()));
    // A token of an unknown grant is not stored.
    let stray = token("at-stray", &grant(grant_id('u'), &bank.id, "C-3", T0), "jkt-1");
    assert!(s.insert_token(&stray).await.is_err());
    assert_eq!(s.token(&stray.token).await.unwrap(), None);
    // Another grant's token survives this grant's revocation.
    let other = grant(grant_id('v'), &bank.id, "C-3", T0);
    let r = request("urn:par:v", &bank.id, T0 + 90_000);
    s.insert_request(&r).await.unwrap();
    assert!(
        s.insert_grant(&r.uri, &other, &code("c-v", &other))
            .await
            .unwrap()
    );
    let t3 = token("at-3", &other, "jkt-2");
    s.insert_token(&t3).await.unwrap();

    assert!(
        s.revoke_grant(&g.id, RevokedBy::Person, UnixMillis(T0 + 5))
            .await
            .unwrap()
    );
    assert_eq!(s.token(&t1.token).await.unwrap(), None);
    assert_eq!(s.token(&t2.token).await.unwrap(), None);
    assert_eq!(s.token(&t3.token).await.unwrap(), Some(t3));
    let revoked = s.grant(&g.id).await.unwrap().unwrap();
    assert_eq!(revoked.revoked, Some((UnixMillis(T0 + 5), RevokedBy::Person)));
    // Once: the first revocation's time and author stay.
    assert!(
        !s.revoke_grant(&g.id, RevokedBy::Server, UnixMillis(T0 + 6))
            .await
            .unwrap()
    );
    assert_eq!(s.grant(&g.id).await.unwrap(), Some(revoked));
    assert!(
        !s.revoke_grant(&grant_id('w'), RevokedBy::Client, UnixMillis(T0))
            .await
            .unwrap()
    );
    assert_eq!(s.grant(&grant_id('w')).await.unwrap(), None);
    // A token issued (wrongly) after revocation is revoked by the next.
    let t4 = token("at-4", &g, "jkt-1");
    s.insert_token(&t4).await.unwrap();
    assert!(
        !s.revoke_grant(&g.id, RevokedBy::Server, UnixMillis(T0 + 7))
            .await
            .unwrap()
    );
    assert_eq!(s.token(&t4.token).await.unwrap(), None);
}

async fn refresh_tokens(s: &impl ConsentStore, bank: &ApiClient) {
    let g = grant(grant_id('r'), &bank.id, "C-4", T0);
    let r = request("urn:par:r", &bank.id, T0 + 90_000);
    s.insert_request(&r).await.unwrap();
    assert!(s.insert_grant(&r.uri, &g, &code("c-r", &g)).await.unwrap());
    let rt = token("rt-1", &g, "jkt-1");
    assert_eq!(
        s.redeem_refresh(&rt.token, "jkt-1").await.unwrap(),
        RefreshRedemption::Unknown
    );
    s.insert_refresh(&rt).await.unwrap();
    assert!(is_conflict(s.insert_refresh(&rt).await));
    // Refresh tokens are not access tokens.
    assert_eq!(s.token(&rt.token).await.unwrap(), None);
    // Another key does not spend it.
    assert_eq!(
        s.redeem_refresh(&rt.token, "jkt-thief").await.unwrap(),
        RefreshRedemption::WrongKey
    );
    assert_eq!(
        s.redeem_refresh(&rt.token, "jkt-1").await.unwrap(),
        RefreshRedemption::Fresh(rt.clone())
    );
    // Spent: a replay, whatever the key.
    assert_eq!(
        s.redeem_refresh(&rt.token, "jkt-1").await.unwrap(),
        RefreshRedemption::Replayed(g.id.clone())
    );
    assert_eq!(
        s.redeem_refresh(&rt.token, "jkt-thief").await.unwrap(),
        RefreshRedemption::Replayed(g.id.clone())
    );
    // The rotated token works once in turn.
    let next = token("rt-2", &g, "jkt-1");
    s.insert_refresh(&next).await.unwrap();
    assert_eq!(
        s.redeem_refresh(&next.token, "jkt-1").await.unwrap(),
        RefreshRedemption::Fresh(next.clone())
    );
    let stray = token("rt-stray", &grant(grant_id('s'), &bank.id, "C-4", T0), "jkt-1");
    assert!(s.insert_refresh(&stray).await.is_err());
    assert_eq!(
        s.redeem_refresh(&stray.token, "jkt-1").await.unwrap(),
        RefreshRedemption::Unknown
    );
}

async fn grants_of_a_person(s: &impl ConsentStore, bank: &ApiClient) {
    let who = "C-5";
    assert_eq!(s.grants_of(&person(who)).await.unwrap(), vec![]);
    // Newest first; at the same time, by id byte-wise ('-' < 'A' < '_' < 'a').
    let ids = ['a', '_', 'A', '-'];
    let mut made = Vec::new();
    for (i, c) in ids.into_iter().enumerate() {
        let created = if c == 'A' { T0 } else { T0 + 100 };
        let g = grant(
            GrantId::parse(&format!("gr_{}{}", c, "x".repeat(21))).unwrap(),
            &bank.id,
            who,
            created,
        );
        let r = request(&format!("urn:par:p{i}"), &bank.id, T0 + 90_000);
        s.insert_request(&r).await.unwrap();
        assert!(
            s.insert_grant(&r.uri, &g, &code(&format!("c-p{i}"), &g))
                .await
                .unwrap()
        );
        made.push(g);
    }
    let [a, under, upper, dash] = <[Grant; 4]>::try_from(made).unwrap();
    assert_eq!(
        s.grants_of(&person(who)).await.unwrap(),
        vec![dash, under, a, upper]
    );
    assert_eq!(s.grants_of(&person("C-6")).await.unwrap(), vec![]);
}

async fn one_time_values(s: &impl ConsentStore) {
    let t = |ms| UnixMillis(T0 + ms);
    assert!(
        s.remember_once("assertion:rc_a", "jti-1", t(100), t(0))
            .await
            .unwrap()
    );
    assert!(
        !s.remember_once("assertion:rc_a", "jti-1", t(100), t(50))
            .await
            .unwrap(),
        "replay"
    );
    // Scopes are separate.
    assert!(s.remember_once("dpop:rc_a", "jti-1", t(100), t(0)).await.unwrap());
    // Still remembered at its last millisecond, forgotten after.
    assert!(
        !s.remember_once("assertion:rc_a", "jti-1", t(300), t(100))
            .await
            .unwrap()
    );
    assert!(
        s.remember_once("assertion:rc_a", "jti-1", t(300), t(101))
            .await
            .unwrap()
    );
    // Remembered again until the new time.
    assert!(
        !s.remember_once("assertion:rc_a", "jti-1", t(300), t(300))
            .await
            .unwrap()
    );
    assert!(
        s.remember_once("assertion:rc_a", "jti-1", t(400), t(301))
            .await
            .unwrap()
    );
}

async fn fetches_and_usage(s: &impl ConsentStore, bank: &ApiClient, g: &Grant) {
    assert_eq!(s.fetches_of(&g.id).await.unwrap(), vec![]);
    assert_eq!(s.usage(&bank.id, UnixMillis(0)).await.unwrap(), Usage::default());
    let fetch = |at, outcome, grant: Option<&Grant>| FetchRecord {
        client: bank.id.clone(),
        grant: grant.map(|g| g.id.clone()),
        at: UnixMillis(at),
        items: if outcome == FetchOutcome::Delivered {
            "resident_tax_income household".into()
        } else {
            String::new()
        },
        outcome,
        hub_records: if outcome == FetchOutcome::Delivered {
            vec![1, 2, u64::MAX]
        } else {
            vec![]
        },
    };
    let under_grant = vec![
        fetch(T0 + 1, FetchOutcome::Delivered, Some(g)),
        fetch(T0 + 2, FetchOutcome::Refused, Some(g)),
        fetch(T0 + 3, FetchOutcome::Delivered, Some(g)),
    ];
    for f in &under_grant {
        s.record_fetch(f).await.unwrap();
    }
    s.record_fetch(&fetch(T0 + 4, FetchOutcome::Failed, None))
        .await
        .unwrap();
    s.record_fetch(&fetch(T0 - 1, FetchOutcome::Delivered, None))
        .await
        .unwrap();
    assert_eq!(s.fetches_of(&g.id).await.unwrap(), under_grant);
    assert_eq!(s.fetches_of(&grant_id('n')).await.unwrap(), vec![]);
    assert_eq!(
        s.usage(&bank.id, UnixMillis(T0)).await.unwrap(),
        Usage {
            delivered: 2,
            refused: 1,
            failed: 1
        }
    );
    assert_eq!(
        s.usage(&bank.id, UnixMillis(T0 + 2)).await.unwrap(),
        Usage {
            delivered: 1,
            refused: 1,
            failed: 1
        }
    );
    assert_eq!(s.usage(&bank.id, UnixMillis(0)).await.unwrap().delivered, 3);
    assert_eq!(
        s.usage(&client_id('B'), UnixMillis(0)).await.unwrap(),
        Usage::default()
    );
}

/// A one-time consent's delivery: claimed before gathering, by one caller
/// at a time; released when gathering failed; done for good once
/// delivered; taken over only when its lease ran out.
async fn one_time_deliveries(s: &impl ConsentStore, bank: &ApiClient) {
    let g = grant(grant_id('d'), &bank.id, "C-7", T0);
    let r = request("urn:par:delivery", &bank.id, T0 + 90_000);
    s.insert_request(&r).await.unwrap();
    assert!(s.insert_grant(&r.uri, &g, &code("delivery", &g)).await.unwrap());
    let lease = 600_000;
    let fetch = |at: i64, outcome| FetchRecord {
        client: bank.id.clone(),
        grant: Some(g.id.clone()),
        at: UnixMillis(at),
        items: "resident_tax_income".into(),
        outcome,
        hub_records: vec![7, 8],
    };
    let claim = |c: &'static str, at: i64| s.claim_delivery(&g.id, c, UnixMillis(at), lease);
    assert_eq!(claim("one", T0).await.unwrap(), DeliveryClaim::Claimed);
    // Held: nobody else, not even the holder again, until the lease ends.
    assert_eq!(claim("two", T0 + 1).await.unwrap(), DeliveryClaim::InProgress);
    assert_eq!(claim("one", T0 + lease).await.unwrap(), DeliveryClaim::InProgress);
    // Gathering failed: released (another caller's claim cannot release
    // it), the failure recorded, and the next request may claim it.
    let failed = fetch(T0 + 2, FetchOutcome::Failed);
    s.release_delivery(&g.id, "two", &failed).await.unwrap();
    assert_eq!(claim("three", T0 + 3).await.unwrap(), DeliveryClaim::InProgress);
    s.release_delivery(&g.id, "one", &failed).await.unwrap();
    assert_eq!(
        s.fetches_of(&g.id).await.unwrap(),
        vec![failed.clone(), failed.clone()]
    );
    assert_eq!(claim("three", T0 + 4).await.unwrap(), DeliveryClaim::Claimed);
    // Only the holder completes; with the fetch recorded in the same step.
    let done = fetch(T0 + 5, FetchOutcome::Delivered);
    assert!(!s.complete_delivery(&g.id, "one", &done).await.unwrap());
    assert_eq!(s.fetches_of(&g.id).await.unwrap().len(), 2, "nothing recorded");
    assert!(s.complete_delivery(&g.id, "three", &done).await.unwrap());
    assert!(!s.complete_delivery(&g.id, "three", &done).await.unwrap(), "once");
    assert_eq!(
        s.fetches_of(&g.id).await.unwrap(),
        vec![failed.clone(), failed, done]
    );
    // Delivered: for good, even long after any lease.
    assert_eq!(claim("four", T0 + 6).await.unwrap(), DeliveryClaim::Delivered);
    assert_eq!(
        claim("four", T0 + 100 * lease).await.unwrap(),
        DeliveryClaim::Delivered
    );
    s.release_delivery(&g.id, "three", &fetch(T0 + 7, FetchOutcome::Failed))
        .await
        .unwrap();
    assert_eq!(
        claim("five", T0 + 8).await.unwrap(),
        DeliveryClaim::Delivered,
        "a delivered consent is never released"
    );

    // A holder that died: its claim is taken over once the lease is over,
    // and then it can no longer complete.
    let g2 = grant(grant_id('e'), &bank.id, "C-7", T0);
    let r2 = request("urn:par:delivery-2", &bank.id, T0 + 90_000);
    s.insert_request(&r2).await.unwrap();
    assert!(
        s.insert_grant(&r2.uri, &g2, &code("delivery-2", &g2))
            .await
            .unwrap()
    );
    let at = |t: i64| UnixMillis(t);
    assert_eq!(
        s.claim_delivery(&g2.id, "dead", at(T0), lease).await.unwrap(),
        DeliveryClaim::Claimed
    );
    assert_eq!(
        s.claim_delivery(&g2.id, "next", at(T0 + lease), lease)
            .await
            .unwrap(),
        DeliveryClaim::InProgress
    );
    assert_eq!(
        s.claim_delivery(&g2.id, "next", at(T0 + lease + 1), lease)
            .await
            .unwrap(),
        DeliveryClaim::Claimed
    );
    let late = FetchRecord {
        grant: Some(g2.id.clone()),
        ..fetch(T0 + lease + 2, FetchOutcome::Delivered)
    };
    assert!(!s.complete_delivery(&g2.id, "dead", &late).await.unwrap());
    assert!(s.complete_delivery(&g2.id, "next", &late).await.unwrap());
    assert_eq!(s.fetches_of(&g2.id).await.unwrap(), vec![late]);
}

async fn alerts(s: &impl ConsentStore, bank: &ApiClient) {
    assert_eq!(s.alerts(None, 10).await.unwrap(), vec![]);
    let alert = |client: &ClientId, i: i64| ClientAlert {
        client: client.clone(),
        at: UnixMillis(T0 + i),
        kind: "failure_rate".into(),
        detail: format!("alert {i}"),
    };
    let other = client_id('B');
    let all = vec![
        alert(&bank.id, 1),
        alert(&other, 2),
        alert(&bank.id, 3),
        alert(&bank.id, 4),
    ];
    for a in &all {
        s.insert_alert(a).await.unwrap();
    }
    let newest_first: Vec<ClientAlert> = all.iter().rev().cloned().collect();
    assert_eq!(s.alerts(None, 10).await.unwrap(), newest_first);
    assert_eq!(s.alerts(None, 2).await.unwrap(), newest_first[..2].to_vec());
    assert_eq!(s.alerts(None, 0).await.unwrap(), vec![]);
    assert_eq!(
        s.alerts(Some(&bank.id), 2).await.unwrap(),
        vec![all[3].clone(), all[2].clone()]
    );
    assert_eq!(s.alerts(Some(&other), 10).await.unwrap(), vec![all[1].clone()]);
    assert_eq!(s.alerts(Some(&client_id('n')), 10).await.unwrap(), vec![]);
}

/// The consent suite; opening the store again migrates nothing and keeps
/// the state.
pub async fn behaves<B: Backend>() {
    let Some(place) = place::<B>("consent").await else {
        return;
    };
    let s = place.portal().await.unwrap();
    consent_store_behaves(&s).await;
    let again = place.portal().await.unwrap();
    assert_eq!(again.clients().await.unwrap().len(), 3);
}

/// Of concurrent attempts to use a single-use thing, exactly one wins and
/// the others see it spent, as a replay (which revokes the grant), never as
/// a failure.
async fn racing_single_use<S: ConsentStore>(s: Arc<S>) {
    let bank = client(client_id('c'), T0);
    s.insert_client(&bank, &ClientEvent::applied(&bank))
        .await
        .unwrap();
    let n = 4;
    for round in 0..10 {
        // The consent to one pushed request.
        let r = request(&format!("urn:par:race{round}"), &bank.id, T0 + 90_000);
        s.insert_request(&r).await.unwrap();
        let won = race(&s, n, |s| {
            let uri = r.uri.clone();
            let id = GrantId::from_random(renkei_ids::random_bytes::<16>());
            let g = grant(id, &bank.id, "C-1", T0);
            let c = code(&format!("race-{round}-{}", g.id), &g);
            async move { s.insert_grant(&uri, &g, &c).await.unwrap() }
        })
        .await;
        assert_eq!(won.iter().filter(|w| **w).count(), 1, "round {round}: consents");

        // The code, redeemed at once by several.
        let g = grant(
            GrantId::from_random(renkei_ids::random_bytes::<16>()),
            &bank.id,
            "C-1",
            T0,
        );
        let c = code(&format!("code-{round}"), &g);
        let r = request(&format!("urn:par:code{round}"), &bank.id, T0 + 90_000);
        s.insert_request(&r).await.unwrap();
        assert!(s.insert_grant(&r.uri, &g, &c).await.unwrap());
        let got = race(&s, n, |s| {
            let digest = c.code.clone();
            async move { s.redeem_code(&digest, UnixMillis(T0)).await }
        })
        .await;
        let fresh = got
            .iter()
            .filter(|x| **x == Ok(CodeRedemption::Fresh(c.clone())))
            .count();
        let replayed = got
            .iter()
            .filter(|x| **x == Ok(CodeRedemption::Replayed(g.id.clone())))
            .count();
        let failed = got
            .iter()
            .filter(|x| matches!(x, Err(StoreError::Unavailable(_))))
            .count();
        assert_eq!(fresh, 1, "round {round}: codes {got:?}");
        assert_eq!(replayed + failed, n - 1, "round {round}: codes {got:?}");
        assert!(failed == 0, "round {round}: codes {got:?}");

        // The refresh token, presented at once by several.
        let rt = token(&format!("rt-{round}"), &g, "jkt-1");
        s.insert_refresh(&rt).await.unwrap();
        let got = race(&s, n, |s| {
            let digest = rt.token.clone();
            async move { s.redeem_refresh(&digest, "jkt-1").await }
        })
        .await;
        let fresh = got
            .iter()
            .filter(|x| **x == Ok(RefreshRedemption::Fresh(rt.clone())))
            .count();
        let replayed = got
            .iter()
            .filter(|x| **x == Ok(RefreshRedemption::Replayed(g.id.clone())))
            .count();
        let failed = got
            .iter()
            .filter(|x| matches!(x, Err(StoreError::Unavailable(_))))
            .count();
        assert_eq!(fresh, 1, "round {round}: refresh {got:?}");
        assert_eq!(replayed + failed, n - 1, "round {round}: refresh {got:?}");
        assert!(failed == 0, "round {round}: refresh {got:?}");

        // A one-time consent's delivery, claimed at once by several.
        let got = race(&s, n, |s| {
            let id = g.id.clone();
            async move {
                let claim: String = renkei_ids::random_bytes::<16>()
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                s.claim_delivery(&id, &claim, UnixMillis(T0), 600_000).await
            }
        })
        .await;
        let claimed = got.iter().filter(|x| **x == Ok(DeliveryClaim::Claimed)).count();
        let busy = got
            .iter()
            .filter(|x| **x == Ok(DeliveryClaim::InProgress))
            .count();
        assert_eq!((claimed, busy), (1, n - 1), "round {round}: deliveries {got:?}");

        // One jti, presented at once by several.
        let jti = format!("jti-{round}");
        let got = race(&s, n, |s| {
            let jti = jti.clone();
            async move {
                s.remember_once("race", &jti, UnixMillis(T0 + 100), UnixMillis(T0))
                    .await
                    .unwrap()
            }
        })
        .await;
        assert_eq!(got.iter().filter(|w| **w).count(), 1, "round {round}: jti");

        // Two administrators acting on the same client.
        let subject = client(ClientId::from_random(renkei_ids::random_bytes::<16>()), T0);
        s.insert_client(&subject, &ClientEvent::applied(&subject))
            .await
            .unwrap();
        let got = race(&s, n, |s| {
            let (next, event) = apply(
                &subject,
                &ClientAction::Approve,
                Actor::Client,
                UnixMillis(T0 + 1),
            )
            .unwrap();
            async move {
                s.update_client(&next, ClientStatus::Applied, &event)
                    .await
                    .unwrap()
            }
        })
        .await;
        assert_eq!(
            got.iter().filter(|w| **w).count(),
            1,
            "round {round}: client changes"
        );
        assert_eq!(
            s.client_events(&subject.id).await.unwrap().len(),
            2,
            "one event per change"
        );
    }
}

/// Racing users of single-use things.
pub async fn single_use_under_concurrency<B: Backend>() {
    let Some(place) = place::<B>("consent_race").await else {
        return;
    };
    racing_single_use(Arc::new(place.portal().await.unwrap())).await;
}
