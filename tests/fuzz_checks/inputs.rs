//! `inputs`: the other public entry points that read user text. The first byte picks one
//! (modulo their number), the rest is its input (invalid UTF-8 replaced, lossily):
//!
//! | byte | entry point | what must hold |
//! |---|---|---|
//! | 0 | `Money::parse` | exactly the amounts of the documented grammar, printing parses back |
//! | 1 | `Day`'s `FromStr` | `YYYY-MM-DD` as the calendar says, printing parses back |
//! | 2 | `Day::from_days_since_epoch` (the rest as `i32`s) | every day prints text that parses back to it |
//! | 3 | tag names (`Engine::ensure_tag`, `Query::tag`, groups, aliases) | the normal form is a fixed point within the limits, its query text resolves; an invalid name is refused by every entry |
//! | 4 | attribute names (`Engine::define_attr`, `set_attr`, `Query::compare`) | the same, for a comparison |
//! | 5 | customer keys (`Engine::customer`) | kept byte for byte |
//! | 6 | `TagKind`, `Stage` | printing parses back |
//! | 7 | a segment plan as JSON | serializing parses back; on the fixture, segments partition the live customers in rule order |
//!
//! Every error is a typed one of the entry point's documented kinds, and prints.

use audience::{
    CmpOp, CustomerId, Day, Engine, Error, MAX_CUSTOMER_KEY_LEN, MAX_TAG_DEPTH, MAX_TAG_NAME_LEN, Money, Query,
    SegmentPlan, Stage, TagKind,
};

use super::fixture;

pub fn check(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    match which % 8 {
        0 => money(&text),
        1 => day(&text),
        2 => day_numbers(rest),
        3 => tag_name(&text),
        4 => attr_name(&text),
        5 => customer_key(&text),
        6 => kinds(&text),
        _ => plan(&text),
    }
}

fn money(text: &str) {
    let got = Money::parse(text);
    assert_eq!(got.as_ref().ok(), text.parse::<Money>().as_ref().ok());
    match (got, money_model(text)) {
        (Ok(m), Some(minor)) => {
            assert_eq!(i128::from(m.minor()), minor, "{text:?}");
            let printed = m.to_string();
            assert_eq!(Money::parse(&printed).ok(), Some(m), "{text:?} prints {printed:?}");
        }
        (Err(e @ Error::InvalidAmount { .. }), None) => _ = e.to_string(),
        (got, want) => panic!("Money::parse({text:?}) = {got:?}, the grammar says {want:?} minor units"),
    }
}

/// `[+-]digits[.d[d]]` in minor units, within `Money::MAX_MINOR`.
fn money_model(text: &str) -> Option<i128> {
    let (negative, t) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (int, frac) = t.split_once('.').map_or((t, None), |(i, f)| (i, Some(f)));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || frac.is_some_and(|f| !digits(f) || f.len() > 2) {
        return None;
    }
    let mut minor: i128 = 0;
    for b in int.bytes().chain(frac.unwrap_or("").bytes()) {
        minor = (minor * 10 + i128::from(b - b'0')).min(i128::from(i64::MAX) * 10);
    }
    minor *= if frac.map_or(0, str::len) == 1 {
        10
    } else if frac.is_none() {
        100
    } else {
        1
    };
    (minor <= i128::from(Money::MAX_MINOR)).then_some(if negative { -minor } else { minor })
}

fn day(text: &str) {
    let got = text.parse::<Day>();
    if let Ok(d) = got {
        let printed = d.to_string();
        assert_eq!(printed.parse::<Day>().ok(), Some(d), "{text:?} is {d:?}, which prints {printed:?}");
    }
    let b = text.as_bytes();
    let plain = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| matches!(i, 4 | 7) == (*c == b'-'))
        && b.iter().enumerate().all(|(i, c)| matches!(i, 4 | 7) || c.is_ascii_digit());
    if plain {
        let n = |r: std::ops::Range<usize>| text[r].parse::<u32>().unwrap();
        let date = audience::chrono::NaiveDate::from_ymd_opt(n(0..4) as i32, n(5..7), n(8..10));
        assert_eq!(got.as_ref().ok().copied(), date.map(Day::from), "{text:?}");
    }
    match got {
        Ok(_) => {}
        Err(e @ Error::InvalidDate { .. }) => _ = e.to_string(),
        Err(e) => panic!("{text:?}: {e:?} is not an InvalidDate"),
    }
}

