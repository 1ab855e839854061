//! Helpers for the integration tests in `tests/`: a city ← districts ← institutions federation on
//! loopback with real TLS and stores, and checks that every replica converged.

use std::time::Duration;

use anyhow::Result;
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::unit::UnitKind;

pub use yinglian_hub::local;

pub mod attacker;
pub mod browser;
pub mod chinese;
pub mod journey;
pub mod pages;
pub mod police;

/// How long a test waits for convergence before it fails.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A city, its districts and their institutions, each with its own folder under `tmp`
/// (`fed.city`, `fed.districts[d]`, `fed.institutions[d][i]`, `fed.start_all()` …).
pub struct Fed {
    pub tmp: tempfile::TempDir,
    pub f: local::Federation,
}

impl std::ops::Deref for Fed {
    type Target = local::Federation;
    fn deref(&self) -> &local::Federation {
        &self.f
    }
}

impl std::ops::DerefMut for Fed {
    fn deref_mut(&mut self) -> &mut local::Federation {
        &mut self.f
    }
}

/// The district codes used by the tests (real Chongqing district codes).
pub const DISTRICTS: [&str; 4] = ["500103", "500104", "500105", "500106"];

/// Builds and enrolls (but does not start) a federation.
pub async fn federation(districts: usize, institutions: usize) -> Result<Fed> {
    yinglian_node::federation::pki::install_crypto();
    let tmp = tempfile::tempdir()?;
    let list: Vec<_> = DISTRICTS
        .iter()
        .take(districts)
        .map(|d| (d.to_string(), d.to_string(), UnitKind::District))
        .collect();
    let f = local::Federation::build(tmp.path(), &list, institutions).await?;
    Ok(Fed { tmp, f })
}

/// Waits until every unit in `holders` holds `doc` with the same heads as `owner`.
pub async fn converge(owner: &LocalUnit, holders: &[&LocalUnit], doc: &DocId) -> Result<()> {
    wait_until(
        PATIENCE,
        &format!("every replica of {doc} matches its owner"),
        || async {
            let want = owner.heads(doc).await;
            if want.is_empty() {
                return false;
            }
            for h in holders {
                if h.heads(doc).await != want {
                    return false;
                }
            }
            true
        },
    )
    .await
}

/// Logs to the test's output when `RUST_LOG` is set.
/// A unit in its own folder under `tmp` (a tree built by hand, beyond [`federation`]).
pub async fn unit_in(
    tmp: &tempfile::TempDir,
    code: &str,
    name: &str,
    kind: yinglian_node::domain::unit::UnitKind,
    role: yinglian_node::domain::unit::Role,
) -> LocalUnit {
    LocalUnit::create(&tmp.path().join(code), code, name, kind, role)
        .await
        .unwrap()
}

pub fn logs() {
    yinglian_node::cli::init_tracing(false);
}

/// Marks one built, must-network, not yet networked camera of `inst` networked.
pub async fn network_one(inst: &local::LocalUnit) {
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await
        .unwrap();
    let cam = rows
        .iter()
        .find(|r| {
            let f = yinglian_node::domain::figures::CameraFlags::of(&r.camera);
            f.built && f.must_network && !f.networked
        })
        .expect("a camera to network");
    let code = cam.camera.device_code.to_string();
    inst.store
        .edit(
            &DocId::ledger(&inst.code),
            "test",
            "network a camera",
            |d| {
                let v = yinglian_node::domain::camera::Field::Networked.parse_value("是")?;
                Ok(yinglian_node::docs::ledger::set_fields(
                    d,
                    &code,
                    &[(yinglian_node::domain::camera::Field::Networked, v)],
                )?)
            },
        )
        .await
        .unwrap();
}

