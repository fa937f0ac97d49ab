//! The change feed: every membership change as a typed event, so an application turns tag
//! changes into actions (send the coupon when a customer enters `campaign:at_risk_vip`).
//!
//! Off by default; [`Engine::track_changes`](crate::Engine::track_changes) turns it on and
//! [`Engine::changes`](crate::Engine::changes) drains it. The tags layer, the only writer of
//! tag bitmaps, records every change as it makes it; the segment layer and the refresh
//! describe theirs at a higher level (a segment move, a stage change).
//!
//! What is recorded:
//!
//! - [`ChangeEvent::TagAdded`] / [`ChangeEvent::TagRemoved`]: customers who gained or lost
//!   a tag itself (not an ancestor: `sports/running` added is not `sports` added, though a
//!   query on `sports` now matches them). One event per tag and operation, with the
//!   customers as an [`Audience`]: tagging one customer gives an audience of one; `tag_all`,
//!   `tag_pairs`, a refresh or an expiry give one event per tag they changed. Customers who
//!   already had (or already lacked) the tag are not in it, and an operation that changes
//!   nothing records nothing. Deleting a tag records its members leaving it; removing a
//!   customer records it leaving every tag it carried; a rename records nothing (the
//!   customers keep the tag under its new name).
//! - [`ChangeEvent::SegmentMoved`]: customers who moved between two segments of an applied
//!   plan (`apply_plan`, `refresh_rules`, `refresh`); the plan's writes to its group are
//!   reported this way, not as tag events.
//! - [`ChangeEvent::StageChanged`]: customers whose lifecycle stage changed at a refresh;
//!   the refresh's writes to the `stage:` tags are reported this way.
//!
//! One exception: removing a customer records [`ChangeEvent::TagRemoved`] for every tag it
//! carried, a plan's segment tag and its `stage:` tag included (a removed customer is in no
//! segment and no stage from then on; the next refresh or plan computation reports nothing
//! more for it).
//!
//! Sequence numbers start at 1 and grow by one per event, across drains and across turning
//! the feed off and on, so a consumer can tell it missed nothing.

use crate::audience::Audience;
use crate::lifecycle::Stage;

/// One event of the change feed, with its sequence number. From
/// [`Engine::changes`](crate::Engine::changes).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Change {
    /// The event's number: 1 for the first event the engine recorded, one more for each
    /// event after it.
    pub seq: u64,
    /// What changed.
    pub event: ChangeEvent,
}

/// What changed, and for whom (see [`Change`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ChangeEvent {
    /// Customers gained tag `tag`.
    TagAdded {
        /// The tag's name at the time.
        tag: String,
        /// Who gained it.
        audience: Audience,
    },
    /// Customers lost tag `tag`.
    TagRemoved {
        /// The tag's name at the time.
        tag: String,
        /// Who lost it.
        audience: Audience,
    },
    /// Customers moved between two segments of the plan applied as `group`.
    SegmentMoved {
        /// The group the plan is applied as.
        group: String,
        /// Their segment before; `None` for customers that were in none (new since).
        from: Option<String>,
        /// Their segment now. The feed records `Some`: a removed customer is reported when it
        /// is removed, as [`ChangeEvent::TagRemoved`] of its segment's tag. (`Option`, as in
        /// [`SegmentMove`](crate::SegmentMove), for segmentations compared by hand.)
        to: Option<String>,
        /// Who moved.
        audience: Audience,
    },
    /// Customers whose lifecycle stage changed at a refresh.
    StageChanged {
        /// Their stage at the previous refresh; `None` for customers that had none.
        from: Option<Stage>,
        /// Their stage now.
        to: Stage,
        /// Who changed.
        audience: Audience,
    },
}

impl ChangeEvent {
    /// The customers the event is about.
    pub fn audience(&self) -> &Audience {
        match self {
            ChangeEvent::TagAdded { audience, .. }
            | ChangeEvent::TagRemoved { audience, .. }
            | ChangeEvent::SegmentMoved { audience, .. }
            | ChangeEvent::StageChanged { audience, .. } => audience,
        }
    }
}

/// The feed's state: whether it records, the last sequence number, and the events not yet
/// drained.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Feed {
    on: bool,
    /// While set, tag events are not recorded (a layer reports its writes itself).
    #[serde(skip)]
    muted: bool,
    /// The last sequence number handed out.
    seq: u64,
    /// Events recorded and not yet drained. Not part of the serde form: drain before saving.
    #[serde(skip)]
    log: Vec<Change>,
}

impl Feed {
    /// Whether events are being recorded: the feed is on (and not muted, for tag events).
    pub(crate) fn records(&self) -> bool {
        self.on && !self.muted
    }

    /// Whether the feed is on.
    pub(crate) fn is_on(&self) -> bool {
        self.on
    }

    pub(crate) fn set_on(&mut self, on: bool) {
        self.on = on;
    }

    /// Mutes tag events (or stops muting them); whether they were muted.
    pub(crate) fn mute(&mut self, muted: bool) -> bool {
        std::mem::replace(&mut self.muted, muted)
    }

    /// Records `event` when the feed is on and the event names someone.
    pub(crate) fn push(&mut self, event: ChangeEvent) {
        if self.on && !event.audience().is_empty() {
            self.seq += 1;
            self.log.push(Change { seq: self.seq, event });
        }
    }

    /// The events recorded since the last drain, oldest first.
    pub(crate) fn drain(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.log)
    }

    /// The events recorded and not yet drained, oldest first.
    pub(crate) fn pending(&self) -> &[Change] {
        &self.log
    }

    /// A feed as a snapshot kept it: on or off, the last sequence number, the undrained
    /// events (their numbers ascending, none past `seq`; the reader checks).
    pub(crate) fn restore(on: bool, seq: u64, log: Vec<Change>) -> Feed {
        Feed { on, muted: false, seq, log }
    }

    /// The last sequence number handed out (0 before the first event).
    pub(crate) fn last_seq(&self) -> u64 {
        self.seq
    }
}