fn day_numbers(bytes: &[u8]) {
    let mut words = bytes.chunks_exact(4).map(|w| i32::from_le_bytes(w.try_into().unwrap()));
    let Some(n) = words.next() else { return };
    let Some(d) = Day::from_days_since_epoch(n) else {
        assert!(Day::try_from(n).is_err());
        return;
    };
    assert_eq!(d.days_since_epoch(), n);
    assert_eq!(Day::try_from(n).ok(), Some(d));
    let printed = d.to_string();
    assert_eq!(printed.parse::<Day>().ok(), Some(d), "day {n} prints {printed:?}");
    assert_eq!(Day::from(d.to_date()), d);
    if let Some(m) = words.next() {
        let later = d.checked_add_days(m);
        assert_eq!(later, n.checked_add(m).and_then(Day::from_days_since_epoch));
        if let Some(later) = later {
            assert_eq!(later - d, i64::from(m));
        }
    }
}

fn tag_name(raw: &str) {
    let mut e = Engine::new();
    let query = Query::tag(raw);
    let id = match e.ensure_tag(raw) {
        Ok(id) => id,
        Err(err) => {
            let _ = err.to_string();
            if matches!(err, Error::InvalidTagName { .. }) {
                // The same name is refused wherever it is read.
                let c = e.customer("c").unwrap();
                assert!(matches!(e.tag(c, raw), Err(Error::InvalidTagName { .. })), "tag {raw:?}");
                assert!(matches!(e.count(&query), Err(Error::InvalidTagName { .. })), "Query::tag({raw:?})");
                assert!(e.define_exclusive_group(raw).is_err(), "group {raw:?}");
                e.ensure_tag("vip").unwrap();
                assert!(matches!(e.alias_tag(raw, "vip"), Err(Error::InvalidTagName { .. })), "alias {raw:?}");
            } else {
                assert!(matches!(err, Error::DerivedName { .. }), "ensure_tag({raw:?}): {err:?}");
            }
            return;
        }
    };
    let name = e.tag_name(id).unwrap().to_owned();
    assert!(name.len() <= MAX_TAG_NAME_LEN && name.split('/').count() <= MAX_TAG_DEPTH, "{name:?}");
    assert_eq!(name.trim(), name);
    assert!(name.split('/').all(|level| !level.trim().is_empty() && level.trim() == level), "{name:?}");
    assert_eq!(e.ensure_tag(&name).unwrap(), id, "the normal form {name:?} of {raw:?} is another tag");
    assert_eq!(e.tag_id(raw), Some(id));
    assert_eq!(query, Query::tag(&name));
    let printed = query.to_string();
    let parsed = Query::parse(&printed).unwrap_or_else(|err| panic!("Query::tag({raw:?}) prints {printed:?}: {err}"));
    assert_eq!(parsed, query, "Query::tag({raw:?}) prints {printed:?}");
    let c = e.customer("c").unwrap();
    e.tag(c, raw).unwrap();
    assert_eq!(e.count(printed.as_str()).unwrap(), 1, "{printed:?}");
    assert_eq!(e.tags_of(c).unwrap(), [name.as_str()]);

    // As an alias of another tag, and as an exclusive group (a name without '/' or ':').
    let mut e = Engine::new();
    e.ensure_tag("fuzz target").unwrap();
    match e.alias_tag(raw, "fuzz target") {
        Ok(_) => assert_eq!(e.count(printed.as_str()).unwrap(), 0),
        Err(err) => _ = err.to_string(),
    }
    match Engine::new().define_exclusive_group(raw) {
        Ok(()) => assert!(!name.contains(['/', ':']), "group {name:?}"),
        Err(err) => _ = err.to_string(),
    }
}