/// A child process of a test (a hub, chromedriver, the demo), killed when the test ends however
/// it ends.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What the hostile and refusal tests share: a started federation, units issued by a hub, raw
/// Sync streams, and the refusals a unit recorded.
pub mod hostile {
    use tonic::Status;
    use yinglian_hub::local::{LocalUnit, wait_until};
    use yinglian_node::docs::document::DocId;
    use yinglian_node::domain::unit::UnitCode;
    use yinglian_node::federation::pki::{self, Role, TlsMaterial, Validity};
    use yinglian_proto::v1::sync_client::SyncClient;
    use yinglian_proto::v1::{DocSync, Hello, SyncFrame, sync_frame};

    use crate::{Fed, PATIENCE, federation};

    /// Refusals recorded at `unit` whose reason contains `text`.
    pub async fn refusals(unit: &LocalUnit, text: &str) -> Vec<(String, String)> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT peer, reason FROM refusals ORDER BY id")
                .fetch_all(unit.store.pool())
                .await
                .unwrap();
        rows.into_iter().filter(|(_, r)| r.contains(text)).collect()
    }

    pub async fn wait_refusal(unit: &LocalUnit, text: &str) -> (String, String) {
        wait_until(
            PATIENCE,
            &format!("a refusal \"{text}\" is recorded at {}", unit.code),
            || async { !refusals(unit, text).await.is_empty() },
        )
        .await
        .unwrap();
        refusals(unit, text).await.remove(0)
    }

    pub fn hello(unit: &str) -> SyncFrame {
        SyncFrame {
            kind: Some(sync_frame::Kind::Hello(Hello {
                unit: unit.into(),
                protocol: 1,
                docs: vec![],
            })),
        }
    }

    pub fn doc_frame(doc: &DocId, message: Vec<u8>) -> SyncFrame {
        SyncFrame {
            kind: Some(sync_frame::Kind::Doc(DocSync {
                doc_id: doc.to_string(),
                message,
            })),
        }
    }

    /// Opens a Sync stream to `hub` with `tls`, sends `frames`, and returns what came back: the
    /// frames, then the status the stream ended with (if it ended with one).
    pub async fn raw(
        tls: &TlsMaterial,
        hub: &LocalUnit,
        frames: Vec<SyncFrame>,
    ) -> Result<(Vec<SyncFrame>, Option<Status>), Status> {
        let channel = yinglian_node::federation::net::connect(tls, &hub.url(), &hub.code)
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let mut client = SyncClient::new(channel)
            .max_encoding_message_size(64 << 20)
            .max_decoding_message_size(64 << 20);
        let mut inbound = client.sync(tokio_stream::iter(frames)).await?.into_inner();
        let mut got = Vec::new();
        let end = tokio::time::timeout(PATIENCE, async {
            loop {
                match inbound.message().await {
                    Ok(Some(f)) => got.push(f),
                    Ok(None) => return None,
                    Err(s) => return Some(s),
                }
            }
        })
        .await
        .expect("the hub answers");
        Ok((got, end))
    }

    pub async fn started(districts: usize, institutions: usize) -> Fed {
        let mut fed = federation(districts, institutions).await.unwrap();
        for (d, list) in fed.institutions.iter().enumerate() {
            for (i, inst) in list.iter().enumerate() {
                inst.generate_cameras(fed.districts[d].code.as_str(), 4, (d * 10 + i + 1) as u64)
                    .await
                    .unwrap();
            }
        }
        fed.start_all().await.unwrap();
        fed
    }

    /// A unit with its own key whose certificate `issuer` signs (registering it there).
    pub async fn issued_by(
        fed: &Fed,
        issuer: &LocalUnit,
        code: &str,
        role: Role,
        validity: Validity,
    ) -> tempfile::TempDir {
        let dir = tempfile::tempdir_in(fed.tmp.path()).unwrap();
        let unit = UnitCode::parse(code).unwrap();
        let request = pki::make_request(dir.path(), &unit, false).unwrap();
        let scope = (role == Role::Subscriber).then(|| issuer.code.clone());
        let bundle = issuer
            .issue(&request, &unit, role, scope, validity)
            .await
            .unwrap();
        pki::join(dir.path(), &unit, &bundle).unwrap();
        dir
    }
}
