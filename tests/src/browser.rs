//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, installed by `.ci/run`), and the node's web server as a process.
//!
//! Each [`Browser`] starts its own `chromedriver` on a free loopback port and one
//! Chromium session, so two browsers are two independent people. Screenshots go to
//! `$TINNHIEM_SCREENSHOTS` when set (the README's pictures come from there).

use crate::{bin, web_base, NodeHome, Proc};
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::BufRead;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian puts them.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// One browser.
pub struct Browser {
    /// The WebDriver session.
    pub c: Client,
    _driver: Group,
    port: u16,
}

/// chromedriver in a process group of its own, with the Chromium it starts: a test that
/// fails before [`Browser::close`] leaves no browser behind.
struct Group(Proc);

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0 .0.id())])
            .stderr(Stdio::null())
            .status();
    }
}

/// The port chromedriver chose (`--port=0`), from its line "ChromeDriver was started
/// successfully on port N." (it listens by then); its stdout is drained afterwards.
fn driver_port(out: std::process::ChildStdout) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let port = line
                .split("started successfully on port ")
                .nth(1)
                .and_then(|p| p.trim_end_matches('.').trim().parse::<u16>().ok());
            if let Some(p) = port {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(p);
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(20))
        .expect("chromedriver did not say it started")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium. Fails the test, saying what to
    /// install, when they are missing.
    pub async fn start() -> Browser {
        Browser::start_in("vi-VN").await
    }

    /// Starts one whose interface and number formats are `lang`'s (`en-US`: a number
    /// input there reads "1,5" as 15, which is why count fields are text).
    pub async fn start_in(lang: &str) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "browser tests need Chromium: apt-get install chromium chromium-driver (.ci/run does)"
        );
        // fantoccini's HTTP client is built with rustls; this workspace's provider is ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut child = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let out = child.stdout.take().expect("chromedriver's stdout");
        let driver = Proc(child);
        let port = driver_port(out);
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "prefs": {"intl.accept_languages": lang},
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,1000", format!("--lang={lang}"), "--no-first-run",
                         "--disable-extensions", "--password-store=basic"],
            }),
        );
        // The console, so that a test can see what the Content-Security-Policy refused.
        caps.insert(
            "goog:loggingPrefs".into(),
            serde_json::json!({"browser": "ALL"}),
        );
        let c = ClientBuilder::rustls()
            .expect("rustls client")
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("connect to chromedriver");
        Browser {
            c,
            _driver: Group(driver),
            port,
        }
    }

    /// The console messages since the last call in which the browser reports a
    /// Content-Security-Policy refusal (chromedriver's log endpoint, which fantoccini
    /// does not wrap).
    pub async fn csp_violations(&self) -> Vec<String> {
        let sid = self
            .c
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let base = format!("http://127.0.0.1:{}", self.port);
        let body = br#"{"type":"browser"}"#;
        let path = format!("/session/{sid}/se/log");
        let r = tokio::task::spawn_blocking(move || {
            crate::http::request(
                &base,
                "POST",
                &path,
                &[("Content-Type", "application/json")],
                body,
            )
        })
        .await
        .expect("log request");
        assert_eq!(r.status, 200, "chromedriver log: {}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("log JSON");
        v["value"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["message"].as_str())
            .filter(|m| m.contains("Content Security Policy"))
            .map(str::to_string)
            .collect()
    }

    /// Runs one Chrome DevTools Protocol command through chromedriver (its
    /// `goog/cdp/execute` endpoint, which fantoccini does not wrap); returns its result.
    pub async fn cdp(&self, cmd: &str, params: serde_json::Value) -> serde_json::Value {
        let sid = self
            .c
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        let base = format!("http://127.0.0.1:{}", self.port);
        let body =
            serde_json::to_vec(&serde_json::json!({"cmd": cmd, "params": params})).expect("json");
        let path = format!("/session/{sid}/goog/cdp/execute");
        let r = tokio::task::spawn_blocking(move || {
            crate::http::request(
                &base,
                "POST",
                &path,
                &[("Content-Type", "application/json")],
                &body,
            )
        })
        .await
        .expect("cdp request");
        assert_eq!(r.status, 200, "cdp {cmd}: {}", r.text());
        let v: serde_json::Value = serde_json::from_slice(&r.body).expect("cdp JSON");
        v["value"].clone()
    }

    /// The page printed to PDF as Chromium prints it (`Page.printToPDF`), with the
    /// page's own `@page` size and margins; `pages` is a range such as `"2"`, or empty
    /// for all.
    pub async fn print_pdf(&self, pages: &str) -> Vec<u8> {
        let v = self
            .cdp(
                "Page.printToPDF",
                serde_json::json!({"preferCSSPageSize": true, "printBackground": true,
                                   "pageRanges": pages}),
            )
            .await;
        base64_decode(v["data"].as_str().expect("PDF data"))
    }

    /// Writes the counting board on the session page's "Thông tin" tab (sealing waits
    /// for it) and waits until it is saved.
    pub async fn fill_board(&self, chair: &str, members: &[&str], from: &str, to: &str) {
        self.click("#tab-link-setup").await;
        self.fill("#board input[name=chair]", chair).await;
        self.fill("#board input[name=from]", from).await;
        self.fill("#board input[name=to]", to).await;
        self.fill("#board textarea[name=members]", &members.join("\n"))
            .await;
        self.click("#board-go").await;
        self.wait_text("#tab-setup .msg", "Đã ghi ban kiểm phiếu", 30)
            .await;
    }

    /// Opens `url`.
    pub async fn go(&self, url: &str) {
        self.c.goto(url).await.expect("goto");
    }

    /// Signs in on the login page at `base`.
    pub async fn login(&self, base: &str, user: &str, password: &str) {
        self.go(&format!("{base}/login")).await;
        self.fill("#user", user).await;
        self.fill("#password", password).await;
        self.click("#login").await;
        self.wait_for("#who").await;
    }

    /// Waits (up to 30 s) for an element.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// Replaces the value of an input.
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.wait_for(css).await;
        e.clear().await.expect("clear");
        e.send_keys(text).await.expect("type");
    }

    /// Sets an input's value as its own widget would (a date field takes its keys in
    /// the browser's locale order, which a test should not depend on).
    pub async fn set_value(&self, css: &str, value: &str) {
        self.wait_for(css).await;
        self.c
            .execute(
                "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
                 e.dispatchEvent(new Event('input', {bubbles: true}));",
                vec![css.into(), value.into()],
            )
            .await
            .expect("set value");
    }

    /// Clicks an element. A page that redraws between finding and clicking (they poll)
    /// leaves a stale reference: find it again, a few times.
    pub async fn click(&self, css: &str) {
        for attempt in 0.. {
            match self.wait_for(css).await.click().await {
                Ok(()) => return,
                Err(e) if attempt < 5 && e.to_string().to_lowercase().contains("stale") => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    /// Types into whatever has the focus (what a person at a keyboard does).
    pub async fn keys(&self, text: &str) {
        self.c
            .active_element()
            .await
            .expect("focused element")
            .send_keys(text)
            .await
            .expect("keys");
    }

    /// The text of an element.
    pub async fn text(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.expect("text")
    }

    /// Waits (up to `secs`) until the text of `css` contains `want`; returns it.
    pub async fn wait_text(&self, css: &str, want: &str, secs: u64) -> String {
        let t0 = Instant::now();
        loop {
            let now = match self.c.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if now.contains(want) {
                return now;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(secs),
                "{css}: waited {secs} s for «{want}», text is «{now}»"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Saves a screenshot as `$TINNHIEM_SCREENSHOTS/NAME.png` when that is set.
    pub async fn shot(&self, name: &str) {
        let Ok(dir) = std::env::var("TINNHIEM_SCREENSHOTS") else {
            return;
        };
        let png = self.c.screenshot().await.expect("screenshot");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png)
            .expect("write screenshot");
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.c.close().await;
    }
}

/// Standard base64 (RFC 4648), as CDP returns binary data; whitespace skipped.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = s.bytes().filter_map(val).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for c in digits.chunks(4) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | d << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..c.len()]);
    }
    out
}

/// The number of pages of a PDF as Chromium writes it (one `/Type /Page` object each).
pub fn pdf_pages(pdf: &[u8]) -> usize {
    let text = String::from_utf8_lossy(pdf);
    text.match_indices("/Type /Page")
        .filter(|(i, m)| {
            !text[i + m.len()..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic())
        })
        .count()
}

/// Whether a PDF draws any text: Chromium embeds a font only for text it draws, so a
/// page whose text is all `visibility: hidden` has none.
pub fn pdf_has_text(pdf: &[u8]) -> bool {
    String::from_utf8_lossy(pdf).contains("/Type /Font")
}

/// `tinnhiem-node serve --http` on a free port of a home; its base URL.
pub struct NodeWeb {
    _proc: Proc,
    _stdout: std::process::ChildStdout,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl NodeWeb {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self._proc.0.id()
    }
}

impl NodeHome {
    /// Adds a web account.
    pub fn user(&self, name: &str, role: &str, password: &str) {
        let out = Command::new(bin("tinnhiem-node"))
            .arg("--home")
            .arg(self.path())
            .args(["user", "add", name, "--role", role])
            .env("TINNHIEM_PASSWORD", password)
            .output()
            .expect("user add");
        assert!(out.status.success(), "{out:?}");
    }

    /// Starts the clerk's web pages (and, with `sync`, delivery to the hub).
    pub fn web(&self, sync: bool) -> NodeWeb {
        let mut cmd = Command::new(bin("tinnhiem-node"));
        cmd.arg("--home")
            .arg(self.path())
            .args(["serve", "--http", "127.0.0.1:0"]);
        if sync {
            cmd.arg("--sync");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(self.path().join("web.log")).expect("log"))
            .spawn()
            .expect("spawn node serve");
        let out = child.stdout.take().expect("stdout");
        let mut r = std::io::BufReader::new(out);
        let mut base = None;
        for _ in 0..5 {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            if let Some(b) = web_base(&line) {
                base = Some(b);
                break;
            }
        }
        NodeWeb {
            _proc: Proc(child),
            _stdout: r.into_inner(),
            base: base.expect("node serve prints its URL"),
        }
    }
}
