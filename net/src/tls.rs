//! rustls configured for pinned ed25519 keys, and quinn endpoints built on it.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, SubjectPublicKeyInfoDer,
    UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tinnhiem_core::seal::{PublicKey, UnitKey};

/// The ALPN of protocol version 1.
pub const ALPN: &[u8] = b"tinnhiem/1";

/// Transport settings, tuned for links that come and go.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// A connection with no traffic for this long is dropped.
    pub idle_timeout: Duration,
    /// Keep-alive pings, well under the idle timeout and under NAT timeouts.
    pub keep_alive: Duration,
    /// Concurrent bi-streams a peer may open (one per document).
    pub max_streams: u32,
    /// The largest message accepted; a peer that sends more is cut off.
    pub max_message: usize,
    /// A client that hears nothing for this long, not a message and not a single
    /// datagram, drops the connection and reconnects: the path is gone (a NAT rebinding,
    /// a long partition), and QUIC's probe timeout, doubled at every loss, would wait
    /// longer than a fresh connection needs. A connection whose packets still arrive is
    /// kept, however slow: on a 30%-loss link, starting over cost more than waiting
    /// (`tinnhiem-bench --tun`).
    pub stall_after: Duration,
    /// A message begun must be complete within this long: a peer that dribbles a frame
    /// a byte at a time to hold a connection and its memory is cut off.
    pub message_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(1),
            max_streams: 64,
            max_message: 8 << 20,
            stall_after: Duration::from_secs(6),
            message_timeout: Duration::from_secs(60),
        }
    }
}

/// What the hub's registry says of a client key, at the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyVerdict {
    /// A key of a registered unit, valid now.
    Known,
    /// No unit has this key.
    Unknown,
    /// A unit had this key; its window is closed (rotated or revoked).
    Revoked,
}

/// Decides whether a peer key may connect (the hub's registry).
pub type KeyCheck = Arc<dyn Fn(&PublicKey) -> KeyVerdict + Send + Sync>;

/// A client certificate the hub refused during the handshake: the key and the unit
/// its certificate claims (a claim only: the hub knows nothing of this key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedKey {
    /// The key the certificate carries.
    pub key: PublicKey,
    /// The unit named in the certificate, when it names a valid id.
    pub claimed_unit: Option<String>,
    /// Whether the key was once registered (its window closed), not unknown.
    pub revoked: bool,
}

/// Where one connection's verifier leaves the key it refused, for the server driver
/// (which knows the peer's address; a rustls verifier does not).
pub type RefusalSlot = Arc<std::sync::Mutex<Option<RefusedKey>>>;

/// The TLS alert a hub sends for a client key it does not know (`access_denied`); a
/// client that receives it knows the refusal is about its key, not the link.
const ALERT_UNKNOWN_KEY: u8 = 49;
/// The TLS alert for a key whose window is closed (`certificate_revoked`).
const ALERT_REVOKED_KEY: u8 = 44;

const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const SPKI_ED25519_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The self-signed certificate and private key of a unit key. The certificate's common
/// name is the unit the holder speaks for (empty: none named), so that a hub that does
/// not know the key can still say which unit the refused peer claimed to be, and a node
/// which unit its hub is, without a message exchanged.
fn identity(
    key: &UnitKey,
    unit: &str,
) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), String> {
    let mut pkcs8 = PKCS8_ED25519_PREFIX.to_vec();
    pkcs8.extend(key.seed());
    let der = PrivatePkcs8KeyDer::from(pkcs8);
    let kp = rcgen::KeyPair::try_from(&der).map_err(|e| format!("key: {e}"))?;
    let mut params =
        rcgen::CertificateParams::new(vec!["tinnhiem".to_string()]).map_err(|e| e.to_string())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    if !unit.is_empty() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, unit);
    }
    let cert = params
        .self_signed(&kp)
        .map_err(|e| format!("certificate: {e}"))?;
    Ok((cert.der().clone(), PrivateKeyDer::Pkcs8(der)))
}

/// The ed25519 public key a certificate carries.
///
/// We look for the one ed25519 SubjectPublicKeyInfo in the DER. Where we find it does
/// not matter for safety: the handshake signature is then verified against exactly this
/// key, so only a holder of its private key gets through.
pub fn cert_key(cert: &[u8]) -> Option<PublicKey> {
    let at = cert
        .windows(SPKI_ED25519_PREFIX.len())
        .position(|w| w == SPKI_ED25519_PREFIX)?;
    let k: [u8; 32] = cert.get(at + 12..at + 44)?.try_into().ok()?;
    Some(PublicKey(k))
}

