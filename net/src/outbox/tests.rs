use super::*;
use crate::outbox::retry::Schedule;
use tinnhiem_core::seal::SealBody;
use tinnhiem_store::BackendKind;

/// Delivery records exactly as the release before the typed states wrote them
/// (`serde_json` of the struct whose `state` and `reject_reason` were strings): every
/// state, a refusal by the hub, a key refused at the handshake, a lost receipt, and a
/// code from a newer release.
const OLD_RECORDS: [&str; 6] = [
    r#"{"session":"ky-hop-1","seq":1,"seal_id":"aa","state":"pending","attempts":0,"last_error":null,"updated_at":1700000000,"receipt":null,"received_at":null,"log_index":null,"reject_reason":null,"reject_detail":null}"#,
    r#"{"session":"ky-hop-1","seq":2,"seal_id":"bb","state":"sent","attempts":3,"last_error":"timeout","updated_at":1700000001,"receipt":null,"received_at":null,"log_index":null,"reject_reason":null,"reject_detail":null,"next_try_ms":1700000005000}"#,
    r#"{"session":"h1/ky-hop-2","seq":1,"seal_id":"cc","state":"received","attempts":1,"last_error":null,"updated_at":1700000002,"receipt":"00ff","received_at":1700000002,"log_index":7,"reject_reason":null,"reject_detail":null,"lost_receipt":"0011","lost_at":1700000001}"#,
    r#"{"session":"ky-hop-3","seq":1,"seal_id":"dd","state":"rejected","attempts":1,"last_error":null,"updated_at":1700000003,"receipt":null,"received_at":null,"log_index":null,"reject_reason":"other_unit","reject_detail":"x"}"#,
    r#"{"session":"ky-hop-4","seq":1,"seal_id":"ee","state":"rejected","attempts":0,"last_error":null,"updated_at":1700000004,"receipt":null,"received_at":null,"log_index":null,"reject_reason":"unknown_key","reject_detail":"khóa"}"#,
    r#"{"session":"ky-hop-5","seq":1,"seal_id":"ff","state":"rejected","attempts":1,"last_error":null,"updated_at":1700000005,"receipt":null,"received_at":null,"log_index":null,"reject_reason":"a_newer_code","reject_detail":""}"#,
];

#[test]
fn delivery_records_of_the_release_before_decode_and_encode_to_the_same_bytes() {
    let d: Vec<Delivery> = OLD_RECORDS
        .iter()
        .map(|r| serde_json::from_str(r).expect("an old record decodes"))
        .collect();
    let states: Vec<DeliveryState> = d.iter().map(|d| d.state).collect();
    assert_eq!(
        states,
        [
            DeliveryState::Pending,
            DeliveryState::Sent,
            DeliveryState::Received,
            DeliveryState::Rejected,
            DeliveryState::Rejected,
            DeliveryState::Rejected
        ]
    );
    assert_eq!(
        d[3].reject_reason,
        Some(Refusal::Hub(RejectReason::OtherUnit))
    );
    assert_eq!(d[4].reject_reason, Some(Refusal::UnknownKey));
    assert_eq!(
        d[5].reject_reason,
        Some(Refusal::Other("a_newer_code".into()))
    );
    // What `retryable` said on the codes: no refusal, the key refusals, and only the
    // hub's transient reasons; a code it does not know waits for the clerk.
    let retry: Vec<bool> = d.iter().map(Delivery::retryable).collect();
    assert_eq!(retry, [true, true, true, false, true, false]);
    for (record, d) in OLD_RECORDS.iter().zip(&d) {
        assert_eq!(serde_json::to_string(d).expect("encode"), *record);
    }
}

#[test]
fn every_code_reads_back_as_itself_and_transient_is_the_hubs_word() {
    for r in RejectReason::ALL {
        let refusal = Refusal::from(r.code().to_owned());
        assert_eq!(refusal, Refusal::Hub(r));
        assert_eq!(refusal.transient(), r.transient(), "{r}");
        assert_eq!(refusal.title(), r.title());
    }
    for (code, r) in [
        (UNKNOWN_KEY, Refusal::UnknownKey),
        (CLOSED_KEY, Refusal::ClosedKey),
    ] {
        assert_eq!(Refusal::from(code.to_owned()), r);
        assert_eq!(String::from(r.clone()), code);
        assert!(r.transient());
    }
    assert_eq!(state_vi("received"), "đã có biên nhận");
    assert_eq!(state_vi("?"), "?");
}

