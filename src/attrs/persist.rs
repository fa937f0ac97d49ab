//! The attributes' snapshot sections (see `persist/` and `docs/format.md`).

use super::Attrs;
use crate::customers::Directory;
use crate::error::Result;
use crate::persist::{Reader, Writer};

impl Attrs {
    /// Writes the attributes' sections.
    pub(crate) fn write_snapshot(&self, w: &mut Writer) -> Result<()> {
        let _ = w;
        todo!("helper: the attributes' sections")
    }

    /// Reads what [`Attrs::save`] wrote; `customers` (already read) to check values belong to
    /// live customers.
    pub(crate) fn read_snapshot(r: &mut Reader, customers: &Directory) -> Result<Attrs> {
        let _ = (r, customers);
        todo!("helper: the attributes' sections")
    }
}
