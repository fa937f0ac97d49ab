//! Identifier newtypes: [`CustomerId`] and [`TagId`]; [`TagKind`]; the limits of names; the
//! names the models reserve.
//!
//! Both ids are dense `u32` indexes. They carry no logic; the engine hands them out and
//! resolves them. Keeping them apart in the type system means a tag id can never be passed
//! where a customer is expected.

use std::fmt;

/// The names `refresh` derives, each written once: its exclusive groups and attributes. The
/// refresh writes them; the tags and attributes layers refuse them to hand writes; errors
/// explain them.
pub(crate) mod derived {
    /// The recency score group: `r:1`..`r:5`.
    pub(crate) const R: &str = "r";
    /// The frequency score group: `f:1`..`f:5`.
    pub(crate) const F: &str = "f";
    /// The monetary score group: `m:1`..`m:5`.
    pub(crate) const M: &str = "m";
    /// The RFM segment group: `rfm:champions`, ...
    pub(crate) const SEGMENT: &str = "rfm";
    /// The lifecycle stage group: `stage:active`, ...
    pub(crate) const STAGE: &str = "stage";
    /// Days since the last purchase (stored as that day).
    pub(crate) const RECENCY_DAYS: &str = "recency_days";
    /// Purchases on or before the as-of day.
    pub(crate) const FREQUENCY: &str = "frequency";
    /// Money total on or before the as-of day, in minor units.
    pub(crate) const MONETARY: &str = "monetary";
}

/// The tag groups `refresh` owns: `r`, `f`, `m` (scores), `rfm` (segments), `stage`.
pub(crate) const DERIVED_GROUPS: [&str; 5] = [derived::R, derived::F, derived::M, derived::SEGMENT, derived::STAGE];
/// The attributes `refresh` owns.
pub(crate) const DERIVED_ATTRS: [&str; 3] = [derived::RECENCY_DAYS, derived::FREQUENCY, derived::MONETARY];
/// Who owns them, for errors.
pub(crate) const DERIVED_OWNER: &str = "refresh (RFM and lifecycle)";
/// Who owns an applied segment plan's group, for errors.
pub(crate) const PLAN_OWNER: &str = "a segment plan (Engine::apply_plan)";
/// Who owns a rule tag, for errors.
pub(crate) const RULE_OWNER: &str = "its rule (Engine::define_rule_tag)";

/// The longest tag (or attribute, or exclusive group) name, in bytes of its normal form:
/// 256 bytes is 256 ASCII letters, 85 CJK characters or 64 emoji.
///
/// A longer name is an [`Error::InvalidTagName`](crate::Error::InvalidTagName) (or
/// [`Error::InvalidAttributeName`](crate::Error::InvalidAttributeName)), refused before
/// anything is allocated for it. The limit bounds what one name costs (each level of a
/// hierarchy is a tag with its own full name, so a name of `n` bytes costs at most
/// `MAX_TAG_DEPTH * n` bytes of names) and what an error message quotes.
pub const MAX_TAG_NAME_LEN: usize = 256;

/// The most `/` levels a tag name may have: `a/b/c` has three.
///
/// A deeper name is an [`Error::InvalidTagName`](crate::Error::InvalidTagName). Every level
/// is a tag of its own (creating `a/b/c` creates `a/b` and `a`), and a query on a level reads
/// the cached union of everything below it, so the depth bounds the work a change of one tag
/// does for its ancestors.
pub const MAX_TAG_DEPTH: usize = 16;

/// A customer's dense id: the bit position of the customer in every tag bitmap.
///
/// Ids come from [`Engine::customer`](crate::Engine::customer) (interning an external key)
/// or from [`Engine::customer_id`](crate::Engine::customer_id) (registering a dense id the
/// caller already has). Converting from and to `u32` is free:
///
/// ```
/// use audience::CustomerId;
/// let id = CustomerId::from(42);
/// assert_eq!(u32::from(id), 42);
/// assert_eq!(id.to_string(), "#42");
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CustomerId(pub u32);

impl CustomerId {
    /// The id as a `u32`.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl From<u32> for CustomerId {
    #[inline]
    fn from(n: u32) -> Self {
        CustomerId(n)
    }
}

impl From<CustomerId> for u32 {
    #[inline]
    fn from(id: CustomerId) -> u32 {
        id.0
    }
}

impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A tag's dense id in the engine's tag pool.
///
/// Stable for the life of the tag: renaming keeps the id, deleting retires it (ids are not
/// reused). Resolve names with [`Engine::tag_id`](crate::Engine::tag_id).
///
/// ```
/// use audience::{Engine, TagKind};
/// let mut engine = Engine::new();
/// let vip = engine.define_tag("vip", TagKind::Value)?;
/// assert_eq!(engine.tag_id("vip"), Some(vip));
/// assert_eq!(engine.tag_name(vip), Some("vip"));
/// # Ok::<(), audience::Error>(())
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct TagId(pub u32);

impl TagId {
    /// The id as a `u32`.
    #[inline]
    pub const fn get(self) -> u32 {
        self.0
    }

    #[inline]
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

impl From<u32> for TagId {
    #[inline]
    fn from(n: u32) -> Self {
        TagId(n)
    }
}

impl From<TagId> for u32 {
    #[inline]
    fn from(id: TagId) -> u32 {
        id.0
    }
}

impl fmt::Display for TagId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tag#{}", self.0)
    }
}

/// What a tag describes, following the taxonomy CRM teams use for a tag pool.
///
/// The kind is metadata: it does not change how a tag is queried, but lets a profile group a
/// customer's tags and lets a tag pool be listed by kind ([`Engine::tags_of_kind`]).
///
/// ```
/// use audience::TagKind;
/// assert_eq!("lifecycle".parse::<TagKind>()?, TagKind::Lifecycle);
/// assert_eq!(TagKind::Value.to_string(), "value");
/// # Ok::<(), audience::Error>(())
/// ```
///
/// [`Engine::tags_of_kind`]: crate::Engine::tags_of_kind
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagKind {
    /// Who the customer is: region, age band, gender, occupation (属性).
    Attribute,
    /// What the customer did: bought twice, returned goods, browsed a category (行为).
    Behavior,
    /// What the customer cares about: outdoor sports, skincare (兴趣).
    Interest,
    /// Where the customer is in the relationship: new, active, at risk, churned, reactivated
    /// (生命周期).
    Lifecycle,
    /// What the customer is worth: VIP, high spend (价值).
    Value,
    /// Not (yet) classified. Tags created implicitly by [`Engine::tag`](crate::Engine::tag)
    /// get this kind; [`Engine::define_tag`](crate::Engine::define_tag) may later give them a
    /// real one.
    #[default]
    Custom,
}

impl TagKind {
    /// Every kind, in declaration order.
    pub const ALL: [TagKind; 6] =
        [TagKind::Attribute, TagKind::Behavior, TagKind::Interest, TagKind::Lifecycle, TagKind::Value, TagKind::Custom];

    /// The lowercase name, as printed and parsed.
    pub const fn as_str(self) -> &'static str {
        match self {
            TagKind::Attribute => "attribute",
            TagKind::Behavior => "behavior",
            TagKind::Interest => "interest",
            TagKind::Lifecycle => "lifecycle",
            TagKind::Value => "value",
            TagKind::Custom => "custom",
        }
    }
}

impl fmt::Display for TagKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_and_display() {
        assert_eq!(CustomerId::from(u32::MAX).get(), u32::MAX);
        assert_eq!(u32::from(TagId(7)), 7);
        assert_eq!(TagId::from(7).to_string(), "tag#7");
        assert!(CustomerId(1) < CustomerId(2));
    }
}
