//! A synthetic country, pure and seeded: no I/O, no network, no store. The
//! demo, its benchmarks and tests fill the network with it.
//!
//! [`generate`] fills a country's resident registers with households
//! of one to five people: a head (世帯主), often a spouse, children, sometimes
//! an elderly parent. Each person has a name as written (`佐藤　健一`), its
//! katakana reading (`サトウ　ケンイチ`), a date of birth, a sex and an address
//! in the register's style (`東京都世田谷区太子堂四丁目12番3号`, optionally
//! followed by a building and room).
//!
//! Everything is synthetic. Surnames follow their real frequency, given
//! names follow the fashion of the birth year, and addresses use real town
//! names with random block numbers, so any resemblance to a real person or a
//! real dwelling is chance. Output depends only on the seed and arguments.
//!
//! Beyond the register, [`moved_in`] picks the families that moved between
//! two municipalities this year, and [`Circumstances`] (work, a car, a bank
//! account, the tax agency, a disability certificate, public assistance)
//! and [`ResidentTax`] (income and its assessment) are drawn per person from
//! the caller's seeded generator.

use renkei_ids::{Address, BirthDate, KanaName, PersonName, Sex};
use time::{Date, Month};

mod circumstances;
mod moves;
mod names;
mod places;

pub use circumstances::{BASIC_DEDUCTION, Circumstances, IncomeKind, ResidentTax, age_on};
pub use moves::moved_in;

/// Separates family and given name, in writing and in the reading, as the
/// register does.
const NAME_SEPARATOR: char = '\u{3000}';

/// A municipality the generator can place people in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Municipality {
    /// Short ASCII handle, e.g. `"setagaya"`.
    pub key: &'static str,
    /// e.g. `"東京都"`.
    pub prefecture: &'static str,
    /// e.g. `"世田谷区"`.
    pub city: &'static str,
    /// Real town (町名) names of the city.
    pub towns: &'static [&'static str],
}

const fn town_names<const N: usize>(towns: [(&'static str, u8); N]) -> [&'static str; N] {
    let mut out = [""; N];
    let mut i = 0;
    while i < N {
        out[i] = towns[i].0;
        i += 1;
    }
    out
}

const SETAGAYA_TOWNS: [&str; places::SETAGAYA.len()] = town_names(places::SETAGAYA);
const YOKOHAMA_NAKA_TOWNS: [&str; places::YOKOHAMA_NAKA.len()] = town_names(places::YOKOHAMA_NAKA);
const SAPPORO_CHUO_TOWNS: [&str; places::SAPPORO_CHUO.len()] = town_names(places::SAPPORO_CHUO);

/// 東京都世田谷区: many single and two-person households.
pub const SETAGAYA: Municipality = Municipality {
    key: "setagaya",
    prefecture: "東京都",
    city: "世田谷区",
    towns: &SETAGAYA_TOWNS,
};

/// 神奈川県横浜市中区.
pub const YOKOHAMA_NAKA: Municipality = Municipality {
    key: "yokohama_naka",
    prefecture: "神奈川県",
    city: "横浜市中区",
    towns: &YOKOHAMA_NAKA_TOWNS,
};

/// 北海道札幌市中央区.
pub const SAPPORO_CHUO: Municipality = Municipality {
    key: "sapporo_chuo",
    prefecture: "北海道",
    city: "札幌市中央区",
    towns: &SAPPORO_CHUO_TOWNS,
};

/// A resident's relationship to the head of their household (続柄).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    Head,
    Spouse,
    Child,
    Parent,
}

impl Relationship {
    /// `head`, `spouse`, `child` or `parent`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Spouse => "spouse",
            Self::Child => "child",
            Self::Parent => "parent",
        }
    }

    /// The relationship (続柄) as the register writes it for a person of
    /// `sex`: 世帯主, 妻 or 夫, 子, 母 or 父 (夫 and 父 unless female).
    pub fn register_label(self, sex: Sex) -> &'static str {
        match self {
            Self::Head => "世帯主",
            Self::Spouse if sex == Sex::Female => "妻",
            Self::Spouse => "夫",
            Self::Child => "子",
            Self::Parent if sex == Sex::Female => "母",
            Self::Parent => "父",
        }
    }
}

/// One person as the resident register records them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resident {
    pub name: PersonName,
    pub kana: KanaName,
    pub birth_date: BirthDate,
    pub sex: Sex,
    pub address: Address,
    /// Index into the slice passed to [`generate`].
    pub municipality: usize,
    /// Household number, dense from 0 in generation order.
    pub household: u32,
    pub relationship: Relationship,
}