fn attr_name(raw: &str) {
    let mut e = Engine::new();
    let query = Query::compare(raw, CmpOp::Ge, -7);
    match e.define_attr(raw) {
        Ok(()) => {}
        Err(err) => {
            let _ = err.to_string();
            assert!(e.count(&query).is_err(), "Query::compare({raw:?}) of a refused name");
            return;
        }
    }
    let names: Vec<String> = e.attributes().map(|(n, _)| n.to_owned()).collect();
    let [name] = names.as_slice() else { panic!("define_attr({raw:?}) made {names:?}") };
    let printed = query.to_string();
    let parsed = Query::parse(&printed).unwrap_or_else(|err| panic!("{query:?} prints {printed:?}: {err}"));
    assert_eq!(parsed, query, "{printed:?}");
    assert_eq!(e.count(&query).unwrap(), 0);
    let c = e.customer("c").unwrap();
    assert_eq!(e.set_attr(c, raw, -7).unwrap(), None);
    assert_eq!(e.attr(c, name).unwrap(), Some(-7));
    assert_eq!(e.count(printed.as_str()).unwrap(), 1, "{printed:?}");
}

fn customer_key(key: &str) {
    let mut e = Engine::new();
    match e.customer(key) {
        Ok(id) => {
            assert!(!key.is_empty() && key.len() <= MAX_CUSTOMER_KEY_LEN);
            assert_eq!(e.key_of(id), Some(key));
            assert_eq!(e.id_of(key), Some(id));
            assert_eq!(e.customer(key).unwrap(), id);
            // The next key gets the next id (a key of the longest length has no longer one).
            if key.len() < MAX_CUSTOMER_KEY_LEN {
                assert_eq!(e.customer(&format!("{key}.")).unwrap(), CustomerId(id.0 + 1));
            }
        }
        Err(err @ Error::InvalidCustomerKey { .. }) => {
            assert!(key.is_empty() || key.len() > MAX_CUSTOMER_KEY_LEN, "{key:?} refused: {err}");
        }
        Err(err) => panic!("customer({key:?}): {err:?}"),
    }
}

fn kinds(text: &str) {
    match text.parse::<TagKind>() {
        Ok(k) => assert_eq!(k.to_string().parse::<TagKind>().ok(), Some(k)),
        Err(err) => _ = err.to_string(),
    }
    match text.parse::<Stage>() {
        Ok(s) => assert_eq!(s.to_string(), text),
        Err(err) => _ = err.to_string(),
    }
}

fn plan(json: &str) {
    let plan: SegmentPlan = match serde_json::from_str(json) {
        Ok(plan) => plan,
        Err(err) => {
            let _ = err.to_string();
            return;
        }
    };
    let again = serde_json::to_string(&plan).unwrap();
    let back: SegmentPlan =
        serde_json::from_str(&again).unwrap_or_else(|err| panic!("{json:?} serializes as {again:?}: {err}"));
    assert_eq!(back, plan, "{again:?}");
    fixture::with(|f| {
        let segments = match f.engine.segment(&plan) {
            Ok(s) => s,
            Err(err) => {
                let _ = err.to_string();
                return;
            }
        };
        let mut earlier = audience::Audience::new();
        for rule in plan.rules() {
            let matched = f.engine.select(rule.query()).unwrap();
            let want = matched.difference(&earlier);
            assert_eq!(segments.audience(rule.name()).map(|a| a.bitmap()), Some(want.bitmap()), "{}", rule.name());
            earlier = earlier.union(&matched);
        }
        let rest = f.engine.customers().difference(&earlier);
        assert_eq!(segments.audience(plan.fallback()).map(|a| a.bitmap()), Some(rest.bitmap()), "fallback");
    });
}
