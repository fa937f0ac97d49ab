//! The purchase history's snapshot sections (see `persist/` and `docs/format.md`).

use super::History;
use crate::error::Result;
use crate::persist::{Reader, Writer};

impl History {
    /// Writes the history's sections.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let _ = w;
        todo!("helper: the history's sections")
    }

    /// Reads what [`History::save`] wrote.
    pub(crate) fn read_snapshot(r: &mut Reader) -> Result<History> {
        let _ = r;
        todo!("helper: the history's sections")
    }
}