/// Generates exactly `count` residents in households spread over
/// `municipalities`; the first gets about half of the households, the rest
/// share the other half. `reference_date` is "today" for ages.
///
/// Deterministic: the same arguments give the same residents.
///
/// # Panics
///
/// If `count > 0` and `municipalities` is empty or one of them has no towns,
/// or if a municipality's names are not valid address text (blanks at the
/// ends, control characters).
pub fn generate(
    seed: u64,
    count: usize,
    municipalities: &[Municipality],
    reference_date: Date,
) -> Vec<Resident> {
    let mut out = Vec::with_capacity(count);
    if count == 0 {
        return out;
    }
    assert!(
        !municipalities.is_empty(),
        "generate needs at least one municipality to place residents in"
    );
    assert!(
        municipalities.iter().all(|m| !m.towns.is_empty()),
        "every municipality needs at least one town"
    );

    let mut rng = fastrand::Rng::with_seed(seed);
    let tables = Tables::new();
    let places: Vec<Place> = municipalities.iter().map(Place::new).collect();
    // First municipality weighs as much as all the others together.
    let municipality_weights: Vec<u32> = (0..municipalities.len())
        .map(|i| {
            if i == 0 {
                (municipalities.len() as u32 - 1).max(1)
            } else {
                1
            }
        })
        .collect();
    let municipality_picker = Weighted::new((0..municipalities.len()).zip(municipality_weights));

    let mut plan: Vec<Member> = Vec::with_capacity(5);
    let mut given: Vec<(Sex, usize)> = Vec::with_capacity(5);
    let mut buf = String::with_capacity(128);
    let mut household: u32 = 0;

    while out.len() < count {
        let mi = municipality_picker.pick(&mut rng);
        let municipality = &municipalities[mi];
        let place = &places[mi];
        plan_household(&mut rng, place, reference_date, &mut plan);

        let apartment = rng.u32(0..100) < place.mix.apartment_percent(plan.len());
        buf.clear();
        write_address(&mut rng, municipality, place, apartment, &mut buf);
        let address = Address::parse(&buf).expect("municipality names must be valid address text");

        let (family, family_kana, _) = names::SURNAMES[tables.surname.pick(&mut rng)];
        given.clear();
        for member in plan.iter().take(count - out.len()) {
            let table = match member.sex {
                Sex::Female => names::FEMALE_GIVEN,
                _ => names::MALE_GIVEN,
            };
            // Redraw a few times so siblings (and parent and child) differ.
            let mut gi = tables.given(&mut rng, member.sex, member.birth.year());
            for _ in 0..8 {
                if !given.contains(&(member.sex, gi)) {
                    break;
                }
                gi = tables.given(&mut rng, member.sex, member.birth.year());
            }
            given.push((member.sex, gi));
            let (given_name, given_kana, ..) = table[gi];

            buf.clear();
            buf.push_str(family);
            buf.push(NAME_SEPARATOR);
            buf.push_str(given_name);
            let name = PersonName::parse(&buf).expect("name tables hold valid names (tested)");
            buf.clear();
            buf.push_str(family_kana);
            buf.push(NAME_SEPARATOR);
            buf.push_str(given_kana);
            let kana = KanaName::parse(&buf).expect("name tables hold valid readings (tested)");

            out.push(Resident {
                name,
                kana,
                birth_date: BirthDate::from_date(member.birth),
                sex: member.sex,
                address: address.clone(),
                municipality: mi,
                household,
                relationship: member.relationship,
            });
        }
        household += 1;
    }
    out
}

/// Cumulative-weight table for picking indices in proportion to weight.
struct Weighted {
    cumulative: Vec<u32>,
    items: Vec<usize>,
}

impl Weighted {
    fn new(entries: impl IntoIterator<Item = (usize, u32)>) -> Self {
        let mut cumulative = Vec::new();
        let mut items = Vec::new();
        let mut total = 0u32;
        for (item, weight) in entries {
            if weight > 0 {
                total += weight;
                cumulative.push(total);
                items.push(item);
            }
        }
        Self { cumulative, items }
    }

    /// Panics on an empty table; the tables built here are never empty
    /// (tests check every era has names).
    fn pick(&self, rng: &mut fastrand::Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        let r = rng.u32(0..total);
        self.items[self.cumulative.partition_point(|&c| c <= r)]
    }
}

/// Given names are grouped by five-year birth cohort from 1920 to 2029;
/// years outside fall into the nearest cohort.
const ERA_FIRST_YEAR: i32 = 1920;
const ERA_SPAN: i32 = 5;
const ERA_COUNT: usize = 22;

fn era_of(year: i32) -> usize {
    let last = ERA_FIRST_YEAR + ERA_SPAN * ERA_COUNT as i32 - 1;
    ((year.clamp(ERA_FIRST_YEAR, last) - ERA_FIRST_YEAR) / ERA_SPAN) as usize
}

fn era_bounds(era: usize) -> (i32, i32) {
    let start = ERA_FIRST_YEAR + ERA_SPAN * era as i32;
    (start, start + ERA_SPAN - 1)
}

