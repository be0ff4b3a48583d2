//! Up the tree: districts → province → national council body, and the Party
//! organization department as a second destination, with flaky links at every level.

use serde_json::Value;
use std::time::{Duration, Instant};
use tinnhiem_tests::{netsim, Hub, NodeHome};

const LINK: &[&str] = &["--loss", "20", "--delay-ms", "40", "--dup", "5", "--seed"];

fn results(hub: &Hub) -> Vec<Value> {
    let v: Value = serde_json::from_str(&hub.ok(&["result", "--json"])).expect("json");
    v.as_array().cloned().unwrap_or_default()
}

/// (unit, session, seq) of every seal a hub accepted.
fn seals(hub: &Hub) -> Vec<(String, String, u64)> {
    let mut out: Vec<_> = results(hub)
        .iter()
        .map(|r| {
            (
                r["unit"].as_str().unwrap_or("").to_owned(),
                r["session"].as_str().unwrap_or("").to_owned(),
                r["seal"]["seq"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn district_seals_reach_both_upper_destinations_once_through_flaky_links() {
    let national = Hub::start("quoc-hoi");
    let party = Hub::start("ban-to-chuc-tu");
    let province = Hub::start("lai-chau");
    // Each upper hub knows only its direct child, the province, by hand.
    for upper in [&national, &party] {
        upper.register("lai-chau", &province.key, upper_unit(upper), "province");
    }
    let (_n_link, n_addr) = netsim(national.addr, &[LINK, &["11"]].concat());
    let (_p_link, p_addr) = netsim(party.addr, &[LINK, &["12"]].concat());
    province.forward_to(&national, "quoc-hoi", n_addr);
    province.forward_to(&party, "ban-to-chuc-tu", p_addr);
    let (_d_link, d_addr) = netsim(province.addr, &[LINK, &["13"]].concat());

    let units = [
        "lai-chau.phong-tho",
        "lai-chau.than-uyen",
        "lai-chau.tam-duong",
    ];
    let nodes: Vec<NodeHome> = units
        .iter()
        .map(|u| {
            let n = NodeHome::init(u);
            province.enroll(&n, u);
            n.point_at(d_addr, &province.key);
            n
        })
        .collect();
    for (i, n) in nodes.iter().enumerate() {
        n.seal_session("ky-hop-14", 20 + i as u64);
        n.ok(&["sync", "--once", "--timeout", "60"]);
    }

    // Mid-period, one district rotates its key: the old seal and a new one made with the
    // new key both verify up the tree (the province re-enrolls it with both keys).
    let rotated = &nodes[0];
    let new_key = rotated.rotate_key();
    province.ok(&["registry", "rotate", "--unit", units[0], "--key", &new_key]);
    rotated.seal_session("ky-hop-15", 25);
    rotated.ok(&["sync", "--once", "--timeout", "60"]);

    let expected = seals(&province);
    assert_eq!(expected.len(), 4, "{expected:?}");
    for upper in [&national, &party] {
        wait_for("every district seal upstairs", || seals(upper) == expected);
    }
    // Exactly once: each upper hub stored each seal once and the province holds a
    // receipt from each destination for each seal.
    wait_for("receipts from both destinations", || {
        let d: Value =
            serde_json::from_str(&province.ok(&["destination", "list", "--json"])).expect("json");
        d.as_array().is_some_and(|a| {
            a.len() == 2 && a.iter().all(|x| x["received"] == 4 && x["total"] == 4)
        })
    });
    for upper in [&national, &party] {
        let st = upper.status();
        assert_eq!(st["seals_accepted"], 4, "{st}");
        assert_eq!(st["seals_rejected"], 0, "{st}");
        // An upper hub lists its direct child; the districts count under it.
        assert_eq!(st["units_expected"], 1, "{st}");
        assert_eq!(st["units_reported"], 1, "{st}");
        assert_eq!(st["units"][0]["unit"], "lai-chau", "{st}");
        assert_eq!(st["units"][0]["seals"], 4, "{st}");
        let d: Value = serde_json::from_str(&upper.ok(&["deadlines", "--json"])).expect("json");
        // Every unit reported, but the 2023 sessions arrived long after 15 January
        // 2024: late, naming the unit, never "đủ".
        assert_eq!(d["periods"][0]["state"], "late", "{d}");
        assert_eq!(d["periods"][0]["late"][0]["unit"], "lai-chau", "{d}");
        assert_eq!(d["periods"][0]["missing"].as_array().map(Vec::len), Some(0));
    }
    let st = province.status();
    assert_eq!(st["units_expected"], 3, "{st}");
    assert_eq!(st["destinations"].as_array().map(Vec::len), Some(2), "{st}");
    // The upper hub answers a reviewer's questions about the districts' people.
    let p: Value =
        serde_json::from_str(&national.ok(&["person", "nguyen van a", "--json"])).expect("json");
    assert_eq!(p["people"][0]["places"], 4, "{p}");
    national.ok(&["flagged", "--json"]);
    // The text status names where things went.
    let text = province.ok(&["destination", "list"]);
    assert!(text.contains("quoc-hoi") && text.contains("4/4"), "{text}");

    // The province seals its aggregate of the period; both destinations verify it
    // against the district seals they hold, and receipt it.
    let agg: Value =
        serde_json::from_str(&province.ok(&["aggregate", "seal", "--period", "2023", "--json"]))
            .expect("json");
    assert_eq!(agg["included"].as_array().map(Vec::len), Some(4), "{agg}");
    assert_eq!(agg["missing"].as_array().map(Vec::len), Some(0), "{agg}");
    for upper in [&national, &party] {
        wait_for("the aggregate upstairs", || {
            let l: Value =
                serde_json::from_str(&upper.ok(&["aggregate", "list", "--json"])).expect("json");
            l.as_array().is_some_and(|a| {
                a.iter().any(|x| {
                    x["hub"] == "lai-chau" && x["id"] == agg["id"] && x["received_at"].is_u64()
                })
            })
        });
    }
    wait_for("aggregate receipts at the province", || {
        let d: Value =
            serde_json::from_str(&province.ok(&["destination", "list", "--json"])).expect("json");
        d.as_array()
            .is_some_and(|a| a.iter().all(|x| x["received"] == 5 && x["total"] == 5))
    });

    // A key revoked at the province signs nothing new: its seal is refused there and
    // never travels up.
    let revoked = &nodes[1];
    let key = revoked.ok(&["key", "show"]).trim().to_string();
    province.ok(&["registry", "revoke", "--unit", units[1], "--key", &key]);
    std::thread::sleep(Duration::from_millis(1100));
    revoked.seal_session("sau-thu-hoi", 20);
    let out = revoked.run(&["sync", "--once", "--timeout", "5"]);
    assert!(!out.status.success());
    // The province says it refused that key, and holds nothing of it: there is nothing
    // to forward (no waiting to see that nothing comes).
    let st = province.status();
    let refused = st["refused_keys"].as_array().cloned().unwrap_or_default();
    assert!(
        refused
            .iter()
            .any(|r| r["key"] == key.as_str() && r["revoked"] == true),
        "{st}"
    );
    assert!(
        !seals(&province).iter().any(|(_, s, _)| s == "sau-thu-hoi"),
        "the province accepted a seal of a revoked key"
    );
    assert_eq!(seals(&national).len(), 4);
}

fn upper_unit(h: &Hub) -> &'static str {
    let cfg = std::fs::read_to_string(h.path().join("hub.toml")).expect("hub.toml");
    if cfg.contains("quoc-hoi") {
        "quoc-hoi"
    } else {
        "ban-to-chuc-tu"
    }
}

#[test]
fn a_destination_down_for_a_while_gets_everything_once_and_a_killed_province_resumes() {
    let mut national = Hub::start("quoc-hoi");
    let mut province = Hub::start("lai-chau");
    national.register("lai-chau", &province.key, "quoc-hoi", "province");
    province.forward_to(&national, "quoc-hoi", national.addr);
    national.kill(); // down before anything is sealed

    let nodes: Vec<NodeHome> = (1..=3)
        .map(|i| {
            let u = format!("lai-chau.huyen-{i}");
            let n = NodeHome::init(&u);
            province.enroll(&n, &u);
            n.point_at(province.addr, &province.key);
            n.seal_session("ky-hop-14", 20 + i);
            n.ok(&["sync", "--once", "--timeout", "30"]);
            n
        })
        .collect();
    assert_eq!(seals(&province).len(), 3);
    // The province reports its attempts to reach the destination failing (rather than
    // the test waiting a while and seeing nothing arrive).
    wait_for("the province to report failed forwarding attempts", || {
        let d: Value =
            serde_json::from_str(&province.ok(&["destination", "list", "--json"])).expect("json");
        d[0]["open"]
            .as_array()
            .is_some_and(|o| o.len() == 3 && o.iter().all(|x| x["last_error"].is_string()))
    });
    let d: Value =
        serde_json::from_str(&province.ok(&["destination", "list", "--json"])).expect("json");
    assert_eq!(d[0]["received"], 0, "{d}");
    assert_eq!(d[0]["total"], 3, "{d}");

    // The province is killed (SIGKILL) and restarted while the destination is down;
    // then the destination comes back: everything arrives, once.
    province.kill();
    province.serve(&[]);
    nodes[0].seal_session("ky-hop-15", 22);
    nodes[0].ok(&["sync", "--once", "--timeout", "30"]);
    national.serve(&[]);
    wait_for("everything upstairs", || {
        seals(&national) == seals(&province)
    });
    wait_for("every receipt back", || {
        let d: Value =
            serde_json::from_str(&province.ok(&["destination", "list", "--json"])).expect("json");
        d[0]["received"] == 4
    });
    let st = national.status();
    assert_eq!(st["seals_accepted"], 4, "{st}");
}
