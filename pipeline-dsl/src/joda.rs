//! Joda-Time style date patterns (`dd/MMM/yyyy:HH:mm:ss Z`), for parsing in the `date`
//! filter and formatting in sprintf `%{+YYYY.MM.dd}`.
//!
//! Patterns are compiled once into tokens; parsing walks the input left to right with no
//! allocation, which keeps the date filter cheap on the hot path.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, Offset, TimeZone, Timelike, Utc};

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(String),
    Year(usize),
    Month(usize),
    Day(usize),
    DayOfYear,
    Hour24(usize),
    Hour12(usize),
    Minute(usize),
    Second(usize),
    Fraction(usize),
    AmPm,
    Weekday(usize),
    Zone(usize),
    ZoneId,
}

/// Error for a pattern that uses letters we do not understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported date pattern letter `{letter}` in `{pattern}`")]
pub struct PatternError {
    /// The offending letter.
    pub letter: char,
    /// The whole pattern.
    pub pattern: String,
}

/// A compiled Joda-style pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct JodaPattern {
    tokens: Vec<Token>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

/// Month and day names for parsing `MMM`/`MMMM`/`EEE` in a language other than English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locale {
    months: [&'static str; 12],
    months_short: [&'static str; 12],
    days: [&'static str; 7],
    days_short: [&'static str; 7],
}

const ENGLISH: Locale = Locale {
    months: MONTHS,
    months_short: ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    days: WEEKDAYS,
    days_short: ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
};

const LOCALES: [(&str, Locale); 7] = [
    ("en", ENGLISH),
    (
        "de",
        Locale {
            months: [
                "Januar",
                "Februar",
                "März",
                "April",
                "Mai",
                "Juni",
                "Juli",
                "August",
                "September",
                "Oktober",
                "November",
                "Dezember",
            ],
            months_short: ["Jan", "Feb", "Mär", "Apr", "Mai", "Jun", "Jul", "Aug", "Sep", "Okt", "Nov", "Dez"],
            days: ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
            days_short: ["Mo", "Di", "Mi", "Do", "Fr", "Sa", "So"],
        },
    ),
    (
        "fr",
        Locale {
            months: [
                "janvier",
                "février",
                "mars",
                "avril",
                "mai",
                "juin",
                "juillet",
                "août",
                "septembre",
                "octobre",
                "novembre",
                "décembre",
            ],
            months_short: [
                "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.",
            ],
            days: ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"],
            days_short: ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
        },
    ),
    (
        "es",
        Locale {
            months: [
                "enero",
                "febrero",
                "marzo",
                "abril",
                "mayo",
                "junio",
                "julio",
                "agosto",
                "septiembre",
                "octubre",
                "noviembre",
                "diciembre",
            ],
            months_short: ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic"],
            days: ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo"],
            days_short: ["lun", "mar", "mié", "jue", "vie", "sáb", "dom"],
        },
    ),
    (
        "it",
        Locale {
            months: [
                "gennaio",
                "febbraio",
                "marzo",
                "aprile",
                "maggio",
                "giugno",
                "luglio",
                "agosto",
                "settembre",
                "ottobre",
                "novembre",
                "dicembre",
            ],
            months_short: ["gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic"],
            days: ["lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"],
            days_short: ["lun", "mar", "mer", "gio", "ven", "sab", "dom"],
        },
    ),
    (
        "nl",
        Locale {
            months: [
                "januari",
                "februari",
                "maart",
                "april",
                "mei",
                "juni",
                "juli",
                "augustus",
                "september",
                "oktober",
                "november",
                "december",
            ],
            months_short: ["jan", "feb", "mrt", "apr", "mei", "jun", "jul", "aug", "sep", "okt", "nov", "dec"],
            days: ["maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag"],
            days_short: ["ma", "di", "wo", "do", "vr", "za", "zo"],
        },
    ),
    (
        "pt",
        Locale {
            months: [
                "janeiro",
                "fevereiro",
                "março",
                "abril",
                "maio",
                "junho",
                "julho",
                "agosto",
                "setembro",
                "outubro",
                "novembro",
                "dezembro",
            ],
            months_short: ["jan", "fev", "mar", "abr", "mai", "jun", "jul", "ago", "set", "out", "nov", "dez"],
            days: ["segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado", "domingo"],
            days_short: ["seg", "ter", "qua", "qui", "sex", "sáb", "dom"],
        },
    ),
];

impl Default for Locale {
    fn default() -> Self {
        ENGLISH
    }
}

impl Locale {
    /// The locale for a tag such as `de`, `de-DE` or `fr_FR`, by its language part.
    pub fn from_tag(tag: &str) -> Option<Locale> {
        let language = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        LOCALES.iter().find(|(l, _)| *l == language).map(|(_, loc)| *loc)
    }

    /// The languages with names for parsing.
    pub fn supported() -> impl Iterator<Item = &'static str> {
        LOCALES.iter().map(|(l, _)| *l)
    }
}

impl JodaPattern {
    /// Compiles a pattern; quoted text (`'T'`) is literal, `''` is a quote.
    pub fn compile(pattern: &str) -> Result<Self, PatternError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut tokens = Vec::new();
        let mut i = 0;
        let push_lit = |tokens: &mut Vec<Token>, s: &str| match tokens.last_mut() {
            Some(Token::Literal(l)) => l.push_str(s),
            _ => tokens.push(Token::Literal(s.to_string())),
        };
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    push_lit(&mut tokens, "'");
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                let mut lit = String::new();
                while j < chars.len() && chars[j] != '\'' {
                    lit.push(chars[j]);
                    j += 1;
                }
                push_lit(&mut tokens, &lit);
                i = j + 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                push_lit(&mut tokens, &c.to_string());
                i += 1;
                continue;
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            let token = match c {
                'y' | 'Y' | 'u' | 'x' => Token::Year(n),
                'M' => Token::Month(n),
                'd' => Token::Day(n),
                'D' => Token::DayOfYear,
                'H' | 'k' => Token::Hour24(n),
                'h' | 'K' => Token::Hour12(n),
                'm' => Token::Minute(n),
                's' => Token::Second(n),
                'S' => Token::Fraction(n),
                'a' => Token::AmPm,
                'E' | 'e' => Token::Weekday(n),
                'Z' | 'X' => {
                    if n >= 3 {
                        Token::ZoneId
                    } else {
                        Token::Zone(n)
                    }
                }
                'z' => Token::ZoneId,
                _ => return Err(PatternError { letter: c, pattern: pattern.to_string() }),
            };
            tokens.push(token);
            i += n;
        }
        Ok(Self { tokens })
    }

    /// Formats `t` (in UTC) with this pattern.
    pub fn format(&self, t: &DateTime<Utc>) -> String {
        let mut out = String::with_capacity(24);
        for tok in &self.tokens {
            match tok {
                Token::Literal(s) => out.push_str(s),
                Token::Year(2) => push_num(&mut out, (t.year() % 100) as i64, 2),
                Token::Year(n) => push_num(&mut out, t.year() as i64, *n),
                Token::Month(n) if *n >= 3 => {
                    let name = MONTHS[t.month0() as usize];
                    out.push_str(if *n == 3 { &name[..3] } else { name });
                }
                Token::Month(n) => push_num(&mut out, t.month() as i64, *n),
                Token::Day(n) => push_num(&mut out, t.day() as i64, *n),
                Token::DayOfYear => push_num(&mut out, t.ordinal() as i64, 3),
                Token::Hour24(n) => push_num(&mut out, t.hour() as i64, *n),
                Token::Hour12(n) => push_num(&mut out, t.hour12().1 as i64, *n),
                Token::Minute(n) => push_num(&mut out, t.minute() as i64, *n),
                Token::Second(n) => push_num(&mut out, t.second() as i64, *n),
                Token::Fraction(n) => {
                    let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
                    let digits = (*n).min(9);
                    out.push_str(&nanos[..digits]);
                    for _ in digits..*n {
                        out.push('0');
                    }
                }
                Token::AmPm => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
                Token::Weekday(n) => {
                    let name = WEEKDAYS[t.weekday().num_days_from_monday() as usize];
                    out.push_str(if *n <= 3 { &name[..3] } else { name });
                }
                Token::Zone(1) => out.push_str("+0000"),
                Token::Zone(_) => out.push_str("+00:00"),
                Token::ZoneId => out.push_str("UTC"),
            }
        }
        out
    }

    /// Parses `input` entirely; fields the pattern lacks default to the current year,
    /// January, the 1st, midnight. A pattern without a zone uses `default_zone`.
    pub fn parse(&self, input: &str, default_zone: &Zone) -> Option<DateTime<Utc>> {
        self.parse_in(input, default_zone, &ENGLISH)
    }

    /// [`JodaPattern::parse`] with month and day names of `locale`.
    pub fn parse_in(&self, input: &str, default_zone: &Zone, locale: &Locale) -> Option<DateTime<Utc>> {
        let mut p = Parsed::default();
        let mut s = input;
        for tok in &self.tokens {
            s = match tok {
                Token::Literal(lit) => strip_prefix_ci(s, lit)?,
                Token::Year(2) => {
                    let (v, rest) = take_digits(s, 2, 2)?;
                    p.year = Some(2000 + v as i32);
                    rest
                }
                Token::Year(_) => {
                    let (neg, s2) = match s.strip_prefix('-') {
                        Some(r) => (true, r),
                        None => (false, s),
                    };
                    let (v, rest) = take_digits(s2, 1, 9)?;
                    p.year = Some(if neg { -(v as i32) } else { v as i32 });
                    rest
                }
                Token::Month(n) if *n >= 3 => {
                    let (m, rest) = take_name(s, &locale.months, &locale.months_short)?;
                    p.month = m as u32 + 1;
                    rest
                }
                Token::Month(n) => num(s, *n, 2, &mut p.month)?,
                Token::Day(n) => num(s, *n, 2, &mut p.day)?,
                Token::DayOfYear => {
                    let mut doy = 0;
                    let rest = num(s, 1, 3, &mut doy)?;
                    p.day_of_year = Some(doy);
                    rest
                }
                Token::Hour24(n) => num(s, *n, 2, &mut p.hour)?,
                Token::Hour12(n) => {
                    let rest = num(s, *n, 2, &mut p.hour)?;
                    p.twelve_hour = true;
                    rest
                }
                Token::Minute(n) => num(s, *n, 2, &mut p.minute)?,
                Token::Second(n) => num(s, *n, 2, &mut p.second)?,
                Token::Fraction(n) => {
                    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
                    if digits == 0 || digits < (*n).min(3) {
                        return None;
                    }
                    let mut nanos: u32 = 0;
                    for (i, b) in s.bytes().take(digits.min(9)).enumerate() {
                        nanos += (b - b'0') as u32 * 10u32.pow(8 - i as u32);
                    }
                    p.nanos = nanos;
                    &s[digits..]
                }
                Token::AmPm => {
                    let up = s.get(..2)?.to_ascii_uppercase();
                    p.pm = match up.as_str() {
                        "AM" => Some(false),
                        "PM" => Some(true),
                        _ => return None,
                    };
                    &s[2..]
                }
                Token::Weekday(_) => take_name(s, &locale.days, &locale.days_short)?.1,
                Token::Zone(_) => {
                    let (off, rest) = parse_offset(s)?;
                    p.offset = Some(off);
                    rest
                }
                Token::ZoneId => {
                    let end = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
                    let (name, rest) = s.split_at(end);
                    if let Some((off, "")) = parse_offset(name) {
                        p.offset = Some(off);
                    } else {
                        p.zone = Some(Zone::parse(name)?);
                    }
                    rest
                }
            };
        }
        if !s.is_empty() {
            return None;
        }
        p.resolve(default_zone)
    }
}

