//! The saved segments' snapshot section (see `persist/` and `docs/format.md`, "Segments").
//!
//! One `SEGM` section: the layer's serde form as JSON (plans in their public JSON plan
//! format, queries as canonical text, rule tags by [`TagId`]). Read back, everything the
//! layer later indexes or unwraps is checked against the tags already read: the rule tags
//! are the pool's rule tags, the plans' groups are the groups the owners registry gives to
//! plans, the saved queries resolve and read each other without a cycle.

use std::collections::HashSet;

use super::order::Node;
use super::{Inputs, Segments};
use crate::error::Result;
use crate::id::TagId;
use crate::persist::{Reader, Writer};
use crate::tags::Tags;

/// Section kind: the saved segments.
const SEGM: [u8; 4] = *b"SEGM";

impl Segments {
    /// Writes the saved segments' section.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let mut e = crate::persist::Enc::default();
        e.json(self);
        w.section(SEGM, &e.buf)
    }

    /// Reads what [`Segments::write_snapshot`] wrote; `tags` (already read) to check the
    /// tags they name, `input` (the live customers and the attributes, already read) to
    /// check that every saved query resolves.
    pub(crate) fn read_snapshot(r: &mut Reader, tags: &Tags, input: Inputs<'_>) -> Result<Segments> {
        let path = r.path().to_path_buf();
        let section = r.section(SEGM)?;
        let mut d = section.dec(&path);
        let at = d.offset();
        let segments: Segments = d.json("saved segments")?;
        d.finish("saved segments")?;
        let corrupt = |what: String| crate::persist::codec::corrupt(r.path(), at, what);
        segments.check_snapshot(tags, input).map_err(corrupt)?;
        Ok(segments)
    }

    /// What a snapshot's segments must hold against the tags read before them; what does
    /// not, as text.
    fn check_snapshot(&self, tags: &Tags, input: Inputs<'_>) -> std::result::Result<(), String> {
        let mut rule_tags: HashSet<TagId> = HashSet::with_capacity(self.rules.len());
        for r in &self.rules {
            if tags.pool().def(r.tag).is_none() {
                return Err(format!("rule tag {} is not a tag of the pool", r.tag.0));
            }
            if !tags.is_rule_tag(r.tag) {
                return Err(format!("tag {:?} has a rule but is not a rule tag", tags.pool().name(r.tag)));
            }
            if !rule_tags.insert(r.tag) {
                return Err(format!("rule tag {:?} has two rules", tags.pool().name(r.tag)));
            }
        }
        if let Some(t) = tags.rule_tag_ids().find(|t| !rule_tags.contains(t)) {
            return Err(format!("rule tag {:?} has no rule", tags.pool().name(t)));
        }
        let owned: HashSet<&str> = tags.plan_groups().collect();
        let mut groups: HashSet<&str> = HashSet::with_capacity(self.plans.len());
        for (group, _) in &self.plans {
            let normalized = tags.check_plan_group(group).ok().is_some_and(|g| g == *group);
            if !normalized || !owned.contains(&**group) {
                return Err(format!("plan group {group:?} is not a group that plans own"));
            }
            if !groups.insert(group) {
                return Err(format!("plan group {group:?} has two plans"));
            }
        }
        if let Some(g) = tags.plan_groups().find(|g| !groups.contains(g)) {
            return Err(format!("plan group {g:?} has no plan"));
        }
        for (group, plan) in &self.plans {
            tags.check_plan_values(group, plan.names()).map_err(|e| format!("plan {group:?}: {e}"))?;
        }
        let graph = self.graph(tags);
        let _: Vec<Node> = graph.order(&[], &graph.edges()).map_err(|cycle| {
            let names: Vec<String> = cycle.iter().map(|&n| graph.label(n)).collect();
            format!("the saved queries read each other in a cycle: {}", names.join(" -> "))
        })?;
        self.check(tags, input).map_err(|e| format!("a saved query does not resolve: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::error::Error;
    use crate::persist::Enc;
    use crate::persist::testing::{
        TempDir, assert_corrupt, overwrite, read_file, sections, write_file, write_sections,
    };
    use crate::{CustomerId, Engine, SegmentPlan};

    /// An engine with rule tags (one reading another and a plan's segment, Unicode names,
    /// attribute comparisons) and two applied plans (one reading a rule tag).
    fn engine() -> (Engine, Vec<CustomerId>) {
        let mut e = Engine::new();
        let c: Vec<CustomerId> = (0..40).map(|i| e.customer(&format!("c{i}")).unwrap()).collect();
        for (i, &id) in c.iter().enumerate() {
            if i % 3 == 0 {
                e.tag(id, "vip").unwrap();
            }
            if i % 4 == 0 {
                e.tag(id, "高消费").unwrap();
            }
            e.set_attr(id, "spend", i as i64 * 25 - 300).unwrap();
        }
        e.define_rule_tag("big", "spend >= 100 OR 高消费").unwrap();
        e.define_rule_tag("audiences/reach", "big OR vip").unwrap();
        let plan = SegmentPlan::new([("vips", "vip"), ("reach", "audiences"), ("负", "spend < 0")], "rest").unwrap();
        e.apply_plan("campaign", &plan).unwrap();
        e.define_rule_tag("campaign_vips", "campaign:vips AND NOT 高消费").unwrap();
        let second = SegmentPlan::new([("a", "campaign_vips"), ("b", "big")], "其他").unwrap();
        e.apply_plan("第二", &second).unwrap();
        (e, c)
    }

    fn input(e: &Engine) -> Inputs<'_> {
        let (customers, _, attrs, _) = e.layers();
        Inputs { live: customers.live(), attrs, threads: Default::default() }
    }

    fn read(path: &std::path::Path, e: &Engine) -> Result<Segments> {
        read_file(path, |r| Segments::read_snapshot(r, e.layers().1, input(e)))
    }

    #[test]
    fn segments_round_trip() {
        let dir = TempDir::new("segments-persist");
        let (mut e, c) = engine();
        let path = dir.path("segments.snap");
        write_file(&path, |w| e.layers().3.write_snapshot(w));
        let back = read(&path, &e).unwrap();
        let segments = e.layers().3;
        assert_eq!(serde_json::to_string(&back).unwrap(), serde_json::to_string(segments).unwrap());
        assert_eq!(back.plans.len(), 2);
        assert_eq!(back.rules.len(), 3);
        assert_eq!(back.applied(), segments.applied());
        // Computed again after a change, the read layer gives what the original does.
        e.tag(c[1], "vip").unwrap();
        e.set_attr(c[2], "spend", 10_000).unwrap();
        let (mut t1, mut t2) = (e.layers().1.clone(), e.layers().1.clone());
        let want = e.layers().3.compute_all(&mut t1, input(&e)).unwrap();
        assert_eq!(back.compute_all(&mut t2, input(&e)).unwrap(), want);
        assert!(!want.rules.is_empty() && !want.plans.is_empty());
        // No saved queries at all.
        let empty = Engine::new();
        write_file(&path, |w| empty.layers().3.write_snapshot(w));
        let back = read(&path, &empty).unwrap();
        assert!(back.plans.is_empty() && back.rules.is_empty());
    }

    /// Every truncation of the file and of the payload (with a valid checksum) is
    /// `Error::Corrupt`; bit flips are `Error::Corrupt` or (a flip that still makes sense) a
    /// valid layer; never a panic.
    #[test]
    fn damaged_files_are_corrupt_never_a_panic() {
        let dir = TempDir::new("segments-persist");
        let (e, _) = engine();
        let path = dir.path("segments.snap");
        write_file(&path, |w| e.layers().3.write_snapshot(w));
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path("cut.snap");
        for n in 0..bytes.len() {
            overwrite(&cut, &bytes[..n]);
            assert_corrupt(read(&cut, &e), &format!("file cut at {n}"));
        }
        for at in (0..bytes.len()).step_by(5) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 1 << (at % 8);
            overwrite(&cut, &flipped);
            assert_corrupt(read(&cut, &e), &format!("bit flipped at {at}"));
        }
        let good = sections(&path);
        assert_eq!(good.len(), 1);
        assert_eq!(good[0].0, SEGM);
        let payload = &good[0].1;
        for n in 0..payload.len() {
            write_sections(&cut, &[(SEGM, payload[..n].to_vec())]);
            assert_corrupt(read(&cut, &e), &format!("payload cut at {n}"));
        }
        for bit in (0..payload.len() * 8).step_by(3) {
            let mut damaged = payload.clone();
            damaged[bit / 8] ^= 1 << (bit % 8);
            write_sections(&cut, &[(SEGM, damaged)]);
            match read(&cut, &e) {
                Ok(_) | Err(Error::Corrupt { .. }) => {}
                Err(other) => panic!("bit {bit}: {other:?}"),
            }
        }
    }

    /// Documents that decode but do not match the tags are `Error::Corrupt`.
    #[test]
    fn crafted_values_are_corrupt() {
        let dir = TempDir::new("segments-persist");
        let (e, _) = engine();
        let tags = e.layers().1;
        let id = |name: &str| tags.pool().lookup(name).unwrap().0;
        let good: Value = serde_json::to_value(e.layers().3).unwrap();
        let path = dir.path("crafted.snap");
        let read_value = |v: &Value| {
            let mut enc = Enc::default();
            enc.json(v);
            write_sections(&path, &[(SEGM, enc.buf)]);
            read(&path, &e)
        };
        read_value(&good).unwrap();
        let edit = |f: &dyn Fn(&mut Value)| {
            let mut v = good.clone();
            f(&mut v);
            v
        };
        let plan_rule = |query: &str| json!({"rules": [{"name": "x", "query": query}], "fallback": "rest"});
        let bad: Vec<(&str, Value)> = vec![
            ("an unknown TagId", edit(&|v| v["rules"][0]["tag"] = json!(9999))),
            ("a TagId past u32", edit(&|v| v["rules"][0]["tag"] = json!(1u64 << 40))),
            ("a tag that is not a rule tag", edit(&|v| v["rules"][0]["tag"] = json!(id("vip")))),
            ("two rules for one tag", edit(&|v| v["rules"][1]["tag"] = v["rules"][0]["tag"].clone())),
            ("a rule tag without its rule", edit(&|v| v["rules"].as_array_mut().unwrap().truncate(2))),
            ("a plan group plans do not own", edit(&|v| v["plans"][0][0] = json!("other"))),
            ("an unnormalized plan group", edit(&|v| v["plans"][0][0] = json!(" campaign"))),
            ("two plans for one group", edit(&|v| v["plans"][1][0] = json!("campaign"))),
            ("a plan group without its plan", edit(&|v| v["plans"].as_array_mut().unwrap().truncate(1))),
            ("a query naming an unknown tag", edit(&|v| v["rules"][0]["query"] = json!("nosuchtag"))),
            ("a query naming an unknown attribute", edit(&|v| v["rules"][0]["query"] = json!("nosuch > 3"))),
            ("a query that does not parse", edit(&|v| v["rules"][0]["query"] = json!("vip AND ("))),
            ("a plan query naming an unknown tag", edit(&|v| v["plans"][0][1] = plan_rule("nosuchtag"))),
            ("an invalid plan", edit(&|v| v["plans"][0][1]["fallback"] = json!("vips"))),
            ("a cycle of rule tags", edit(&|v| v["rules"][0]["query"] = json!("audiences/reach"))),
            ("a plan reading its own group", edit(&|v| v["plans"][0][1] = plan_rule("campaign:vips"))),
            ("an unknown field", edit(&|v| v["extra"] = json!(1))),
            ("not an object", json!([1, 2])),
        ];
        for (what, v) in bad {
            assert_corrupt(read_value(&v), what);
        }
    }
}
