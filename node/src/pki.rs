//! The federation's PKI: each unit's key and certificate request made on its own machine, the
//! root CA, a parent signing its children's requests (a hub child also gets an intermediate CA),
//! the bundle a child installs with `join`, and reading a peer's identity from its certificate
//! chain. Identity is the URI SAN `urn:yinglian:<role>:<unit>`; CA certificates carry
//! `urn:yinglian:ca:<unit>`. Every certificate also names its unit as the DNS name
//! `<unit>.unit.yinglian`, which is what a child checks its parent's server certificate against.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use crate::unit::UnitCode;

/// The folder inside a unit's data folder that holds its keys and certificates.
pub const TLS_DIR: &str = "tls";
/// The bundle format written by `enroll`.
pub const BUNDLE_FORMAT: &str = "yinglian-bundle/1";

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("certificate error: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("{0}")]
    Invalid(String),
    #[error(
        "this unit has no CA key ({0}); only the root (after `pki init-root`) or a hub that joined with an intermediate CA can enroll children"
    )]
    NotACa(PathBuf),
    #[error("this unit has not joined a federation yet: {0} is missing (run `join --bundle FILE`)")]
    NotJoined(PathBuf),
}

/// What a certificate lets its holder be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A leaf unit (`yl-node`).
    Node,
    /// A unit with children (`yl-hub`).
    Hub,
    /// A read-only feed consumer (public security).
    Subscriber,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Hub => "hub",
            Role::Subscriber => "subscriber",
        }
    }
}

impl FromStr for Role {
    type Err = PkiError;
    fn from_str(s: &str) -> Result<Self, PkiError> {
        match s {
            "node" => Ok(Role::Node),
            "hub" => Ok(Role::Hub),
            "subscriber" => Ok(Role::Subscriber),
            _ => Err(PkiError::Invalid(format!(
                "role \"{s}\" is not known: use node, hub or subscriber"
            ))),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `urn:yinglian:<role>:<unit>`.
pub fn identity_uri(role: &str, unit: &UnitCode) -> String {
    format!("urn:yinglian:{role}:{unit}")
}

/// The DNS name a unit's certificate carries, used as the TLS server name of a hub.
pub fn unit_dns(unit: &UnitCode) -> String {
    format!(
        "{}.unit.yinglian",
        unit.as_str().to_ascii_lowercase().replace('_', "-")
    )
}

/// Where a unit keeps its keys and certificates.
#[derive(Debug, Clone)]
pub struct Paths {
    pub dir: PathBuf,
}

impl Paths {
    pub fn new(data: &Path) -> Self {
        Paths {
            dir: data.join(TLS_DIR),
        }
    }
    /// The unit's private key (PKCS#8 PEM); never leaves this machine.
    pub fn unit_key(&self) -> PathBuf {
        self.dir.join("unit.key")
    }
    /// The unit's certificate request (and, for a hub, its CA's request after it).
    pub fn request(&self) -> PathBuf {
        self.dir.join("request.csr")
    }
    /// The unit's certificate followed by the CA certificates up to (not including) the root.
    pub fn unit_chain(&self) -> PathBuf {
        self.dir.join("unit.crt")
    }
    /// A hub's CA key.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// A hub's CA certificate followed by the CA certificates above it (not the root).
    pub fn ca_chain(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    /// The federation's trust root.
    pub fn root(&self) -> PathBuf {
        self.dir.join("root.crt")
    }
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|e| PkiError::Io(path.to_path_buf(), e))
}

fn write(path: &Path, text: &str, private: bool) -> Result<(), PkiError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| PkiError::Io(dir.to_path_buf(), e))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| PkiError::Io(tmp.clone(), e))?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| PkiError::Io(tmp.clone(), e))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    std::fs::rename(&tmp, path).map_err(|e| PkiError::Io(path.to_path_buf(), e))
}

fn ca_name(unit: &UnitCode) -> String {
    format!("yinglian CA {unit}")
}

fn dn(cn: &str) -> DistinguishedName {
    let mut d = DistinguishedName::new();
    d.push(DnType::OrganizationName, "yinglian");
    d.push(DnType::CommonName, cn);
    d
}