fn push_num(out: &mut String, v: i64, width: usize) {
    let s = v.abs().to_string();
    if v < 0 {
        out.push('-');
    }
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

fn take_digits(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = s.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if n < min {
        return None;
    }
    let v = s[..n].parse().ok()?;
    Some((v, &s[n..]))
}

/// Numeric field: at least `width` digits when the pattern letter is repeated, up to
/// `max.max(width)`.
fn num<'a>(s: &'a str, width: usize, max: usize, out: &mut u32) -> Option<&'a str> {
    let (v, rest) = take_digits(s, width.min(max).max(1), max.max(width))?;
    *out = v;
    Some(rest)
}

fn strip_prefix_ci<'a>(s: &'a str, lit: &str) -> Option<&'a str> {
    let head = s.get(..lit.len())?;
    let equal = head.eq_ignore_ascii_case(lit)
        || (!lit.is_ascii() && head.chars().flat_map(char::to_lowercase).eq(lit.chars().flat_map(char::to_lowercase)));
    equal.then(|| &s[lit.len()..])
}

/// Matches a full name, else an abbreviation, at the start of `s` (case-insensitive).
fn take_name<'a>(s: &'a str, full: &[&str], short: &[&str]) -> Option<(usize, &'a str)> {
    for names in [full, short] {
        for (i, name) in names.iter().enumerate() {
            if let Some(rest) = strip_prefix_ci(s, name) {
                return Some((i, rest));
            }
        }
    }
    None
}