fn given_table_for_era(table: &[(&str, &str, i32, i32, u32)], era: usize) -> Weighted {
    let (start, end) = era_bounds(era);
    Weighted::new(
        table
            .iter()
            .enumerate()
            .filter(|&(_, &(.., from, to, _))| from <= end && to >= start)
            .map(|(i, &(.., weight))| (i, weight)),
    )
}

struct Tables {
    surname: Weighted,
    male: Vec<Weighted>,
    female: Vec<Weighted>,
}

impl Tables {
    fn new() -> Self {
        Self {
            surname: Weighted::new(names::SURNAMES.iter().map(|&(.., w)| w).enumerate()),
            male: (0..ERA_COUNT)
                .map(|e| given_table_for_era(names::MALE_GIVEN, e))
                .collect(),
            female: (0..ERA_COUNT)
                .map(|e| given_table_for_era(names::FEMALE_GIVEN, e))
                .collect(),
        }
    }

    /// Index into the given-name table for `sex`, fitting the birth year.
    fn given(&self, rng: &mut fastrand::Rng, sex: Sex, birth_year: i32) -> usize {
        let by_era = if sex == Sex::Female {
            &self.female
        } else {
            &self.male
        };
        by_era[era_of(birth_year)].pick(rng)
    }
}

/// Household make-up of a municipality.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mix {
    /// Inner-city ward: about half the households are one person.
    Urban,
    /// Nationwide average: more families.
    Family,
}

impl Mix {
    /// Weights of household sizes 1..=5 (census shares, rounded).
    fn size_weights(self) -> [u32; 5] {
        match self {
            Self::Urban => [49, 26, 13, 10, 2],
            Self::Family => [32, 28, 18, 15, 7],
        }
    }

    /// Chance (in percent) that a household of `size` lives in a flat.
    fn apartment_percent(self, size: usize) -> u32 {
        match (self, size) {
            (Self::Urban, 1) => 85,
            (Self::Urban, 2) => 60,
            (Self::Urban, _) => 40,
            (Self::Family, 1) => 70,
            (Self::Family, 2) => 40,
            (Self::Family, _) => 25,
        }
    }
}

/// Per-municipality data resolved once per call.
struct Place {
    mix: Mix,
    /// Picks a household size minus one.
    sizes: Weighted,
    /// Highest 丁目 for each town, parallel to `Municipality::towns`.
    chome_limits: Vec<u8>,
}

/// 丁目 limit for towns the tables do not know.
const DEFAULT_CHOME_LIMIT: u8 = 3;

impl Place {
    fn new(m: &Municipality) -> Self {
        let known: &[(&str, u8)] = match m.key {
            "setagaya" => &places::SETAGAYA,
            "yokohama_naka" => &places::YOKOHAMA_NAKA,
            "sapporo_chuo" => &places::SAPPORO_CHUO,
            _ => &[],
        };
        let chome_limits = m
            .towns
            .iter()
            .map(|town| {
                known
                    .iter()
                    .find(|(t, _)| t == town)
                    .map_or(DEFAULT_CHOME_LIMIT, |&(_, limit)| limit)
            })
            .collect();
        let mix = if m.key == SETAGAYA.key {
            Mix::Urban
        } else {
            Mix::Family
        };
        let sizes = Weighted::new(mix.size_weights().into_iter().enumerate());
        Self {
            mix,
            sizes,
            chome_limits,
        }
    }
}

const KANJI_NUMERALS: [&str; 21] = [
    "〇", "一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二", "十三", "十四", "十五",
    "十六", "十七", "十八", "十九", "二十",
];

fn push_number(buf: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in digits[..len].iter().rev() {
        buf.push(char::from(d));
    }
}

