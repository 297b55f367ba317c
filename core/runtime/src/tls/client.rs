//! TLS to upstream servers (`server host:443 tls …`): one rustls client config per server,
//! built when a config loads (every file read there): the server's certificate verified
//! against its `ca` or the system's trusted CAs, the name sent as SNI and checked, gw's own
//! certificate for a server that asks for one.

use std::sync::Arc;

use gw_program::ServerTls;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How gw connects to one TLS server.
#[derive(Debug)]
pub struct UpstreamTls {
    pub config: Arc<rustls::ClientConfig>,
    /// Sent as SNI (a DNS name; an IP address sends none) and verified.
    pub name: ServerName<'static>,
    /// What the config said, so a reload keeps pooled connections only for the same settings.
    pub spec: ServerTls,
}

/// The system's trusted CAs, read at most once per load and only when a server needs them.
#[derive(Default)]
pub struct SystemRoots(Option<Arc<RootCertStore>>);

impl SystemRoots {
    fn get(&mut self) -> Result<Arc<RootCertStore>, String> {
        if let Some(r) = &self.0 {
            return Ok(r.clone());
        }
        let found = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            let why = found
                .errors
                .first()
                .map_or_else(|| "none found".to_owned(), |e| e.to_string());
            return Err(format!("no system CA certificates ({why})"));
        }
        let roots = Arc::new(roots);
        self.0 = Some(roots.clone());
        Ok(roots)
    }
}

/// The client config of one `server HOST:PORT tls …`: TLS 1.2 and 1.3, ALPN `http/1.1`,
/// session resumption (tickets kept in memory, shared by every worker).
pub fn upstream_tls(
    host: &str,
    t: &ServerTls,
    system: &mut SystemRoots,
) -> Result<UpstreamTls, String> {
    let provider = super::provider();
    let name_text = t.sni.as_deref().unwrap_or(host);
    let name = ServerName::try_from(name_text.to_owned())
        .map_err(|_| format!("`{name_text}` is not a DNS name or an IP address"))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?;
    let builder = if !t.verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    } else {
        let roots = match &t.ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in super::certs::read_certs(ca)? {
                    roots
                        .add(c)
                        .map_err(|e| format!("ca {}: {e}", ca.display()))?;
                }
                Arc::new(roots)
            }
            None => system.get().map_err(|e| format!("{e}: name a `ca`"))?,
        };
        builder.with_root_certificates(roots)
    };
    let mut config = match &t.client_cert {
        None => builder.with_no_client_auth(),
        Some(ck) => {
            let chain = super::certs::read_certs(&ck.cert)?;
            let key = PrivateKeyDer::from_pem_file(&ck.key)
                .map_err(|e| format!("{}: no private key: {e}", ck.key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("{} with {}: {e}", ck.cert.display(), ck.key.display()))?
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(UpstreamTls {
        config: Arc::new(config),
        name,
        spec: t.clone(),
    })
}

/// The client config of plugins' `https://` calls (a JWKS URL, an authorizer): TLS 1.2 and
/// 1.3, ALPN `http/1.1`, the server verified against the system's trusted CAs (which
/// `SSL_CERT_FILE` and `SSL_CERT_DIR` replace, as for OpenSSL) for the URL's host.
pub fn plugin_tls(system: &mut SystemRoots) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut config = rustls::ClientConfig::builder_with_provider(super::provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(system.get()?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// `verify off`: any certificate, for any name, is accepted; the handshake's signatures are
/// still checked, so the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(sni: Option<&str>) -> ServerTls {
        ServerTls {
            sni: sni.map(str::to_owned),
            ca: None,
            client_cert: None,
            verify: false,
        }
    }

    #[test]
    fn the_name_is_the_sni_else_the_host() {
        let mut roots = SystemRoots::default();
        let t = upstream_tls("10.0.0.1", &spec(None), &mut roots).unwrap();
        assert!(matches!(t.name, ServerName::IpAddress(_)));
        let t = upstream_tls("10.0.0.1", &spec(Some("api.internal")), &mut roots).unwrap();
        assert_eq!(t.name.to_str(), "api.internal");
        let t = upstream_tls("up.internal", &spec(None), &mut roots).unwrap();
        assert_eq!(t.name.to_str(), "up.internal");
        let err = upstream_tls("x", &spec(Some("bad name!")), &mut roots).unwrap_err();
        assert!(err.contains("not a DNS name"), "{err}");
    }
}
