//! A stop (SIGTERM, as systemd sends) drains the node's pages: a request already being
//! answered gets its whole answer, then the process exits 0. Before, the web server was
//! aborted, and a request in flight got a closed connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tinnhiem_tests::{bin, web_base, NodeHome, Proc};

fn http_host(base: &str) -> &str {
    base.trim_start_matches("http://")
}

#[test]
fn sigterm_answers_the_request_in_flight_then_exits_0() {
    let home = NodeHome::init("huyen-a");
    let mut serve = Proc(
        Command::new(bin("tinnhiem-node"))
            .args(["--home"])
            .arg(home.path())
            .args(["serve", "--http", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve"),
    );
    let mut lines = BufReader::new(serve.0.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines
            .next()
            .expect("serve printed its address")
            .expect("line");
        if let Some(b) = web_base(&line) {
            break b;
        }
    };
    let host = http_host(&base).to_owned();
    let mut conn = TcpStream::connect(&host).expect("connect");
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    // The request's head is on its way, not finished, when the stop comes.
    conn.write_all(format!("GET /login HTTP/1.1\r\nHost: {host}\r\n").as_bytes())
        .expect("head");
    conn.flush().expect("flush");
    // The server has the connection once it answers another request on a second one.
    let mut probe = TcpStream::connect(&host).expect("probe");
    probe
        .write_all(
            format!("GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .expect("probe");
    let mut answer = String::new();
    probe.read_to_string(&mut answer).expect("probe answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let pid = serve.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    conn.write_all(b"Connection: close\r\n\r\n").expect("rest");
    let mut answer = String::new();
    conn.read_to_string(&mut answer).expect("answer");
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("</html>"),
        "the request in flight was cut off: {answer:?}"
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = serve.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "serve did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    // No new connection is taken once stopped.
    assert!(TcpStream::connect(&host).is_err());
}