/// `{prefecture}{city}{town}{丁目}{番}{号}`, plus `　{building}{room}号室` for
/// flats. Block numbers use ASCII digits as most registers print them.
fn write_address(
    rng: &mut fastrand::Rng,
    m: &Municipality,
    place: &Place,
    apartment: bool,
    buf: &mut String,
) {
    let t = rng.usize(0..m.towns.len());
    let town = m.towns[t];
    let limit = place.chome_limits[t].clamp(1, 20);
    buf.push_str(m.prefecture);
    buf.push_str(m.city);
    buf.push_str(town);
    buf.push_str(KANJI_NUMERALS[usize::from(rng.u8(1..=limit))]);
    buf.push_str("丁目");
    push_number(buf, rng.u32(1..=28));
    buf.push('番');
    push_number(buf, rng.u32(1..=24));
    buf.push('号');
    if !apartment {
        return;
    }
    buf.push('\u{3000}');
    let (top_floor, rooms_per_floor) = match rng.u8(0..10) {
        0..=3 => {
            let (kind, floors) = places::BUILDING_KINDS[rng.usize(0..places::BUILDING_KINDS.len())];
            buf.push_str(places::BUILDING_PREFIXES[rng.usize(0..places::BUILDING_PREFIXES.len())]);
            buf.push_str(kind);
            buf.push_str(town);
            (floors, 8)
        }
        4..=5 => {
            let (kind, floors) = places::BUILDING_KINDS[rng.usize(0..places::BUILDING_KINDS.len())];
            buf.push_str(town);
            buf.push_str(kind);
            (floors, 8)
        }
        6..=7 => {
            let (kind, floors) = places::BUILDING_KINDS[rng.usize(0..places::BUILDING_KINDS.len())];
            buf.push_str(places::BUILDING_PREFIXES[rng.usize(0..places::BUILDING_PREFIXES.len())]);
            buf.push_str(kind);
            (floors, 8)
        }
        _ => {
            buf.push_str(places::SO_NAMES[rng.usize(0..places::SO_NAMES.len())]);
            buf.push('荘');
            (2, 5)
        }
    };
    let room = u32::from(rng.u8(1..=top_floor)) * 100 + u32::from(rng.u8(1..=rooms_per_floor));
    push_number(buf, room);
    buf.push_str("号室");
}

/// One planned household member before names are drawn.
struct Member {
    relationship: Relationship,
    sex: Sex,
    birth: Date,
}

fn opposite(sex: Sex) -> Sex {
    if sex == Sex::Female {
        Sex::Male
    } else {
        Sex::Female
    }
}

fn jd(d: Date) -> i32 {
    d.to_julian_day()
}

/// Saturates at the ends of `time`'s calendar instead of failing.
fn from_jd(j: i32) -> Date {
    let j = j.clamp(jd(Date::MIN), jd(Date::MAX));
    Date::from_julian_day(j).unwrap_or(Date::MIN)
}

/// The same day `years` later (or earlier). A 29 February that does not exist
/// in the target year becomes 1 March when `feb29_late`, else 28 February;
/// callers pick the side that keeps their bound conservative.
fn shift_years(d: Date, years: i32, feb29_late: bool) -> Date {
    let y = (d.year() + years).clamp(Date::MIN.year(), Date::MAX.year());
    Date::from_calendar_date(y, d.month(), d.day())
        .or_else(|_| {
            if feb29_late {
                Date::from_calendar_date(y, Month::March, 1)
            } else {
                Date::from_calendar_date(y, Month::February, 28)
            }
        })
        .unwrap_or(d)
}

/// A random birth date of someone exactly `age` years old on `today`.
fn birth_for_age(rng: &mut fastrand::Rng, today: Date, age: u8) -> Date {
    let latest = shift_years(today, -i32::from(age), false);
    // 364 days back stays inside the year of age, leap year or not.
    from_jd(jd(latest) - rng.i32(0..=364))
}

/// Earliest birth date of someone at most `age` years old on `today`.
fn earliest_birth_for_age(today: Date, age: u8) -> Date {
    from_jd(jd(shift_years(today, -i32::from(age), false)) - 364)
}

/// Ages skewed towards the low end of the range (fewer 90-year-olds than
/// 70-year-olds).
fn skewed_age(rng: &mut fastrand::Rng, lo: u8, hi: u8) -> u8 {
    rng.u8(lo..=hi).min(rng.u8(lo..=hi))
}

fn plan_household(rng: &mut fastrand::Rng, place: &Place, today: Date, plan: &mut Vec<Member>) {
    plan.clear();
    let mix = place.mix;
    let size = place.sizes.pick(rng) + 1;
    let r = rng.u32(0..100);
    match size {
        1 => {
            let age = match (mix, rng.u32(0..100)) {
                (Mix::Urban, 0..=44) | (Mix::Family, 0..=29) => rng.u8(20..=34),
                (Mix::Urban, 45..=79) | (Mix::Family, 30..=64) => rng.u8(35..=64),
                _ => skewed_age(rng, 65, 90),
            };
            // Elderly people living alone are mostly women.
            let female_percent = if age >= 65 { 65 } else { 50 };
            let sex = if rng.u32(0..100) < female_percent {
                Sex::Female
            } else {
                Sex::Male
            };
            push_head(rng, today, age, sex, plan);
        }
        2 if r < 78 => {
            let age = match rng.u32(0..100) {
                0..=29 => rng.u8(25..=39),
                30..=54 => rng.u8(40..=64),
                _ => skewed_age(rng, 65, 90),
            };
            push_couple(rng, today, age, plan);
        }
        2 if r < 88 => {
            push_single_parent(rng, today, plan);
            push_children(rng, today, 1, plan);
        }
        2 => {
            let sex = if rng.bool() { Sex::Female } else { Sex::Male };
            let age = rng.u8(40..=70);
            push_head(rng, today, age, sex, plan);
            push_parent(rng, today, plan);
        }
        _ if r < 10 => {
            // Three generations under one roof.
            let age = rng.u8(33..=60);
            push_couple(rng, today, age, plan);
            push_children(rng, today, size - 3, plan);
            push_parent(rng, today, plan);
        }
        _ if r < 18 => {
            push_single_parent(rng, today, plan);
            push_children(rng, today, size - 1, plan);
        }
        _ => {
            let age = rng.u8(28..=62);
            push_couple(rng, today, age, plan);
            push_children(rng, today, size - 2, plan);
        }
    }
}

