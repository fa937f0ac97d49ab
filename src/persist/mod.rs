//! Durability: the engine's state in one snapshot file (`file.rs`: header, checksummed
//! sections, atomic replacement; `codec.rs`: the values inside sections), and the changes
//! since in a journal beside it (`journal.rs`: records, sync policy, torn tails); big
//! columns are decoded on several threads (`column.rs`), big files written around the
//! page cache (`direct.rs`) and read ahead on a thread (`read.rs`). Each layer
//! writes and reads its own sections (`Directory::save`, `Tags::save`, ...); the engine
//! puts them in order (`engine/persist.rs`). The format is described for readers in other
//! languages in `docs/format.md`.

pub(crate) mod codec;
pub(crate) mod column;
pub(crate) mod direct;
pub(crate) mod file;
pub(crate) mod journal;
pub(crate) mod read;
pub(crate) mod rows;

pub(crate) use codec::{Dec, Enc};
pub(crate) use file::Writer;
pub(crate) use read::Reader;
#[cfg(test)]
pub(crate) mod testing;
