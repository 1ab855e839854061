//! Whole federations on one machine: units with their own data folders, keys and SQLite stores,
//! enrolled through the real PKI, each run by the daemon of `serve` (`Daemon::start`) and talking
//! mTLS gRPC on loopback. Used by `yl-hub demo` and `yl-hub bench` (and by the integration tests,
//! whose own helpers live in the tests crate).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::net::TcpListener;
use yinglian_node::daemon::{Bind, Daemon, DaemonConfig, Handle, WebConfig};
use yinglian_node::docs::document::DocId;
use yinglian_node::domain::unit::{UnitCode, UnitKind};
use yinglian_node::federation::membership::{enroll_child, join_bundle, make_root};
use yinglian_node::federation::pki::{self, Bundle, Enrollment, Role, Validity};
use yinglian_node::federation::sync::Engine;
use yinglian_node::store::Store;

/// One unit of a local federation.
pub struct LocalUnit {
    pub code: UnitCode,
    pub dir: PathBuf,
    pub role: Role,
    pub store: Arc<Store>,
    /// The engine of the running daemon (`None` while stopped).
    pub engine: Option<Arc<Engine>>,
    /// Where a hub accepts its children.
    pub addr: Option<SocketAddr>,
    /// Where the unit's web pages are served (while running, after `serve_web`).
    pub web: Option<SocketAddr>,
    /// What one peer may cost this unit (set before `start`).
    pub limits: yinglian_node::federation::admission::Limits,
    /// Whether `start` serves /metrics too, on a free loopback port (set before `start`).
    pub metrics: bool,
    listener: Option<TcpListener>,
    daemon: Option<Handle>,
}

impl LocalUnit {
    /// Creates the unit's store, key and certificate request in `dir`; a hub also binds its port
    /// on 127.0.0.1 now, so that its children can be told the address at enrollment.
    pub async fn create(
        dir: &Path,
        code: &str,
        name: &str,
        kind: UnitKind,
        role: Role,
    ) -> Result<LocalUnit> {
        let code = UnitCode::parse(code)?;
        let store_role = if role == Role::Hub {
            Role::Hub
        } else {
            Role::Node
        };
        let store = Store::init(dir, &code, name, kind, store_role).await?;
        pki::make_request(dir, &code, role == Role::Hub)?;
        let (listener, addr) = if role == Role::Hub {
            let l = TcpListener::bind("127.0.0.1:0").await?;
            let a = l.local_addr()?;
            (Some(l), Some(a))
        } else {
            (None, None)
        };
        Ok(LocalUnit {
            limits: Default::default(),
            code,
            dir: dir.to_path_buf(),
            role,
            store: Arc::new(store),
            engine: None,
            addr,
            web: None,
            listener,
            metrics: false,
            daemon: None,
        })
    }

    /// Opens an existing unit (after a restart).
    pub async fn open(dir: &Path, role: Role, addr: Option<SocketAddr>) -> Result<LocalUnit> {
        let store = Store::open(dir).await?;
        Ok(LocalUnit {
            limits: Default::default(),
            code: store.unit().clone(),
            dir: dir.to_path_buf(),
            role,
            store: Arc::new(store),
            engine: None,
            addr,
            web: None,
            listener: None,
            metrics: false,
            daemon: None,
        })
    }

    /// Gives up the bound port (so that another process can serve this unit on it).
    pub fn release_port(&mut self) {
        self.listener = None;
    }

    /// Makes this unit the root of a federation.
    pub async fn init_root(&self) -> Result<()> {
        make_root(&self.store, &self.dir, 3650).await
    }

