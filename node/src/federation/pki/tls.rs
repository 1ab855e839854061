//! The unit's TLS material (its chain, key, trust root and pinned parent) and the rustls
//! configurations built from it; the server's client verification keeps the identity a refused
//! certificate claimed, so that the refusal is recorded under that name.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::verify::{first_cert, key_hash, parse, peer_cert, yinglian_uri};
use super::{Paths, PkiError, read};
use crate::domain::unit::UnitCode;

/// The unit's TLS material, loaded from `data/tls`.
#[derive(Debug)]
pub struct TlsMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub root: CertificateDer<'static>,
    /// The parent this unit joined and the hash of its key (pinned from the bundle).
    pub parent_unit: Option<UnitCode>,
    pub parent_key: Option<String>,
}

impl TlsMaterial {
    pub fn load(data: &Path) -> Result<Self, PkiError> {
        let paths = Paths::new(data);
        for p in [paths.unit_chain(), paths.root()] {
            if !p.exists() {
                return Err(PkiError::NotJoined(p));
            }
        }
        let chain_pem = read(&paths.unit_chain())?;
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| PkiError::Invalid(format!("{}: {e}", paths.unit_chain().display())))?;
        let key = PrivateKeyDer::from_pem_slice(read(&paths.unit_key())?.as_bytes())
            .map_err(|e| PkiError::Invalid(format!("{}: {e}", paths.unit_key().display())))?;
        let root = first_cert(&read(&paths.root())?)?;
        let (parent_unit, parent_key) = if paths.parent().exists() {
            let der = first_cert(&read(&paths.parent())?)?;
            (
                Some(peer_cert(std::slice::from_ref(&der))?.unit),
                Some(key_hash(&der)?),
            )
        } else {
            (None, None)
        };
        Ok(TlsMaterial {
            chain,
            key,
            root,
            parent_unit,
            parent_key,
        })
    }

    fn roots(&self) -> Result<rustls::RootCertStore, PkiError> {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(self.root.clone())
            .map_err(|e| PkiError::Invalid(format!("the trust root is not usable: {e}")))?;
        Ok(roots)
    }

    /// The server side: this unit's chain; every client must present a chain to the root.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, PkiError> {
        let verifier =
            rustls::server::WebPkiClientVerifier::builder(std::sync::Arc::new(self.roots()?))
                .build()
                .map_err(|e| PkiError::Invalid(format!("client verifier: {e}")))?;
        let mut cfg = rustls::ServerConfig::builder()
            .with_client_cert_verifier(std::sync::Arc::new(Claiming(verifier)))
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| PkiError::Invalid(format!("this unit's certificate: {e}")))?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(cfg)
    }

    /// The client side: present this unit's chain; trust the root only.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, PkiError> {
        let mut cfg = rustls::ClientConfig::builder()
            .with_root_certificates(self.roots()?)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| PkiError::Invalid(format!("this unit's certificate: {e}")))?;
        cfg.alpn_protocols = vec![b"h2".to_vec()];
        Ok(cfg)
    }
}

/// A client certificate that the chain verification refused, and whom it claimed to be: the
/// refusal is recorded under that name (an attacker's forged identity is worth seeing).
#[derive(Debug)]
pub struct Claimed {
    pub who: String,
    pub error: rustls::Error,
}

impl std::fmt::Display for Claimed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the certificate claiming {} was refused: {}",
            self.who, self.error
        )
    }
}

impl std::error::Error for Claimed {}

impl Claimed {
    /// The claim inside a failed TLS accept, if the client presented a certificate.
    pub fn of(e: &std::io::Error) -> Option<&Claimed> {
        match e.get_ref()?.downcast_ref::<rustls::Error>()? {
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(o)) => {
                o.0.downcast_ref::<Claimed>()
            }
            _ => None,
        }
    }
}

/// The root's chain verification, with the refused certificate's claimed identity kept.
#[derive(Debug)]
struct Claiming(std::sync::Arc<dyn rustls::server::danger::ClientCertVerifier>);

impl rustls::server::danger::ClientCertVerifier for Claiming {
    fn offer_client_auth(&self) -> bool {
        self.0.offer_client_auth()
    }
    fn client_auth_mandatory(&self) -> bool {
        self.0.client_auth_mandatory()
    }
    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.0.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        self.0
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(|error| {
                let claim = parse(end_entity).ok().and_then(|c| yinglian_uri(&c));
                match claim {
                    Some((role, unit)) => {
                        rustls::Error::InvalidCertificate(rustls::CertificateError::Other(
                            rustls::OtherError(std::sync::Arc::new(Claimed {
                                who: format!("urn:yinglian:{role}:{unit}"),
                                error,
                            })),
                        ))
                    }
                    None => error,
                }
            })
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Installs the ring crypto provider for rustls, once per process (the first call wins).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
