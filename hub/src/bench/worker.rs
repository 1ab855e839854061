//! The bench's worker processes: `yl-hub bench-worker` (hidden) runs a slice of the bench's
//! institutions — their stores opened from the folders the bench built, their daemons syncing with
//! their districts — and answers the bench's requests, one JSON line each way on its stdin and
//! stdout. [`Worker`] is the bench's end. A city's 8,200 institutions need more file descriptors
//! (two SQLite connections of three each, and a socket) than one process may open here, so the
//! bench spreads them over workers of at most [`STORES_PER_WORKER`] stores.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use yinglian_node::docs::document::DocId;
use yinglian_node::docs::ledger;
use yinglian_node::domain::camera::Field;
use yinglian_node::domain::figures::CameraFlags;
use yinglian_node::federation::pki::Role;

use crate::local::{LocalUnit, raise_fd_limit};

/// Stores one worker holds at most: 2 connections × 3 descriptors + a socket each ≈ 14,000
/// descriptors, within the hard limit of 20,000 on the developers' machine.
pub const STORES_PER_WORKER: usize = 2_000;

/// What the bench asks a worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Open the stores of these institutions' folders (built and enrolled by the bench), each
    /// with its parent's code.
    Open { units: Vec<(PathBuf, String)> },
    /// Start every institution's daemon; answered once all are started.
    Start,
    /// Each institution's built cameras (device code, networked), for the latency edits.
    Targets,
    /// Marks camera `code` of institution `unit` networked or not; answered after the commit.
    SetNetworked {
        unit: String,
        code: String,
        networked: bool,
    },
    /// Bytes the institutions' sessions with their parents have sent and received.
    Traffic,
    /// This process's stage counters (`yl_stage_*`): the institutions' writes and pushes.
    Stages,
    /// Stop every daemon (each checkpoints its store); answered before the worker exits.
    Stop,
}

/// A worker's answer to one request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Opened {
        units: usize,
    },
    Done,
    Targets {
        units: Vec<(String, Vec<(String, bool)>)>,
    },
    Traffic {
        bytes: u64,
    },
    Stages {
        totals: Vec<(String, u64, f64)>,
    },
    Error {
        message: String,
    },
}

/// `yl-hub bench-worker`: serves the bench's requests until `stop` or the end of stdin.
pub async fn main() -> Result<()> {
    raise_fd_limit();
    yinglian_node::store::set_connections_per_store(2);
    // Lines from stdin, read on their own thread (one request at a time).
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut units: Vec<(LocalUnit, String)> = Vec::new();
    while let Some(line) = rx.recv().await {
        let request: Request = serde_json::from_str(&line).context("a request from the bench")?;
        let stop = matches!(request, Request::Stop);
        let reply = match serve(&mut units, request).await {
            Ok(r) => r,
            Err(e) => Reply::Error {
                message: format!("{e:#}"),
            },
        };
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &reply)?;
        out.write_all(b"\n")?;
        out.flush()?;
        if stop {
            break;
        }
    }
    for (u, _) in &mut units {
        u.stop().await;
    }
    Ok(())
}

async fn serve(units: &mut Vec<(LocalUnit, String)>, request: Request) -> Result<Reply> {
    Ok(match request {
        Request::Open { units: list } => {
            for (dir, parent) in list {
                units.push((LocalUnit::open(&dir, Role::Node, None).await?, parent));
            }
            Reply::Opened { units: units.len() }
        }
        Request::Start => {
            for (u, _) in units.iter_mut() {
                u.start().await?;
            }
            Reply::Done
        }
        Request::Targets => {
            let mut out = Vec::with_capacity(units.len());
            for (u, _) in units.iter() {
                out.push((u.code.to_string(), built_cameras(u).await?));
            }
            Reply::Targets { units: out }
        }
        Request::SetNetworked {
            unit,
            code,
            networked,
        } => {
            let (u, _) = units
                .iter()
                .find(|(u, _)| u.code.as_str() == unit)
                .with_context(|| format!("no institution {unit} in this worker"))?;
            set_networked(u, &code, networked).await?;
            Reply::Done
        }
        Request::Traffic => Reply::Traffic {
            bytes: units.iter().map(|(u, p)| traffic(u, p)).sum(),
        },
        Request::Stages => Reply::Stages {
            totals: yinglian_node::store::stages::totals()
                .into_iter()
                .map(|(s, runs, secs)| (s.name().to_string(), runs, secs))
                .collect(),
        },
        Request::Stop => {
            for (u, _) in units.iter_mut() {
                u.stop().await;
            }
            Reply::Done
        }
    })
}

