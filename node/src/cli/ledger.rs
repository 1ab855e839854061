//! `ledger save|merge`: a whole copy of the unit's ledger and profile as one file, to carry to
//! another replica (a USB stick to the district) and merge there.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Subcommand;

use super::Common;
use crate::docs::document::DocId;

/// Magic line that starts a saved ledger file.
const MAGIC: &[u8] = b"yinglian-ledger-v1\n";

#[derive(Debug, Subcommand)]
pub enum LedgerCmd {
    /// 把本单位的台账和单位信息写到一个文件
    Save {
        /// 要写出的文件
        #[arg(long)]
        out: PathBuf,
    },
    /// 合并本单位另一副本用 `ledger save` 写出的文件
    Merge {
        /// `ledger save` 写出的文件
        file: PathBuf,
    },
    /// 本单位各文档的版本标识（heads）：两个已同步的副本显示相同的 heads
    Heads {
        /// 以 JSON 格式输出
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(common: &Common, cmd: LedgerCmd) -> Result<()> {
    let store = common.open().await?;
    let unit = store.unit().clone();
    let docs = [DocId::ledger(&unit), DocId::profile(&unit)];
    match cmd {
        LedgerCmd::Save { out } => {
            let mut buf = MAGIC.to_vec();
            for d in &docs {
                let bytes = store.save_document(d).await?.unwrap_or_default();
                let name = d.to_string();
                buf.extend((name.len() as u32).to_le_bytes());
                buf.extend(name.as_bytes());
                buf.extend((bytes.len() as u64).to_le_bytes());
                buf.extend(bytes);
            }
            crate::app::report::write_atomically(&out, &buf)?;
            println!(
                "单位 {unit} 的台账已保存到 {}（{} 字节）",
                out.display(),
                buf.len()
            );
        }
        LedgerCmd::Heads { json } => {
            let mut out = serde_json::Map::new();
            for d in &docs {
                let mut h = store.heads(d).await?;
                h.sort();
                out.insert(d.to_string(), h.into());
            }
            if json {
                println!("{}", serde_json::Value::Object(out));
            } else {
                for (d, h) in out {
                    println!("{d} {h}");
                }
            }
        }
        LedgerCmd::Merge { file } => {
            let buf =
                std::fs::read(&file).with_context(|| format!("无法读取 {}", file.display()))?;
            let parts = parse(&buf).with_context(|| format!("{}", file.display()))?;
            for (name, _) in &parts {
                let id: DocId = name.parse()?;
                if id.unit != unit {
                    bail!(
                        "{}：其中的 {name} 不是本单位（{unit}）的文档",
                        file.display()
                    );
                }
            }
            let who = format!("{} (merge of {})", common.who(), file.display());
            for (name, bytes) in parts {
                let id: DocId = name.parse()?;
                let w = store.merge_bytes(&id, &who, bytes).await?;
                println!(
                    "{name}: {}",
                    if w.changed {
                        format!("已合并，{} 条档案有变化", w.records)
                    } else {
                        "已是最新".into()
                    }
                );
            }
        }
    }
    Ok(())
}

fn parse(buf: &[u8]) -> Result<Vec<(String, &[u8])>> {
    let Some(mut rest) = buf.strip_prefix(MAGIC) else {
        bail!("不是 ledger save 写出的文件");
    };
    let mut out = Vec::new();
    let take = |rest: &mut &[u8], n: usize| -> Result<Vec<u8>> {
        if rest.len() < n {
            bail!("文件不完整");
        }
        let (a, b) = rest.split_at(n);
        *rest = b;
        Ok(a.to_vec())
    };
    while !rest.is_empty() {
        let n = u32::from_le_bytes(take(&mut rest, 4)?.try_into().expect("4 bytes")) as usize;
        let name = String::from_utf8(take(&mut rest, n)?).context("文档名有误")?;
        let len = u64::from_le_bytes(take(&mut rest, 8)?.try_into().expect("8 bytes")) as usize;
        if rest.len() < len {
            bail!("文件不完整");
        }
        let (doc, tail) = rest.split_at(len);
        rest = tail;
        out.push((name, doc));
    }
    Ok(out)
}
