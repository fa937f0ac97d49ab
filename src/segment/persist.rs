//! The saved segments' snapshot sections (see `persist/` and `docs/format.md`).

use super::Segments;
use crate::error::Result;
use crate::persist::{Reader, Writer};
use crate::tags::Tags;

impl Segments {
    /// Writes the saved segments' sections.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let _ = w;
        todo!("helper: the segments' sections")
    }

    /// Reads what [`Segments::save`] wrote; `tags` (already read) to check the tags they
    /// name.
    pub(crate) fn read_snapshot(r: &mut Reader, tags: &Tags) -> Result<Segments> {
        let _ = (r, tags);
        todo!("helper: the segments' sections")
    }
}
