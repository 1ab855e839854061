//! What the hostile tests play: an attacker holding a hub's CA key (what it can sign, forged
//! certificates and the TLS material presenting them), the calls it makes to every service of a
//! hub, and the refusals a unit recorded under the identity the caller claimed.

use std::path::Path;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::domain::unit::UnitCode;
use yinglian_node::federation::pki::{self, Role, TlsMaterial, Validity, unit_dns};
use yinglian_proto::v1::directory_client::DirectoryClient;
use yinglian_proto::v1::feed_client::FeedClient;
use yinglian_proto::v1::reports_client::ReportsClient;
use yinglian_proto::v1::{CamerasRequest, LookupRequest, SubscribeRequest, sync_frame};

use crate::hostile::{hello, issued_by, raw, refusals};
use crate::{Fed, PATIENCE};

/// A CA key and certificate as they lie on a hub's disk (`tls/ca.key`, `tls/ca.crt`).
pub struct Ca {
    pub key_pem: String,
    /// The CA certificate, then those above it (not the root).
    pub chain: Vec<CertificateDer<'static>>,
}

pub fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

/// The CA of the hub whose data folder is `dir`: what its machine's thief holds.
pub fn stolen_ca(dir: &Path) -> Ca {
    let paths = pki::Paths::new(dir);
    let mut chain = certs(&std::fs::read_to_string(paths.ca_chain()).unwrap());
    let root = certs(&std::fs::read_to_string(paths.root()).unwrap());
    chain.retain(|c| c != &root[0]);
    if chain.is_empty() {
        // The root's own CA: its certificate is the root.
        chain = root;
    }
    Ca {
        key_pem: std::fs::read_to_string(paths.ca_key()).unwrap(),
        chain,
    }
}

/// A certificate's parameters as the attacker chooses them.
pub struct Forged {
    pub role: &'static str,
    pub unit: String,
    pub dns: String,
    pub serial: Option<String>,
    /// An authority key identifier written by hand (what the old gate believed).
    pub aki: Option<Vec<u8>>,
    pub ca: bool,
}
impl Forged {
    /// A certificate naming `unit` throughout, as a real one would.
    pub fn of(role: &'static str, unit: &str) -> Forged {
        Forged {
            role,
            unit: unit.into(),
            dns: unit_dns(&UnitCode::parse(unit).unwrap()),
            serial: None,
            aki: None,
            ca: false,
        }
    }

    pub fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::OrganizationName, "yinglian");
        p.distinguished_name.push(
            DnType::CommonName,
            if self.ca {
                format!("yinglian CA {}", self.unit)
            } else {
                self.unit.clone()
            },
        );
        let uri = format!(
            "urn:yinglian:{}:{}",
            if self.ca { "ca" } else { self.role },
            self.unit
        );
        p.subject_alt_names = vec![SanType::URI(uri.try_into().unwrap())];
        if !self.ca {
            p.subject_alt_names
                .push(SanType::DnsName(self.dns.clone().try_into().unwrap()));
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        } else {
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::DigitalSignature,
            ];
        }
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(30);
        if let Some(hex) = &self.serial {
            let bytes: Vec<u8> = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            p.serial_number = Some(SerialNumber::from_slice(&bytes));
        }
        match &self.aki {
            Some(id) => {
                // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
                let mut der = vec![0x30, id.len() as u8 + 2, 0x80, id.len() as u8];
                der.extend_from_slice(id);
                p.custom_extensions
                    .push(CustomExtension::from_oid_content(&[2, 5, 29, 35], der));
            }
            None => p.use_authority_key_identifier_extension = true,
        }
        p
    }

    /// Signs with `ca`; returns the new certificate, its key, and the CA chain above it.
    pub fn sign(&self, ca: &Ca) -> (CertificateDer<'static>, KeyPair) {
        let issuer =
            Issuer::from_ca_cert_der(&ca.chain[0], KeyPair::from_pem(&ca.key_pem).unwrap())
                .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = self.params().signed_by(&key, &issuer).unwrap();
        (cert.der().clone(), key)
    }
}

