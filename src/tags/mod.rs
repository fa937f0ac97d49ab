//! The tag pool (names, kinds, exclusive groups, hierarchy) and the bitmap store.

mod kind;
mod name;
mod pool;
mod store;
mod suggest;

pub use kind::TagKind;
pub use name::{MAX_TAG_DEPTH, MAX_TAG_NAME_LEN};
pub use pool::TagInfo;

pub(crate) use name::{normalize_group, normalize_tag};
pub(crate) use suggest::Suggest;

/// The exclusive-group prefix of `group:value`, if the name has a `:`.
pub(crate) fn group_prefix(name: &str) -> Option<&str> {
    name::split_group(name).map(|(g, _)| g)
}
pub(crate) use pool::Pool;
pub(crate) use store::Store;
