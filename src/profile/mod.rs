//! The profile layer: who one customer is ([`Profile`], from
//! [`Engine::profile`](crate::Engine::profile)), what makes an audience different
//! ([`Description`], [`Breakdown`], [`AudienceComparison`]), and tag housekeeping figures
//! (`stats.rs`: [`TagStats`], empty and unused tags). It reads the other layers through
//! their crate APIs and writes nothing. Audiences are counted against tags with bitmap
//! cardinalities ([`crate::blocks::count`]), never customer by customer.

mod compare;
mod customer;
mod describe;
mod scan;
mod stats;

pub(crate) use compare::compare;
pub use compare::{AudienceComparison, ShareDiff};
pub use customer::{Profile, PurchaseSummary, RfmProfile};
pub(crate) use customer::{Sources, profile};
pub use describe::{Breakdown, DescribeOptions, Description, TagLift};
pub(crate) use describe::{breakdown, describe};
pub use stats::TagStats;
pub(crate) use stats::{empty_tags, tag_stat, tag_stats, unused_tags};
