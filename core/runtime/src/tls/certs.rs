//! A TLS listener's certificates and the server config that serves them: SNI picks the
//! certificate whose names hold the requested one (exact names first, then `*.` names for one
//! more label), and the first certificate serves everything else.

use std::path::Path;
use std::sync::Arc;

use ahash::AHashMap;
use gw_program::{CertKey, ClientAuth, TlsConfig, UnknownSni};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{
    ClientHello, ProducesTickets, ResolvesServerCert, StoresServerSessions, WebPkiClientVerifier,
};
use rustls::sign::CertifiedKey;

/// The certificates of one listener, found by name.
#[derive(Debug)]
struct CertStore {
    /// In `tls { }` order; the first is the default.
    keys: Vec<Arc<CertifiedKey>>,
    /// Lower-case DNS name -> index in `keys` (the first certificate naming it).
    exact: AHashMap<String, usize>,
    /// The part after `*.` of a wildcard name -> index in `keys`.
    wildcard: AHashMap<String, usize>,
    /// `unknown_sni reject`: a name no certificate has (or none) gets no certificate, and
    /// rustls ends the handshake with an alert.
    reject_unknown: bool,
}

impl CertStore {
    fn add(&mut self, key: CertifiedKey) -> Result<(), String> {
        let i = self.keys.len();
        let end = key.end_entity_cert().map_err(|e| e.to_string())?;
        let cert = webpki::EndEntityCert::try_from(end).map_err(|e| e.to_string())?;
        for name in cert.valid_dns_names() {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(parent) => self.wildcard.entry(parent.to_owned()).or_insert(i),
                None => self.exact.entry(name).or_insert(i),
            };
        }
        self.keys.push(Arc::new(key));
        Ok(())
    }

    /// The certificate for a client's SNI name, if one has it.
    fn find(&self, name: &str) -> Option<usize> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(&i) = self.exact.get(&name) {
            return Some(i);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent).copied()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        match hello.server_name().and_then(|n| self.find(n)) {
            Some(i) => self.keys.get(i).cloned(),
            None if self.reject_unknown => None,
            None => self.keys.first().cloned(),
        }
    }
}

/// What lets a client resume a TLS session with any worker, before and after a reload: one
/// ticket key set (TLS 1.2 and 1.3 tickets) and one session cache (TLS 1.2 session ids),
/// made when gw starts and handed from each config to the next.
#[derive(Debug)]
pub struct Resumption {
    ticketer: Arc<dyn ProducesTickets>,
    sessions: Arc<dyn StoresServerSessions>,
}

/// Sessions the cache of TLS 1.2 session ids holds (rustls drops the oldest beyond it).
const SESSIONS: usize = 4096;

impl Resumption {
    /// Fresh random ticket keys, rotated every 6 hours; a ticket is accepted while its key is
    /// the current or the previous one, so for 6 to 12 hours.
    pub fn new() -> Result<Resumption, String> {
        Ok(Resumption {
            ticketer: rustls::crypto::ring::Ticketer::new().map_err(|e| e.to_string())?,
            sessions: rustls::server::ServerSessionMemoryCache::new(SESSIONS),
        })
    }
}

/// The rustls config of a `tls { }` block: its certificate files read and checked (each key
/// must match its certificate), TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`, client certificates
/// verified against `client_ca` when it is set, sessions resumed with `resumption`'s tickets.
pub fn server_config(
    t: &TlsConfig,
    resumption: &Resumption,
) -> Result<Arc<rustls::ServerConfig>, String> {
    let provider = super::provider();
    let mut store = CertStore {
        keys: Vec::with_capacity(t.certs.len()),
        exact: AHashMap::new(),
        wildcard: AHashMap::new(),
        reject_unknown: t.unknown_sni == UnknownSni::Reject,
    };
    for ck in &t.certs {
        let key = certified_key(ck, &provider)?;
        store
            .add(key)
            .map_err(|e| format!("{}: {e}", ck.cert.display()))?;
    }
    let builder = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let builder = match &t.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| format!("client_ca {}: {e}", ca.display()))?;
            }
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), super::provider());
            let verifier = match t.client_auth {
                ClientAuth::Required => verifier,
                ClientAuth::Optional => verifier.allow_unauthenticated(),
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("client_ca {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(store));
    config.ticketer = resumption.ticketer.clone();
    config.session_storage = resumption.sessions.clone();
    // h2 first: a client that speaks both gets HTTP/2 (served by `crate::h2`)
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Largest OCSP response file read (a response for one certificate is a few KiB).
const MAX_OCSP: u64 = 64 * 1024;

/// A certificate chain and its key, read from their PEM files, with the OCSP response to
/// staple when the pair names one.
fn certified_key(ck: &CertKey, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let chain = read_certs(&ck.cert)?;
    let key = PrivateKeyDer::from_pem_file(&ck.key)
        .map_err(|e| format!("{}: no private key: {e}", ck.key.display()))?;
    let mut certified = CertifiedKey::from_der(chain, key, provider)
        .map_err(|e| format!("{} with {}: {e}", ck.cert.display(), ck.key.display()))?;
    if let Some(path) = &ck.ocsp {
        certified.ocsp = Some(read_ocsp(path)?);
    }
    Ok(certified)
}

/// An OCSP response file: DER (`openssl ocsp -respout`), so it must open with a SEQUENCE.
/// Its content is the responder's word and is stapled as it is; a stale one is the clients'
/// to refuse, as with any server that staples.
fn read_ocsp(path: &Path) -> Result<Vec<u8>, String> {
    let bad = |why: &str| format!("ocsp {}: {why}", path.display());
    let len = std::fs::metadata(path)
        .map_err(|e| bad(&e.to_string()))?
        .len();
    if len > MAX_OCSP {
        return Err(bad("larger than 64 KiB"));
    }
    let der = std::fs::read(path).map_err(|e| bad(&e.to_string()))?;
    match der.first() {
        Some(0x30) => Ok(der),
        _ => Err(bad("not a DER OCSP response")),
    }
}

/// Every certificate of a PEM file (at least one).
pub(super) fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in the file", path.display()));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(names: &[&[&str]]) -> CertStore {
        let mut s = CertStore {
            keys: Vec::new(),
            exact: AHashMap::new(),
            wildcard: AHashMap::new(),
            reject_unknown: false,
        };
        for (i, list) in names.iter().enumerate() {
            for n in *list {
                match n.strip_prefix("*.") {
                    Some(p) => s.wildcard.entry(p.to_owned()).or_insert(i),
                    None => s.exact.entry((*n).to_owned()).or_insert(i),
                };
            }
        }
        s
    }

    #[test]
    fn exact_names_win_over_wildcards_and_wildcards_cover_one_label() {
        let s = store(&[&["a.example.com"], &["*.example.com"], &["b.example.com"]]);
        assert_eq!(s.find("a.example.com"), Some(0));
        assert_eq!(s.find("B.Example.com."), Some(2));
        assert_eq!(s.find("c.example.com"), Some(1));
        assert_eq!(s.find("x.c.example.com"), None);
        assert_eq!(s.find("example.com"), None);
        assert_eq!(s.find("other.org"), None);
    }
}
