//! Reading and proving certificates: the identity a peer's chain claims (its URI and DNS names),
//! fingerprints and key hashes, that a CA issued a leaf, and what this unit's own files say of its
//! CA, its root and the parent it joined.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::{Paths, PkiError, Role, identity_uri, read, unit_dns};
use crate::domain::unit::UnitCode;

pub(super) fn first_cert(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| PkiError::Invalid("no certificate in the PEM text".into()))?
        .map_err(|e| PkiError::Invalid(format!("a certificate is not valid PEM: {e}")))
}

pub(super) fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, PkiError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| PkiError::Invalid(format!("a certificate cannot be read: {e}")))
}

/// The identity a certificate chain claims (TLS verified the chain to the root; which CA issued
/// the leaf is for the admission gate to prove, see [`verify_issued_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    pub role: Role,
    pub unit: UnitCode,
    /// The leaf's serial number, lowercase hex.
    pub serial: String,
    /// SHA-256 of the leaf certificate, hex: the exact certificate.
    pub fingerprint: String,
    /// SHA-256 of the leaf's public key (SubjectPublicKeyInfo), hex.
    pub key: String,
    /// The leaf certificate itself.
    pub leaf: CertificateDer<'static>,
}

impl std::fmt::Display for PeerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", identity_uri(self.role.as_str(), &self.unit))
    }
}

pub(super) fn yinglian_uri(cert: &X509Certificate<'_>) -> Option<(String, String)> {
    let san = cert.subject_alternative_name().ok().flatten()?;
    san.value.general_names.iter().find_map(|n| match n {
        GeneralName::URI(u) => {
            let rest = u.strip_prefix("urn:yinglian:")?;
            let (role, unit) = rest.split_once(':')?;
            Some((role.to_string(), unit.to_string()))
        }
        _ => None,
    })
}

fn dns_names<'a>(cert: &'a X509Certificate<'_>) -> Vec<&'a str> {
    let Some(san) = cert.subject_alternative_name().ok().flatten() else {
        return vec![];
    };
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::DNSName(d) => Some(*d),
            _ => None,
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// SHA-256 of a certificate, hex.
pub fn fingerprint(der: &CertificateDer<'_>) -> String {
    sha256_hex(der.as_ref())
}

/// SHA-256 of a certificate's public key (its SubjectPublicKeyInfo), hex.
pub fn key_hash(der: &CertificateDer<'_>) -> Result<String, PkiError> {
    Ok(sha256_hex(parse(der)?.public_key().raw))
}

/// Proves that `ca` issued `leaf` for client authentication, now: the leaf's signature verifies
/// under `ca`'s key, within both validities and within `ca`'s name constraints. Nothing the
/// presenter wrote (issuer names, key identifiers, extra certificates) takes part.
pub fn verify_issued_by(ca: &CertificateDer<'_>, leaf: &CertificateDer<'_>) -> Result<(), String> {
    let anchor = webpki::anchor_from_trusted_cert(ca).map_err(|e| format!("own CA: {e}"))?;
    let ee = webpki::EndEntityCert::try_from(leaf).map_err(|e| e.to_string())?;
    let algs = rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all;
    ee.verify_for_usage(
        algs,
        &[anchor],
        &[],
        rustls::pki_types::UnixTime::now(),
        webpki::KeyUsage::client_auth(),
        None,
        None,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// This hub's own CA certificate: its direct children's certificates are issued by it.
pub fn own_ca(data: &Path) -> Result<CertificateDer<'static>, PkiError> {
    first_cert(&read(&Paths::new(data).ca_chain())?)
}

/// The unit of the federation's root (its trust root names it), once this unit joined.
pub fn root_unit(data: &Path) -> Option<UnitCode> {
    let root = first_cert(&read(&Paths::new(data).root()).ok()?).ok()?;
    let (role, unit) = yinglian_uri(&parse(&root).ok()?)?;
    (role == "ca")
        .then(|| UnitCode::parse(&unit).ok())
        .flatten()
}

/// The key hash of the parent this unit joined, pinned from the bundle (`None` before a join,
/// or for a bundle from before parents were pinned).
pub fn parent_key(data: &Path) -> Result<Option<String>, PkiError> {
    let path = Paths::new(data).parent();
    if !path.exists() {
        return Ok(None);
    }
    Ok(Some(key_hash(&first_cert(&read(&path)?)?)?))
}

/// Reads who a verified chain (leaf first) belongs to.
pub fn peer_cert(chain: &[CertificateDer<'_>]) -> Result<PeerCert, PkiError> {
    let leaf = chain
        .first()
        .ok_or_else(|| PkiError::Invalid("no client certificate".into()))?;
    let cert = parse(leaf)?;
    let (role, unit) = yinglian_uri(&cert).ok_or_else(|| {
        PkiError::Invalid("the certificate has no urn:yinglian:<role>:<unit> name".into())
    })?;
    let role: Role = role
        .parse()
        .map_err(|e: crate::domain::unit::UnitError| PkiError::Invalid(e.to_string()))?;
    let unit = UnitCode::parse(&unit).map_err(|e| PkiError::Invalid(e.to_string()))?;
    // The URI names the unit; the DNS name, which name constraints bound, must name the same.
    if dns_names(&cert) != [unit_dns(&unit).as_str()] {
        return Err(PkiError::Invalid(format!(
            "the certificate of {} does not name its unit as the DNS name {} (issued before namespaces were enforced?)",
            identity_uri(role.as_str(), &unit),
            unit_dns(&unit)
        )));
    }
    Ok(PeerCert {
        role,
        unit,
        serial: cert.raw_serial_as_string().replace(':', ""),
        fingerprint: fingerprint(leaf),
        key: sha256_hex(cert.public_key().raw),
        leaf: leaf.clone().into_owned(),
    })
}
