//! The federation's PKI: each unit's key and certificate request made on its own machine, the
//! root CA, a parent signing its children's requests (a hub child also gets an intermediate CA),
//! the bundle a child installs with `join`, and reading a peer's identity from its certificate
//! chain. Identity is the URI SAN `urn:yinglian:<role>:<unit>`; CA certificates carry
//! `urn:yinglian:ca:<unit>`. Every certificate also names its unit as a DNS name whose labels are
//! the parts of its code, nearest last (`0001.500103.unit.yinglian` for 500103-0001), which is
//! what a child checks its parent's server certificate against and what X.509 name constraints
//! can bound: the root CA signs intermediates for the units it enrolls as hubs, each intermediate
//! has path length 0 (it signs leaves only) and is constrained to its own unit's DNS subtree, that
//! is the codes of its namespace (`<hub>-…`).
//!
//! Here: keys, requests, the root, enrollment and the bundle. `verify`: reading and proving
//! certificates. `tls`: the unit's TLS material and its rustls configurations.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateSigningRequestDer};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

/// What a certificate lets its holder be: the unit's role in the tree (a domain word).
pub use crate::domain::unit::Role;
use crate::domain::unit::UnitCode;

mod tls;
mod verify;

pub use tls::{Claimed, TlsMaterial, install_crypto};
pub use verify::{
    PeerCert, fingerprint, key_hash, own_ca, parent_key, peer_cert, root_unit, verify_issued_by,
};

use verify::{first_cert, parse};

pub use crate::store::TLS_DIR;

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

/// `urn:yinglian:<role>:<unit>`.
pub fn identity_uri(role: &str, unit: &UnitCode) -> String {
    format!("urn:yinglian:{role}:{unit}")
}

/// The DNS name a unit's certificate carries, used as the TLS server name of a hub: the parts
/// of the code, nearest last, under `unit.yinglian` (500103-0001 → `0001.500103.unit.yinglian`),
/// so that the namespace of a hub (`500103-…`) is the DNS subtree of its own name.
pub fn unit_dns(unit: &UnitCode) -> String {
    let mut labels: Vec<String> = unit
        .as_str()
        .split('-')
        .map(|p| p.to_ascii_lowercase().replace('_', "-"))
        .collect();
    labels.reverse();
    format!("{}.unit.yinglian", labels.join("."))
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
    /// The certificate of the parent this unit joined (from the bundle): the only caller this
    /// unit answers camera-level detail to is the holder of its key.
    pub fn parent(&self) -> PathBuf {
        self.dir.join("parent.crt")
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

/// How deep the tree of CAs may go below the root: the city's root signs the districts' CAs,
/// a district's CA may sign the CA of an institution with its own sub-units (下级部门), and that
/// one signs leaves only. Each level's certificate says how many CAs may still follow it.
pub const ROOT_PATH_LEN: u8 = 2;

/// A CA certificate's parameters. The root's (`path_len == None`) may sign [`ROOT_PATH_LEN`]
/// levels of intermediates; an intermediate signs at most `path_len` more levels of CAs, and only
/// names of its unit's DNS subtree (the verifier applies every CA's constraints to the whole path
/// below it, so a CA can never widen what its issuer allowed).
fn ca_params(
    unit: &UnitCode,
    validity: Validity,
    path_len: Option<u8>,
) -> Result<CertificateParams, PkiError> {
    let mut p = CertificateParams::default();
    p.distinguished_name = dn(&ca_name(unit));
    p.subject_alt_names = vec![SanType::URI(identity_uri("ca", unit).try_into()?)];
    match path_len {
        None => p.is_ca = IsCa::Ca(BasicConstraints::Constrained(ROOT_PATH_LEN)),
        Some(n) => {
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(n));
            p.name_constraints = Some(NameConstraints {
                permitted_subtrees: vec![GeneralSubtree::DnsName(unit_dns(unit))],
                excluded_subtrees: vec![],
            });
        }
    }
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
            "{} 已经存在：本单位已有信任根",
            paths.root().display()
        )));
    }
    make_request(data, unit, true)?;
    let ca_key = KeyPair::from_pem(&read(&paths.ca_key())?)?;
    let root = ca_params(unit, Validity::days(days), None)?.self_signed(&ca_key)?;
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
    /// The parent's own certificate, PEM: the child pins its key and answers camera-level
    /// detail to that key only.
    #[serde(default)]
    pub parent_cert_pem: Option<String>,
}

