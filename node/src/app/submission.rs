//! 报送 and its review, each use case once (the command line and the pages call these): a unit
//! submits its figures for a milestone, frozen as they stood then (its subtree's Attachment 2
//! figures, from its own rollup or ledger, with that document's heads); its parent accepts it or
//! returns it with a reason; and every level says, per milestone, where each child stands,
//! whether the figures a child submitted match the replica the parent holds, who has not
//! reported (with the liaison to call), and the completeness and timeliness of the level and of
//! its whole tree.
//!
//! Where the documents travel: `submission/<unit>` goes to the unit's parent and stops there;
//! `review/<unit>` is written by the parent and goes down to the unit alone. A level above the
//! parent sees the counts, not the submissions: the parent's rollup carries its tree's tallies
//! per milestone (`reporting`), and the level above holds the parent's own submission. The
//! parent trusts nothing of a child's submission beyond what it can verify: the figures are
//! checked against the child's ledger (a leaf) or rollup (a hub) that the parent holds, read at
//! the heads the submission names (until those changes arrive the check waits), and a mismatch
//! is shown.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::docs::document::DocId;
use crate::docs::submission::{
    append_decision, append_submission, read_decisions, read_submissions,
};
use crate::domain::campaign::{Campaign, Milestone};
use crate::domain::contacts::{Contact, ContactRole};
use crate::domain::figures::Counts;
use crate::domain::submission::{
    Decision, FrozenRow, Judgement, MAX_NAME, MAX_REASON, State, Submission, SubmissionError,
    Tallies, Tally, Verdict, check_text, judge, parse_milestone, to_millis,
};
use crate::domain::unit::UnitCode;
use crate::store::{Store, StoreError};

