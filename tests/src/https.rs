//! The baseline our sync is measured against: each district uploads its whole saved
//! document and seal in one HTTPS POST (HTTP/1.1 over TLS 1.3 over TCP, hyper and
//! rustls), retried from scratch until a receipt comes back, as a plain web service
//! would do it.
//!
//! The server does what the hub does with a delivery, minus the transparency log:
//! checks the seal against the document (signature, heads, recomputed result), writes
//! the document durably (fsync) and answers with a signed receipt (64 bytes). It trusts
//! any client (no client certificate, no registry), which only makes it cheaper than
//! ours.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::seal::{check, Seal, UnitKey};

/// The body of an upload: the seal's length (4 bytes, big endian), the seal, the document.
pub fn body(seal: &Seal, doc: &[u8]) -> Vec<u8> {
    let s = seal.to_bytes();
    let mut b = Vec::with_capacity(4 + s.len() + doc.len());
    b.extend_from_slice(&(s.len() as u32).to_be_bytes());
    b.extend_from_slice(&s);
    b.extend_from_slice(doc);
    b
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A self-signed certificate for `ip` and its key.
pub fn certificate(ip: IpAddr) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>)> {
    let key = rcgen::KeyPair::generate().context("certificate key")?;
    let params = rcgen::CertificateParams::new(vec![ip.to_string()]).context("params")?;
    let cert = params.self_signed(&key).context("self-sign")?;
    Ok((
        cert.der().clone(),
        PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    ))
}

/// A client configuration that trusts only `cert` (pinned, as our nodes pin the hub).
pub fn client_config(cert: &CertificateDer<'static>) -> Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).context("trust the server")?;
    let c = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(c))
}

/// Serves uploads on `listener` until the runtime ends; documents go under `dir`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cert: CertificateDer<'static>,
    pk: PrivateKeyDer<'static>,
    dir: PathBuf,
    key: UnitKey,
) -> Result<()> {
    let tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![cert], pk)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let key = Arc::new(key);
    loop {
        let (tcp, _) = listener.accept().await?;
        let (acceptor, dir, key) = (acceptor.clone(), dir.clone(), key.clone());
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(60), acceptor.accept(tcp)).await
            else {
                return;
            };
            let svc = hyper::service::service_fn(move |req| {
                let (dir, key) = (dir.clone(), key.clone());
                async move { Ok::<_, std::convert::Infallible>(handle(req, &dir, &key).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

async fn handle(
    req: Request<hyper::body::Incoming>,
    dir: &std::path::Path,
    key: &UnitKey,
) -> Response<Full<Bytes>> {
    let reply = |code: StatusCode, b: Vec<u8>| {
        let mut r = Response::new(Full::new(Bytes::from(b)));
        *r.status_mut() = code;
        r
    };
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes()) else {
        return reply(StatusCode::BAD_REQUEST, b"body".to_vec());
    };
    match accept(&body, dir).await {
        Ok(id) => reply(StatusCode::OK, key.sign(&id).to_bytes().to_vec()),
        Err(e) => reply(StatusCode::UNPROCESSABLE_ENTITY, e.to_string().into_bytes()),
    }
}

async fn accept(body: &[u8], dir: &std::path::Path) -> Result<[u8; 32]> {
    let n = u32::from_be_bytes(body.get(..4).context("short")?.try_into()?) as usize;
    let seal = Seal::from_bytes(body.get(4..4 + n).context("short")?)?;
    let doc = body.get(4 + n..).context("short")?.to_vec();
    let mut d = SessionDoc::load(&doc, b"https")?;
    check(&seal, &mut d).map_err(|e| anyhow::anyhow!("{e}"))?;
    let path = dir.join(format!(
        "{}-{}.automerge",
        seal.body.unit, seal.body.session
    ));
    tokio::task::spawn_blocking(move || -> Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&doc)?;
        f.sync_all()?;
        Ok(())
    })
    .await??;
    Ok(seal.id())
}

/// One attempt: connect from `from`, TLS, POST, read the receipt; `limit` bounds it all.
pub async fn upload(
    to: SocketAddr,
    from: IpAddr,
    tls: Arc<rustls::ClientConfig>,
    body: Vec<u8>,
    limit: Duration,
) -> Result<()> {
    tokio::time::timeout(limit, async move {
        let sock = tokio::net::TcpSocket::new_v4()?;
        sock.bind(SocketAddr::new(from, 0))?;
        let tcp = sock.connect(to).await?;
        tcp.set_nodelay(true)?;
        let tls = tokio_rustls::TlsConnector::from(tls)
            .connect(ServerName::IpAddress(to.ip().into()), tcp)
            .await?;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let req = Request::post("/seal")
            .header("host", to.ip().to_string())
            .header("content-type", "application/octet-stream")
            .body(Full::new(Bytes::from(body)))?;
        let resp = send.send_request(req).await?;
        let ok = resp.status() == StatusCode::OK;
        let got = resp.into_body().collect().await?.to_bytes();
        if !ok || got.len() != 64 {
            bail!("refused: {}", String::from_utf8_lossy(&got));
        }
        Ok(())
    })
    .await
    .context("attempt timed out")?
}
