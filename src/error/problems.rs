//! Why an input was rejected: the typed `reason` payloads of [`Error`](crate::Error)'s
//! `Invalid*` variants. Each prints as the sentence (with a hint) that the error's message
//! carries, and each can be matched on.

use std::fmt;
use std::ops::RangeInclusive;

use super::Quote;
use crate::id::{MAX_TAG_DEPTH, MAX_TAG_NAME_LEN};

/// Why a customer key was rejected ([`Error::InvalidCustomerKey`](crate::Error::InvalidCustomerKey)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// The key is empty.
    Empty,
    /// The key is longer than [`MAX_CUSTOMER_KEY_LEN`](crate::MAX_CUSTOMER_KEY_LEN) bytes.
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Empty => f.write_str("a customer key cannot be empty"),
            KeyProblem::TooLong { len } => {
                write!(f, "it is {len} bytes long, longer than MAX_CUSTOMER_KEY_LEN (4,096 bytes)")
            }
        }
    }
}

/// Why a tag, exclusive group or attribute name was rejected
/// ([`Error::InvalidTagName`](crate::Error::InvalidTagName),
/// [`Error::InvalidAttributeName`](crate::Error::InvalidAttributeName)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// Empty, or only white space.
    Empty,
    /// A control or line-separator character.
    Control {
        /// The character.
        ch: char,
        /// Its byte offset in the name as given.
        at: usize,
    },
    /// An invisible character: zero-width, text-direction, a variation selector outside an
    /// emoji, or another default-ignorable code point.
    Invisible {
        /// The character.
        ch: char,
        /// What it is (`ZERO WIDTH SPACE`, ...).
        what: &'static str,
        /// Its byte offset in the name as given.
        at: usize,
    },
    /// An empty `/` level (`a//b`, `/a`, `a/`).
    EmptyLevel,
    /// More than [`MAX_TAG_DEPTH`](crate::MAX_TAG_DEPTH) levels.
    TooDeep,
    /// Longer than [`MAX_TAG_NAME_LEN`](crate::MAX_TAG_NAME_LEN) bytes in normal form.
    TooLong {
        /// The normal form's length in bytes.
        len: usize,
    },
    /// So long that reading stopped: more than three times
    /// [`MAX_TAG_NAME_LEN`](crate::MAX_TAG_NAME_LEN) bytes besides white space, which no
    /// normal form shrinks under the limit.
    FarTooLong {
        /// The length in bytes of the name as given (trimmed).
        len: usize,
    },
    /// An exclusive group's name with `/` or `:`.
    GroupSeparator,
    /// A tag `group:value` of an exclusive group whose value is empty or has `/` or `:`.
    GroupValue {
        /// The group.
        group: String,
    },
    /// A segment name with `/` or `:`: applied, a segment becomes the value tag
    /// `<group>:<name>` of its plan's group.
    SegmentSeparator,
    /// A rule tag named as a value of an exclusive group: a rule's members are whatever its
    /// query says, so they could overlap the group's other values.
    RuleInGroup {
        /// The group.
        group: String,
    },
    /// A name below a rule tag (`high_value/extra`): a query on the rule tag reads its
    /// descendants too, so a child would make the rule tag differ from its query.
    UnderRuleTag {
        /// The rule tag above it.
        rule: String,
    },
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("a tag name cannot be empty (hint: give it some text, e.g. \"vip\")"),
            NameProblem::Control { ch, at } => write!(
                f,
                "contains the control or line-separator character U+{:04X} at byte {at} of the name \
                 (hint: remove it; tab and newline are not allowed either)",
                *ch as u32
            ),
            NameProblem::Invisible { ch, what, at } => write!(
                f,
                "contains the invisible character U+{:04X} {what} at byte {at} of the name (hint: remove it; \
                 zero-width, text-direction and other invisible characters are not allowed in names, since they \
                 make different names look the same)",
                *ch as u32
            ),
            NameProblem::EmptyLevel => f.write_str(
                "has an empty level: '/' separates hierarchy levels, as in \"interest/sports/running\" \
                 (hint: remove the leading, trailing or doubled '/')",
            ),
            NameProblem::TooDeep => write!(
                f,
                "has more than {MAX_TAG_DEPTH} levels, the limit (MAX_TAG_DEPTH) (hint: '/' separates hierarchy \
                 levels; keep hierarchies shallow, e.g. \"interest/sports/running\")"
            ),
            NameProblem::TooLong { len } => write!(
                f,
                "is {len} bytes long, over the limit of {MAX_TAG_NAME_LEN} bytes (MAX_TAG_NAME_LEN) \
                 (hint: shorten it; a tag names a trait, its description belongs elsewhere)"
            ),
            NameProblem::FarTooLong { len } => write!(
                f,
                "is {len} bytes long, with more than {} besides white space: over the limit of {MAX_TAG_NAME_LEN} \
                 bytes (MAX_TAG_NAME_LEN) (hint: shorten it; a tag names a trait, its description belongs elsewhere)",
                3 * MAX_TAG_NAME_LEN
            ),
            NameProblem::GroupSeparator => f.write_str(
                "a group name cannot contain '/' or ':' (its values are tags \"<group>:<value>\", e.g. \"tier:gold\")",
            ),
            NameProblem::GroupValue { group } => write!(
                f,
                "a value of the exclusive group {group:?} must be a plain non-empty name without '/' or ':' \
                 (hint: \"{group}:gold\")"
            ),
            NameProblem::SegmentSeparator => f.write_str(
                "a segment name cannot contain '/' or ':': applied, it becomes the tag \"<group>:<name>\" \
                 (hint: e.g. \"at_risk_vip\")",
            ),
            NameProblem::RuleInGroup { group } => write!(
                f,
                "is a value of the exclusive group {group:?}, and a rule tag's members are whatever its query says, \
                 which may overlap the group's other values (hint: name it outside the group, or use a segment plan \
                 for exclusive buckets)"
            ),
            NameProblem::UnderRuleTag { rule } => write!(
                f,
                "is below the rule tag {rule:?}, whose members are whatever its query says; a query on {rule:?} \
                 reads its descendants too (hint: name it outside {rule:?})"
            ),
        }
    }
}

