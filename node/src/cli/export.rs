//! `export attachment1|attachment2`: the official tables of this unit.

use std::path::PathBuf;

use anyhow::Result;

use super::Common;
use crate::app::report::{self, Table, TableRequest};

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// attachment1（附件1，联系人）或 attachment2（附件2，统计表）
    pub table: String,
    /// 要写出的文件：.xlsx 为官方格式，.csv 为普通表格
    #[arg(long)]
    pub out: PathBuf,
    /// 审核人
    #[arg(long, default_value = "")]
    pub reviewer: String,
    /// 填表人（默认为联络员）
    #[arg(long)]
    pub filler: Option<String>,
    /// 填表人的单位及职务（默认为联络员的职务）
    #[arg(long)]
    pub position: Option<String>,
    /// 联系电话（默认为联络员的电话）
    #[arg(long)]
    pub phone: Option<String>,
    /// 填表日期（默认为今天）
    #[arg(long)]
    pub date: Option<String>,
    /// 导出截至该日结束时的附件2（YYYY-MM-DD）
    #[arg(long)]
    pub as_of: Option<String>,
}

pub async fn run(common: &Common, a: ExportArgs) -> Result<()> {
    let store = common.open().await?;
    crate::app::figures::refresh_rollup(&store).await?;
    let table = Table::parse(&a.table).ok_or_else(|| {
        anyhow::anyhow!(
            "没有“{}”这张表：请用 attachment1（附件1）或 attachment2（附件2）",
            a.table
        )
    })?;
    let as_of = a
        .as_of
        .as_deref()
        .map(|d| {
            chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                anyhow::anyhow!("--as-of “{d}”不是日期：请写成 年-月-日，例如 2021-12-31")
            })
        })
        .transpose()?;
    let req = TableRequest {
        table,
        xlsx: report::is_xlsx(&a.out),
        reviewer: a.reviewer.clone(),
        filler: a.filler.clone(),
        position: a.position.clone(),
        phone: a.phone.clone(),
        date: a.date.clone(),
        as_of,
    };
    let bytes = report::official_table(&store, &req).await?;
    report::write_atomically(&a.out, &bytes)?;
    println!(
        "已写出{}：{}",
        match table {
            Table::Attachment1 => "附件1",
            Table::Attachment2 => "附件2",
        },
        a.out.display()
    );
    Ok(())
}
