//! Hostile and broken peers against a real hub process over real QUIC: each gets a
//! typed rejection or is cut off, and honest nodes keep syncing.

use std::time::{Duration, Instant};
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::{SessionFile, UnitId};
use tinnhiem_core::proto::node::{Event, Extras, Job, NodeSession};
use tinnhiem_core::proto::RejectReason;
use tinnhiem_core::seal::{
    flagged_of, seal_doc, Aggregate, AggregateBody, EnrollBody, EnrolledKey, Enrollment, Flagged,
    Included, PublicKey, Seal, UnitKey,
};
use tinnhiem_net::client::{deliver, DeliverError};
use tinnhiem_net::{self as net, NetConfig};
use tinnhiem_tests::{session_file, Hub, NodeHome};

fn doc_of(unit: &str, session: &str) -> SessionDoc {
    let s = SessionFile::from_json(&session_file(session, 20))
        .expect("json")
        .into_session(&UnitId::new(unit).expect("unit"), || "e".into())
        .expect("valid");
    SessionDoc::from_session(&s, b"attacker", 1).expect("doc")
}

/// Delivers `seal` of `doc` as `key` (authenticated as that key's unit) and returns what
/// the hub answered.
async fn push(
    hub: &Hub,
    unit: &str,
    key: &UnitKey,
    doc: SessionDoc,
    seal: Seal,
) -> Result<Vec<Event>, DeliverError> {
    let hub_key = PublicKey::from_hex(&hub.key).expect("hub key");
    let ep = net::client_endpoint(key, hub_key, &NetConfig::default()).expect("endpoint");
    let machine = NodeSession::new(
        unit,
        hub_key,
        vec![Job {
            doc,
            sync_state: None,
            seals: vec![seal],
        }],
        0,
        1000,
    );
    let mut events = Vec::new();
    let r = deliver(
        &ep,
        hub.addr,
        machine,
        &NetConfig::default(),
        Instant::now() + Duration::from_secs(10),
        |e| events.push(e),
        || {},
    )
    .await;
    r.map(|_| events)
}

fn rejection(events: &[Event]) -> Option<RejectReason> {
    events.iter().find_map(|e| match e {
        Event::Rejected { reason, .. } => Some(*reason),
        _ => None,
    })
}