/// TLS material presenting `leaf` (with `above` as its chain) and trusting the federation root.
pub fn material(
    root_of: &LocalUnit,
    leaf: CertificateDer<'static>,
    key: &KeyPair,
    above: &[CertificateDer<'static>],
) -> TlsMaterial {
    let real = TlsMaterial::load(&root_of.dir).unwrap();
    let mut chain = vec![leaf];
    chain.extend(above.iter().cloned());
    TlsMaterial {
        chain,
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        root: real.root,
        parent_unit: None,
        parent_key: None,
    }
}

/// A leaf forged with `ca`, presented with `ca`'s chain.
pub fn forge(ca: &Ca, f: &Forged, any_unit: &LocalUnit) -> TlsMaterial {
    let (leaf, key) = f.sign(ca);
    material(any_unit, leaf, &key, &ca.chain)
}

/// An intermediate CA signed with the root's key and constrained by nothing: what a CA issued
/// before this release looks like, or one signed by mistake. With it the leaf's chain verifies
/// up to the root, so only the gate stands between its holder and the hubs.
pub fn unconstrained_intermediate(city: &LocalUnit, code: &str) -> Ca {
    let root = stolen_ca(&city.dir);
    let f = Forged {
        ca: true,
        ..Forged::of("ca", code)
    };
    let (cert, key) = f.sign(&root);
    Ca {
        key_pem: key.serialize_pem(),
        chain: vec![cert],
    }
}

/// Every service of `hub`, asked with `tls`: which answered (by name). Camera detail is asked
/// for `about`.
pub async fn answered(tls: &TlsMaterial, hub: &LocalUnit, about: &str) -> Vec<&'static str> {
    let mut yes = Vec::new();
    let Ok(channel) = yinglian_node::federation::net::connect(tls, &hub.url(), &hub.code).await
    else {
        return yes;
    };
    if DirectoryClient::new(channel.clone())
        .lookup(LookupRequest {
            query: String::new(),
        })
        .await
        .is_ok()
    {
        yes.push("Directory");
    }
    if ReportsClient::new(channel.clone())
        .cameras(CamerasRequest {
            unit: about.into(),
            search: String::new(),
            limit: 10,
            offset: 0,
        })
        .await
        .is_ok()
    {
        yes.push("Reports");
    }
    if let Ok(mut s) = FeedClient::new(channel.clone())
        .subscribe(SubscribeRequest {
            scope: String::new(),
            cursor: 0,
        })
        .await
        .map(|r| r.into_inner())
        && matches!(
            tokio::time::timeout(Duration::from_secs(5), s.message()).await,
            Ok(Ok(Some(_)))
        )
    {
        yes.push("Feed");
    }
    if let Ok((frames, end)) = raw(tls, hub, vec![hello(tls_unit(tls).as_str())]).await
        && end.is_none()
        && frames
            .iter()
            .any(|f| matches!(f.kind, Some(sync_frame::Kind::Hello(_))))
    {
        yes.push("Sync");
    }
    yes
}

pub fn tls_unit(tls: &TlsMaterial) -> UnitCode {
    pki::peer_cert(&tls.chain[..1])
        .map(|p| p.unit)
        .unwrap_or_else(|_| UnitCode::parse("unknown").unwrap())
}

/// Refusal rows at `unit` whose peer is `peer`.
pub async fn refused_as(unit: &LocalUnit, peer: &str) -> Vec<String> {
    refusals(unit, "")
        .await
        .into_iter()
        .filter(|(p, _)| p == peer)
        .map(|(_, r)| r)
        .collect()
}

/// Waits until `unit` records a refusal of `peer` whose row contains `reason` (rows of earlier
/// refusals of the same identity do not count), then returns every row of `peer`.
pub async fn wait_refused_for(unit: &LocalUnit, peer: &str, reason: &str) -> Vec<String> {
    wait_until(
        PATIENCE,
        &format!(
            "{peer} is recorded as refused at {} for {reason:?}",
            unit.code
        ),
        || async {
            refused_as(unit, peer)
                .await
                .iter()
                .any(|r| r.contains(reason))
        },
    )
    .await
    .unwrap();
    refused_as(unit, peer).await
}

pub async fn wait_refused_as(unit: &LocalUnit, peer: &str) -> Vec<String> {
    wait_until(
        PATIENCE,
        &format!("{peer} is recorded as refused at {}", unit.code),
        || async { !refused_as(unit, peer).await.is_empty() },
    )
    .await
    .unwrap();
    refused_as(unit, peer).await
}

/// The city's police subscriber (`GA-500000`, the whole city in scope), enrolled for real.
pub async fn police(fed: &Fed) -> tempfile::TempDir {
    issued_by(
        fed,
        &fed.city,
        "GA-500000",
        Role::Subscriber,
        Validity::days(30),
    )
    .await
}