/// `Z`, `+hhmm`, `+hh:mm`, `-hh`.
fn parse_offset(s: &str) -> Option<(FixedOffset, &str)> {
    if let Some(rest) = s.strip_prefix('Z') {
        return Some((FixedOffset::east_opt(0)?, rest));
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, rest) = take_digits(&s[1..], 2, 2)?;
    let rest2 = rest.strip_prefix(':').unwrap_or(rest);
    let (m, rest) = match take_digits(rest2, 2, 2) {
        Some(x) => x,
        None => (0, rest),
    };
    Some((FixedOffset::east_opt(sign * (h as i32 * 3600 + m as i32 * 60))?, rest))
}

/// A time zone: a fixed offset or a named IANA zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// A fixed UTC offset.
    Fixed(FixedOffset),
    /// A named zone such as `Europe/Paris`.
    Named(chrono_tz::Tz),
}

impl Default for Zone {
    fn default() -> Self {
        Zone::Fixed(Utc.fix())
    }
}

impl Zone {
    /// Parses `UTC`, `Europe/Paris` or `+02:00`.
    pub fn parse(name: &str) -> Option<Zone> {
        if let Some((off, "")) = parse_offset(name) {
            return Some(Zone::Fixed(off));
        }
        if name.eq_ignore_ascii_case("UTC") || name.eq_ignore_ascii_case("GMT") {
            return Some(Zone::default());
        }
        name.parse::<chrono_tz::Tz>().ok().map(Zone::Named)
    }

