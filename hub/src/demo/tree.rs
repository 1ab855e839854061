//! The rest of the seed's tree in the demo: a directly affiliated hospital (委属) enrolled by the
//! city and reporting straight to it beside the districts, and a hospital of the first district
//! with two sub-units (下级部门): it runs a hub of its own, holds its sub-units' ledgers and sends
//! its district only its rollup.

use std::path::Path;

use anyhow::Result;
use yinglian_node::domain::unit::UnitKind;
use yinglian_node::federation::pki::Role;

use crate::local::{Federation, LocalUnit, area_code, place_of};

/// The directly affiliated hospital's code and name.
pub const AFFILIATED: (&str, &str) = ("500000-0001", "重庆医科大学附属第一医院");

/// The units the demo adds beside the districts' institutions, in the order they start (a hub
/// before the units it enrolled), each with the cameras it starts with.
pub async fn build(root: &Path, fed: &Federation, cameras: usize) -> Result<Vec<LocalUnit>> {
    let create = |code: String, name: String, kind, role| async move {
        LocalUnit::create(&root.join(&code), &code, &name, kind, role).await
    };
    let affiliated = create(
        AFFILIATED.0.into(),
        AFFILIATED.1.into(),
        UnitKind::Affiliated,
        Role::Node,
    )
    .await?;
    fed.city.enroll(&affiliated).await?;
    let district = &fed.districts[0];
    let place = place_of(&district.store.unit_name(district.code.as_str()).await?).to_string();
    let code = format!("{}-0099", district.code);
    let hospital = create(
        code.clone(),
        format!("{place}妇幼保健院"),
        UnitKind::Institution,
        Role::Hub,
    )
    .await?;
    district.enroll(&hospital).await?;
    let mut units = vec![affiliated, hospital];
    for (n, name) in [(1, "城南分院"), (2, "社区服务站")] {
        let sub = create(
            format!("{code}-{n:02}"),
            format!("{place}妇幼保健院{name}"),
            UnitKind::SubUnit,
            Role::Node,
        )
        .await?;
        units[1].enroll(&sub).await?;
        units.push(sub);
    }
    let area = area_code(&district.code);
    for (k, u) in units.iter().enumerate() {
        let area = if k == 0 { "500103" } else { area.as_str() };
        u.generate_cameras(area, (cameras / (k + 1)).max(3), 990 + k as u64)
            .await?;
    }
    Ok(units)
}
