//! [`TagKind`]: the standard taxonomy of customer tags.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

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

impl FromStr for TagKind {
    type Err = Error;

    /// Parses a kind name, case-insensitively (`"Behaviour"` is accepted too).
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("behaviour") {
            return Ok(TagKind::Behavior);
        }
        TagKind::ALL
            .into_iter()
            .find(|k| t.eq_ignore_ascii_case(k.as_str()))
            .ok_or_else(|| Error::UnknownTagKind { name: crate::error::excerpt(s) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in TagKind::ALL {
            assert_eq!(k.to_string().parse::<TagKind>().unwrap(), k);
            assert_eq!(k.as_str().to_uppercase().parse::<TagKind>().unwrap(), k);
        }
        assert_eq!("Behaviour".parse::<TagKind>().unwrap(), TagKind::Behavior);
        assert_eq!(format!("[{:<8}]", TagKind::Value), "[value   ]");
        assert_eq!("vip".parse::<TagKind>(), Err(Error::UnknownTagKind { name: "vip".into() }));
    }
}