    fn resolve(&self, naive: chrono::NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Zone::Fixed(off) => off.from_local_datetime(&naive).single().map(|t| t.with_timezone(&Utc)),
            Zone::Named(tz) => tz.from_local_datetime(&naive).earliest().map(|t| t.with_timezone(&Utc)),
        }
    }
}

#[derive(Default)]
struct Parsed {
    year: Option<i32>,
    month: u32,
    day: u32,
    day_of_year: Option<u32>,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    twelve_hour: bool,
    pm: Option<bool>,
    offset: Option<FixedOffset>,
    zone: Option<Zone>,
}

impl Parsed {
    fn resolve(self, default_zone: &Zone) -> Option<DateTime<Utc>> {
        let year = self.year.unwrap_or_else(|| Utc::now().year());
        let date = match self.day_of_year {
            Some(doy) => NaiveDate::from_yo_opt(year, doy)?,
            None => NaiveDate::from_ymd_opt(year, self.month.max(1), self.day.max(1))?,
        };
        let mut hour = self.hour;
        if self.twelve_hour || self.pm.is_some() {
            hour %= 12;
            if self.pm == Some(true) {
                hour += 12;
            }
        }
        let naive = date.and_hms_nano_opt(hour, self.minute, self.second, self.nanos)?;
        match (self.offset, self.zone) {
            (Some(off), _) => Zone::Fixed(off).resolve(naive),
            (None, Some(z)) => z.resolve(naive),
            (None, None) => default_zone.resolve(naive),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(p: &str, s: &str) -> Option<String> {
        JodaPattern::compile(p).unwrap().parse(s, &Zone::default()).map(crate::event::format_timestamp)
    }

    #[test]
    fn parses_common_log_formats() {
        assert_eq!(parse("dd/MMM/yyyy:HH:mm:ss Z", "17/May/2015:10:05:03 +0200").unwrap(), "2015-05-17T08:05:03.000Z");
        assert_eq!(parse("yyyy-MM-dd HH:mm:ss", "2019-12-04 21:02:31").unwrap(), "2019-12-04T21:02:31.000Z");
        assert_eq!(
            parse("yyyy-MM-dd'T'HH:mm:ss.SSSZ", "2020-01-02T03:04:05.678+01:00").unwrap(),
            "2020-01-02T02:04:05.678Z"
        );
        assert_eq!(parse("MMM dd yyyy hh:mm:ss a", "Jan 02 2020 01:00:00 PM").unwrap(), "2020-01-02T13:00:00.000Z");
        assert_eq!(parse("yyyy-MM-dd", "2019-12-04 junk"), None);
    }

    #[test]
    fn month_names_in_other_languages() {
        let p = JodaPattern::compile("dd/MMM/yyyy:HH:mm:ss Z").unwrap();
        let de = Locale::from_tag("de_DE").unwrap();
        let t = p.parse_in("03/Mär/2021:10:00:00 +0000", &Zone::default(), &de).unwrap();
        assert_eq!(crate::event::format_timestamp(t), "2021-03-03T10:00:00.000Z");
        let fr = Locale::from_tag("fr").unwrap();
        let long = JodaPattern::compile("dd MMMM yyyy").unwrap();
        let t = long.parse_in("14 Février 2022", &Zone::default(), &fr).unwrap();
        assert_eq!(crate::event::format_timestamp(t), "2022-02-14T00:00:00.000Z");
        assert!(p.parse("03/Mär/2021:10:00:00 +0000", &Zone::default()).is_none());
        assert!(Locale::from_tag("xx").is_none());
    }

    #[test]
    fn named_zones_apply_daylight_saving() {
        let p = JodaPattern::compile("yyyy-MM-dd HH:mm:ss").unwrap();
        let z = Zone::parse("Europe/Paris").unwrap();
        let t = p.parse("2021-07-01 12:00:00", &z).unwrap();
        assert_eq!(crate::event::format_timestamp(t), "2021-07-01T10:00:00.000Z");
    }

    #[test]
    fn formats_index_date_patterns() {
        let t = Utc.with_ymd_and_hms(2024, 3, 9, 7, 5, 1).unwrap();
        assert_eq!(JodaPattern::compile("YYYY.MM.dd").unwrap().format(&t), "2024.03.09");
        assert_eq!(JodaPattern::compile("yyyy-MM-dd'T'HH:mm:ss.SSS").unwrap().format(&t), "2024-03-09T07:05:01.000");
    }
}