/// Why a date was rejected ([`Error::InvalidDate`](crate::Error::InvalidDate)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DateProblem {
    /// Not `YYYY-MM-DD`, a signed year, or an RFC 3339 timestamp.
    Shape,
    /// A signed year where none is written (`+2024-01-05`) or with extra leading zeros.
    SignedYear,
    /// A well-formed date that does not exist (2023-02-29).
    NoSuchDate,
    /// A year outside the dates `chrono` can represent.
    YearOutOfRange {
        /// The earliest year.
        min: i32,
        /// The latest year.
        max: i32,
    },
    /// Days since 1970-01-01 outside the dates `chrono` can represent.
    DaysOutOfRange,
    /// A timestamp that is not RFC 3339.
    Timestamp(chrono::format::ParseError),
}

impl fmt::Display for DateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateProblem::Shape => f.write_str(
                "not YYYY-MM-DD or an RFC 3339 timestamp (hint: e.g. 2024-02-29 or 2024-02-29T13:45:00Z; \
                 four-digit year, two-digit month and day, no spaces; a year after 9999 is written +10000-01-01)",
            ),
            DateProblem::SignedYear => f.write_str(
                "a signed year is written only outside 0000..=9999: `+` and five or more digits after 9999 \
                 (+10000-01-01), `-` and four or more digits before 0000 (-0001-12-31), no extra leading zeros \
                 (hint: write a year from 0000 to 9999 without a sign, e.g. 2024-01-05)",
            ),
            DateProblem::NoSuchDate => {
                f.write_str("no such calendar date (hint: check the month length and leap years)")
            }
            DateProblem::YearOutOfRange { min, max } => {
                write!(f, "year outside the representable dates ({min} to +{max})")
            }
            DateProblem::DaysOutOfRange => {
                f.write_str("days since 1970-01-01 outside the representable dates (about ±262,000 years)")
            }
            DateProblem::Timestamp(e) => write!(
                f,
                "{e} (hint: an RFC 3339 timestamp looks like 2024-02-29T13:45:00Z or 2024-02-29T08:45:00-05:00)"
            ),
        }
    }
}