impl Bundle {
    /// The SHA-256 fingerprint (hex) of the child's certificate: what the parent registers.
    pub fn fingerprint(&self) -> Result<String, PkiError> {
        Ok(fingerprint(&first_cert(&self.chain_pem)?))
    }
}

fn requests(pem: &str) -> Result<Vec<CertificateSigningRequestParams>, PkiError> {
    let ders: Vec<CertificateSigningRequestDer<'static>> =
        CertificateSigningRequestDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| PkiError::Invalid(format!("证书申请不是有效的 PEM 文本：{e}")))?;
    if ders.is_empty() {
        return Err(PkiError::Invalid(
            "文件中没有证书申请（CERTIFICATE REQUEST）：请给出 init --csr-out 写出的文件".into(),
        ));
    }
    ders.iter()
        .map(|d| {
            CertificateSigningRequestParams::from_der(d)
                .map_err(|e| PkiError::Invalid(format!("证书申请已损坏或被篡改：{e}")))
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
            "{} 是本单位自己，不是下级单位",
            e.unit
        )));
    }
    let root_pem = read(&paths.root())?;
    let ca_chain = read(&paths.ca_chain())?;
    let is_root = ca_chain.trim() == root_pem.trim();
    namespace(parent, is_root, e)?;
    let own_ca_der = first_cert(&ca_chain)?;
    let below = cas_below(&parse(&own_ca_der)?);
    if e.role == Role::Hub && below == 0 {
        return Err(PkiError::Invalid(format!(
            "本单位 {parent} 的证书颁发机构（CA）只能签发终端证书，不能为 {} 签发下级 CA：下级部门只能挂在区县直接登记的机构之下（市级 → 区县 → 机构 → 下级部门，最多四级）",
            e.unit
        )));
    }
    let reqs = requests(request_pem)?;
    let want = if e.role == Role::Hub { 2 } else { 1 };
    if reqs.len() != want {
        return Err(PkiError::Invalid(format!(
            "{} 需要文件中有 {} 份证书申请，实际有 {} 份：请用 {} init --unit {} --csr-out 文件 生成",
            crate::app::zh::Zh::zh(&e.role),
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
            "这份证书申请是单位 {} 生成的，不是 {}",
            common_name(&reqs[0].params).unwrap_or_else(|| "（未命名）".into()),
            e.unit
        )));
    }
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
    // The CA certificates above the child, without the root.
    let above: String = if is_root {
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
        creq.params = ca_params(&e.unit, validity, Some(below - 1))?;
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
        parent_cert_pem: Some(first_pem(&read(&paths.unit_chain())?)?),
    })
}

/// The namespace rule: the root enrolls any unit but itself; an intermediate (a district's CA, or
/// the CA of an institution with sub-units) enrolls only units of its own namespace (`<hub>-…`).
/// Whether it may enroll a hub follows from its CA's path length (see [`cas_below`]). The chain
/// verification enforces the same through the certificates' constraints, and the admission gate
/// checks it once more on every call.
fn namespace(parent: &UnitCode, is_root: bool, e: &Enrollment) -> Result<(), PkiError> {
    if is_root {
        return Ok(());
    }
    if !e.unit.is_under(parent) {
        return Err(PkiError::Invalid(format!(
            "单位编码 {} 不在本单位 {parent} 的编码空间内：本单位只能为 {parent}-… 形式的下级单位签发证书（上级、同级或其他区县的单位须由其所属上级签发）",
            e.unit
        )));
    }
    if let Some(scope) = &e.scope
        && scope != parent
        && !scope.is_under(parent)
    {
        return Err(PkiError::Invalid(format!(
            "订阅范围 {scope} 不在本单位 {parent} 的下级范围内"
        )));
    }
    Ok(())
}

