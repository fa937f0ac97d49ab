//! The change feed: turned on and drained here, recorded by the tags layer (see `feed.rs`).

use super::Engine;
use super::journal::Op;
use crate::feed::Change;

impl Engine {
    /// Turns the change feed on or off (it is off by default). While on, every membership
    /// change is recorded as a [`Change`]: tags added and removed (one event per tag and
    /// operation, with an [`Audience`](crate::Audience)), customers moving between the
    /// segments of an applied plan, lifecycle stage changes at a refresh. Drain them with
    /// [`Engine::changes`]. Turning the feed off keeps the events not yet drained.
    ///
    /// While off, recording costs one flag test per write; while on, each batched write
    /// also computes what it changed (one bitmap difference per tag it writes).
    ///
    /// ```
    /// use audience::{ChangeEvent, Engine};
    /// let mut engine = Engine::new();
    /// let (a, b) = (engine.customer("a")?, engine.customer("b")?);
    /// engine.track_changes(true);
    /// engine.tag(a, "vip")?;
    /// engine.tag_all(&engine.customers(), "vip")?; // only b is new
    /// let changes = engine.changes();
    /// assert_eq!(changes.len(), 2);
    /// assert_eq!((changes[0].seq, changes[1].seq), (1, 2));
    /// match &changes[1].event {
    ///     ChangeEvent::TagAdded { tag, audience } => {
    ///         assert_eq!((tag.as_str(), audience.to_ids()), ("vip", vec![b.0]));
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// assert!(engine.changes().is_empty()); // drained
    /// # Ok::<(), audience::Error>(())
    /// ```
    pub fn track_changes(&mut self, on: bool) {
        let was = self.tags.tracks_changes();
        self.logged_infallible(|e| e.tags.track_changes(on), |_| (was != on).then_some(Op::TrackChanges(on)));
    }

    /// Whether the change feed is on.
    pub fn tracks_changes(&self) -> bool {
        self.tags.tracks_changes()
    }

    /// The changes recorded since the last call, oldest first (see [`Engine::track_changes`]).
    pub fn changes(&mut self) -> Vec<Change> {
        self.logged_infallible(|e| e.tags.drain_changes(), |drained| (!drained.is_empty()).then_some(Op::DrainChanges))
    }

    /// The sequence number of the last change recorded (0 before the first).
    pub fn last_change_seq(&self) -> u64 {
        self.tags.last_change()
    }
}
