//! A loopback fault proxy: plain TCP forwarding from `127.0.0.1:0` to a hub's gRPC port (TLS
//! passes through unchanged), with faults switched at run time: pass, cut, freeze, black-hole,
//! delay and a bandwidth cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What the proxy does to a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything as it comes.
    Pass,
    /// Close every connection and refuse new ones (accepted, then reset at once).
    Cut,
    /// Accept connections but forward nothing; what was sent waits (unread) until the heal.
    Freeze,
    /// Keep connections open and drop every byte silently.
    BlackHole,
    /// Forward every byte this much later (in each direction).
    Delay(Duration),
    /// At most this many bytes a second, in each direction of each connection.
    Bandwidth(u64),
}

impl Fault {
    /// A short name for reports: pass, cut, freeze, black-hole, delay, bandwidth.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Pass => "pass",
            Fault::Cut => "cut",
            Fault::Freeze => "freeze",
            Fault::BlackHole => "black-hole",
            Fault::Delay(_) => "delay",
            Fault::Bandwidth(_) => "bandwidth",
        }
    }
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Delay(d) => write!(f, "delay {} ms", d.as_millis()),
            Fault::Bandwidth(b) => write!(f, "bandwidth {b} B/s"),
            other => f.write_str(other.kind()),
        }
    }
}

/// Counters of one proxy.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub accepted: AtomicU64,
    pub refused: AtomicU64,
    pub forwarded_bytes: AtomicU64,
    pub dropped_bytes: AtomicU64,
}

/// A running proxy; dropping it stops accepting and closes every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    target: SocketAddr,
    mode: watch::Sender<Fault>,
    pub stats: Arc<ProxyStats>,
    task: tokio::task::JoinHandle<()>,
}

/// Bytes read at once; also the unit the bandwidth cap and the delay queue work in.
const CHUNK: usize = 16 * 1024;
/// Chunks in flight per direction under a delay (then the reader waits: TCP back-pressure).
const QUEUE: usize = 256;

impl FaultProxy {
    /// Listens on `127.0.0.1:0` and forwards to `target`, passing everything until told otherwise.
    pub async fn start(target: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (mode, rx) = watch::channel(Fault::Pass);
        let stats = Arc::new(ProxyStats::default());
        let task = tokio::spawn(accept_loop(listener, target, rx, stats.clone()));
        Ok(FaultProxy {
            addr,
            target,
            mode,
            stats,
            task,
        })
    }

    /// Where children dial.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The hub port behind the proxy.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Switches the fault; `Fault::Pass` heals.
    pub fn set(&self, fault: Fault) {
        self.mode.send_replace(fault);
    }

    pub fn fault(&self) -> Fault {
        *self.mode.borrow()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Connections watch the mode: a cut closes them; the accept loop ends with the task.
        self.mode.send_replace(Fault::Cut);
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    mode: watch::Receiver<Fault>,
    stats: Arc<ProxyStats>,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        if *mode.borrow() == Fault::Cut {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            reset(client);
            continue;
        }
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(client, target, mode.clone(), stats.clone()));
    }
}

/// Closes with a reset, as a refused or cut connection looks to the peer.
fn reset(s: TcpStream) {
    // SO_LINGER 0 makes the close a reset, at once (a non-blocking socket never waits on it).
    if let Ok(s) = s.into_std() {
        let _ = socket_linger_zero(&s);
    }
}

#[cfg(unix)]
fn socket_linger_zero(s: &std::net::TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on an open socket with a valid, initialised struct of the right size.
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &l as *const libc::linger as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(unix))]
fn socket_linger_zero(_: &std::net::TcpStream) -> std::io::Result<()> {
    Ok(())
}

async fn connection(
    client: TcpStream,
    target: SocketAddr,
    mut mode: watch::Receiver<Fault>,
    stats: Arc<ProxyStats>,
) {
    let _ = client.set_nodelay(true);
    let (mut client_r, client_w) = client.into_split();
    // Frozen or black-holed from the start: no upstream connection until the heal (a black hole
    // swallows what the client sends meanwhile, so the stream is damaged, as on a real network).
    let mut buf = vec![0u8; CHUNK];
    loop {
        let m = *mode.borrow_and_update();
        match m {
            Fault::Cut => {
                if let Ok(s) = client_r.reunite(client_w) {
                    reset(s);
                }
                return;
            }
            Fault::Freeze => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
            Fault::BlackHole => {
                tokio::select! {
                    r = client_r.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return,
                        Ok(n) => { stats.dropped_bytes.fetch_add(n as u64, Ordering::Relaxed); }
                    },
                    c = mode.changed() => if c.is_err() { return },
                }
            }
            _ => break,
        }
    }
    let upstream = tokio::select! {
        u = TcpStream::connect(target) => u,
        _ = tokio::time::sleep(Duration::from_secs(5)) => return,
    };
    let Ok(upstream) = upstream else {
        // The hub is down: the client sees its connection reset.
        if let Ok(s) = client_r.reunite(client_w) {
            reset(s);
        }
        return;
    };
    let _ = upstream.set_nodelay(true);
    let (up_r, up_w) = upstream.into_split();
    let a = direction(client_r, up_w, mode.clone(), stats.clone());
    let b = direction(up_r, client_w, mode.clone(), stats.clone());
    tokio::select! {
        _ = async { tokio::join!(a, b) } => {}
        _ = wait_cut(mode) => {}
    }
    // Every half is dropped here: a cut closes both sides.
}