fn push_head(rng: &mut fastrand::Rng, today: Date, age: u8, sex: Sex, plan: &mut Vec<Member>) {
    plan.push(Member {
        relationship: Relationship::Head,
        sex,
        birth: birth_for_age(rng, today, age),
    });
}

fn push_single_parent(rng: &mut fastrand::Rng, today: Date, plan: &mut Vec<Member>) {
    let sex = if rng.u32(0..100) < 85 {
        Sex::Female
    } else {
        Sex::Male
    };
    let age = rng.u8(28..=60);
    push_head(rng, today, age, sex, plan);
}

/// Head and spouse of opposite sex, at most eight years apart, both adults.
fn push_couple(rng: &mut fastrand::Rng, today: Date, head_age: u8, plan: &mut Vec<Member>) {
    let head_sex = if rng.u32(0..100) < 88 {
        Sex::Male
    } else {
        Sex::Female
    };
    push_head(rng, today, head_age, head_sex, plan);
    let head_birth = plan[plan.len() - 1].birth;
    // How much later the wife was born; husbands are usually the older.
    // 8 × 365 days is under eight years, so ages differ by at most eight.
    let wife_younger_by = rng.i32(-3 * 365..=8 * 365);
    let offset = if head_sex == Sex::Male {
        wife_younger_by
    } else {
        -wife_younger_by
    };
    let lo = jd(earliest_birth_for_age(today, 95));
    let hi = jd(shift_years(today, -20, false));
    let birth = from_jd((jd(head_birth) + offset).clamp(lo, hi));
    plan.push(Member {
        relationship: Relationship::Spouse,
        sex: opposite(head_sex),
        birth,
    });
}

/// Children born while every parent in the plan was 20 to 45, at most 35
/// years old today; siblings ten months to six years apart, twins only when
/// the window is too short for that.
fn push_children(rng: &mut fastrand::Rng, today: Date, n: usize, plan: &mut Vec<Member>) {
    if n == 0 {
        return;
    }
    let mut lo = jd(earliest_birth_for_age(today, 35));
    let mut hi = jd(today);
    for parent in plan.iter() {
        lo = lo.max(jd(shift_years(parent.birth, 20, true)));
        hi = hi.min(jd(shift_years(parent.birth, 45, false)));
    }
    if lo > hi {
        return;
    }
    let spacing = 700 * (n as i32 - 1);
    let mut birth = rng.i32(lo..=(hi - spacing).max(lo));
    for i in 0..n {
        if i > 0 {
            // Share what is left of the window among the younger siblings.
            let room = ((hi - birth) / (n - i) as i32).min(2200);
            if room >= 300 {
                birth += rng.i32(300..=room);
            }
        }
        plan.push(Member {
            relationship: Relationship::Child,
            sex: if rng.bool() { Sex::Female } else { Sex::Male },
            birth: from_jd(birth),
        });
    }
}

