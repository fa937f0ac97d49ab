//! Applying a refresh plan: customers moved between the derived tags through the tags
//! layer's derived-group API, the derived attributes written through the attributes layer.

use roaring::{MultiOps, RoaringBitmap};

use super::plan::{AttrDiff, GroupDiff, Plan};
use crate::attrs::{Attrs, Reading};
use crate::error::Result;
use crate::history::Day;
use crate::lifecycle::Stage;
use crate::par::Threads;
use crate::tags::{DerivedGroup, Tags};

/// The value tags of the refresh's groups, as the tags layer handed them out.
#[derive(Clone, Debug)]
pub(crate) struct DerivedTags {
    pub(crate) r: DerivedGroup,
    pub(crate) f: DerivedGroup,
    pub(crate) m: DerivedGroup,
    /// By segment index of the grid.
    pub(crate) segment: DerivedGroup,
    /// By [`Stage::index`].
    pub(crate) stage: DerivedGroup,
}

/// Writes `plan`'s tags and attributes (the diffs are drained; the rest of the plan stays
/// for the report and the models' next state); the groups it wrote. `live`: every live
/// customer, for the prospects.
pub(super) fn apply(
    plan: &mut Plan,
    tags: &mut Tags,
    attrs: &mut Attrs,
    live: &RoaringBitmap,
    as_of: Day,
    threads: Threads,
) -> Result<DerivedTags> {
    // Every derived group and value tag exists first (so queries on an empty stage resolve).
    let d = &mut plan.tags;
    let groups = DerivedTags {
        r: ensure(tags, &d.r)?,
        f: ensure(tags, &d.f)?,
        m: ensure(tags, &d.m)?,
        segment: ensure(tags, &d.segment)?,
        // Stage moves reach the change feed as stage changes (recorded with the report's
        // transitions), not as tag events.
        stage: ensure(tags, &d.stage)?.quiet(),
    };
    move_members(tags, &mut d.r, &groups.r);
    move_members(tags, &mut d.f, &groups.f);
    move_members(tags, &mut d.m, &groups.m);
    move_members(tags, &mut d.segment, &groups.segment);
    move_members(tags, &mut d.stage, &groups.stage);
    // Prospects: every live customer without another stage.
    let prospect = Stage::Prospect.index();
    let staged = Stage::ALL.iter().filter(|s| s.index() != prospect).map(|s| tags.members(&groups.stage, s.index()));
    let prospects = live - &staged.union();
    tags.replace_members(&groups.stage, prospect, prospects);

    let a = &mut plan.attrs;
    write(attrs, &mut a.recency, Reading::DaysSince(i64::from(as_of.days_since_epoch())), threads);
    write(attrs, &mut a.frequency, Reading::Plain, threads);
    write(attrs, &mut a.monetary, Reading::Plain, threads);
    Ok(groups)
}

fn ensure(tags: &mut Tags, diff: &GroupDiff) -> Result<DerivedGroup> {
    tags.derived_group(diff.group, diff.kind, &diff.values)
}

/// Moves the customers of one group's diff between its value tags.
fn move_members(tags: &mut Tags, diff: &mut GroupDiff, group: &DerivedGroup) {
    debug_assert_eq!(diff.adds.len(), group.len());
    if diff.reset {
        // A new segment grid: every scored customer is added to its segment afresh, so the
        // adds are each segment's members; segments the grid no longer has get nobody (and
        // stay as empty tags, so stored queries naming them still resolve).
        let members = diff.adds.iter_mut().map(|ids| bitmap(std::mem::take(ids))).collect();
        diff.removes.iter_mut().for_each(Vec::clear);
        tags.reset_group(group, members);
        return;
    }
    for (i, (adds, removes)) in diff.adds.iter_mut().zip(&mut diff.removes).enumerate() {
        tags.move_members(group, i, removes, adds);
        adds.clear();
        removes.clear();
    }
}

/// Ascending ids as a bitmap.
fn bitmap(ids: Vec<u32>) -> RoaringBitmap {
    RoaringBitmap::from_sorted_iter(ids).expect("a diff's ids ascend")
}

fn write(attrs: &mut Attrs, diff: &mut AttrDiff, reading: Reading, threads: Threads) {
    attrs.write_derived(diff.name, &diff.clear, &diff.set, reading, threads);
    diff.clear.clear();
    diff.set.clear();
}
