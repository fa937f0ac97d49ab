//! Parsing [`TagKind`], the standard taxonomy of customer tags (the type itself is defined
//! with the identifiers, below the error type that names it).

use std::str::FromStr;

use crate::error::Error;
pub use crate::id::TagKind;

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
