//! The models' snapshot sections (see `persist/` and `docs/format.md`).

use super::Models;
use crate::error::Result;
use crate::persist::{Reader, Writer};
use crate::tags::Tags;

impl Models {
    /// Writes the models' sections.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let _ = w;
        todo!("helper: the models' sections")
    }

    /// Reads what [`Models::save`] wrote; `tags` (already read) for the derived groups.
    pub(crate) fn read_snapshot(r: &mut Reader, tags: &Tags) -> Result<Models> {
        let _ = (r, tags);
        todo!("helper: the models' sections")
    }
}