fn random_serial() -> (SerialNumber, String) {
    let mut bytes: [u8; 16] = rand::random();
    // A positive INTEGER with no leading zero byte, so that its DER form is these 16 bytes and
    // every reader prints the same serial.
    bytes[0] = 0x10 + (bytes[0] % 0x70);
    let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
    (SerialNumber::from_slice(&bytes), hex)
}

/// Makes the unit's key (and a hub's CA key) in `data/tls/` and returns the certificate request
/// to hand to the parent: one PEM request, two for a hub (the unit's, then its CA's). An existing
/// key is kept: asking again gives a request for the same key.
pub fn make_request(data: &Path, unit: &UnitCode, hub: bool) -> Result<String, PkiError> {
    let paths = Paths::new(data);
    let mut out = String::new();
    let mut keys = vec![(paths.unit_key(), unit.to_string())];
    if hub {
        keys.push((paths.ca_key(), ca_name(unit)));
    }
    for (key_path, cn) in keys {
        let key = if key_path.exists() {
            KeyPair::from_pem(&read(&key_path)?)?
        } else {
            let k = KeyPair::generate()?;
            write(&key_path, &k.serialize_pem(), true)?;
            k
        };
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(&cn);
        out.push_str(&params.serialize_request(&key)?.pem()?);
    }
    write(&paths.request(), &out, false)?;
    Ok(out)
}

/// How long and from when an issued certificate is valid.
#[derive(Debug, Clone, Copy)]
pub struct Validity {
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// From an hour ago (clock skew) for `days` days.
    pub fn days(days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        Validity {
            not_before: now - Duration::hours(1),
            not_after: now + Duration::days(days),
        }
    }
}

fn leaf_params(
    role: &str,
    unit: &UnitCode,
    validity: Validity,
) -> Result<(CertificateParams, String), PkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(unit.as_str());
    p.subject_alt_names = vec![
        SanType::URI(identity_uri(role, unit).try_into()?),
        SanType::DnsName(unit_dns(unit).try_into()?),
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.not_before = validity.not_before;
    p.not_after = validity.not_after;
    p.use_authority_key_identifier_extension = true;
    let (serial, hex) = random_serial();
    p.serial_number = Some(serial);
    Ok((p, hex))
}

fn ca_params(unit: &UnitCode, validity: Validity) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&ca_name(unit));
    p.subject_alt_names = vec![SanType::URI(identity_uri("ca", unit).try_into()?)];
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = validity.not_before;
    p.not_after = validity.not_after;
    p.use_authority_key_identifier_extension = true;
    p.serial_number = Some(random_serial().0);
    Ok(p)
}

/// On the root hub: creates the root CA (its key stays in `tls/ca.key`) and the root unit's own
/// certificate, and installs both.
pub fn init_root(data: &Path, unit: &UnitCode, days: i64) -> Result<(), PkiError> {
    let paths = Paths::new(data);
    if paths.root().exists() {
        return Err(PkiError::Invalid(format!(
            "{} already exists: this unit already has a trust root",
            paths.root().display()
        )));
    }
    make_request(data, unit, true)?;
    let ca_key = KeyPair::from_pem(&read(&paths.ca_key())?)?;
    let root = ca_params(unit, Validity::days(days))?.self_signed(&ca_key)?;
    let issuer = Issuer::from_ca_cert_der(root.der(), ca_key)?;
    let unit_key = KeyPair::from_pem(&read(&paths.unit_key())?)?;
    let (leaf, _) = leaf_params("hub", unit, Validity::days(days))?;
    let leaf = leaf.signed_by(&unit_key, &issuer)?;
    write(&paths.root(), &root.pem(), false)?;
    write(&paths.ca_chain(), &root.pem(), false)?;
    write(&paths.unit_chain(), &leaf.pem(), false)?;
    Ok(())
}

/// What a parent decides when it enrolls a child.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub unit: UnitCode,
    pub role: Role,
    /// The subtree a subscriber may see.
    pub scope: Option<UnitCode>,
    /// The parent's address as the child should dial it (`https://host:port`).
    pub advertise: String,
    pub validity: Validity,
}