#[test]
fn forged_seals_wrong_keys_other_units_and_oversized_messages_are_refused() {
    let hub = Hub::start("lai-chau");
    let honest = NodeHome::init("lai-chau.honest");
    let attacker = NodeHome::init("lai-chau.attacker");
    hub.enroll(&honest, "lai-chau.honest");
    hub.enroll(&attacker, "lai-chau.attacker");
    let akey = UnitKey::load_file(&attacker.path().join("unit.key")).expect("attacker key");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");

    rt.block_on(async {
        // A forged seal: the unit's own key, but a digest that is not the document's result.
        let mut d = doc_of("lai-chau.attacker", "gia-mao");
        let (seal, _) = seal_doc(&mut d, &akey, 1, 1).expect("seal");
        let mut body = seal.body.clone();
        body.result_digest = [7; 32];
        let ev = push(&hub, "lai-chau.attacker", &akey, d, Seal::sign(&akey, body))
            .await
            .expect("connects");
        assert_eq!(rejection(&ev), Some(RejectReason::ResultMismatch), "{ev:?}");
        // A seal signed by a key that is not the unit's registered key.
        let other = UnitKey::from_seed([42; 32]);
        let mut d = doc_of("lai-chau.attacker", "khoa-la");
        let (seal, _) = seal_doc(&mut d, &other, 1, 1).expect("seal");
        let ev = push(&hub, "lai-chau.attacker", &akey, d, seal)
            .await
            .expect("connects");
        assert_eq!(rejection(&ev), Some(RejectReason::WrongKey), "{ev:?}");
        // Another unit's document, pushed over the attacker's connection.
        let mut d = doc_of("lai-chau.honest", "cua-nguoi-khac");
        let (seal, _) = seal_doc(&mut d, &akey, 1, 1).expect("seal");
        let ev = push(&hub, "lai-chau.attacker", &akey, d, seal)
            .await
            .expect("connects");
        assert_eq!(rejection(&ev), Some(RejectReason::OtherUnit), "{ev:?}");
        // A key the registry does not know cannot even connect.
        let stranger = UnitKey::from_seed([43; 32]);
        let mut d = doc_of("lai-chau.stranger", "la");
        let (seal, _) = seal_doc(&mut d, &stranger, 1, 1).expect("seal");
        assert!(push(&hub, "lai-chau.stranger", &stranger, d, seal)
            .await
            .is_err());
        // An oversized message: a frame header announcing 100 MB. The hub cuts the
        // connection off without reading it.
        let hub_key = PublicKey::from_hex(&hub.key).expect("key");
        let ep = net::client_endpoint(&akey, hub_key, &NetConfig::default()).expect("endpoint");
        let conn = ep
            .connect(hub.addr, "tinnhiem")
            .expect("connect")
            .await
            .expect("handshake");
        let (mut send, _recv) = conn.open_bi().await.expect("stream");
        // The hub may cut the connection as soon as it reads the header, so a write
        // may already fail: what matters is that the connection ends.
        let _ = send.write_all(&(100u32 << 20).to_be_bytes()).await;
        let _ = send.write_all(&[0u8; 1000]).await;
        let closed = tokio::time::timeout(Duration::from_secs(10), conn.closed()).await;
        assert!(
            closed.is_ok(),
            "the hub closes a connection that sends an oversized message"
        );
        // A flood of streams from one peer: cut off, the hub survives.
        let conn = ep
            .connect(hub.addr, "tinnhiem")
            .expect("connect")
            .await
            .expect("handshake");
        let mut opened = 0;
        for _ in 0..500 {
            match tokio::time::timeout(Duration::from_millis(200), conn.open_bi()).await {
                Ok(Ok((mut s, _))) => {
                    let _ = s.write_all(b"\0\0\0\x01").await;
                    opened += 1;
                }
                _ => break,
            }
        }
        assert!(opened <= 200, "stream limit enforced ({opened} opened)");
    });
    // The honest node still delivers.
    honest.seal_session("ky-hop-14", 21);
    honest.point_at(hub.addr, &hub.key);
    honest.ok(&["sync", "--once", "--timeout", "30"]);
    let st = hub.status();
    assert_eq!(st["seals_accepted"], 1, "{st}");
    assert!(st["seals_rejected"].as_u64().unwrap_or(0) >= 3, "{st}");
    let reasons: Vec<_> = st["recent_rejections"]
        .as_array()
        .expect("arr")
        .iter()
        .map(|r| r["reason"].as_str().unwrap_or("").to_string())
        .collect();
    for want in ["result_mismatch", "wrong_key", "other_unit"] {
        assert!(reasons.iter().any(|r| r == want), "{want} in {reasons:?}");
    }
}