/// Why a submission, a decision or a status could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PaperError {
    #[error("{0}")]
    Refused(#[from] SubmissionError),
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The campaign held here and its milestone due `text` (`2021-08-25`).
pub async fn milestone(store: &Store, text: &str) -> Result<(Campaign, Milestone), PaperError> {
    let deadline = parse_milestone(text)?;
    let campaign = crate::app::campaign::held(store)
        .await?
        .ok_or(SubmissionError::NoCampaign)?;
    let m = campaign
        .milestones
        .iter()
        .find(|m| m.deadline == deadline)
        .cloned()
        .ok_or(SubmissionError::NotAMilestone(deadline))?;
    Ok((campaign, m))
}

/// The milestone a page shows first: the next one due, or the last one once all have passed.
pub fn current_milestone(c: &Campaign, today: NaiveDate) -> Option<&Milestone> {
    c.milestones
        .iter()
        .find(|m| m.deadline >= today)
        .or(c.milestones.last())
}

/// The subtree figures of `unit` as this store holds them: from a hub's rollup (its totals and a
/// row per child) or, for a leaf, its ledger; at `heads` of that document (now when `None`).
#[derive(Debug, Clone, PartialEq)]
pub enum Figures {
    /// This store holds neither document.
    NotHeld,
    /// Some of `heads` have not reached this store yet.
    Pending,
    At {
        counts: Counts,
        rows: Vec<FrozenRow>,
        /// The heads of the document they were read at (hex).
        heads: Vec<String>,
    },
}

fn ledger_counts(doc: &automerge::AutoCommit) -> Result<Counts, StoreError> {
    let mut c = Counts::default();
    for code in crate::docs::ledger::camera_codes(doc)? {
        if let Some(state) = crate::docs::ledger::read_camera(doc, &code)? {
            c.add_camera(&state.camera);
        }
    }
    Ok(c)
}

/// A rollup's figures, read at `heads`.
fn at_rollup(r: &crate::docs::rollup::Rollup, heads: Vec<String>) -> Figures {
    let rows = r
        .children
        .values()
        .map(|row| FrozenRow {
            unit: row.unit.clone(),
            name: row.name.clone(),
            counts: row.counts,
        })
        .collect();
    let counts = r.totals.as_ref().map(|t| t.counts).unwrap_or_default();
    Figures::At {
        counts,
        rows,
        heads,
    }
}

/// The heads every report of this unit named (of its rollup, for a hub), whatever the milestone.
pub async fn own_sources(store: &Store) -> Result<Vec<Vec<String>>, StoreError> {
    store
        .read_document(&DocId::submission(store.unit()), |d| {
            read_submissions(d)
                .into_values()
                .flatten()
                .map(|s| s.source)
                .filter(|h| !h.is_empty())
                .collect()
        })
        .await
}

/// The figures of the rollup generation `doc` at each of `sources` (reports' heads) that it
/// holds or carries from a generation before it: what its next generation keeps for them.
pub fn figures_to_keep(
    doc: &mut automerge::AutoCommit,
    sources: &[Vec<String>],
) -> std::collections::BTreeMap<String, crate::docs::rollup::Rollup> {
    use crate::docs::rollup::{Rollup, heads_key, read, read_submitted};
    let mut carried = read_submitted(doc);
    let mut out = std::collections::BTreeMap::new();
    for heads in sources {
        let key = heads_key(heads);
        if out.contains_key(&key) {
            continue;
        }
        if let Some(r) = carried.remove(&key) {
            out.insert(key, r);
            continue;
        }
        let Ok(hashes) = heads
            .iter()
            .map(|x| x.parse())
            .collect::<Result<Vec<automerge::ChangeHash>, _>>()
        else {
            continue;
        };
        if hashes.iter().any(|h| doc.get_change_by_hash(h).is_none()) {
            continue;
        }
        if let Ok(past) = doc.fork_at(&hashes) {
            let r = read(&past);
            out.insert(
                key,
                Rollup {
                    children: r.children,
                    totals: r.totals,
                    reporting: Default::default(),
                },
            );
        }
    }
    out
}

/// The figures of `unit` at `heads` of their document (see [`Figures`]).
pub async fn figures(
    store: &Store,
    unit: &UnitCode,
    heads: Option<&[String]>,
) -> Result<Figures, StoreError> {
    let rollup = store.rollup_doc(unit).await?;
    let (id, is_rollup) = if !store.heads(&rollup).await?.is_empty() {
        (rollup, true)
    } else if !store.heads(&DocId::ledger(unit)).await?.is_empty() {
        (DocId::ledger(unit), false)
    } else {
        return Ok(Figures::NotHeld);
    };
    let wanted: Option<Vec<automerge::ChangeHash>> = match heads {
        None => None,
        Some(h) => match h.iter().map(|x| x.parse()).collect::<Result<Vec<_>, _>>() {
            Ok(list) => Some(list),
            // A head that is not even a hash will never arrive.
            Err(_) => return Ok(Figures::Pending),
        },
    };
    store
        .read_document(&id, |d| {
            let past = match &wanted {
                Some(h) if h.iter().any(|x| d.get_change_by_hash(x).is_none()) => {
                    // Perhaps of a rollup generation given up since: its figures at those heads
                    // were carried into this one.
                    let kept = match (is_rollup, heads) {
                        (true, Some(h)) => crate::docs::rollup::read_submitted(d)
                            .remove(&crate::docs::rollup::heads_key(h)),
                        _ => None,
                    };
                    return Ok(match kept {
                        Some(r) => at_rollup(&r, heads.unwrap_or_default().to_vec()),
                        None => Figures::Pending,
                    });
                }
                Some(h) => Some(
                    d.fork_at(h)
                        .map_err(|e| StoreError::Damaged(id.to_string(), Box::new(e)))?,
                ),
                None => None,
            };
            let heads = crate::docs::document::heads_hex(&match &wanted {
                Some(h) => h.clone(),
                None => d.get_heads(),
            });
            let doc = past.as_ref().unwrap_or(d);
            if is_rollup {
                Ok(at_rollup(&crate::docs::rollup::read(doc), heads))
            } else {
                Ok(Figures::At {
                    counts: ledger_counts(doc)?,
                    rows: Vec::new(),
                    heads,
                })
            }
        })
        .await?
}

/// This unit submits its report for the milestone due `milestone`, as of `at`: its figures then,
/// frozen, with the reviewer and the filler. A resubmission is appended; the earlier ones stay.
pub async fn submit(
    store: &Store,
    who: &str,
    milestone_text: &str,
    reviewer: &str,
    filler: &str,
    at: DateTime<Utc>,
) -> Result<Submission, PaperError> {
    if store.identity().kind == crate::domain::unit::UnitKind::Subscriber {
        return Err(SubmissionError::Subscriber.into());
    }
    if store.meta("parent_unit").await?.is_none() {
        return Err(SubmissionError::NoParent.into());
    }
    let (_, m) = milestone(store, milestone_text).await?;
    let reviewer = check_text("reviewer", reviewer, MAX_NAME)?;
    let filler = check_text("filler", filler, MAX_NAME)?;
    let at = to_millis(at);
    let me = store.unit().clone();
    // Read and written under the rollup's lock: a roll between the two would not keep the
    // figures at the heads this report names.
    let _rollup = crate::app::rollup::writing(store).await;
    let (counts, rows, heads) = match figures(store, &me, None).await? {
        Figures::At {
            counts,
            rows,
            heads,
        } => (counts, rows, heads),
        Figures::NotHeld | Figures::Pending => Default::default(),
    };
    let s = Submission {
        at,
        reviewer,
        filler,
        by: who.to_string(),
        counts,
        rows,
        source: heads,
    };
    store
        .edit(
            &DocId::submission(&me),
            who,
            &format!("submit the report due {}", m.deadline),
            |d| {
                Ok(append_submission(d, m.deadline, &s)
                    .map_err(crate::docs::ledger::LedgerError::from)?)
            },
        )
        .await?;
    Ok(s)
}

/// The submissions of `unit` held here for the milestone due `deadline`, oldest first.
pub async fn submissions(
    store: &Store,
    unit: &UnitCode,
    deadline: NaiveDate,
) -> Result<Vec<Submission>, StoreError> {
    store
        .read_document(&DocId::submission(unit), |d| {
            read_submissions(d).remove(&deadline).unwrap_or_default()
        })
        .await
}

/// The decisions on `unit`'s submissions held here for the milestone due `deadline`.
pub async fn decisions(
    store: &Store,
    unit: &UnitCode,
    deadline: NaiveDate,
) -> Result<Vec<Decision>, StoreError> {
    store
        .read_document(&DocId::review(unit), |d| {
            read_decisions(d).remove(&deadline).unwrap_or_default()
        })
        .await
}

/// A unit that reports to this one: a child that syncs (not a subscriber).
async fn reporting_child(store: &Store, unit: &str) -> Result<UnitCode, PaperError> {
    let children = store.syncing_children().await?;
    match UnitCode::parse(unit.trim()) {
        Ok(u) if children.iter().any(|c| c == u.as_str()) => Ok(u),
        _ => Err(SubmissionError::NotAChild(unit.trim().to_string()).into()),
    }
}

/// This unit, as `unit`'s parent, accepts or returns `unit`'s standing submission for the
/// milestone; a return needs a reason. Written into `review/<unit>`, which goes down to `unit`.
pub async fn decide(
    store: &Store,
    who: &str,
    unit: &str,
    milestone_text: &str,
    verdict: Verdict,
    reason: &str,
    at: DateTime<Utc>,
) -> Result<Decision, PaperError> {
    let child = reporting_child(store, unit).await?;
    let (_, m) = milestone(store, milestone_text).await?;
    let reason = match verdict {
        Verdict::Returned => check_text("reason", reason, MAX_REASON)?,
        Verdict::Accepted => reason.trim().chars().take(MAX_REASON).collect(),
    };
    let standing = submissions(store, &child, m.deadline)
        .await?
        .into_iter()
        .max_by_key(|s| s.at)
        .ok_or_else(|| SubmissionError::NothingSubmitted(child.to_string(), m.deadline))?;
    let d = Decision {
        at: to_millis(at),
        verdict,
        reason,
        by: who.to_string(),
        submitted_at: standing.at,
    };
    store
        .edit(
            &DocId::review(&child),
            who,
            &format!("{} the report of {child} due {}", verdict.key(), m.deadline),
            |doc| {
                Ok(append_decision(doc, m.deadline, &d)
                    .map_err(crate::docs::ledger::LedgerError::from)?)
            },
        )
        .await?;
    Ok(d)
}

/// Whether a child's submitted figures match the replica the parent holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Check {
    /// Nothing submitted, nothing to check.
    None,
    /// The figures equal those of the replica at the document heads the submission names.
    Matches,
    /// They differ: each count that does, as submitted and as held here.
    Differs { fields: Vec<(String, u64, u64)> },
    /// The replica has not received the changes the submission was made from yet.
    Pending,
    /// This unit holds no replica of the child's figures yet.
    Unverifiable,
}