/// The unit a certificate names as its common name, if it is a valid unit id.
///
/// A byte scan like [`cert_key`]: the common name's OID, then a short UTF8String or
/// PrintableString. Our certificates are self-signed, so issuer and subject are the same
/// name and the first match is the subject's. It is a claim, never trusted for access.
pub fn cert_unit(cert: &[u8]) -> Option<String> {
    const CN_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x04, 0x03];
    let at = cert.windows(CN_OID.len()).position(|w| w == CN_OID)? + CN_OID.len();
    let tag = *cert.get(at)?;
    let len = usize::from(*cert.get(at + 1)?);
    if !(tag == 0x0c || tag == 0x13) || len >= 0x80 {
        return None;
    }
    let text = std::str::from_utf8(cert.get(at + 2..at + 2 + len)?).ok()?;
    tinnhiem_core::domain::UnitId::new(text).ok()?;
    Some(text.to_owned())
}

fn verify_with_key(
    cert: &CertificateDer<'_>,
    message: &[u8],
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let key = cert_key(cert).ok_or(rustls::Error::InvalidCertificate(
        rustls::CertificateError::BadEncoding,
    ))?;
    let mut spki = SPKI_ED25519_PREFIX.to_vec();
    spki.extend(key.0);
    rustls::crypto::verify_tls13_signature_with_raw_key(
        message,
        &SubjectPublicKeyInfoDer::from(spki),
        dss,
        &provider().signature_verification_algorithms,
    )
}

/// The signature half of both verifiers (server's and client's traits differ only in
/// name here): TLS 1.3 only, ed25519 only, checked against the key the certificate
/// carries.
macro_rules! ed25519_tls13_only {
    () => {
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::PeerIncompatible(
                rustls::PeerIncompatible::Tls12NotOffered,
            ))
        }
        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_with_key(cert, message, dss)
        }
        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ED25519]
        }
    };
}

#[derive(Debug)]
struct PinnedServer(PublicKey);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match cert_key(end) {
            Some(k) if k == self.0 => Ok(ServerCertVerified::assertion()),
            _ => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }
    ed25519_tls13_only!();
}

struct AllowedClients {
    check: KeyCheck,
    refused: Option<RefusalSlot>,
}

impl std::fmt::Debug for AllowedClients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AllowedClients")
    }
}

impl ClientCertVerifier for AllowedClients {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    /// The earliest moment TLS lets a server judge a client: its Certificate message,
    /// before the signature over the handshake and before any application byte. An
    /// unknown key is refused here with `access_denied`, a closed one with
    /// `certificate_revoked`, and the connection's slot says which key it was.
    fn verify_client_cert(
        &self,
        end: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let Some(k) = cert_key(end) else {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadEncoding,
            ));
        };
        let verdict = (self.check)(&k);
        if verdict == KeyVerdict::Known {
            return Ok(ClientCertVerified::assertion());
        }
        if let Some(slot) = &self.refused {
            if let Ok(mut s) = slot.lock() {
                *s = Some(RefusedKey {
                    key: k,
                    claimed_unit: cert_unit(end),
                    revoked: verdict == KeyVerdict::Revoked,
                });
            }
        }
        Err(rustls::Error::InvalidCertificate(match verdict {
            KeyVerdict::Revoked => rustls::CertificateError::Revoked,
            _ => rustls::CertificateError::ApplicationVerificationFailure,
        }))
    }
    ed25519_tls13_only!();
}

fn transport(cfg: &NetConfig) -> Result<quinn::TransportConfig, String> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(cfg.idle_timeout).map_err(|e| e.to_string())?,
    ));
    t.keep_alive_interval(Some(cfg.keep_alive));
    t.max_concurrent_bidi_streams(cfg.max_streams.into());
    t.max_concurrent_uni_streams(0u32.into());
    // Links here are slow and lossy, not long and fat: start from a small RTT guess that
    // the estimator corrects, and keep the defaults for windows.
    t.initial_rtt(Duration::from_millis(300));
    // Path MTU probes cost bytes on every connection and buy little for documents of a
    // few kilobytes; stay at the safe 1200-byte datagrams.
    t.mtu_discovery_config(None);
    Ok(t)
}

/// What a hub needs to accept connections: a base configuration and the means to give
/// each connection its own verifier (whose refusal slot the driver reads).
pub struct ServerTls {
    base: quinn::ServerConfig,
    certified: Arc<rustls::sign::CertifiedKey>,
    allow: KeyCheck,
}

impl ServerTls {
    /// A configuration for one connection, and the slot where its verifier leaves a
    /// refused key. Costs a few allocations: the certificate and its signing key are
    /// shared.
    pub fn for_connection(&self) -> Result<(Arc<quinn::ServerConfig>, RefusalSlot), String> {
        let slot = RefusalSlot::default();
        let tls = server_tls(&self.certified, &self.allow, Some(slot.clone()))?;
        let mut sc = self.base.clone();
        sc.crypto = tls;
        Ok((Arc::new(sc), slot))
    }
}

fn server_tls(
    certified: &Arc<rustls::sign::CertifiedKey>,
    allow: &KeyCheck,
    refused: Option<RefusalSlot>,
) -> Result<Arc<dyn quinn::crypto::ServerConfig>, String> {
    let verifier = AllowedClients {
        check: allow.clone(),
        refused,
    };
    let mut tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(
            certified.clone(),
        )));
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| e.to_string())?;
    Ok(Arc::new(crypto))
}

