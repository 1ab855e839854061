//! Consistent backups of a running unit (`backup`, `restore`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::store::{STORE_FILE, Store, TLS_DIR};

/// What a backup holds.
#[derive(Debug)]
pub struct Backup {
    pub dir: PathBuf,
    pub store_bytes: u64,
    pub files: usize,
}

/// Writes a consistent snapshot of the unit to `out` while it runs: the store (SQLite's
/// `VACUUM INTO`, one read transaction, so every write is either wholly in or wholly out) and the
/// unit's keys and certificates. `out` must not exist; it appears only when complete.
pub async fn backup(store: &Store, out: &Path) -> Result<Backup> {
    if out.exists() {
        bail!("{} 已经存在：请给备份指定一个新的文件夹", out.display());
    }
    let tmp = staging(out, ".yl-backup-")?;
    let snapshot = tmp.path().join(STORE_FILE);
    store.vacuum_into(&snapshot).await.context("数据库快照")?;
    let files = 1 + copy_files(&store.dir().join(TLS_DIR), &tmp.path().join(TLS_DIR))?;
    let store_bytes = std::fs::metadata(&snapshot)?.len();
    private_tree(tmp.path())?;
    let kept = tmp.keep();
    std::fs::rename(&kept, out).with_context(|| format!("无法把备份放到 {}", out.display()))?;
    Ok(Backup {
        dir: out.to_path_buf(),
        store_bytes,
        files,
    })
}

/// A temporary folder beside `target` (same file system), to fill and then rename into place.
fn staging(target: &Path, prefix: &str) -> Result<tempfile::TempDir> {
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).with_context(|| format!("无法建立 {}", parent.display()))?;
    tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(parent)
        .with_context(|| format!("无法在 {} 中写入", parent.display()))
}

/// Makes a folder and everything in it its owner's alone (folders 0700, files 0600): a backup
/// holds the store (accounts, sessions) and the unit's private keys.
fn private_tree(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.is_dir() {
                private_tree(&p)?;
            } else {
                std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

/// Copies the files of the folder `from` (if it exists) into `to`; returns how many.
fn copy_files(from: &Path, to: &Path) -> Result<usize> {
    if !from.is_dir() {
        return Ok(0);
    }
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))
                .with_context(|| format!("copying {}", e.path().display()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Restores a backup into the empty data folder `data`. The restored unit writes under a new
/// Automerge actor from now on, and forgets what it knew of its peers' sync state, so that edits
/// made after the backup (which its parent still holds) come back on the first sync and never
/// collide with new ones.
pub async fn restore(from: &Path, data: &Path) -> Result<crate::domain::unit::UnitCode> {
    if !from.join(STORE_FILE).is_file() {
        bail!("{} 不是备份：其中没有 {STORE_FILE}", from.display());
    }
    if data.join(STORE_FILE).exists() {
        bail!(
            "{} 中已有单位的数据：请先把它移走，再恢复到空文件夹",
            data.display()
        );
    }
    let tmp = staging(data, ".yl-restore-")?;
    std::fs::copy(from.join(STORE_FILE), tmp.path().join(STORE_FILE))?;
    copy_files(&from.join(TLS_DIR), &tmp.path().join(TLS_DIR))?;
    let unit = {
        let store = Store::open(tmp.path())
            .await
            .with_context(|| format!("{} 无法作为数据库打开", from.display()))?;
        store.rotate_actor().await?;
        let unit = store.unit().clone();
        store.close().await;
        unit
    };
    // Into place: the folder itself when it is absent or empty.
    if data.exists() {
        if std::fs::read_dir(data)?.next().is_some() {
            bail!("{} 不是空文件夹：请恢复到空文件夹", data.display());
        }
        std::fs::remove_dir(data)?;
    }
    private_tree(tmp.path())?;
    let kept = tmp.keep();
    std::fs::rename(&kept, data)
        .with_context(|| format!("无法把恢复的单位放到 {}", data.display()))?;
    Ok(unit)
}