#[test]
fn a_stored_schedule_of_the_release_before_decodes() {
    let old = r#"{"failures":2,"next_at_ms":20,"reason":"closed_key","detail":"d","first_at_ms":1,"last_at_ms":5}"#;
    let s: Schedule = serde_json::from_str(old).expect("decodes");
    assert_eq!(s.reason, Refusal::ClosedKey);
    assert_eq!(serde_json::to_string(&s).expect("encode"), old);
}

fn seal(seq: u32) -> Seal {
    let key = UnitKey::from_seed([1; 32]);
    Seal::sign(
        &key,
        SealBody {
            unit: "u".parse().expect("id"),
            session: "s".parse().expect("id"),
            seq,
            heads: vec![[seq as u8; 32]],
            result_digest: [2; 32],
            sealed_at: 3,
            signer: key.public().0,
        },
    )
}

struct Seals(Vec<Seal>);

impl Outbox for Seals {
    fn with_store<T>(
        &self,
        _f: impl FnOnce(&Store) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        unreachable!("the tests pass the store")
    }
    fn sealed(&self, _store: &Store) -> Result<Vec<(String, Seal)>, OutboxError> {
        Ok(self.0.iter().map(|s| ("s".to_owned(), s.clone())).collect())
    }
    fn doc(&self, _store: &Store, _name: &str) -> Result<Option<Vec<u8>>, OutboxError> {
        Ok(None)
    }
}

#[test]
fn reading_deliveries_writes_nothing_and_the_loop_still_makes_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(&dir.path().join("store"), BackendKind::Redb, Duration::ZERO).expect("store");
    let dest = UnitKey::from_seed([9; 32]).public();
    let seals = Seals(vec![seal(1), seal(2)]);
    let prefix = dest_prefix(&dest);
    let read = deliveries_read(&seals, &store, &dest).expect("read");
    assert_eq!(read.len(), 2);
    assert!(read
        .iter()
        .all(|(_, d)| d.state == DeliveryState::Pending && d.retryable()));
    assert!(
        store
            .scan_table(Table::Outbox, &prefix)
            .expect("scan")
            .is_empty(),
        "a reader wrote delivery records"
    );
    deliveries(&seals, &store, &dest).expect("made");
    assert_eq!(
        store
            .scan_table(Table::Outbox, &prefix)
            .expect("scan")
            .len(),
        2
    );
}

struct Holding<'a>(&'a Store, Vec<Seal>);

impl Outbox for Holding<'_> {
    fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        f(self.0)
    }
    fn sealed(&self, _store: &Store) -> Result<Vec<(String, Seal)>, OutboxError> {
        Ok(self.1.iter().map(|s| ("s".to_owned(), s.clone())).collect())
    }
    fn doc(&self, _store: &Store, _name: &str) -> Result<Option<Vec<u8>>, OutboxError> {
        Ok(None)
    }
}

#[test]
fn a_failed_connection_marks_every_open_delivery_and_leaves_a_receipt_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(&dir.path().join("store"), BackendKind::Redb, Duration::ZERO).expect("store");
    let dest = UnitKey::from_seed([9; 32]).public();
    let ob = Holding(&store, vec![seal(1), seal(2), seal(3)]);
    deliveries(&ob, &store, &dest).expect("made");
    // Seal 1 was sent, seal 3 has its receipt.
    update(&store, &dest, "s", 1, |d| d.state = DeliveryState::Sent).expect("sent");
    update(&store, &dest, "s", 3, |d| d.state = DeliveryState::Received).expect("received");
    mark_error(&ob, &dest, "không kết nối được", Some(42)).expect("marked");
    let all = deliveries_read(&ob, &store, &dest).expect("read");
    let errors: Vec<_> = all
        .iter()
        .map(|(_, d)| (d.state, d.last_error.as_deref(), d.next_try_ms))
        .collect();
    assert_eq!(
        errors,
        [
            (DeliveryState::Sent, Some("không kết nối được"), Some(42)),
            (DeliveryState::Pending, Some("không kết nối được"), Some(42)),
            (DeliveryState::Received, None, None),
        ]
    );
}
