//! The chart of the home page: the networking rate of this unit's subtree week by week over the
//! last 12 weeks, from the first week that has data (no zeros drawn before the data began),
//! against the campaign's networking targets, as SVG with dated (year and day) axis labels.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::html;

use super::Web;
use super::session::Signed;
use crate::app::{campaign, figures};
use crate::domain::campaign::Figure;

/// The routes of this subject.
pub(super) fn routes() -> Router<Web> {
    Router::new().route("/chart.svg", get(chart))
}

/// The networking rate of this unit's subtree, week by week over the last 12 weeks (from the
/// documents' history), against the campaign's networking targets, as SVG.
async fn chart(State(web): State<Web>, _signed: Signed) -> Response {
    let today = crate::domain::figures::beijing_today();
    let mut points = Vec::new();
    for i in 0..=12i64 {
        let d = today - chrono::Duration::days(7 * (12 - i));
        // Weekly end-of-day figures, and the last point is now.
        let stats = if i == 12 {
            figures::subtree_stats(&web.store, None).await
        } else {
            figures::stats_as_of(&web.store, None, d).await
        };
        // A week before any camera was counted has no rate: it is not a zero.
        if let Some(rate) = stats.ok().and_then(|s| s.networking_rate) {
            points.push((d, rate));
        }
    }
    let n = points.len().max(2) - 1;
    let targets: Vec<(String, f64)> = match campaign::held(&web.store).await {
        Ok(Some(c)) => c
            .milestones
            .iter()
            .filter(|m| m.figure == Figure::NetworkingRate)
            .map(|m| {
                (
                    format!("{}（{}）", m.title, figures::date_zh(m.deadline)),
                    m.target,
                )
            })
            .collect(),
        _ => Vec::new(),
    };
    let (w, h, left, top, bottom) = (720.0, 260.0, 48.0, 16.0, 36.0);
    let plot_w = w - left - 16.0;
    let plot_h = h - top - bottom;
    let x = |i: usize| left + plot_w * i as f64 / n as f64;
    let y = |r: f64| top + plot_h * (1.0 - r.clamp(0.0, 100.0) / 100.0);
    let line: String = points
        .iter()
        .enumerate()
        .map(|(i, (_, r))| format!("{:.1},{:.1}", x(i), y(*r)))
        .collect::<Vec<_>>()
        .join(" ");
    let svg = html! {
        svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(h) viewBox=(format!("0 0 {w} {h}")) font-family="sans-serif" font-size="11" {
            rect x=(left) y=(top) width=(plot_w) height=(plot_h) fill="#fafafa" stroke="#ccc" {}
            @for pct in [0.0, 50.0, 100.0] {
                text x=(left - 6.0) y=(y(pct) + 4.0) text-anchor="end" { (format!("{pct:.0}%")) }
            }
            @for (label, t) in &targets {
                line x1=(left) x2=(left + plot_w) y1=(y(*t)) y2=(y(*t)) stroke="#c62828" stroke-dasharray="4 3" {}
                text x=(left + 4.0) y=(y(*t) - 3.0) fill="#c62828" { (label) " " (format!("{t:.0}%")) }
            }
            @if points.is_empty() {
                text x=(left + plot_w / 2.0) y=(top + plot_h / 2.0) text-anchor="middle" fill="#66717d" { "暂无数据：尚未登记应联网的摄像机" }
            }
            polyline points=(line) fill="none" stroke="#1565c0" stroke-width="2" {}
            @for (i, (d, r)) in points.iter().enumerate() {
                circle cx=(x(i)) cy=(y(*r)) r="2.5" fill="#1565c0" { title { (figures::date_zh(*d)) " " (format!("{r:.2}%")) } }
                @if i % 4 == 0 || i + 1 == points.len() {
                    text x=(x(i)) y=(h - 14.0) text-anchor="middle" { (figures::date_zh(*d)) }
                }
            }
        }
    };
    (
        [(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")],
        svg.into_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::http::{StatusCode, header};

    use crate::http::router;
    use crate::http::testing::*;

    #[tokio::test]
    async fn the_chart_starts_where_the_data_does_and_dates_carry_the_year() {
        let (_dir, s) = store().await;
        let (c, _) = editor(&s).await;
        // No camera yet: no zeros drawn, a note instead.
        let (st, _, body) = send(&router(s.clone()), get("/chart.svg", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            body.contains("暂无数据") && !body.contains("<circle"),
            "{body}"
        );
        // A camera added today: one point, today, labelled with its year.
        add_camera(&s, CAM1, "门诊").await;
        let (st, h, body) = send(&router(s.clone()), get("/chart.svg", &c)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("image/svg+xml")
        );
        assert!(
            body.contains("<polyline") && body.matches("<circle").count() == 1,
            "{body}"
        );
        let today = crate::domain::figures::beijing_today();
        // The axis says the year, as a person writes a date, not an ISO stamp.
        assert!(
            body.contains(&crate::app::figures::date_zh(today)),
            "{body}"
        );
        assert!(
            !body.contains(&today.format("%Y-%m-%d").to_string()),
            "{body}"
        );
        assert!(body.contains("100.00%"), "{body}");
    }
}