#[test]
fn a_rotated_key_keeps_old_seals_valid_and_a_revoked_key_signs_nothing_new() {
    let hub = Hub::start("lai-chau");
    let n = NodeHome::init("lai-chau.than-uyen");
    hub.enroll(&n, "lai-chau.than-uyen");
    n.point_at(hub.addr, &hub.key);
    n.seal_session("ky-hop-1", 20);
    n.ok(&["sync", "--once", "--timeout", "30"]);
    let old_key = UnitKey::load_file(&n.path().join("unit.key")).expect("old key");

    // Mid-period rotation: new key on the laptop, registered at the hub.
    let new_hex = n.rotate_key();
    hub.ok(&[
        "registry",
        "rotate",
        "--unit",
        "lai-chau.than-uyen",
        "--key",
        &new_hex,
    ]);
    let list = hub.ok(&["registry", "list"]);
    assert!(list.contains("thu hồi"), "{list}");

    // A correction sealed with the new key is accepted; the old seal still verifies.
    n.ok(&[
        "tally",
        "set",
        "ky-hop-1",
        "s01",
        "--high",
        "21",
        "--confidence",
        "9",
        "--low",
        "0",
    ]);
    n.ok(&["seal", "ky-hop-1"]);
    n.ok(&["sync", "--once", "--timeout", "30"]);
    n.ok(&["verify", "ky-hop-1"]);
    let st = hub.status();
    assert_eq!(st["seals_accepted"], 2, "{st}");
    hub.ok(&["result", "--json"]);

    // A new seal made with the revoked key is refused, even over the new key's connection.
    let new_key = UnitKey::load_file(&n.path().join("unit.key")).expect("new key");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let ev = rt.block_on(async {
        std::thread::sleep(Duration::from_millis(1100));
        let mut d = doc_of("lai-chau.than-uyen", "sau-thu-hoi");
        let now = chrono_now();
        let (seal, _) = seal_doc(&mut d, &old_key, 1, now).expect("seal");
        push(&hub, "lai-chau.than-uyen", &new_key, d, seal)
            .await
            .expect("connects")
    });
    assert_eq!(rejection(&ev), Some(RejectReason::RevokedKey), "{ev:?}");
    // The old key can no longer even connect.
    let ev = rt.block_on(async {
        let mut d = doc_of("lai-chau.than-uyen", "ket-noi-cu");
        let (seal, _) = seal_doc(&mut d, &old_key, 1, chrono_now()).expect("seal");
        push(&hub, "lai-chau.than-uyen", &old_key, d, seal).await
    });
    assert!(ev.is_err(), "{ev:?}");
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[test]
fn the_same_seal_twice_gets_the_same_receipt_and_is_stored_once() {
    let hub = Hub::start("lai-chau");
    let n = NodeHome::init("lai-chau.nam-nhun");
    hub.enroll(&n, "lai-chau.nam-nhun");
    let key = UnitKey::load_file(&n.path().join("unit.key")).expect("key");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let mut d = doc_of("lai-chau.nam-nhun", "ky-hop-2");
    let (seal, _) = seal_doc(&mut d, &key, 1, 5).expect("seal");
    let bytes = d.save();
    let receipts: Vec<_> = (0..2)
        .map(|_| {
            let doc = SessionDoc::load(&bytes, b"again").expect("load");
            let ev = rt
                .block_on(push(&hub, "lai-chau.nam-nhun", &key, doc, seal.clone()))
                .expect("connects");
            ev.into_iter()
                .find_map(|e| match e {
                    Event::Receipt { receipt, .. } => Some(receipt),
                    _ => None,
                })
                .expect("a receipt")
        })
        .collect();
    assert_eq!(
        receipts[0], receipts[1],
        "a replayed seal gets the very same receipt"
    );
    let st = hub.status();
    assert_eq!(st["seals_accepted"], 1, "{st}");
    assert_eq!(st["seals_rejected"], 0, "{st}");
}

/// Delivers, as the hub `unit` with `key`, jobs of its descendants with `enrollments`
/// and `aggregates`; returns what the upper hub answered.
async fn forward(
    upper: &Hub,
    unit: &str,
    key: &UnitKey,
    jobs: Vec<Job>,
    enrollments: Vec<Vec<u8>>,
    aggregates: Vec<Aggregate>,
) -> Vec<Event> {
    let hub_key = PublicKey::from_hex(&upper.key).expect("hub key");
    let ep = net::client_endpoint(key, hub_key, &NetConfig::default()).expect("endpoint");
    let extras = Extras {
        enrollments,
        aggregates,
        known_log: None,
    };
    let machine = NodeSession::forwarding(unit, hub_key, jobs, extras, 0, 1000);
    let mut events = Vec::new();
    let r = deliver(
        &ep,
        upper.addr,
        machine,
        &NetConfig::default(),
        Instant::now() + Duration::from_secs(10),
        |e| events.push(e),
        || {},
    )
    .await;
    assert!(r.is_ok(), "{r:?}");
    events
}

#[test]
fn forged_enrollments_and_aggregates_are_refused_upstairs() {
    let national = Hub::start("quoc-hoi");
    let province = UnitKey::generate().expect("key");
    let district = UnitKey::generate().expect("key");
    let stranger = UnitKey::generate().expect("key");
    national.register(
        "lai-chau",
        &province.public().to_hex(),
        "quoc-hoi",
        "province",
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    let enroll = |signer: &UnitKey, unit: &str, parent: &str| {
        Enrollment::sign(
            signer,
            EnrollBody {
                unit: unit.into(),
                parent: parent.into(),
                name: "HĐND huyện".into(),
                level: "district".into(),
                keys: vec![EnrolledKey {
                    key: district.public().0,
                    valid_from: None,
                    revoked_at: None,
                }],
                issued_at: chrono_now(),
            },
        )
        .to_bytes()
    };
    let job = |unit: &str, session: &str| {
        let mut doc = doc_of(unit, session);
        let (seal, result) = seal_doc(&mut doc, &district, 1, chrono_now()).expect("seal");
        (
            Job {
                doc,
                sync_state: None,
                seals: vec![seal.clone()],
            },
            seal,
            result,
        )
    };

    // An enrollment signed by a key that is not the province's: the district stays
    // unknown upstairs and its seal is not taken.
    let (j, _, _) = job("lai-chau.muong-te", "ky-hop-1");
    let ev = rt.block_on(forward(
        &national,
        "lai-chau",
        &province,
        vec![j],
        vec![enroll(&stranger, "lai-chau.muong-te", "lai-chau")],
        vec![],
    ));
    assert_eq!(rejection(&ev), Some(RejectReason::UnknownUnit), "{ev:?}");
    // An enrollment for a unit under another parent than the peer: refused too.
    let (j, _, _) = job("ha-giang.meo-vac", "ky-hop-1");
    let ev = rt.block_on(forward(
        &national,
        "lai-chau",
        &province,
        vec![j],
        vec![enroll(&province, "ha-giang.meo-vac", "ha-giang")],
        vec![],
    ));
    assert!(
        matches!(
            rejection(&ev),
            Some(RejectReason::UnknownUnit | RejectReason::OtherUnit)
        ),
        "{ev:?}"
    );

    // The honest chain: the province enrolls its district, forwards its seal unchanged.
    let (j, seal, result) = job("lai-chau.muong-te", "ky-hop-1");
    let ev = rt.block_on(forward(
        &national,
        "lai-chau",
        &province,
        vec![j],
        vec![enroll(&province, "lai-chau.muong-te", "lai-chau")],
        vec![],
    ));
    assert_eq!(rejection(&ev), None, "{ev:?}");
    assert!(
        ev.iter().any(|e| matches!(e, Event::Receipt { .. })),
        "{ev:?}"
    );

    let body = |flagged: Vec<Flagged>, included: Vec<Included>| AggregateBody {
        hub: "lai-chau".into(),
        period: 2023,
        seq: 1,
        sealed_at: chrono_now(),
        signer: [0; 32],
        included,
        missing: vec![],
        late: vec![],
        flagged,
    };
    let honest = || body(flagged_of(&result), vec![Included::of(&seal, 0)]);
    let answer = |agg: Aggregate| {
        let ev = rt.block_on(forward(
            &national,
            "lai-chau",
            &province,
            vec![],
            vec![],
            vec![agg],
        ));
        rejection(&ev)
    };
    // A flag added that the seals do not carry.
    let mut lie = honest();
    lie.flagged.push(Flagged {
        unit: "lai-chau.muong-te".into(),
        session: "ky-hop-1".into(),
        subject: "s01".into(),
        person_id: "p-1".into(),
        name: "Nguyễn Văn A".into(),
        flag: "low_two_thirds_or_more".into(),
    });
    assert_eq!(
        answer(Aggregate::sign(&province, lie)),
        Some(RejectReason::ResultMismatch)
    );
    // A seal named that was never delivered.
    let mut ghost = honest();
    ghost.included[0].seal_id = [7; 32];
    assert_eq!(
        answer(Aggregate::sign(&province, ghost)),
        Some(RejectReason::HeadsMissing)
    );
    // Signed by another key, or claiming another hub.
    assert_eq!(
        answer(Aggregate::sign(&stranger, honest())),
        Some(RejectReason::WrongKey)
    );
    let mut other = honest();
    other.hub = "ha-giang".into();
    assert_eq!(
        answer(Aggregate::sign(&province, other)),
        Some(RejectReason::OtherUnit)
    );
    // The honest one is receipted.
    assert_eq!(answer(Aggregate::sign(&province, honest())), None);
    let list = national.ok(&["aggregate", "list", "--json"]);
    assert!(list.contains("lai-chau.muong-te"), "{list}");
}

#[test]
fn a_peer_that_dribbles_a_message_is_cut_off_and_honest_nodes_sync() {
    let mut hub = Hub::start("lai-chau");
    hub.serve(&["--message-timeout", "2"]);
    let honest = NodeHome::init("lai-chau.honest");
    let slow = NodeHome::init("lai-chau.slow");
    hub.enroll(&honest, "lai-chau.honest");
    hub.enroll(&slow, "lai-chau.slow");
    let key = UnitKey::load_file(&slow.path().join("unit.key")).expect("key");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let hub_key = PublicKey::from_hex(&hub.key).expect("key");
    let addr = hub.addr;
    let (cut, elapsed) = rt.block_on(async {
        let ep = net::client_endpoint(&key, hub_key, &NetConfig::default()).expect("endpoint");
        let conn = ep
            .connect(addr, "tinnhiem")
            .expect("connect")
            .await
            .expect("handshake");
        let (mut send, _recv) = conn.open_bi().await.expect("stream");
        // A frame of 1 000 bytes, sent one byte every 300 ms (keep-alive traffic keeps
        // the connection itself from idling out).
        send.write_all(&1000u32.to_be_bytes()).await.expect("write");
        let start = Instant::now();
        let dribble = async {
            for _ in 0..1000 {
                if send.write_all(&[0]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        };
        let cut = tokio::select! {
            _ = conn.closed() => true,
            _ = dribble => false,
        };
        (cut, start.elapsed())
    });
    assert!(cut, "the hub never cut the slow peer off");
    assert!(
        elapsed < Duration::from_secs(15),
        "cut off after {elapsed:?}"
    );
    honest.seal_session("ky-hop-14", 21);
    honest.point_at(hub.addr, &hub.key);
    honest.ok(&["sync", "--once", "--timeout", "30"]);
}

/// The field report: 1,100 captured client Initials of an unregistered key, replayed
/// once from one socket (1.3 MB in 0.5 s), made the hub refuse honest districts for
/// about 30 s. Here the same burst, then another spread over 100 sockets (so that
/// unproved handshakes pile up and the hub must ask for address validation), while
/// honest nodes deliver: every one gets its receipt, well within a bound that the old
/// hub (every slot held for the 30 s idle timeout) could not meet.
#[test]
fn a_burst_of_replayed_initials_locks_no_district_out() {
    let hub = Hub::start("lai-chau");
    let hub_key = PublicKey::from_hex(&hub.key).expect("hub key");
    let honest: Vec<NodeHome> = (0..6)
        .map(|i| {
            let unit = format!("lai-chau.xa-{i}");
            let n = NodeHome::init(&unit);
            hub.enroll(&n, &unit);
            n.seal_session("ky-hop-1", 20 + i);
            n.point_at(hub.addr, &hub.key);
            n
        })
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let stranger = UnitKey::from_seed([66; 32]);
    let captured = Instant::now();
    let (one_socket, spread) = rt.block_on(async {
        (
            tinnhiem_tests::flood::capture_initials(1100, &stranger, hub_key).await,
            tinnhiem_tests::flood::capture_initials(1100, &stranger, hub_key).await,
        )
    });
    eprintln!("captured 2 200 Initials in {:?}", captured.elapsed());
    assert_eq!(one_socket.len(), 1100);
    assert_eq!(spread.len(), 1100);
    let bytes: usize = one_socket.iter().map(Vec::len).sum();
    assert!(bytes >= 1_300_000, "{bytes} bytes");
    let addr = hub.addr;
    let flood = std::thread::spawn(move || {
        rt.block_on(async {
            let a = tinnhiem_tests::flood::replay(
                &one_socket,
                addr,
                1,
                Duration::from_millis(500),
                Duration::from_millis(100),
            )
            .await;
            let b = tinnhiem_tests::flood::replay(
                &spread,
                addr,
                100,
                Duration::from_millis(500),
                Duration::from_secs(1),
            )
            .await;
            (a, b)
        })
    });
    // The districts start while the burst is on the wire.
    std::thread::sleep(Duration::from_millis(150));
    let start = Instant::now();
    let children: Vec<_> = honest
        .iter()
        .map(|n| {
            std::process::Command::new(tinnhiem_tests::bin("tinnhiem-node"))
                .arg("--home")
                .arg(n.path())
                .args(["sync", "--once", "--json", "--timeout", "20"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(out.status.success(), "{j}");
        assert_eq!(j["received"], 1, "{j}");
    }
    let took = start.elapsed();
    let (a, b) = flood.join().expect("flood thread");
    eprintln!("honest receipts after {took:?}; one socket: {a:?}; 100 sockets: {b:?}");
    assert_eq!(a.sent, 1100);
    // One socket's share is a few handshakes: the rest get no answer at all, so the
    // hub sent far fewer datagrams than the burst (an answer is up to 3× an Initial).
    assert!(a.answers < 100, "{a:?}");
    assert_eq!(b.sent, 1100);
    assert!(
        b.retries > 0,
        "no Retry while unproved handshakes piled up: {b:?}"
    );
    assert!(b.answers < 1100, "{b:?}");
    assert_eq!(hub.status()["seals_accepted"], 6);
}