/// What `enroll` hands to the child: everything it needs to join, nothing secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    pub format: String,
    pub unit: String,
    pub role: Role,
    pub scope: Option<String>,
    pub parent_unit: String,
    pub parent_url: String,
    /// The child's certificate, then the CA certificates above it (not the root), PEM.
    pub chain_pem: String,
    /// A hub child's intermediate CA certificate, then the CA certificates above it, PEM.
    pub ca_chain_pem: Option<String>,
    pub root_pem: String,
    pub serial: String,
    pub not_after: String,
}

fn requests(pem: &str) -> Result<Vec<CertificateSigningRequestParams>, PkiError> {
    let ders: Vec<CertificateSigningRequestDer<'static>> =
        CertificateSigningRequestDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| PkiError::Invalid(format!("the request is not valid PEM: {e}")))?;
    if ders.is_empty() {
        return Err(PkiError::Invalid(
            "the file holds no CERTIFICATE REQUEST; give the file `init --csr-out` wrote".into(),
        ));
    }
    ders.iter()
        .map(|d| {
            CertificateSigningRequestParams::from_der(d).map_err(|e| {
                PkiError::Invalid(format!("a certificate request is damaged or forged: {e}"))
            })
        })
        .collect()
}

fn common_name(p: &CertificateParams) -> Option<String> {
    match p.distinguished_name.get(&DnType::CommonName)? {
        rcgen::DnValue::Utf8String(s) => Some(s.clone()),
        rcgen::DnValue::PrintableString(s) => Some(s.as_str().to_string()),
        _ => None,
    }
}

/// Signs a child's request with this unit's CA (in `data/tls`). The names in the certificate are
/// the parent's decision (`e.unit`, `e.role`); the request only proves the child holds its key.
pub fn enroll(
    data: &Path,
    parent: &UnitCode,
    request_pem: &str,
    e: &Enrollment,
) -> Result<Bundle, PkiError> {
    let paths = Paths::new(data);
    if !paths.ca_key().exists() || !paths.ca_chain().exists() {
        return Err(PkiError::NotACa(paths.ca_key()));
    }
    if e.unit == *parent {
        return Err(PkiError::Invalid(format!(
            "unit {} is this unit itself, not a child",
            e.unit
        )));
    }
    let reqs = requests(request_pem)?;
    let want = if e.role == Role::Hub { 2 } else { 1 };
    if reqs.len() != want {
        return Err(PkiError::Invalid(format!(
            "a {} needs {} certificate request(s) in the file, found {}; make it with `{} init --unit {} --csr-out FILE`",
            e.role,
            want,
            reqs.len(),
            if e.role == Role::Hub {
                "yl-hub"
            } else {
                "yl-node"
            },
            e.unit
        )));
    }
    if common_name(&reqs[0].params).as_deref() != Some(e.unit.as_str()) {
        return Err(PkiError::Invalid(format!(
            "the request was made by unit {}, not {}",
            common_name(&reqs[0].params).unwrap_or_else(|| "(unnamed)".into()),
            e.unit
        )));
    }
    let ca_chain = read(&paths.ca_chain())?;
    let ca_first = CertificateDer::pem_slice_iter(ca_chain.as_bytes())
        .next()
        .ok_or_else(|| PkiError::Invalid(format!("{} is empty", paths.ca_chain().display())))?
        .map_err(|e| PkiError::Invalid(format!("{}: {e}", paths.ca_chain().display())))?;
    let ca_cert = parse(&ca_first)?;
    let ca_end = ca_cert.validity().not_after.to_datetime();
    let mut validity = e.validity;
    if validity.not_after > ca_end {
        validity.not_after = ca_end;
    }
    let issuer = Issuer::from_ca_cert_der(&ca_first, KeyPair::from_pem(&read(&paths.ca_key())?)?)?;
    let root_pem = read(&paths.root())?;
    // The CA certificates above the child, without the root.
    let above: String = if ca_chain.trim() == root_pem.trim() {
        String::new()
    } else {
        ca_chain.clone()
    };
    let (mut leaf, serial) = leaf_params(e.role.as_str(), &e.unit, validity)?;
    leaf.not_after = validity.not_after;
    let mut req = reqs[0].clone();
    req.params = leaf;
    let cert = req.signed_by(&issuer)?;
    let ca_chain_pem = if e.role == Role::Hub {
        let mut creq = reqs[1].clone();
        creq.params = ca_params(&e.unit, validity)?;
        let c = creq.signed_by(&issuer)?;
        Some(format!("{}{}", c.pem(), above))
    } else {
        None
    };
    Ok(Bundle {
        format: BUNDLE_FORMAT.into(),
        unit: e.unit.to_string(),
        role: e.role,
        scope: e.scope.as_ref().map(|s| s.to_string()),
        parent_unit: parent.to_string(),
        parent_url: e.advertise.clone(),
        chain_pem: format!("{}{}", cert.pem(), above),
        ca_chain_pem,
        root_pem,
        serial,
        not_after: validity
            .not_after
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    })
}