/// The built cameras of `inst`'s ledger: device code and whether networked.
pub(crate) async fn built_cameras(inst: &LocalUnit) -> Result<Vec<(String, bool)>> {
    let (rows, _) = inst
        .store
        .cameras(inst.code.as_str(), &Default::default())
        .await?;
    Ok(rows
        .iter()
        .filter(|r| CameraFlags::of(&r.camera).built)
        .map(|r| {
            (
                r.camera.device_code.to_string(),
                CameraFlags::of(&r.camera).networked,
            )
        })
        .collect())
}

/// Marks camera `code` of `inst` networked (是) or not (否), one change.
pub(crate) async fn set_networked(inst: &LocalUnit, code: &str, on: bool) -> Result<()> {
    let value = if on { "是" } else { "否" };
    inst.store
        .edit(&DocId::ledger(&inst.code), "bench", "network", |d| {
            let v = Field::Networked.parse_value(value)?;
            Ok(ledger::set_fields(d, code, &[(Field::Networked, v)])?)
        })
        .await?;
    Ok(())
}

/// Bytes `inst`'s session with `parent` has sent and received (0 while stopped).
pub(crate) fn traffic(inst: &LocalUnit, parent: &str) -> u64 {
    let Some(engine) = inst.engine.as_ref() else {
        return 0;
    };
    let s = engine.peer_stats(parent);
    s.sent() + s.received()
}

/// The bench's end of one worker process.
pub struct Worker {
    child: Child,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    /// The institutions it runs.
    pub units: usize,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Worker {
    /// Starts `yl-hub bench-worker` and asks it to open the stores of `units` (folder, parent's
    /// code); the answer is for [`Worker::receive`].
    pub fn spawn(units: Vec<(PathBuf, String)>) -> Result<Worker> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg("bench-worker")
            // `YL_BENCH_WORKER_LOG` (a `RUST_LOG` filter) for the workers' log, on the bench's
            // stderr.
            .env(
                "RUST_LOG",
                std::env::var("YL_BENCH_WORKER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .env_remove("YL_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting a bench worker")?;
        let stdin = child.stdin.take().context("the worker's stdin")?;
        let stdout = BufReader::new(child.stdout.take().context("the worker's stdout")?);
        let w = Worker {
            child,
            io: Mutex::new((stdin, stdout)),
            units: units.len(),
        };
        w.send(&Request::Open { units })?;
        Ok(w)
    }

    /// The worker's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one request without waiting for its answer (see [`Worker::receive`]).
    pub fn send(&self, r: &Request) -> Result<()> {
        let mut io = self.io.lock().expect("worker io");
        let mut line = serde_json::to_vec(r)?;
        line.push(b'\n');
        io.0.write_all(&line)?;
        io.0.flush()?;
        Ok(())
    }

    /// Waits for the answer to the request sent last; a worker's error is this call's error.
    pub fn receive(&self) -> Result<Reply> {
        let mut io = self.io.lock().expect("worker io");
        let mut line = String::new();
        if io.1.read_line(&mut line)? == 0 {
            bail!("bench worker {} ended", self.child.id());
        }
        match serde_json::from_str(&line).context("a reply from a bench worker")? {
            Reply::Error { message } => bail!("bench worker {}: {message}", self.child.id()),
            r => Ok(r),
        }
    }

    /// Sends `r` and waits for its answer, without holding up the runtime's other tasks.
    pub fn ask(&self, r: &Request) -> Result<Reply> {
        tokio::task::block_in_place(|| {
            self.send(r)?;
            self.receive()
        })
    }

    /// Waits for the answers of a request sent to every one of `workers`.
    pub fn receive_all(workers: &[Worker]) -> Result<Vec<Reply>> {
        tokio::task::block_in_place(|| workers.iter().map(Worker::receive).collect())
    }
}