    /// This hub's address as its children dial it.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr.expect("a hub has an address"))
    }

    /// Signs `child`'s request, registers it here and installs the bundle at the child.
    pub async fn enroll(&self, child: &LocalUnit) -> Result<Bundle> {
        let request = std::fs::read_to_string(pki::Paths::new(&child.dir).request())?;
        let bundle = self
            .issue(&request, &child.code, child.role, None, Validity::days(365))
            .await?;
        join_bundle(&child.store, &child.dir, &bundle).await?;
        Ok(bundle)
    }

    /// Signs a request and registers the child, without installing anything anywhere.
    pub async fn issue(
        &self,
        request: &str,
        unit: &UnitCode,
        role: Role,
        scope: Option<UnitCode>,
        validity: Validity,
    ) -> Result<Bundle> {
        enroll_child(
            &self.store,
            &self.dir,
            request,
            &Enrollment {
                unit: unit.clone(),
                role,
                scope,
                advertise: self.url(),
                validity,
            },
        )
        .await
    }

    /// Starts the daemon (`Daemon::start`, as `serve` does): a hub serves its children on its
    /// address; a joined unit syncs with its parent.
    pub async fn start(&mut self) -> Result<()> {
        if self.daemon.is_some() {
            return Ok(());
        }
        let hub = self.role == Role::Hub;
        let mut config = DaemonConfig::new(if hub { Role::Hub } else { Role::Node });
        if hub {
            config.listen = Some(match self.listener.take() {
                Some(l) => Bind::Listener(l),
                None => Bind::from(self.addr.context("a hub needs an address")?),
            });
            config.advertise = Some(self.url());
        }
        config.limits = self.limits;
        config.metrics = self.metrics.then(Bind::loopback);
        let handle = Daemon::start(self.store.clone(), config).await?;
        self.engine = Some(handle.engine.clone());
        self.daemon = Some(handle);
        Ok(())
    }

    /// The running daemon (`None` while stopped): its bound addresses, its engine.
    pub fn daemon(&self) -> Option<&Handle> {
        self.daemon.as_ref()
    }

    /// Serves the unit's web pages on `at` (a free loopback port when `None`) until the daemon
    /// stops; the daemon must be running.
    pub async fn serve_web(&mut self, at: Option<SocketAddr>) -> Result<SocketAddr> {
        let daemon = self
            .daemon
            .as_mut()
            .context("start the unit before its web pages")?;
        let addr = daemon
            .serve_web(WebConfig::http(match at {
                Some(a) => Bind::from(a),
                None => Bind::loopback(),
            }))
            .await?;
        self.web = Some(addr);
        Ok(addr)
    }

    /// Stops the daemon: its tasks end and the store is checkpointed.
    pub async fn stop(&mut self) {
        if let Some(d) = self.daemon.take()
            && let Err(e) = d.stop().await
        {
            tracing::warn!(unit = %self.code, error = %e, "stopping the daemon");
        }
        self.engine = None;
        self.web = None;
    }

    /// The heads of a document here (empty when not held).
    pub async fn heads(&self, doc: &DocId) -> Vec<String> {
        self.store.heads(doc).await.unwrap_or_default()
    }

    /// Imports `n` generated cameras (device codes from `seed`) into the unit's own ledger.
    pub async fn generate_cameras(&self, district: &str, n: usize, seed: u64) -> Result<()> {
        let sheet = self.dir.join(format!("generated-{seed}.csv"));
        yinglian_node::app::sample::write_sheet(&sheet, district, n, seed)?;
        yinglian_node::app::import::import_file(&self.store, &sheet, "generator").await?;
        std::fs::remove_file(&sheet).ok();
        Ok(())
    }
}

/// Lets this process open as many files as the system allows (each unit holds a store and
/// connections; a city's federation is thousands of them): the hard limit raised to the
/// kernel's ceiling (`fs.nr_open`) where the process may, else the soft limit to the hard one.
pub fn raise_fd_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit with a valid, initialised struct.
    unsafe {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
            return;
        }
        let ceiling = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<libc::rlim_t>().ok())
            .unwrap_or(l.rlim_max);
        if ceiling > l.rlim_max {
            let wider = libc::rlimit {
                rlim_cur: ceiling,
                rlim_max: ceiling,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wider) == 0 {
                return;
            }
        }
        if l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

/// Waits until `check` holds, polling every 20 ms, or fails after `limit` with `what`.
pub async fn wait_until<F, Fut>(limit: Duration, what: &str, mut check: F) -> Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    loop {
        if check().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {limit:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The administrative area code that device codes of `unit`'s cameras begin with: a district's
/// or county's own six digits; the city's (500000) for a development zone, whose code is not one.
pub fn area_code(unit: &UnitCode) -> String {
    let head: String = unit.as_str().chars().take(6).collect();
    if head.len() == 6 && head.chars().all(|c| c.is_ascii_digit()) {
        head
    } else {
        "500000".to_string()
    }
}

/// The city's district-level units, as project data: code, the place's name, kind, and the
/// unit's own name as it is (a district's or county's 卫生健康委员会; a development zone's bureau,
/// e.g. 两江新区社发局, with nothing appended).
pub const DISTRICTS_CSV: &str = include_str!("../data/chongqing-districts.csv");

/// The district-level units of the city: (code, the unit's name as it is, kind).
pub fn districts() -> Vec<(String, String, UnitKind)> {
    DISTRICTS_CSV
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            let (code, _place, kind, unit) = (f.next()?, f.next()?, f.next()?, f.next()?);
            Some((
                code.trim().to_string(),
                unit.trim().to_string(),
                kind.trim().parse().ok()?,
            ))
        })
        .collect()
}