/// Why a money amount was rejected ([`Error::InvalidAmount`](crate::Error::InvalidAmount)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmountProblem {
    /// More than [`Money::MAX_MINOR`](crate::Money::MAX_MINOR) minor units in absolute value.
    OutOfRange {
        /// The largest absolute amount accepted, in minor units (`Money::MAX_MINOR`).
        max_minor: i64,
    },
    /// NaN or an infinity.
    NotFinite,
    /// Nothing before the decimal point (`.50`, or an empty field).
    NoIntegerDigits,
    /// A `.` with nothing after it (`5.`).
    NoFractionDigits,
    /// Not digits with an optional sign and `.` (a thousands separator, a currency sign,
    /// `NaN`, a space).
    NotDecimal,
    /// More than two digits after the decimal point.
    TooManyDecimals,
}

impl fmt::Display for AmountProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountProblem::OutOfRange { max_minor } => write!(
                f,
                "more than {max_minor} minor units in absolute value (hint: amounts are minor units such as cents)"
            ),
            AmountProblem::NotFinite => {
                f.write_str("not a finite number (hint: drop or fix the record; a refund is a negative amount)")
            }
            AmountProblem::NoIntegerDigits => {
                f.write_str("no digits before the decimal point (hint: write 0.50, not .50)")
            }
            AmountProblem::NoFractionDigits => {
                f.write_str("no digits after the decimal point (hint: write 5 or 5.00)")
            }
            AmountProblem::NotDecimal => f.write_str(
                "not a decimal number (hint: digits with an optional sign and '.', e.g. -12.34; no thousands separators)",
            ),
            AmountProblem::TooManyDecimals => {
                f.write_str("more than two fractional digits (hint: amounts are exact to the cent; round upstream)")
            }
        }
    }
}

/// Why a model configuration was rejected ([`Error::InvalidModel`](crate::Error::InvalidModel)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelProblem {
    /// Text that is not a lifecycle stage's name.
    UnknownStage {
        /// The text as given ([cut to an excerpt](crate::Error#long-input) when long).
        input: String,
    },
    /// The active window is longer than the churn window (no customer could be at risk).
    WindowOrder {
        /// The active window, in days.
        active_days: u32,
        /// The churn window, in days.
        churn_days: u32,
    },
    /// A lifecycle window longer than the limit.
    WindowTooLong {
        /// The longest window accepted, in days.
        max_days: u32,
    },
    /// RFM threshold cut points that decrease.
    CutsDecrease {
        /// `recency_days`, `frequency` or `monetary`.
        metric: &'static str,
        /// The cut points as given (minor units for `monetary`).
        cuts: [i64; 4],
    },
    /// Negative recency cut points.
    NegativeRecency {
        /// The cut points as given.
        cuts: [i64; 4],
    },
    /// An RFM segment name that is not a plain tag value (it becomes the tag `rfm:<name>`).
    SegmentName {
        /// The name as given ([cut to an excerpt](crate::Error#long-input) when long).
        name: String,
    },
    /// An R or F range of a segment rule outside `1..=5`, or empty.
    ScoreRange {
        /// The segment.
        segment: String,
        /// `'R'` or `'F'`.
        score: char,
        /// The range as given.
        range: RangeInclusive<u8>,
    },
    /// A cell of the RFM grid covered by two segments' rules.
    CellTwice {
        /// The R score.
        r: u8,
        /// The F score.
        f: u8,
        /// The segment that covered it first.
        first: String,
        /// The segment that covered it again.
        second: String,
    },
    /// A cell of the RFM grid no rule covers.
    CellUncovered {
        /// The R score.
        r: u8,
        /// The F score.
        f: u8,
    },
}

