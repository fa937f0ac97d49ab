//! Applying a refresh plan: customers moved between the derived tags through the tags
//! layer's derived-group API, the derived attributes written through the attributes layer.

use roaring::{MultiOps, RoaringBitmap};

use super::plan::{AttrDiff, GroupDiff, Plan};
use crate::attrs::{Attrs, Reading};
use crate::error::Result;
use crate::history::Day;
use crate::lifecycle::Stage;
use crate::tags::{DerivedGroup, Tags};

/// Writes `plan`'s tags and attributes (the diffs are drained; the rest of the plan stays
/// for the report and the models' next state). `live`: every live customer, for the
/// prospects.
pub(super) fn apply(
    plan: &mut Plan,
    tags: &mut Tags,
    attrs: &mut Attrs,
    live: &RoaringBitmap,
    as_of: Day,
) -> Result<()> {
    // Every derived group and value tag exists first (so queries on an empty stage resolve).
    let mut groups = Vec::with_capacity(5);
    for diff in plan.tags.all_mut() {
        let values = tags.derived_group(diff.group, diff.kind, &diff.values)?;
        groups.push((diff, values));
    }
    for (diff, values) in &mut groups {
        move_members(tags, diff, values);
    }
    // Prospects: every live customer without another stage.
    let stages = &groups.last().expect("the stage group comes last").1;
    let staged = stages.tags()[1..].iter().map(|&t| tags.bits(t)).union();
    tags.replace_members(stages.tag(Stage::Prospect.index()), live - &staged);

    let recency = Reading::DaysSince(i64::from(as_of.days_since_epoch()));
    let a = &mut plan.attrs;
    write(attrs, &mut a.recency, recency);
    write(attrs, &mut a.frequency, Reading::Plain);
    write(attrs, &mut a.monetary, Reading::Plain);
    Ok(())
}

/// Moves the customers of one group's diff between its value tags.
fn move_members(tags: &mut Tags, diff: &mut GroupDiff, values: &DerivedGroup) {
    if diff.reset {
        // A new segment map: every segment tag starts empty. Segments the map no longer has
        // stay as empty tags, so stored queries naming them still resolve.
        tags.clear_group(diff.group);
    }
    for (i, (adds, removes)) in diff.adds.iter_mut().zip(&mut diff.removes).enumerate() {
        tags.move_members(values.tag(i), removes, adds);
        adds.clear();
        removes.clear();
    }
}

fn write(attrs: &mut Attrs, diff: &mut AttrDiff, reading: Reading) {
    attrs.write_derived(diff.name, &diff.clear, &diff.set, reading);
    diff.clear.clear();
    diff.set.clear();
}