/// Installs a bundle in `data/tls` after checking it is for this unit and this unit's key.
pub fn join(data: &Path, unit: &UnitCode, bundle: &Bundle) -> Result<(), PkiError> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(PkiError::Invalid(format!(
            "the bundle's format is \"{}\", expected {BUNDLE_FORMAT}",
            bundle.format
        )));
    }
    if bundle.unit != unit.as_str() {
        return Err(PkiError::Invalid(format!(
            "the bundle is for unit {}, but this is unit {unit}",
            bundle.unit
        )));
    }
    let paths = Paths::new(data);
    let key = KeyPair::from_pem(&read(&paths.unit_key())?)?;
    let leaf = first_cert(&bundle.chain_pem)?;
    let cert = parse(&leaf)?;
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(PkiError::Invalid(
            "the bundle's certificate is not for this unit's key: was the request made in another data folder?".into(),
        ));
    }
    if let Some(ca) = &bundle.ca_chain_pem {
        let ca_key = KeyPair::from_pem(&read(&paths.ca_key())?)?;
        let c = first_cert(ca)?;
        if parse(&c)?.public_key().subject_public_key.data.as_ref() != ca_key.public_key_raw() {
            return Err(PkiError::Invalid(
                "the bundle's CA certificate is not for this hub's CA key".into(),
            ));
        }
        write(&paths.ca_chain(), ca, false)?;
    }
    write(&paths.unit_chain(), &bundle.chain_pem, false)?;
    write(&paths.root(), &bundle.root_pem, false)?;
    Ok(())
}

fn first_cert(pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .next()
        .ok_or_else(|| PkiError::Invalid("no certificate in the PEM text".into()))?
        .map_err(|e| PkiError::Invalid(format!("a certificate is not valid PEM: {e}")))
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, PkiError> {
    X509Certificate::from_der(der)
        .map(|(_, c)| c)
        .map_err(|e| PkiError::Invalid(format!("a certificate cannot be read: {e}")))
}

/// The identity a certificate chain proves (after TLS verified it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    pub role: Role,
    pub unit: UnitCode,
    /// The leaf's serial number, lowercase hex.
    pub serial: String,
    /// The leaf's authority key identifier: which CA issued it.
    pub issuer_key_id: Vec<u8>,
    /// The units of the CA certificates presented above the leaf, nearest first.
    pub ca_units: Vec<UnitCode>,
}

impl std::fmt::Display for PeerCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", identity_uri(self.role.as_str(), &self.unit))
    }
}

fn yinglian_uri(cert: &X509Certificate<'_>) -> Option<(String, String)> {
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

fn key_ids(cert: &X509Certificate<'_>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let mut aki = None;
    let mut ski = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                aki = a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            ParsedExtension::SubjectKeyIdentifier(k) => ski = Some(k.0.to_vec()),
            _ => {}
        }
    }
    (aki, ski)
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
    let role: Role = role.parse()?;
    let unit = UnitCode::parse(&unit).map_err(|e| PkiError::Invalid(e.to_string()))?;
    let mut ca_units = Vec::new();
    for c in &chain[1..] {
        let c = parse(c)?;
        match yinglian_uri(&c) {
            Some((r, u)) if r == "ca" => {
                ca_units.push(UnitCode::parse(&u).map_err(|e| PkiError::Invalid(e.to_string()))?)
            }
            _ => {
                return Err(PkiError::Invalid(
                    "a CA certificate in the chain has no urn:yinglian:ca:<unit> name".into(),
                ));
            }
        }
    }
    if ca_units.contains(&unit) {
        return Err(PkiError::Invalid(format!(
            "unit {unit} appears as its own issuer in the chain"
        )));
    }
    Ok(PeerCert {
        role,
        unit,
        serial: cert.raw_serial_as_string().replace(':', ""),
        issuer_key_id: key_ids(&cert).0.unwrap_or_default(),
        ca_units,
    })
}

