//! Segment plans: evaluated through the planner, applied by the segment layer through the
//! tags layer's derived-group API.

use super::Engine;
#[cfg(doc)]
use crate::error::Error;
use crate::error::Result;
use crate::segment::{SegmentDiff, SegmentPlan, Segmentation, Segments};

impl Engine {
    /// Puts every live customer in exactly one segment of `plan`: the first rule whose query
    /// matches it, else the fallback. Computed with bitmaps: rule `i`'s segment is its query
    /// minus the rules before it, the fallback every live customer no rule matched. Changes
    /// nothing; see [`Engine::apply_plan`] to store the segments as tags.
    ///
    /// Errors: [`Error::InRule`] naming the rule whose query names an unknown tag or
    /// attribute (with suggestions) or is too large.
    pub fn segment(&self, plan: &SegmentPlan) -> Result<Segmentation> {
        Segments::evaluate(&self.planner(), plan)
    }

    /// Evaluates `plan` and stores it as exclusive group `group`: one tag per segment
    /// (`campaign:champions`), so `campaign:champions AND NOT vip` is a query. Applying
    /// again (the same plan or a new version of it) moves only the customers whose segment
    /// changed; a value the new plan no longer has stays as an empty tag. Returns who moved
    /// since the group's last state ([`SegmentDiff`]); customers removed since are not in
    /// it (their removal already took them out of every tag). The plan is kept:
    /// [`Engine::refresh`] applies it again after the RFM and stage tags, so a plan may use
    /// `stage:` and `r:`, and its diff is in [`RefreshReport::plans`](crate::RefreshReport::plans).
    ///
    /// ```
    /// use audience::{Engine, SegmentPlan};
    /// let mut engine = Engine::new();
    /// let a = engine.customer("a")?;
    /// let b = engine.customer("b")?;
    /// engine.tag(a, "vip")?;
    /// let plan = SegmentPlan::new([("vips", "vip")], "others")?;
    /// engine.apply_plan("campaign", &plan)?;
    /// assert_eq!(engine.count("campaign:vips")?, 1);
    /// engine.tag(b, "vip")?;
    /// let moved = engine.apply_plan("campaign", &plan)?;
    /// assert_eq!(moved.entered("vips").map(|a| a.len()), Some(1));
    /// assert_eq!(engine.count("campaign:vips AND NOT campaign:others")?, 2);
    /// # Ok::<(), audience::Error>(())
    /// ```
    ///
    /// Errors: as [`Engine::segment`]; [`Error::InvalidTagName`] for a group name with `/`
    /// or `:`; [`Error::DerivedName`] for a group `refresh` owns. Nothing changes on error.
    pub fn apply_plan(&mut self, group: &str, plan: &SegmentPlan) -> Result<SegmentDiff> {
        let group = self.tags.check_group_name(group)?;
        let now = Segments::evaluate(&self.planner(), plan)?;
        self.segments.apply(&mut self.tags, &group, plan, &now)
    }

    /// The applied plans, `(group, plan)`, in the order they were first applied.
    pub fn applied_plans(&self) -> impl Iterator<Item = (&str, &SegmentPlan)> + '_ {
        self.segments.applied().iter().map(|(g, p)| (g.as_str(), p))
    }
}