/// Compares a submission with the replica's figures at the heads it names: the same document
/// (a hub child's rollup, a leaf's ledger) at the same point, so equal figures are exactly what
/// the parent can see for itself. A hub child's report is checked against its rollup only.
pub async fn check(store: &Store, unit: &UnitCode, s: &Submission) -> Result<Check, StoreError> {
    let rollup = store.rollup_doc(unit).await?;
    let hub = store.child_hubs().await?.iter().any(|h| h == unit.as_str());
    if hub && store.heads(&rollup).await?.is_empty() {
        return Ok(Check::Unverifiable);
    }
    let (counts, rows) = match figures(store, unit, Some(&s.source)).await? {
        Figures::NotHeld => return Ok(Check::Unverifiable),
        Figures::Pending => return Ok(Check::Pending),
        Figures::At { counts, rows, .. } => (counts, rows),
    };
    let mut fields: Vec<(String, u64, u64)> = s
        .counts
        .iter()
        .zip(counts.iter())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((k, a), (_, b))| (k.to_string(), a, b))
        .collect();
    for row in &s.rows {
        let held = rows
            .iter()
            .find(|r| r.unit == row.unit)
            .map(|r| r.counts.to_array())
            .unwrap_or_default();
        for ((k, a), b) in row.counts.iter().zip(held) {
            if a != b {
                fields.push((format!("{}.{k}", row.unit), a, b));
            }
        }
    }
    Ok(if fields.is_empty() {
        Check::Matches
    } else {
        Check::Differs { fields }
    })
}