impl fmt::Display for ModelProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelProblem::UnknownStage { input } => write!(
                f,
                "unknown lifecycle stage {} (hint: one of prospect, new, reactivated, active, at_risk, churned)",
                Quote(input)
            ),
            ModelProblem::WindowOrder { active_days, churn_days } => write!(
                f,
                "the active window ({active_days} days) exceeds the churn window ({churn_days} days) \
                 (hint: e.g. Lifecycle::new(30, 90, 180))"
            ),
            ModelProblem::WindowTooLong { max_days } => write!(f, "lifecycle windows are limited to {max_days} days"),
            ModelProblem::CutsDecrease { metric, cuts } => {
                write!(f, "{metric} cut points {cuts:?} must not decrease (hint: list them from low to high)")
            }
            ModelProblem::NegativeRecency { cuts } => {
                write!(f, "recency_days cut points {cuts:?} must not be negative")
            }
            ModelProblem::SegmentName { name } => write!(
                f,
                "segment name {} must be a plain non-empty tag value without '/' or ':' (it becomes the tag rfm:<name>)",
                Quote(name)
            ),
            ModelProblem::ScoreRange { segment, score, range } => {
                write!(f, "segment {segment:?}: {score} range {range:?} must lie within 1..=5 and not be empty")
            }
            ModelProblem::CellTwice { r, f: fs, first, second } => write!(
                f,
                "R{r} F{fs} is covered by both {first:?} and {second:?} (hint: make the rules' ranges disjoint)"
            ),
            ModelProblem::CellUncovered { r, f: fs } => {
                write!(f, "R{r} F{fs} has no segment (hint: the rules must cover all 25 cells)")
            }
        }
    }
}

/// Why a segment plan was rejected ([`Error::InvalidPlan`](crate::Error::InvalidPlan)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanProblem {
    /// The plan has no rules.
    NoRules,
    /// More rules than [`MAX_PLAN_RULES`](crate::MAX_PLAN_RULES).
    TooManyRules {
        /// The limit.
        limit: usize,
    },
    /// Two rules have one name.
    DuplicateName {
        /// The name.
        name: String,
    },
    /// The fallback has a rule's name.
    FallbackIsRule {
        /// The name.
        name: String,
    },
    /// A segment name that cannot be a value tag `<group>:<name>`.
    InvalidName {
        /// The name as given ([cut to an excerpt](crate::Error#long-input) when long).
        name: String,
        /// Why.
        reason: NameProblem,
    },
}

impl fmt::Display for PlanProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlanProblem::NoRules => {
                f.write_str("a segment plan needs at least one rule (hint: everyone in the fallback is one tag)")
            }
            PlanProblem::TooManyRules { limit } => write!(
                f,
                "a segment plan has at most {limit} rules (MAX_PLAN_RULES) (hint: a segment per rule is a \
                 campaign bucket; for more, split the plan, or use rule tags, which have no such limit)"
            ),
            PlanProblem::DuplicateName { name } => {
                write!(
                    f,
                    "two rules are named {} (hint: a segment has one rule; join the queries with OR)",
                    Quote(name)
                )
            }
            PlanProblem::FallbackIsRule { name } => {
                write!(f, "the fallback is named {} like a rule (hint: give it a name of its own)", Quote(name))
            }
            PlanProblem::InvalidName { name, reason } => write!(f, "segment name {}: {reason}", Quote(name)),
        }
    }
}

/// Why [`Engine::merge_tags`](crate::Engine::merge_tags) was refused
/// ([`Error::InvalidMerge`](crate::Error::InvalidMerge)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MergeProblem {
    /// Both names are the same tag (after normalization).
    SameTag,
    /// The tag to merge has child tags: a query on it reads them too, so its customers
    /// alone are not what it stands for.
    HasChildren {
        /// Its direct children, in id order: at most 17 (the first 17 when it has more than 16).
        children: Vec<String>,
    },
}