/// The place a district-level unit serves, from its name: the name up to its last 区 or 县
/// (万州区卫生健康委员会 → 万州区, 两江新区社发局 → 两江新区); the whole name otherwise.
pub fn place_of(unit_name: &str) -> &str {
    match unit_name.rfind(['区', '县']) {
        Some(at) => &unit_name[..at + '区'.len_utf8()],
        None => unit_name,
    }
}

/// The first `d` district-level units of the city.
pub fn first_districts(d: usize) -> Vec<(String, String, UnitKind)> {
    districts().into_iter().take(d).collect()
}

/// A city, some of its districts and `i` institutions under each, every
/// one enrolled through the real PKI in its own folder under `root`; nothing started.
pub struct Federation {
    pub city: LocalUnit,
    pub districts: Vec<LocalUnit>,
    pub institutions: Vec<Vec<LocalUnit>>,
    /// Units beside the districts' institutions (a directly affiliated hospital, a hospital's
    /// sub-units), in the order they start: each after the hub that enrolled it.
    pub others: Vec<LocalUnit>,
}

impl Federation {
    /// The city, the districts of `list` (code, the unit's name as it is, kind; e.g. the first of
    /// `districts()`) and `i` institutions under each, named after the district's place.
    pub async fn build(
        root: &Path,
        list: &[(String, String, UnitKind)],
        i: usize,
    ) -> Result<Federation> {
        let city = LocalUnit::create(
            &root.join("500000"),
            "500000",
            "重庆市卫生健康委员会",
            UnitKind::City,
            Role::Hub,
        )
        .await?;
        city.init_root().await?;
        let mut districts = Vec::new();
        let mut institutions = Vec::new();
        for (code, name, kind) in list.iter().cloned() {
            let unit = LocalUnit::create(&root.join(&code), &code, &name, kind, Role::Hub).await?;
            city.enroll(&unit).await?;
            let mut mine = Vec::new();
            for n in 1..=i {
                let c = format!("{code}-{n:04}");
                let inst = LocalUnit::create(
                    &root.join(&c),
                    &c,
                    &format!("{}第{n}医院", place_of(&name)),
                    UnitKind::Institution,
                    Role::Node,
                )
                .await?;
                unit.enroll(&inst).await?;
                mine.push(inst);
            }
            districts.push(unit);
            institutions.push(mine);
        }
        Ok(Federation {
            city,
            districts,
            institutions,
            others: Vec::new(),
        })
    }

    pub async fn start_all(&mut self) -> Result<()> {
        self.city.start().await?;
        for d in &mut self.districts {
            d.start().await?;
        }
        for list in &mut self.institutions {
            for i in list {
                i.start().await?;
            }
        }
        for u in &mut self.others {
            u.start().await?;
        }
        Ok(())
    }

    /// Every unit: the city, the districts, the institutions, the others.
    pub fn all(&self) -> impl Iterator<Item = &LocalUnit> {
        std::iter::once(&self.city)
            .chain(&self.districts)
            .chain(self.institutions.iter().flatten())
            .chain(&self.others)
    }

    pub async fn stop_all(&mut self) {
        for u in self.others.iter_mut().rev() {
            u.stop().await;
        }
        for list in &mut self.institutions {
            for i in list {
                i.stop().await;
            }
        }
        for d in &mut self.districts {
            d.stop().await;
        }
        self.city.stop().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn district_level_units_keep_their_own_names() {
        let all = districts();
        assert_eq!(all.len(), 41);
        let name = |code: &str| all.iter().find(|d| d.0 == code).unwrap().1.clone();
        assert_eq!(name("500101"), "万州区卫生健康委员会");
        assert_eq!(name("500240"), "石柱土家族自治县卫生健康委员会");
        // Development zones: the bureau's name as it is, no suffix appended.
        assert_eq!(name("LJXQ"), "两江新区社发局");
        assert_eq!(name("GXQ"), "重庆高新区公共服务局");
        assert_eq!(name("WSJK"), "万盛经开区卫生健康局");
        assert!(all.iter().all(|d| !d.1.contains("局卫生健康委员会")));
        assert_eq!(place_of("万州区卫生健康委员会"), "万州区");
        assert_eq!(place_of("两江新区社发局"), "两江新区");
        assert_eq!(place_of("万盛经开区卫生健康局"), "万盛经开区");
        assert_eq!(place_of("500104"), "500104");
    }
}