/// One child at one milestone, as its parent sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ChildReport {
    pub unit: String,
    pub name: String,
    #[serde(flatten)]
    pub judgement: Judgement,
    /// The submitted figures against the replica held here.
    pub verified: Check,
    /// Whom to call (the child's liaison, from its profile).
    pub liaison: Option<Contact>,
    /// For a hub child: the reporting counts of its own subtree, from its rollup.
    pub below: Option<Tally>,
}

/// One level at one milestone.
#[derive(Debug, Clone, Serialize)]
pub struct LevelStatus {
    pub unit: String,
    pub name: String,
    pub milestone: Milestone,
    /// Where this unit stands with its own parent (`None` at the root).
    pub own: Option<Judgement>,
    /// Its direct children.
    pub children: Vec<ChildReport>,
    /// The direct children's counts.
    pub level: Tally,
    /// The whole tree below this unit: the children and every unit below them.
    pub tree: Tally,
}

impl LevelStatus {
    /// The children that have not reported (returned ones included: they must submit again).
    pub fn not_reported(&self) -> impl Iterator<Item = &ChildReport> {
        self.children
            .iter()
            .filter(|c| matches!(c.judgement.state, State::Missing | State::Returned))
    }
}

/// A hub child's tallies, from the rollup it wrote (made consistent when read).
async fn child_tallies(store: &Store, unit: &UnitCode) -> Result<Option<Tallies>, StoreError> {
    // Read at each recompute of the rollup: the generation this process knows.
    let rollup = store.rollup_doc_known(unit).await?;
    if store.heads(&rollup).await?.is_empty() {
        return Ok(None);
    }
    store
        .read_document(&rollup, |d| Some(crate::docs::rollup::read_reporting(d)))
        .await
}

/// Where this unit and its children stand for the milestone due `milestone_text`.
pub async fn status(store: &Store, milestone_text: &str) -> Result<LevelStatus, PaperError> {
    let (_, m) = milestone(store, milestone_text).await?;
    let me = store.unit().clone();
    let own = match store.meta("parent_unit").await? {
        Some(_) => Some(judge(
            &submissions(store, &me, m.deadline).await?,
            &decisions(store, &me, m.deadline).await?,
            m.deadline,
        )),
        None => None,
    };
    let key = m.deadline.to_string();
    let mut children = Vec::new();
    let (mut level, mut tree) = (Tally::default(), Tally::default());
    for c in store.syncing_children().await? {
        let unit = UnitCode::parse(&c).map_err(|e| StoreError::Refused(e.to_string()))?;
        let subs = submissions(store, &unit, m.deadline).await?;
        let j = judge(
            &subs,
            &decisions(store, &unit, m.deadline).await?,
            m.deadline,
        );
        let verified = match &j.submission {
            Some(s) => check(store, &unit, s).await?,
            None => Check::None,
        };
        let below = child_tallies(store, &unit)
            .await?
            .map(|t| t.get(&key).copied().unwrap_or_default());
        level.count(&j);
        tree.count(&j);
        if let Some(b) = &below {
            tree.add(b);
        }
        let profile = store.profile(&c).await?;
        children.push(ChildReport {
            name: store.unit_name(&c).await?,
            unit: c,
            judgement: j,
            verified,
            liaison: profile.and_then(|p| p.contact(ContactRole::Liaison).cloned()),
            below,
        });
    }
    Ok(LevelStatus {
        unit: me.to_string(),
        name: store.identity().name.clone(),
        milestone: m,
        own,
        children,
        level,
        tree,
    })
}

