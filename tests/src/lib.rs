//! Helpers for the integration tests in `tests/`: a city ← districts ← institutions federation on
//! loopback with real TLS and stores, and checks that every replica converged.

use std::time::Duration;

use anyhow::Result;
use yinglian_hub::local::{LocalUnit, wait_until};
use yinglian_node::document::DocId;
use yinglian_node::unit::UnitKind;

pub use yinglian_hub::local;

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
    yinglian_node::pki::install_crypto();
    let tmp = tempfile::tempdir()?;
    let list: Vec<_> = DISTRICTS
        .iter()
        .take(districts)
        .map(|d| (d.to_string(), d.to_string(), UnitKind::District))
        .collect();
    let f = local::Federation::build_with(tmp.path(), &list, institutions).await?;
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
            let f = yinglian_node::figures::CameraFlags::of(&r.camera);
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
                let v = yinglian_node::camera::Field::Networked.parse_value("是")?;
                Ok(yinglian_node::ledger::set_fields(
                    d,
                    &code,
                    &[(yinglian_node::camera::Field::Networked, v)],
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
