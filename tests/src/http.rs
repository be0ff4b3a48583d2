//! A plain HTTP/1.1 client over a TCP socket, for tests that must send exactly what an
//! attacker or a scraper would: any method, any header (a forged `Origin`), any body.
//! One request per connection (`Connection: close`).

use std::io::{Read, Write};
use std::time::Duration;

/// An answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Header names in lower case, values as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Reply {
    /// Parses a whole HTTP/1.1 response.
    pub fn parse(raw: &[u8]) -> Option<Reply> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let rest = &raw[end + 4..];
        let chunked = headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
        let body = if chunked {
            dechunk(rest)?
        } else {
            rest.to_vec()
        };
        Some(Reply {
            status,
            headers,
            body,
        })
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value a `Set-Cookie` gives cookie `name` (empty when it clears it).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next()?.split_once('='))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
    }
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// The bytes of a request to `base` (`http://HOST:PORT`), with `Host`, `Connection:
/// close` and `Content-Length` added.
pub fn raw(base: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let host = base.trim_start_matches("http://");
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Sends one request and reads the whole answer.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let host = base.trim_start_matches("http://");
    let mut s =
        std::net::TcpStream::connect(host).unwrap_or_else(|e| panic!("connect {host}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    s.write_all(&raw(base, method, path, headers, body))
        .expect("send request");
    // Read to the end, or to Content-Length (chromedriver keeps connections open).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut chunk).expect("read answer");
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let length = std::str::from_utf8(&buf[..end])
                .unwrap_or("")
                .split("\r\n")
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok());
            if length.is_some_and(|l| buf.len() >= end + 4 + l) {
                break;
            }
        }
    }
    Reply::parse(&buf).unwrap_or_else(|| {
        panic!(
            "{method} {path}: not an HTTP answer: {:?}",
            String::from_utf8_lossy(&buf)
        )
    })
}

/// `GET` with headers.
pub fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    request(base, "GET", path, headers, b"")
}

/// A urlencoded form value (everything but unreserved characters escaped).
pub fn form_value(s: &str) -> String {
    let mut o = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// Signs in through the login form as a browser on this origin would: the login page
/// (its cookie and hidden token), then the form. Returns the session cookie and the
/// session's anti-forgery token (read from the page's `<meta>`).
pub fn login(base: &str, user: &str, password: &str) -> (String, String) {
    login_from(base, user, password, None)
}

/// [`login`] from another address, named in `X-Forwarded-For` (the server believes it
/// from a proxy on its own machine, as this test client is).
pub fn login_from(
    base: &str,
    user: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> (String, String) {
    let page = get(base, "/login", &[]);
    let lt = page.cookie("tinnhiem_login").expect("login cookie");
    let body = format!(
        "csrf={lt}&next=%2F&user={}&password={}",
        form_value(user),
        form_value(password)
    );
    let cookie = format!("tinnhiem_login={lt}");
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Origin", base),
        ("Sec-Fetch-Site", "same-origin"),
        ("Cookie", &cookie),
    ];
    if let Some(a) = forwarded_for {
        headers.push(("X-Forwarded-For", a));
    }
    let r = request(base, "POST", "/login", &headers, body.as_bytes());
    assert_eq!(r.status, 303, "login as {user}: {}", r.text());
    let session = r.cookie("tinnhiem_session").expect("session cookie");
    let jar = format!("tinnhiem_session={session}");
    let mut home = get(base, "/", &[("Cookie", &jar)]);
    if (300..400).contains(&home.status) {
        let to = home.header("location").unwrap_or("/").to_string();
        home = get(base, &to, &[("Cookie", &jar)]);
    }
    let html = home.text();
    let csrf = html
        .split("<meta name=\"csrf\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no csrf meta in the page: {html}"))
        .to_string();
    (session, csrf)
}

/// How a flood of wrong logins is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flood {
    /// One address, one account: a guesser after one clerk's password.
    OneAccount,
    /// Every attempt another account and, through `X-Forwarded-For` (which the server
    /// believes from a proxy on its own machine), another address: many machines.
    ManyMachines,
}

/// Sends `n` wrong logins at once to `base` (all connections opened first, then every
/// request written together) and returns the status of each answer (0: no answer).
pub async fn flood(base: &str, n: usize, how: Flood) -> Vec<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let page = get(base, "/login", &[]);
    let lt = page.cookie("tinnhiem_login").expect("login cookie");
    let host = base.trim_start_matches("http://").to_string();
    let go = std::sync::Arc::new(tokio::sync::Barrier::new(n));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (user, addr) = match how {
            Flood::OneAccount => ("lan".to_string(), None),
            Flood::ManyMachines => (
                format!("may-{i}"),
                Some(format!(
                    "10.{}.{}.{}",
                    (i >> 16) & 255,
                    (i >> 8) & 255,
                    i & 255
                )),
            ),
        };
        let body = format!("csrf={lt}&next=%2F&user={user}&password=sai-mat-khau-{i}");
        let cookie = format!("tinnhiem_login={lt}");
        let mut headers = vec![
            (
                "Content-Type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("Origin", base.to_string()),
            ("Cookie", cookie),
        ];
        if let Some(a) = addr {
            headers.push(("X-Forwarded-For", a));
        }
        let hs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let req = raw(base, "POST", "/login", &hs, body.as_bytes());
        let (host, go) = (host.clone(), go.clone());
        tasks.push(tokio::spawn(async move {
            let s = tokio::net::TcpStream::connect(&host).await;
            go.wait().await;
            let mut s = match s {
                Ok(s) => s,
                Err(_) => return 0,
            };
            if s.write_all(&req).await.is_err() {
                return 0;
            }
            let mut buf = Vec::new();
            let read =
                tokio::time::timeout(Duration::from_secs(300), s.read_to_end(&mut buf)).await;
            match read {
                Ok(Ok(_)) => Reply::parse(&buf).map_or(0, |r| r.status),
                _ => 0,
            }
        }));
    }
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap_or(0));
    }
    out
}

/// The peak resident memory of a process so far (VmHWM), in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