/// The tallies of the whole tree below this unit, per milestone of the campaign held here: what
/// this hub's rollup carries up. The sum of [`child_tree_tallies`] over the syncing children.
pub async fn tree_tallies(store: &Store) -> Result<Tallies, StoreError> {
    let mut out = Tallies::new();
    let Some(c) = crate::app::campaign::held(store).await? else {
        return Ok(out);
    };
    for child in store.syncing_children().await? {
        let Ok(unit) = UnitCode::parse(&child) else {
            continue;
        };
        add_tallies(&mut out, &child_tree_tallies(store, &c, &unit).await?);
    }
    Ok(out)
}

/// What one child's subtree adds to the tallies of campaign `c`: the child's own submissions
/// as judged here, and what its rollup says of the units below it. A hub keeping its rollup
/// reads this again only for the child whose documents changed.
pub async fn child_tree_tallies(
    store: &Store,
    c: &Campaign,
    unit: &UnitCode,
) -> Result<Tallies, StoreError> {
    let mut out = Tallies::new();
    let subs = store
        .read_document(&DocId::submission(unit), |d| read_submissions(d))
        .await?;
    let decs = store
        .read_document(&DocId::review(unit), |d| read_decisions(d))
        .await?;
    let below = child_tallies(store, unit).await?.unwrap_or_default();
    for m in &c.milestones {
        let empty = Vec::new();
        let j = judge(
            subs.get(&m.deadline).unwrap_or(&empty),
            decs.get(&m.deadline).unwrap_or(&Vec::new()),
            m.deadline,
        );
        let key = m.deadline.to_string();
        let t = out.entry(key.clone()).or_default();
        t.count(&j);
        if let Some(b) = below.get(&key) {
            t.add(b);
        }
    }
    Ok(out)
}

/// Adds `t` into `out`, milestone by milestone.
pub fn add_tallies(out: &mut Tallies, t: &Tallies) {
    for (k, v) in t {
        out.entry(k.clone()).or_default().add(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn refused(store: &Store, milestone: &str) -> SubmissionError {
        match submit(store, "test", milestone, "王审核", "李填表", Utc::now()).await {
            Err(PaperError::Refused(e)) => e,
            other => panic!("refused expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_submission_needs_a_parent_the_campaign_and_one_of_its_milestones() {
        let (_dir, s) = crate::store::testing::hospital().await;
        assert_eq!(refused(&s, "2021-08-25").await, SubmissionError::NoParent);
        s.set_meta("parent_unit", "500103").await.unwrap();
        assert_eq!(refused(&s, "2021-08-25").await, SubmissionError::NoCampaign);
        crate::app::campaign::publish(&s, &Campaign::seed())
            .await
            .unwrap();
        let day = NaiveDate::from_ymd_opt(2021, 8, 26).unwrap();
        assert_eq!(
            refused(&s, "2021-08-26").await,
            SubmissionError::NotAMilestone(day)
        );
        assert!(matches!(
            refused(&s, "8月25日").await,
            SubmissionError::Date(_)
        ));
        let doc = DocId::submission(s.unit());
        assert!(s.heads(&doc).await.unwrap().is_empty(), "nothing written");
        let sub = submit(&s, "test", "2021-08-25", "王审核", "李填表", Utc::now())
            .await
            .unwrap();
        assert_eq!(sub.source, s.heads(&DocId::ledger(s.unit())).await.unwrap());
        // Nothing to decide on here: a hospital has no children.
        let e = decide(
            &s,
            "t",
            "500103-0002",
            "2021-08-25",
            Verdict::Accepted,
            "",
            Utc::now(),
        )
        .await
        .unwrap_err();
        assert!(matches!(
            e,
            PaperError::Refused(SubmissionError::NotAChild(_))
        ));
    }

    #[tokio::test]
    async fn a_subscriber_does_not_report() {
        let dir = tempfile::tempdir().unwrap();
        let unit = UnitCode::parse("GA-500000").unwrap();
        let s = Store::init(
            dir.path(),
            &unit,
            "市公安局",
            crate::domain::unit::UnitKind::Subscriber,
            crate::domain::unit::Role::Node,
        )
        .await
        .unwrap();
        s.set_meta("parent_unit", "500000").await.unwrap();
        assert_eq!(refused(&s, "2021-08-25").await, SubmissionError::Subscriber);
    }
}