/// A server endpoint (the hub `unit`) on `listen`, accepting clients whose key passes
/// `allow`; connections are accepted with [`ServerTls::for_connection`].
pub fn server_endpoint(
    key: &UnitKey,
    unit: &str,
    listen: SocketAddr,
    allow: KeyCheck,
    cfg: &NetConfig,
) -> Result<(quinn::Endpoint, ServerTls), String> {
    let (cert, pk) = identity(key, unit)?;
    let certified = Arc::new(
        rustls::sign::CertifiedKey::from_der(vec![cert], pk, &provider())
            .map_err(|e| e.to_string())?,
    );
    let mut sc = quinn::ServerConfig::with_crypto(server_tls(&certified, &allow, None)?);
    sc.transport_config(Arc::new(transport(cfg)?));
    // A Retry token proves the address for this long; a client answers within a round
    // trip, so a short life leaves a replayed token little use.
    sc.retry_token_lifetime(Duration::from_secs(15));
    let ep = quinn::Endpoint::server(sc.clone(), listen)
        .map_err(|e| format!("listen on {listen}: {e}"))?;
    Ok((
        ep,
        ServerTls {
            base: sc,
            certified,
            allow,
        },
    ))
}

/// A client endpoint (a node) that will accept only a server holding `hub`.
pub fn client_endpoint(
    key: &UnitKey,
    hub: PublicKey,
    cfg: &NetConfig,
) -> Result<quinn::Endpoint, String> {
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    client_endpoint_on(key, hub, cfg, any)
}

/// [`client_endpoint`] on a chosen local address (a benchmark gives each simulated
/// district its own).
pub fn client_endpoint_on(
    key: &UnitKey,
    hub: PublicKey,
    cfg: &NetConfig,
    bind: SocketAddr,
) -> Result<quinn::Endpoint, String> {
    client_endpoint_as(key, "", hub, cfg, bind)
}

/// [`client_endpoint_on`] with a certificate naming `unit`: a hub that does not know
/// the key then records which unit asked.
pub fn client_endpoint_as(
    key: &UnitKey,
    unit: &str,
    hub: PublicKey,
    cfg: &NetConfig,
    bind: SocketAddr,
) -> Result<quinn::Endpoint, String> {
    let (cert, pk) = identity(key, unit)?;
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(hub)))
        .with_client_auth_cert(vec![cert], pk)
        .map_err(|e| e.to_string())?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let crypto =
        quinn::crypto::rustls::QuicClientConfig::try_from(tls).map_err(|e| e.to_string())?;
    let mut cc = quinn::ClientConfig::new(Arc::new(crypto));
    cc.transport_config(Arc::new(transport(cfg)?));
    let mut ep = quinn::Endpoint::client(bind).map_err(|e| format!("client socket: {e}"))?;
    ep.set_default_client_config(cc);
    Ok(ep)
}

/// The authenticated key of the peer of a connection.
pub fn peer_key(conn: &quinn::Connection) -> Option<PublicKey> {
    cert_key(&peer_cert(conn)?)
}

/// The unit the peer's certificate names (for a node: its hub's unit, the `--parent`
/// of the registry command it prints when refused).
pub fn peer_unit(conn: &quinn::Connection) -> Option<String> {
    cert_unit(&peer_cert(conn)?)
}

fn peer_cert(conn: &quinn::Connection) -> Option<CertificateDer<'static>> {
    let any = conn.peer_identity()?;
    let certs = any.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certs.first().cloned()
}

/// Why the hub refused this client at the handshake, if it did: the TLS alert its
/// close carries (a close we received, not one we made).
pub fn refusal_of(e: &quinn::ConnectionError) -> Option<KeyVerdict> {
    let quinn::ConnectionError::ConnectionClosed(c) = e else {
        return None;
    };
    if c.error_code == quinn::TransportErrorCode::crypto(ALERT_UNKNOWN_KEY) {
        Some(KeyVerdict::Unknown)
    } else if c.error_code == quinn::TransportErrorCode::crypto(ALERT_REVOKED_KEY) {
        Some(KeyVerdict::Revoked)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_carries_the_unit_key() {
        let k = UnitKey::from_seed([5; 32]);
        let (cert, _) = identity(&k, "lai-chau.phong-tho_01").expect("cert");
        assert_eq!(cert_key(&cert), Some(k.public()));
        assert_eq!(cert_unit(&cert).as_deref(), Some("lai-chau.phong-tho_01"));
        assert_eq!(cert_key(b"garbage"), None);
        let (anon, _) = identity(&k, "").expect("cert");
        assert_eq!(cert_unit(&anon), None);
        assert_eq!(cert_key(&anon), Some(k.public()));
        // A name that is not a unit id is no claim at all.
        assert_eq!(
            cert_unit(&[0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 3, b'a', b'/', b'b']),
            None
        );
        assert_eq!(
            cert_unit(&[0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 9, b'a']),
            None
        );
    }
}