/// The key identifier of this unit's own CA: a direct child's certificate names it as issuer.
pub fn own_ca_key_id(data: &Path) -> Result<Vec<u8>, PkiError> {
    let paths = Paths::new(data);
    let ca = first_cert(&read(&paths.ca_chain())?)?;
    let c = parse(&ca)?;
    key_ids(&c)
        .1
        .ok_or_else(|| PkiError::Invalid("this unit's CA certificate has no key identifier".into()))
}

/// The unit's TLS material, loaded from `data/tls`.
#[derive(Debug)]
pub struct TlsMaterial {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub root: CertificateDer<'static>,
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
        Ok(TlsMaterial { chain, key, root })
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
            .with_client_cert_verifier(verifier)
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

/// Installs the ring crypto provider for rustls, once per process (the first call wins).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> UnitCode {
        UnitCode::parse(s).unwrap()
    }

    fn chain(pem: &str) -> Vec<CertificateDer<'static>> {
        CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_three_level_tree_of_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let (city, district, inst) = (
            dir.path().join("city"),
            dir.path().join("district"),
            dir.path().join("inst"),
        );
        init_root(&city, &u("500000"), 365).unwrap();
        let req = make_request(&district, &u("500103"), true).unwrap();
        let e = Enrollment {
            unit: u("500103"),
            role: Role::Hub,
            scope: None,
            advertise: "https://127.0.0.1:1".into(),
            validity: Validity::days(30),
        };
        let bundle = enroll(&city, &u("500000"), &req, &e).unwrap();
        join(&district, &u("500103"), &bundle).unwrap();
        let d = peer_cert(&chain(&bundle.chain_pem)).unwrap();
        assert_eq!((d.role, d.unit.as_str()), (Role::Hub, "500103"));
        assert_eq!(d.issuer_key_id, own_ca_key_id(&city).unwrap());

        // The district's intermediate CA signs its institution.
        let req = make_request(&inst, &u("500103-0001"), false).unwrap();
        let e = Enrollment {
            unit: u("500103-0001"),
            role: Role::Node,
            ..e
        };
        let bundle = enroll(&district, &u("500103"), &req, &e).unwrap();
        join(&inst, &u("500103-0001"), &bundle).unwrap();
        let i = peer_cert(&chain(&bundle.chain_pem)).unwrap();
        assert_eq!(i.ca_units, vec![u("500103")]);
        assert_eq!(i.issuer_key_id, own_ca_key_id(&district).unwrap());
        assert_ne!(i.issuer_key_id, own_ca_key_id(&city).unwrap());

        // A request is for the unit that made it, and a bundle for the key that asked.
        let wrong = Enrollment {
            unit: u("500103-0002"),
            ..e.clone()
        };
        let err = enroll(&district, &u("500103"), &req, &wrong).unwrap_err();
        assert!(
            err.to_string().contains("made by unit 500103-0001"),
            "{err}"
        );
        let other = dir.path().join("other");
        make_request(&other, &u("500103-0001"), false).unwrap();
        let err = join(&other, &u("500103-0001"), &bundle).unwrap_err();
        assert!(err.to_string().contains("not for this unit's key"), "{err}");
        // A leaf cannot enroll anybody.
        let err = enroll(&inst, &u("500103-0001"), &req, &e).unwrap_err();
        assert!(matches!(err, PkiError::NotACa(_)), "{err}");
        // The serial the parent registers is the serial a peer's certificate shows, every time.
        for _ in 0..200 {
            let b = enroll(&district, &u("500103"), &req, &e).unwrap();
            assert_eq!(peer_cert(&chain(&b.chain_pem)).unwrap().serial, b.serial);
        }
        // A tampered request is refused.
        let mut lines: Vec<String> = req.lines().map(String::from).collect();
        let body = &mut lines[2];
        let mid = body.len() / 2;
        let c = if &body[mid..mid + 1] == "A" { "B" } else { "A" };
        body.replace_range(mid..mid + 1, c);
        let bad = lines.join("\n");
        assert!(enroll(&district, &u("500103"), &bad, &e).is_err());
    }
}
