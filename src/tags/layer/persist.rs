//! The tags' snapshot sections (see `persist/` and `docs/format.md`).

use super::Tags;
use crate::customers::Directory;
use crate::error::Result;
use crate::persist::{Reader, Writer};

impl Tags {
    /// Writes the tags' sections.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let _ = w;
        todo!("lead: the tags' sections")
    }

    /// Reads what [`Tags::save`] wrote; `customers` (already read) to check that every
    /// bitmap holds live customers only.
    pub(crate) fn read_snapshot(r: &mut Reader, customers: &Directory) -> Result<Tags> {
        let _ = (r, customers);
        todo!("lead: the tags' sections")
    }
}