impl fmt::Display for MergeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeProblem::SameTag => f.write_str("they are the same tag (hint: name two different tags)"),
            MergeProblem::HasChildren { children } => write!(
                f,
                "it has {} child tag(s), e.g. {} (hint: merge or delete its children first, deepest first)",
                super::Count(children.len()),
                Quote(children.first().map(String::as_str).unwrap_or(""))
            ),
        }
    }
}

/// What uses a tag ([`Error::TagInUse`](crate::Error::TagInUse), and
/// [`TagStats::used_by`](crate::TagStats::used_by)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UsedBy {
    /// The query of a rule tag.
    RuleTag {
        /// The rule tag.
        name: String,
    },
    /// A rule of an applied segment plan.
    Plan {
        /// The group the plan is applied as.
        group: String,
        /// The rule's segment name.
        rule: String,
    },
}

impl fmt::Display for UsedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsedBy::RuleTag { name } => write!(f, "the query of the rule tag {}", Quote(name)),
            UsedBy::Plan { group, rule } => {
                write!(f, "the rule {} of the segment plan applied as {}", Quote(rule), Quote(group))
            }
        }
    }
}

/// What a name already is when it cannot become an alias, or a tag
/// ([`Error::AliasConflict`](crate::Error::AliasConflict)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AliasClash {
    /// A tag's name: an alias cannot shadow a tag.
    Tag,
    /// An alias of `target`: it cannot stand for another tag, become a tag's name, or be
    /// deleted or renamed as a tag.
    AliasOf {
        /// The tag it stands for (its name when the error was raised).
        target: String,
    },
}

impl fmt::Display for AliasClash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AliasClash::Tag => f.write_str(
                "is a tag, and an alias cannot shadow a tag (hint: pick another name for the alias, \
                 or rename the tag first)",
            ),
            AliasClash::AliasOf { target } => write!(
                f,
                "is an alias of {}, and a name is either a tag or an alias of one tag (hint: write {} to mean \
                 the tag itself, or remove the alias first with Engine::unalias_tag)",
                Quote(target),
                Quote(target)
            ),
        }
    }
}

/// Why bytes are not one portable Roaring bitmap
/// ([`Error::InvalidPortableBitmap`](crate::Error::InvalidPortableBitmap), from
/// [`Audience::from_portable_bytes`](crate::Audience::from_portable_bytes)). The error's
/// `offset` says at which byte; the block `key`s below are the high 16 bits of the ids a
/// container holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortableProblem {
    /// No bytes at all.
    Empty,
    /// The first 4 bytes are not a cookie of the portable format (12346, or 12347 in the
    /// low 16 bits).
    UnknownCookie {
        /// The first 4 bytes, little-endian.
        cookie: u32,
    },
    /// More containers than the 65,536 blocks of 32-bit ids.
    TooManyContainers {
        /// The declared count.
        count: u32,
    },
    /// The input ends inside a part of the bitmap.
    Truncated {
        /// Which part: `"cookie"`, `"container count"`, `"header"`, `"run count"` or
        /// `"container"`.
        part: &'static str,
        /// The part's length in bytes.
        needed: usize,
        /// The bytes left from where the part starts.
        left: usize,
    },
    /// A run flag is set for a container past the last one.
    StrayRunFlag,
    /// Container keys do not strictly ascend.
    KeysNotAscending {
        /// The key.
        key: u16,
        /// The key before it.
        previous: u16,
    },
    /// A container's offset (in the header) is not where the container starts.
    WrongOffset {
        /// The container's index, from 0.
        container: usize,
        /// The offset the header gives.
        declared: u32,
        /// Where the container starts.
        actual: usize,
    },
    /// An array container's values do not strictly ascend: a duplicate (`value ==
    /// previous`) or a value out of order.
    ValuesNotAscending {
        /// The container's block.
        key: u16,
        /// The value (the low 16 bits of an id).
        value: u16,
        /// The value before it.
        previous: u16,
    },
    /// A run container with no runs.
    EmptyRun {
        /// The container's block.
        key: u16,
    },
    /// A run that ends past the block's last value, 65535.
    RunPastBlock {
        /// The container's block.
        key: u16,
        /// The run's first value.
        start: u16,
        /// Its length.
        length: u32,
    },
    /// A run that overlaps or touches the run before it (runs must be separate and
    /// ascend, or one id would be listed twice).
    RunsNotAscending {
        /// The container's block.
        key: u16,
        /// The run's first value.
        start: u16,
        /// The last value of the run before it.
        previous_end: u16,
    },
    /// A container holds another number of ids than its description (in the header) says.
    CardinalityMismatch {
        /// The container's block.
        key: u16,
        /// The number the header gives.
        declared: u32,
        /// The ids the container holds.
        actual: u32,
    },
    /// Bytes follow the complete bitmap.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// `roaring`'s reader refused bytes that the checks above passed (not expected: please
    /// report it, with the bytes).
    Rejected {
        /// What the reader said.
        message: String,
    },
}