/// How many levels of CAs a CA certificate allows below itself (its basic constraints' path
/// length; 0 when it has none, is not a CA, or cannot be read — the safe answer).
fn cas_below(ca: &x509_parser::prelude::X509Certificate<'_>) -> u8 {
    match ca.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => bc
            .value
            .path_len_constraint
            .map_or(0, |n| n.min(u32::from(ROOT_PATH_LEN)) as u8),
        _ => 0,
    }
}

/// The first certificate of a PEM text, as PEM.
fn first_pem(pem: &str) -> Result<String, PkiError> {
    first_cert(pem)?;
    const END: &str = "-----END CERTIFICATE-----";
    let end = pem
        .find(END)
        .ok_or_else(|| PkiError::Invalid("no certificate in the PEM text".into()))?;
    Ok(format!("{}\n", &pem[..end + END.len()]))
}

/// Installs a bundle in `data/tls` after checking it is for this unit and this unit's key.
pub fn join(data: &Path, unit: &UnitCode, bundle: &Bundle) -> Result<(), PkiError> {
    if bundle.format != BUNDLE_FORMAT {
        return Err(PkiError::Invalid(format!(
            "登记包的格式是“{}”，应为 {BUNDLE_FORMAT}",
            bundle.format
        )));
    }
    if bundle.unit != unit.as_str() {
        return Err(PkiError::Invalid(format!(
            "这个登记包是给单位 {} 的，而本单位是 {unit}",
            bundle.unit
        )));
    }
    let paths = Paths::new(data);
    let key = KeyPair::from_pem(&read(&paths.unit_key())?)?;
    let leaf = first_cert(&bundle.chain_pem)?;
    let cert = parse(&leaf)?;
    if cert.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
        return Err(PkiError::Invalid(
            "登记包中的证书与本单位的密钥不符：证书申请是不是在另一个数据文件夹中生成的？".into(),
        ));
    }
    if let Some(ca) = &bundle.ca_chain_pem {
        let ca_key = KeyPair::from_pem(&read(&paths.ca_key())?)?;
        let c = first_cert(ca)?;
        if parse(&c)?.public_key().subject_public_key.data.as_ref() != ca_key.public_key_raw() {
            return Err(PkiError::Invalid(
                "登记包中的 CA 证书与本节点的 CA 密钥不符".into(),
            ));
        }
        write(&paths.ca_chain(), ca, false)?;
    }
    if let Some(parent) = &bundle.parent_cert_pem {
        let der = first_cert(parent)?;
        let who = peer_cert(std::slice::from_ref(&der))?;
        if who.unit.as_str() != bundle.parent_unit || who.role != Role::Hub {
            return Err(PkiError::Invalid(format!(
                "登记包中的上级证书属于 {who}，而不是上级节点 {}",
                bundle.parent_unit
            )));
        }
        write(&paths.parent(), parent, false)?;
    }
    write(&paths.unit_chain(), &bundle.chain_pem, false)?;
    write(&paths.root(), &bundle.root_pem, false)?;
    Ok(())
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
        verify_issued_by(&own_ca(&city).unwrap(), &d.leaf).unwrap();

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
        verify_issued_by(&own_ca(&district).unwrap(), &i.leaf).unwrap();
        assert!(verify_issued_by(&own_ca(&city).unwrap(), &i.leaf).is_err());

        // A request is for the unit that made it, and a bundle for the key that asked.
        let wrong = Enrollment {
            unit: u("500103-0002"),
            ..e.clone()
        };
        let err = enroll(&district, &u("500103"), &req, &wrong).unwrap_err();
        assert!(
            err.to_string().contains("是单位 500103-0001 生成的"),
            "{err}"
        );
        let other = dir.path().join("other");
        make_request(&other, &u("500103-0001"), false).unwrap();
        let err = join(&other, &u("500103-0001"), &bundle).unwrap_err();
        assert!(err.to_string().contains("与本单位的密钥不符"), "{err}");
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