/// The head's elderly parent: 22 to 42 years older, aged 60 to 99, usually
/// a widowed mother.
fn push_parent(rng: &mut fastrand::Rng, today: Date, plan: &mut Vec<Member>) {
    let Some(head) = plan.first() else { return };
    let lo = jd(shift_years(head.birth, -42, true)).max(jd(earliest_birth_for_age(today, 99)));
    let hi = jd(shift_years(head.birth, -22, false)).min(jd(shift_years(today, -60, false)));
    if lo > hi {
        return;
    }
    plan.push(Member {
        relationship: Relationship::Parent,
        sex: if rng.u32(0..100) < 70 {
            Sex::Female
        } else {
            Sex::Male
        },
        birth: from_jd(rng.i32(lo..=hi)),
    });
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2025 - 06 - 01);
    const ALL: [Municipality; 3] = [SETAGAYA, YOKOHAMA_NAKA, SAPPORO_CHUO];

    fn age(birth: Date, today: Date) -> i32 {
        let before_birthday = (u8::from(today.month()), today.day()) < (u8::from(birth.month()), birth.day());
        today.year() - birth.year() - i32::from(before_birthday)
    }

    /// `later` is at least `years` after `earlier`, compared as calendar
    /// dates (29 February counts as reached on 1 March).
    fn at_least_years_after(later: Date, earlier: Date, years: i32) -> bool {
        (later.year(), u8::from(later.month()), later.day())
            >= (earlier.year() + years, u8::from(earlier.month()), earlier.day())
    }

    fn at_most_years_after(later: Date, earlier: Date, years: i32) -> bool {
        (later.year(), u8::from(later.month()), later.day())
            <= (earlier.year() + years, u8::from(earlier.month()), earlier.day())
    }

    fn split(name: &str) -> (&str, &str) {
        name.split_once(NAME_SEPARATOR)
            .expect("names have one U+3000 between family and given name")
    }

    fn households(people: &[Resident]) -> Vec<&[Resident]> {
        people.chunk_by(|a, b| a.household == b.household).collect()
    }

    #[test]
    fn same_seed_same_people_other_seed_other_people() {
        let a = generate(7, 3000, &ALL, TODAY);
        let b = generate(7, 3000, &ALL, TODAY);
        let c = generate(8, 3000, &ALL, TODAY);
        assert_eq!(a, b);
        assert_ne!(a, c);
        // A longer run starts with the shorter one's households.
        let longer = generate(7, 4000, &ALL, TODAY);
        let complete = a
            .iter()
            .filter(|r| r.household < a[a.len() - 1].household)
            .count();
        assert_eq!(a[..complete], longer[..complete]);
    }

    #[test]
    fn count_is_exact() {
        for count in [0, 1, 2, 7, 1000, 1001] {
            assert_eq!(generate(1, count, &ALL, TODAY).len(), count);
            assert_eq!(generate(2, count, &[YOKOHAMA_NAKA], TODAY).len(), count);
        }
        assert!(generate(1, 0, &[], TODAY).is_empty());
    }

    #[test]
    #[should_panic(expected = "at least one municipality")]
    fn no_municipality_is_refused() {
        generate(1, 1, &[], TODAY);
    }

    #[test]
    fn kana_is_the_table_readings_of_the_name() {
        let surnames: HashMap<&str, &str> = names::SURNAMES.iter().map(|&(k, r, _)| (k, r)).collect();
        let male: HashMap<&str, (&str, i32, i32)> = names::MALE_GIVEN
            .iter()
            .map(|&(k, r, f, t, _)| (k, (r, f, t)))
            .collect();
        let female: HashMap<&str, (&str, i32, i32)> = names::FEMALE_GIVEN
            .iter()
            .map(|&(k, r, f, t, _)| (k, (r, f, t)))
            .collect();
        for r in generate(11, 20_000, &ALL, TODAY) {
            let (family, given) = split(r.name.as_str());
            let family_kana = surnames.get(family).expect("family name comes from the table");
            let table = if r.sex == Sex::Female { &female } else { &male };
            let &(given_kana, from, to) = table.get(given).expect("given name fits the sex");
            assert_eq!(
                r.kana.as_str(),
                format!("{family_kana}\u{3000}{given_kana}"),
                "{}",
                r.name
            );
            // The name was in fashion in the person's five-year cohort.
            let (start, end) = era_bounds(era_of(r.birth_date.date().year()));
            assert!(from <= end && to >= start, "{} born {}", r.name, r.birth_date);
        }
    }

    #[test]
    fn households_share_address_and_family_name() {
        let people = generate(3, 20_000, &ALL, TODAY);
        let groups = households(&people);
        // Dense numbering, one run per household, each led by its head.
        for (i, h) in groups.iter().enumerate() {
            assert_eq!(h[0].household, i as u32);
            assert_eq!(h[0].relationship, Relationship::Head);
            assert_eq!(
                h.iter().filter(|r| r.relationship == Relationship::Head).count(),
                1
            );
            assert!(h.len() <= 5);
            let (family, _) = split(h[0].name.as_str());
            let mut given = HashSet::new();
            for r in h.iter() {
                assert_eq!(r.address, h[0].address);
                assert_eq!(r.municipality, h[0].municipality);
                let m = &ALL[r.municipality];
                assert!(
                    r.address
                        .as_str()
                        .starts_with(&format!("{}{}", m.prefecture, m.city))
                );
                if r.relationship != Relationship::Parent {
                    assert_eq!(split(r.name.as_str()).0, family, "{} in {}", r.name, h[0].name);
                    assert!(r.kana.as_str().starts_with(split(h[0].kana.as_str()).0));
                }
                given.insert(split(r.name.as_str()).1);
            }
            assert_eq!(given.len(), h.len(), "given names repeat in household {i}");
        }
        // Households are spread: some live with others, some alone.
        assert!(groups.iter().any(|h| h.len() == 1));
        assert!(groups.iter().any(|h| h.len() >= 4));
        assert!(
            groups
                .iter()
                .any(|h| h.iter().any(|r| r.relationship == Relationship::Parent))
        );
    }

    #[test]
    fn ages_fit_relationships() {
        let people = generate(5, 30_000, &ALL, TODAY);
        let mut children = 0;
        for h in households(&people) {
            let head = &h[0];
            let head_birth = head.birth_date.date();
            let head_age = age(head_birth, TODAY);
            assert!((20..=90).contains(&head_age), "head aged {head_age}");
            let spouse = h.iter().find(|r| r.relationship == Relationship::Spouse);
            if let Some(s) = spouse {
                assert_ne!(s.sex, head.sex);
                let spouse_age = age(s.birth_date.date(), TODAY);
                assert!((head_age - spouse_age).abs() <= 8, "{head_age} and {spouse_age}");
                assert!(spouse_age >= 20);
            }
            for r in h.iter() {
                let birth = r.birth_date.date();
                assert!(birth <= TODAY);
                match r.relationship {
                    Relationship::Child => {
                        children += 1;
                        for parent in std::iter::once(head).chain(spouse) {
                            let pb = parent.birth_date.date();
                            assert!(at_least_years_after(birth, pb, 20), "{birth} vs {pb}");
                            assert!(at_most_years_after(birth, pb, 45), "{birth} vs {pb}");
                        }
                    }
                    Relationship::Parent => {
                        assert!(at_least_years_after(head_birth, birth, 20));
                        assert!(age(birth, TODAY) <= 100);
                    }
                    Relationship::Spouse | Relationship::Head => {}
                }
            }
        }
        assert!(children > 1000, "only {children} children");
    }

    #[test]
    fn leap_day_reference_gives_exact_ages() {
        let today = date!(2024 - 02 - 29);
        let mut rng = fastrand::Rng::with_seed(9);
        for a in 0..=100u8 {
            for _ in 0..50 {
                assert_eq!(age(birth_for_age(&mut rng, today, a), today), i32::from(a));
            }
        }
    }

    #[test]
    fn addresses_follow_the_register_style() {
        let people = generate(13, 20_000, &ALL, TODAY);
        let mut with_building = 0;
        for r in &people {
            let m = &ALL[r.municipality];
            let place = Place::new(m);
            let rest = r
                .address
                .as_str()
                .strip_prefix(m.prefecture)
                .and_then(|s| s.strip_prefix(m.city));
            let rest = rest.expect("address starts with prefecture and city");
            // Longest matching town, so 桜丘 is not read as 桜.
            let (t, town) = m
                .towns
                .iter()
                .enumerate()
                .filter(|(_, t)| rest.starts_with(*t))
                .max_by_key(|(_, t)| t.len())
                .expect("a known town follows the city");
            let rest = &rest[town.len()..];
            let (chome, rest) = rest.split_once("丁目").expect("丁目");
            let n = KANJI_NUMERALS
                .iter()
                .position(|k| *k == chome)
                .expect("kanji numeral");
            assert!(n >= 1 && n <= usize::from(place.chome_limits[t]), "{}", r.address);
            let (ban, rest) = rest.split_once('番').expect("番");
            let (go, rest) = rest.split_once('号').expect("号");
            for digits in [ban, go] {
                assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
                assert!(!digits.starts_with('0'));
            }
            if !rest.is_empty() {
                with_building += 1;
                let building = rest
                    .strip_prefix('\u{3000}')
                    .expect("full-width space before the building");
                let room = building.strip_suffix("号室").expect("room ends in 号室");
                let digits: String = room.chars().rev().take_while(char::is_ascii_digit).collect();
                assert!(digits.len() >= 3, "{}", r.address);
                assert!(room.len() > digits.len(), "building has a name: {}", r.address);
            }
        }
        assert!(
            with_building > people.len() / 5 && with_building < people.len(),
            "{with_building}"
        );
    }

    #[test]
    fn setagaya_gets_half_and_smaller_households() {
        let people = generate(17, 60_000, &ALL, TODAY);
        let groups = households(&people);
        let mut count = [0usize; 3];
        let mut members = [0usize; 3];
        for h in &groups {
            count[h[0].municipality] += 1;
            members[h[0].municipality] += h.len();
        }
        let share = count[0] as f64 / groups.len() as f64;
        assert!((0.46..0.54).contains(&share), "first municipality share {share}");
        let mean = |i: usize| members[i] as f64 / count[i] as f64;
        assert!(mean(0) + 0.2 < mean(1), "{} vs {}", mean(0), mean(1));
        assert!(mean(0) + 0.2 < mean(2), "{} vs {}", mean(0), mean(2));
        let singles = groups
            .iter()
            .filter(|h| h[0].municipality == 0 && h.len() == 1)
            .count();
        assert!(singles as f64 / count[0] as f64 > 0.4);
    }

    #[test]
    fn name_tables_are_clean() {
        assert!(names::SURNAMES.len() >= 150);
        assert!(names::MALE_GIVEN.len() >= 120);
        assert!(names::FEMALE_GIVEN.len() >= 120);
        let surnames = names::SURNAMES.iter().map(|&(k, r, _)| (k, r));
        let male = names::MALE_GIVEN.iter().map(|&(k, r, ..)| (k, r));
        let female = names::FEMALE_GIVEN.iter().map(|&(k, r, ..)| (k, r));
        for (label, table) in [
            ("surnames", surnames.collect::<Vec<_>>()),
            ("male", male.collect()),
            ("female", female.collect()),
        ] {
            let pairs: HashSet<_> = table.iter().collect();
            assert_eq!(pairs.len(), table.len(), "duplicate (name, reading) in {label}");
            // Written forms are unique too, so a name determines its reading.
            let written: HashSet<_> = table.iter().map(|(k, _)| k).collect();
            assert_eq!(written.len(), table.len(), "duplicate written name in {label}");
            for (k, r) in &table {
                assert!(KanaName::parse(r).is_ok(), "{label}: {k} {r}");
                assert!(PersonName::parse(k).is_ok(), "{label}: {k}");
                // Register readings spell long vowels out (サトウ, not サトー).
                assert!(
                    !r.contains('ー') && !r.contains(NAME_SEPARATOR),
                    "{label}: {k} {r}"
                );
            }
        }
        for table in [names::MALE_GIVEN, names::FEMALE_GIVEN] {
            for &(k, _, from, to, w) in table {
                assert!(from <= to && w > 0, "{k}");
            }
        }
    }

    #[test]
    fn every_cohort_has_plenty_of_names() {
        let tables = Tables::new();
        for era in 0..ERA_COUNT {
            assert!(tables.male[era].items.len() >= 20, "male names in era {era}");
            assert!(tables.female[era].items.len() >= 20, "female names in era {era}");
        }
        // Old names stay old and new names stay new.
        let index = |table: &[(&str, &str, i32, i32, u32)], k: &str| {
            table.iter().position(|e| e.0 == k).expect("name is in the table")
        };
        let old = index(names::MALE_GIVEN, "清");
        let new = index(names::FEMALE_GIVEN, "陽葵");
        assert!(tables.male[era_of(1935)].items.contains(&old));
        assert!(!tables.male[era_of(2015)].items.contains(&old));
        assert!(tables.female[era_of(2020)].items.contains(&new));
        assert!(!tables.female[era_of(1960)].items.contains(&new));
    }

    #[test]
    fn common_surnames_are_common() {
        let tables = Tables::new();
        let mut rng = fastrand::Rng::with_seed(21);
        let mut counts = vec![0u32; names::SURNAMES.len()];
        for _ in 0..10_000 {
            counts[tables.surname.pick(&mut rng)] += 1;
        }
        let count = |k: &str| counts[names::SURNAMES.iter().position(|e| e.0 == k).expect("in table")];
        assert!(
            count("佐藤") > 5 * count("宇野").max(1),
            "{} {}",
            count("佐藤"),
            count("宇野")
        );
        assert!(count("佐藤") > count("勅使河原") + 200);
        let top10: u32 = counts[..10].iter().sum();
        assert!(top10 > 1500, "top ten surnames drawn {top10} times");
        let distinct = counts.iter().filter(|&&c| c > 0).count();
        assert!(distinct > 150, "only {distinct} surnames drawn");
    }

    #[test]
    fn relationships_read_as_the_register_writes_them() {
        assert_eq!(Relationship::Head.register_label(Sex::Female), "世帯主");
        assert_eq!(Relationship::Spouse.register_label(Sex::Female), "妻");
        assert_eq!(Relationship::Spouse.register_label(Sex::Male), "夫");
        assert_eq!(Relationship::Child.register_label(Sex::Male), "子");
        assert_eq!(Relationship::Parent.register_label(Sex::Female), "母");
        assert_eq!(Relationship::Parent.register_label(Sex::Male), "父");
        assert_eq!(Relationship::Parent.as_str(), "parent");
    }

    #[test]
    fn town_tables_match_municipalities() {
        for m in ALL {
            assert!(m.towns.len() >= 15, "{}", m.key);
            let place = Place::new(&m);
            assert!(place.chome_limits.iter().all(|&l| (1..=20).contains(&l)));
            let unique: HashSet<_> = m.towns.iter().collect();
            assert_eq!(unique.len(), m.towns.len(), "{}", m.key);
            // Every town is found in the limit table, not defaulted.
            let known = match m.key {
                "setagaya" => &places::SETAGAYA[..],
                "yokohama_naka" => &places::YOKOHAMA_NAKA[..],
                _ => &places::SAPPORO_CHUO[..],
            };
            assert_eq!(known.len(), m.towns.len());
        }
    }
}