impl fmt::Display for PortableProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DAMAGED: &str = "(hint: the bytes were damaged, or are not one portable 32-bit Roaring bitmap)";
        match self {
            PortableProblem::Empty => f.write_str(
                "the input is empty (hint: even an empty bitmap is 8 bytes; check that the whole value was read)",
            ),
            PortableProblem::UnknownCookie { cookie } => write!(
                f,
                "it starts with {cookie:#010x}, not a portable Roaring cookie (12346, or 12347 in the low 16 bits) \
                 (hint: this reads the portable format, as written by CRoaring's roaring_bitmap_portable_serialize, \
                 pyroaring's serialize, Java's serialize and Go's WriteTo; CRoaring's roaring_bitmap_serialize, \
                 frozen bitmaps and 64-bit bitmaps are other formats)"
            ),
            PortableProblem::TooManyContainers { count } => {
                write!(f, "it declares {count} containers, more than the 65536 blocks of 32-bit ids {DAMAGED}")
            }
            PortableProblem::Truncated { part, needed, left } => write!(
                f,
                "the input ends inside the {part} ({needed} bytes long, {left} left from its start) \
                 (hint: the bitmap was cut short; check that the whole value was read)"
            ),
            PortableProblem::StrayRunFlag => write!(f, "a run flag is set past the last container {DAMAGED}"),
            PortableProblem::KeysNotAscending { key, previous } => {
                write!(f, "the container of block {key} follows block {previous}: blocks must ascend {DAMAGED}")
            }
            PortableProblem::WrongOffset { container, declared, actual } => write!(
                f,
                "the header puts container {container} at byte {declared}, but it starts at byte {actual} {DAMAGED}"
            ),
            PortableProblem::ValuesNotAscending { key, value, previous } => write!(
                f,
                "in the array container of block {key}, {value} follows {previous}{}: values must strictly ascend \
                 {DAMAGED}",
                if value == previous { " (a duplicate)" } else { "" }
            ),
            PortableProblem::EmptyRun { key } => write!(f, "the run container of block {key} has no runs {DAMAGED}"),
            PortableProblem::RunPastBlock { key, start, length } => write!(
                f,
                "in the run container of block {key}, the run of {length} from {start} ends past 65535 {DAMAGED}"
            ),
            PortableProblem::RunsNotAscending { key, start, previous_end } => write!(
                f,
                "in the run container of block {key}, the run from {start} overlaps or touches the run before it \
                 (ending at {previous_end}): runs must be separate and ascend {DAMAGED}"
            ),
            PortableProblem::CardinalityMismatch { key, declared, actual } => {
                write!(f, "the container of block {key} holds {actual} ids, but the header says {declared} {DAMAGED}")
            }
            PortableProblem::TrailingBytes { count } => write!(
                f,
                "{count} bytes follow the complete bitmap (hint: pass exactly one bitmap's bytes; \
                 several bitmaps in one value need a framing of their own)"
            ),
            PortableProblem::Rejected { message } => write!(
                f,
                "the roaring reader refused it: {message} (hint: this is not expected after the checks before it; \
                 please report it with the bytes)"
            ),
        }
    }
}