async fn wait_cut(mut mode: watch::Receiver<Fault>) {
    loop {
        if *mode.borrow_and_update() == Fault::Cut {
            return;
        }
        if mode.changed().await.is_err() {
            return;
        }
    }
}

/// One direction: a reader that stamps each chunk with the time it may leave (delay) or drops it
/// (black hole) or stops reading (freeze), and a writer that waits for that time, for the end of
/// a freeze, and for the bandwidth cap.
async fn direction(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mode: watch::Receiver<Fault>,
    stats: Arc<ProxyStats>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(QUEUE);
    let reader = {
        let mut mode = mode.clone();
        let stats = stats.clone();
        async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                // Nothing is read while frozen: the sender's bytes wait in the kernel buffers.
                while *mode.borrow_and_update() == Fault::Freeze {
                    if mode.changed().await.is_err() {
                        return;
                    }
                }
                let n = tokio::select! {
                    r = from.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    },
                    c = mode.changed() => { if c.is_err() { return } continue; }
                };
                let now = Instant::now();
                let m = *mode.borrow();
                match m {
                    Fault::BlackHole => {
                        stats.dropped_bytes.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Fault::Delay(d) => {
                        if tx.send((now + d, buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                    _ => {
                        if tx.send((now, buf[..n].to_vec())).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    };
    let writer = {
        let mut mode = mode.clone();
        async move {
            while let Some((due, bytes)) = rx.recv().await {
                tokio::time::sleep_until(due).await;
                loop {
                    let now = *mode.borrow_and_update();
                    match now {
                        Fault::Freeze => {
                            if mode.changed().await.is_err() {
                                return;
                            }
                        }
                        Fault::BlackHole => {
                            stats
                                .dropped_bytes
                                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                            break;
                        }
                        Fault::Bandwidth(rate) => {
                            let rate = rate.max(1);
                            let pause = Duration::from_secs_f64(bytes.len() as f64 / rate as f64);
                            tokio::time::sleep(pause.min(Duration::from_secs(5))).await;
                            if to.write_all(&bytes).await.is_err() {
                                return;
                            }
                            stats
                                .forwarded_bytes
                                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                            break;
                        }
                        _ => {
                            if to.write_all(&bytes).await.is_err() {
                                return;
                            }
                            stats
                                .forwarded_bytes
                                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
            let _ = to.shutdown().await;
        }
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let l = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = s.into_split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8], within: Duration) -> Option<Vec<u8>> {
        s.write_all(msg).await.ok()?;
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(within, s.read_exact(&mut got))
            .await
            .ok()?
            .ok()?;
        Some(got)
    }

    #[tokio::test]
    async fn faults_do_what_they_say() {
        let echo = echo_server().await;
        let p = FaultProxy::start(echo).await.unwrap();
        let short = Duration::from_millis(300);
        let mut s = TcpStream::connect(p.addr()).await.unwrap();
        assert_eq!(
            roundtrip(&mut s, b"hello", short).await.as_deref(),
            Some(&b"hello"[..])
        );

        // Delay: the echo comes back, later.
        p.set(Fault::Delay(Duration::from_millis(150)));
        let t = std::time::Instant::now();
        assert!(
            roundtrip(&mut s, b"late", Duration::from_secs(3))
                .await
                .is_some()
        );
        assert!(
            t.elapsed() >= Duration::from_millis(290),
            "{:?}",
            t.elapsed()
        );

        // Freeze: nothing comes back; on the heal what waited flows on.
        p.set(Fault::Freeze);
        tokio::time::sleep(Duration::from_millis(20)).await;
        s.write_all(b"held").await.unwrap();
        let mut got = [0u8; 4];
        assert!(
            tokio::time::timeout(short, s.read_exact(&mut got))
                .await
                .is_err()
        );
        p.set(Fault::Pass);
        tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut got))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got, b"held");

        // Black hole: the connection stays, the bytes are gone for good.
        p.set(Fault::BlackHole);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(roundtrip(&mut s, b"lost", short).await.is_none());
        p.set(Fault::Pass);
        assert_eq!(
            roundtrip(&mut s, b"next", Duration::from_secs(3))
                .await
                .as_deref(),
            Some(&b"next"[..])
        );

        // Bandwidth: 64 KiB at 128 KiB/s takes about half a second.
        p.set(Fault::Bandwidth(128 * 1024));
        let t = std::time::Instant::now();
        let big = vec![7u8; 64 * 1024];
        assert!(
            roundtrip(&mut s, &big, Duration::from_secs(10))
                .await
                .is_some()
        );
        assert!(
            t.elapsed() >= Duration::from_millis(400),
            "{:?}",
            t.elapsed()
        );

        // Cut: the open connection is closed and a new one is refused; the heal lets them in.
        p.set(Fault::Cut);
        let mut b = [0u8; 1];
        let r = tokio::time::timeout(Duration::from_secs(3), s.read(&mut b))
            .await
            .unwrap();
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        let mut fresh = TcpStream::connect(p.addr()).await.unwrap();
        let r = tokio::time::timeout(Duration::from_secs(3), fresh.read(&mut b))
            .await
            .unwrap();
        assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
        p.set(Fault::Pass);
        let mut again = TcpStream::connect(p.addr()).await.unwrap();
        assert!(roundtrip(&mut again, b"back", short).await.is_some());
        assert!(p.stats.refused.load(Ordering::Relaxed) >= 1);
    }
}
