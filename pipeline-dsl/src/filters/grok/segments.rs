//! Fast path for anchored grok expressions: split the line at literal delimiters with
//! memchr, then validate each piece on its own.
//!
//! Why this is exact, not a heuristic: a piece is only split off at the delimiter that
//! follows it when no string the piece can match contains that delimiter's first
//! character (computed from the piece's regex syntax tree). The piece must then end at
//! the first occurrence of that character, so there is exactly one way to split the
//! line, and validating each piece against its own regex accepts precisely the lines
//! the whole regex accepts, with the same captures. Word boundaries at a piece's edges
//! are only allowed where the neighbouring character is not a word character, so they
//! too are decided by the piece alone; `^`/`$` inside a piece make the pattern fall
//! back. A piece that may contain its delimiter is merged with what follows it.
//! A pattern not anchored with `^` qualifies when it starts with a literal and ends
//! with `$` (`\.(?<ext>\w+)$`): a match must start at an occurrence of that literal,
//! so the occurrences are tried from the left as anchored starts, and the first that
//! matches is the regex's leftmost match. Other shapes (no leading literal, alternation
//! at the top) run on the regex engine instead, and so does any line containing a
//! newline.
//!
//! The win is large because the regex crate has to fall back to a bounded backtracker
//! or PikeVM to report capture positions of a long pattern, while here most pieces
//! are checked by a greedy scan over byte classes or an anchored dense DFA, and a
//! piece whose class excludes only its delimiter is not scanned at all.

use super::expand::Capture;
use crate::regex_engine::{dfa_is_match, DenseDfa, Spans};
use compact_str::CompactString;
use regex_automata::dfa::{dense, StartKind};
use regex_automata::{Anchored, Input};
use regex_syntax::ast::{self, Ast};
use regex_syntax::hir::{Class, Hir, HirKind, Look};
use std::cell::RefCell;
use std::collections::HashMap;

/// A whole-token match test: an anchored dense DFA (a table lookup per byte, no
/// search set-up), with the regex as fallback for inputs the DFA gives up on (Unicode
/// word boundaries on non-ASCII text).
struct Validator {
    /// For `C*` / `C+` where `C` rules out nothing a token can hold (see
    /// [`trivial_class_repetition`]): the least token length; the token then matches
    /// without being looked at.
    min_len_only: Option<usize>,
    classes: Option<ClassSequence>,
    dfa: Option<DenseDfa>,
    regex: regex::Regex,
    /// The last token the DFA or regex judged, and the verdict.
    last: RefCell<LastVerdict>,
}

/// A validator's last verdict on a token. Consecutive log lines often repeat a token (the
/// same second in `HTTPDATE`, the same `HTTP/1.1`), and comparing it with the last one
/// is much cheaper than walking the DFA again: one table lookup per byte, each waiting
/// for the one before.
#[derive(Default)]
struct LastVerdict {
    token: CompactString,
    matched: bool,
}

/// Tokens longer than this are not remembered: long tokens (a URL, a user agent) rarely
/// repeat on consecutive lines, and copying each one would cost more than it saves.
const REMEMBERED_TOKEN: usize = 64;

/// One `class{min,max}` step of a [`ClassSequence`], over ASCII bytes.
struct ClassStep {
    /// Allowed bytes; non-ASCII bytes are never allowed here (those tokens go to the DFA).
    allowed: [bool; 256],
    min: u32,
    max: u32,
}

/// A piece that is a sequence of character-class repetitions whose classes are
/// pairwise disjoint on ASCII, e.g. `\S+`, `[^"]*`, `[+-]?[0-9]+`. For ASCII tokens a
/// greedy scan decides it exactly (disjoint classes leave nothing to backtrack over);
/// other tokens go to the DFA.
struct ClassSequence {
    steps: Vec<ClassStep>,
}

impl ClassSequence {
    fn from_hir(hir: &Hir) -> Option<Self> {
        let items: Vec<&Hir> = match hir.kind() {
            HirKind::Concat(items) => items.iter().collect(),
            _ => vec![hir],
        };
        let mut steps: Vec<ClassStep> = Vec::new();
        let n = items.len();
        for (i, item) in items.into_iter().enumerate() {
            match item.kind() {
                // Word boundaries at the ends of a piece hold when its outer characters
                // are word characters: the splitter guarantees non-word neighbours.
                HirKind::Look(look) if (i == 0 || i + 1 == n) && is_word_boundary(*look) => continue,
                HirKind::Repetition(rep) => {
                    let allowed = ascii_class(&rep.sub)?;
                    steps.push(ClassStep { allowed, min: rep.min, max: rep.max.unwrap_or(u32::MAX) });
                }
                _ => {
                    let allowed = ascii_class(item)?;
                    steps.push(ClassStep { allowed, min: 1, max: 1 });
                }
            }
        }
        let edge_looks =
            matches!(hir.kind(), HirKind::Concat(items) if items.iter().any(|h| matches!(h.kind(), HirKind::Look(_))));
        if edge_looks {
            // With boundaries stripped, the outer steps must be word-only and non-empty.
            let word_only =
                |s: &ClassStep| s.min >= 1 && (0..128u8).all(|b| !s.allowed[b as usize] || is_word(b as char));
            if !(steps.first().is_some_and(word_only) && steps.last().is_some_and(word_only)) {
                return None;
            }
        }
        for (i, a) in steps.iter().enumerate() {
            for b in &steps[i + 1..] {
                if (0..128).any(|c| a.allowed[c] && b.allowed[c]) {
                    return None;
                }
            }
        }
        (!steps.is_empty()).then_some(Self { steps })
    }

    /// `Some(matched)` for ASCII tokens, `None` when the token needs the DFA.
    fn check(&self, token: &[u8]) -> Option<bool> {
        let mut pos = 0;
        let mut ok = true;
        for step in &self.steps {
            let start = pos;
            let end = if step.max == u32::MAX { token.len() } else { (start + step.max as usize).min(token.len()) };
            let run = &token[start..end];
            pos += run.iter().position(|&b| !step.allowed[usize::from(b)]).unwrap_or(run.len());
            if ((pos - start) as u32) < step.min {
                ok = false;
                break;
            }
        }
        if ok && pos == token.len() {
            return Some(true);
        }
        // A non-ASCII byte stops the scan without deciding: let the DFA judge.
        if token.is_ascii() {
            Some(false)
        } else {
            None
        }
    }
}

/// `C*` or `C+` (unbounded) where the only characters `C` excludes are the token's
/// delimiter and newline, e.g. CloudFront's `[^\t]*` between tabs or `[^"]*` inside
/// quotes: a token never holds its delimiter, and lines with a newline go to the regex,
/// so any token of at least the minimum length matches. Returns that length in bytes
/// (0 or 1: one character is at least one byte).
fn trivial_class_repetition(hir: &Hir, delimiter: Option<char>) -> Option<usize> {
    let HirKind::Repetition(rep) = hir.kind() else { return None };
    if rep.max.is_some() || rep.min > 1 {
        return None;
    }
    let HirKind::Class(Class::Unicode(class)) = rep.sub.kind() else { return None };
    let mut excluded = class.clone();
    excluded.negate();
    // Stops at the first excluded character that a token could hold.
    let only_delimiters =
        excluded.ranges().iter().all(|r| (r.start()..=r.end()).all(|c| c == '\n' || Some(c) == delimiter));
    only_delimiters.then_some(rep.min as usize)
}

fn is_word_boundary(look: Look) -> bool {
    matches!(look, Look::WordAscii | Look::WordUnicode)
}

/// The ASCII members of a character class (or single-character literal).
fn ascii_class(h: &Hir) -> Option<[bool; 256]> {
    let mut allowed = [false; 256];
    match h.kind() {
        HirKind::Class(Class::Unicode(cls)) => {
            for r in cls.ranges() {
                for c in (r.start() as u32)..=(r.end() as u32).min(127) {
                    allowed[c as usize] = true;
                }
            }
        }
        HirKind::Class(Class::Bytes(cls)) => {
            for r in cls.ranges() {
                for c in r.start()..=r.end().min(127) {
                    allowed[c as usize] = true;
                }
            }
        }
        HirKind::Literal(lit) if lit.0.len() == 1 && lit.0[0] < 128 => allowed[lit.0[0] as usize] = true,
        HirKind::Capture(c) => return ascii_class(&c.sub),
        _ => return None,
    }
    Some(allowed)
}

impl Validator {
    /// A check of `body` on tokens that never contain `delimiter` (the splitter cuts
    /// each token at the delimiter's first occurrence).
    fn new(body: &str, delimiter: Option<char>) -> Option<Self> {
        let hir =
            regex_syntax::ParserBuilder::new().dot_matches_new_line(true).multi_line(true).build().parse(body).ok();
        let min_len_only = hir.as_ref().and_then(|h| trivial_class_repetition(h, delimiter));
        let classes = hir.as_ref().and_then(ClassSequence::from_hir);
        let regex = regex::Regex::new(&format!(r"(?ms)\A(?:{body})\z")).ok()?;
        let dfa = dense::Builder::new()
            .configure(dense::Config::new().start_kind(StartKind::Anchored).unicode_word_boundary(true))
            .syntax(regex_automata::util::syntax::Config::new().dot_matches_new_line(true).multi_line(true))
            .build(&format!(r"(?:{body})\z"))
            .ok();
        Some(Self { min_len_only, classes, dfa, regex, last: RefCell::default() })
    }

    fn is_full_match(&self, token: &str) -> bool {
        if let Some(min) = self.min_len_only {
            return token.len() >= min;
        }
        if let Some(decided) = self.classes.as_ref().and_then(|c| c.check(token.as_bytes())) {
            return decided;
        }
        let mut last = self.last.borrow_mut();
        if !last.token.is_empty() && last.token == token {
            return last.matched;
        }
        // The DFA is anchored and ends in `\z`: only a match of the whole token counts.
        let input = Input::new(token).anchored(Anchored::Yes);
        let matched = match self.dfa.as_ref().and_then(|dfa| dfa_is_match(dfa, &input)) {
            Some(decided) => decided,
            None => self.regex.is_match(token),
        };
        if token.len() <= REMEMBERED_TOKEN {
            last.token.clear();
            last.token.push_str(token);
            last.matched = matched;
        }
        matched
    }
}

/// How a piece is checked.
enum Check {
    /// The whole token is one capture group whose content has no groups: a match test
    /// suffices and the group spans the token.
    Whole { check: Validator, group: usize },
    /// `(?:LIT|(?<g>X))`, the "dash or value" shape of log fields: the literal
    /// alternative wins when the token equals it (leftmost-first), else `X` must match
    /// the whole token and fills the group.
    LiteralOr { literal: String, check: Validator, group: usize },
    /// No captures inside: a match test.
    Plain(Validator),
    /// Captures inside: run captures and map group names back to the full regex.
    Groups { regex: regex::Regex, map: Vec<(usize, usize)> },
}

/// Bytes a class repetition may run over: a table for ASCII, and whether every
/// non-ASCII character belongs to the class (classes that take only some are not
/// scanned; their pieces are asked of a sub-regex instead).
struct ByteClass {
    ascii: [bool; 128],
    non_ascii: bool,
}

impl ByteClass {
    fn from_hir(h: &Hir) -> Option<Self> {
        let HirKind::Class(Class::Unicode(cls)) = h.kind() else { return None };
        let mut ascii = [false; 128];
        let mut non_ascii_ranges = Vec::new();
        for r in cls.ranges() {
            for c in (r.start() as u32)..=(r.end() as u32).min(127) {
                ascii[c as usize] = true;
            }
            if r.end() as u32 >= 128 {
                non_ascii_ranges.push(((r.start() as u32).max(128), r.end() as u32));
            }
        }
        let non_ascii = match non_ascii_ranges.as_slice() {
            [] => false,
            // Every scalar value from U+0080 up (the surrogate gap cannot occur in a str).
            [(start, end)] if *start == 128 && *end == 0x10FFFF => true,
            [(128, 0xD7FF), (0xE000, 0x10FFFF)] => true,
            _ => return None,
        };
        Some(Self { ascii, non_ascii })
    }

    #[inline]
    fn allows(&self, b: u8) -> bool {
        if b < 128 {
            self.ascii[usize::from(b)]
        } else {
            self.non_ascii
        }
    }
}

/// A piece whose end is not forced by its delimiter: the ends it may take, in the
/// order a backtracking regex engine tries them.
enum Ends {
    /// `C*?` / `C+?` (DATA): shortest first.
    Lazy { class: ByteClass, min: usize, group: Option<usize> },
    /// `C*` / `C+` (GREEDYDATA): longest first.
    Greedy { class: ByteClass, min: usize, group: Option<usize> },
}

/// How the end of a piece is found.
// A pattern has a few dozen steps at most, built once: their size does not matter, an
// indirection on the hot path would.
#[allow(clippy::large_enum_variant)]
enum Piece {
    /// No string the piece matches contains the first character of the literal that
    /// follows it, so the piece ends at that character's first occurrence and is then
    /// checked as a whole token (the last piece of an end-anchored match runs to the
    /// end).
    Split(Check),
    /// Enumerated ends: every end in priority order, the rest tried after each (failed
    /// positions are remembered, so the walk stays polynomial). `or_literal` is an
    /// alternative tried before the scan (`(?:-|%{DATA:x})`).
    Scan { ends: Ends, or_literal: Option<String> },
    /// Anything else: the piece, followed by its literal, is matched by an anchored
    /// sub-regex that sees the whole line (so look-arounds judge real neighbours). It
    /// gives the end the regex would try first; should the rest then fail, the line
    /// goes to the whole regex, which alone knows the piece's other ends.
    Ask {
        regex: regex_automata::meta::Regex,
        /// Groups inside the piece: (sub-regex group, full regex group).
        map: Vec<(usize, usize)>,
        /// The piece is one named group with none inside: it spans the piece.
        whole: Option<usize>,
        literal_len: usize,
    },
}

/// A piece and the literal that follows it (empty for the last piece).
struct Step {
    piece: Piece,
    literal: String,
    /// Whether the piece uses word-boundary assertions (judged at its edges).
    word_looks: bool,
    /// How many times the first byte of `literal` occurs in it and in every later
    /// literal: a scanned piece cannot end where fewer of them follow, however the
    /// pieces after it split.
    needed: usize,
}

/// A compiled delimiter-split matcher: the pattern's top-level alternatives (usually
/// one), each walked as a sequence of pieces.
pub struct SegmentMatcher {
    alternatives: Vec<Sequence>,
    /// For patterns that are not anchored at the start: the whole regex, whose lazy-DFA
    /// search finds the leftmost match when the line does not match from its start.
    search: Option<regex_automata::meta::Regex>,
}

/// One alternative: a prefix literal, then pieces each followed by a literal.
struct Sequence {
    prefix: String,
    steps: Vec<Step>,
    /// Whether the pattern starts with `^`.
    anchored_start: bool,
    anchored_end: bool,
    /// Not anchored at the start and starting with a literal and ending with `$`
    /// (`\.(?<ext>\w+)$`): each occurrence of the prefix, from the left, is tried as a
    /// start (the leftmost start that matches is the regex's match).
    prefix_starts: bool,
    /// Every piece ends at its delimiter: one pass, no walk state.
    all_split: bool,
    groups: usize,
    state: RefCell<WalkState>,
}

/// Scratch space of one walk, kept between lines.
#[derive(Default)]
struct WalkState {
    /// `(step, position)` pairs from which the rest of the pattern is known to fail.
    failed: foldhash::HashSet<(u32, u32)>,
    /// Per step, the chosen `(start, end, took_or_literal)`.
    trail: Vec<(usize, usize, bool)>,
    /// Ends tried this line; past a budget the line goes to the regex.
    work: usize,
    /// Per step: the sub-regex's cache and captures (asked pieces only).
    asked: Vec<Option<(regex_automata::meta::Cache, regex_automata::util::captures::Captures)>>,
}

/// Most starts tried for a pattern that is not anchored at the start; a line with more
/// occurrences of its leading literal goes to the regex engine, which stays linear.
const MAX_STARTS: usize = 16;

/// A top-level element of the pattern.
enum Element {
    Literal(char),
    Other(String),
}

/// The outcome of a walk: matched, definitely not matched from here, or undecided (an
/// asked piece's first end did not lead to a match; only the regex knows the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Match,
    NoMatch,
    Undecided,
}

/// Splices `(?:…)` groups without flags or alternation into the sequence around them:
/// `%{HTTPD_COMMONLOG}` expands to one such group, and its pieces should be split like
/// any others.
fn flatten<'a>(ast: &'a Ast, out: &mut Vec<&'a Ast>) {
    match ast {
        Ast::Group(g) if matches!(g.kind, ast::GroupKind::NonCapturing(ref f) if f.items.is_empty()) => match &*g.ast {
            Ast::Concat(c) => c.asts.iter().for_each(|a| flatten(a, out)),
            Ast::Alternation(_) => out.push(ast),
            inner => flatten(inner, out),
        },
        Ast::Concat(c) => c.asts.iter().for_each(|a| flatten(a, out)),
        other => out.push(other),
    }
}

impl SegmentMatcher {
    /// Builds a matcher for the expanded regex `regex`, or `None` when the pattern does
    /// not have the required shape. `groups` is the full regex's group table.
    pub fn build(regex: &str, groups: &[Option<Capture>]) -> Option<Self> {
        // The expansion is `(?ms)` and the body; a body that is an alternation, maybe in
        // one non-capturing group, is walked alternative by alternative.
        let body = regex.strip_prefix("(?ms)")?;
        let parsed = ast::parse::Parser::new().parse(body).ok()?;
        let mut top = &parsed;
        while let Ast::Group(g) = top {
            match &g.kind {
                ast::GroupKind::NonCapturing(f) if f.items.is_empty() => top = &g.ast,
                _ => break,
            }
        }
        let texts: Vec<String> = match top {
            Ast::Alternation(alt) => {
                alt.asts.iter().map(|a| format!("(?ms){}", &body[a.span().start.offset..a.span().end.offset])).collect()
            }
            _ => vec![regex.to_string()],
        };
        let alternatives = texts.iter().map(|t| Sequence::build(t, groups)).collect::<Option<Vec<_>>>()?;
        let needs_search = alternatives.iter().any(|a| !a.anchored_start && !a.prefix_starts) || alternatives.len() > 1;
        let search = if needs_search { Some(regex_automata::meta::Regex::new(regex).ok()?) } else { None };
        Some(Self { alternatives, search })
    }

    /// One line per step of each alternative: how its end is found, and the literal
    /// after it.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, a) in self.alternatives.iter().enumerate() {
            if self.alternatives.len() > 1 {
                out.push(format!("alternative {}:", i + 1));
            }
            out.extend(a.describe());
        }
        out
    }

    /// Matches `text` (a single line), filling group spans like a regex match would.
    /// `None` when the regex must decide; lines containing a newline always go there.
    pub fn match_into(&self, text: &str, spans: &mut Spans) -> Option<bool> {
        if memchr::memchr(b'\n', text.as_bytes()).is_some() {
            return None;
        }
        if let [only] = self.alternatives.as_slice() {
            if only.anchored_start || only.prefix_starts {
                return only.match_into(text, spans);
            }
        }
        // Leftmost-first: a match from the line's start is the leftmost, and among the
        // alternatives the first that matches there wins. Most lines match from their
        // first byte, so that is tried first.
        for a in &self.alternatives {
            match a.walk_from(text, 0, a.anchored_end.then_some(text.len()), spans) {
                Walk::Match => return Some(true),
                Walk::Undecided => return None,
                Walk::NoMatch => {}
            }
        }
        // Otherwise the whole regex's lazy DFA finds the leftmost match, and the first
        // alternative that spans exactly that match fills its captures.
        let Some(found) = self.search.as_ref()?.find(text) else { return Some(false) };
        let (start, stop) = (found.start(), found.end());
        for a in &self.alternatives {
            if a.anchored_start && start > 0 {
                // `^` holds only at the line's start.
                continue;
            }
            if !a.edges_are_free(text, start, stop) {
                return None;
            }
            match a.walk_from(text, start, Some(stop), spans) {
                Walk::Match => return Some(true),
                Walk::Undecided => return None,
                Walk::NoMatch => {}
            }
        }
        // The regex found a match the walk does not: let the regex decide.
        None
    }
}

impl Sequence {
    fn build(regex: &str, groups: &[Option<Capture>]) -> Option<Self> {
        let parsed = ast::parse::Parser::new().parse(regex).ok()?;
        let mut flat = Vec::new();
        flatten(&parsed, &mut flat);
        let mut items = flat.into_iter().peekable();
        // The expansion always starts with `(?ms)`; nothing else may set flags.
        match items.next()? {
            Ast::Flags(f)
                if f.flags.items.iter().all(|i| {
                    matches!(i.kind, ast::FlagsItemKind::Flag(ast::Flag::DotMatchesNewLine | ast::Flag::MultiLine))
                }) => {}
            _ => return None,
        }
        let anchored_start = matches!(
            items.peek(),
            Some(Ast::Assertion(a)) if matches!(a.kind, ast::AssertionKind::StartLine | ast::AssertionKind::StartText)
        );
        if anchored_start {
            items.next();
        }
        let mut elements = Vec::new();
        let mut anchored_end = false;
        while let Some(item) = items.next() {
            match item {
                Ast::Assertion(a)
                    if items.peek().is_none()
                        && matches!(a.kind, ast::AssertionKind::EndLine | ast::AssertionKind::EndText) =>
                {
                    anchored_end = true;
                }
                Ast::Literal(lit) => elements.push(Element::Literal(lit.c)),
                Ast::Flags(_) | Ast::Alternation(_) => return None,
                other => {
                    elements.push(Element::Other(regex[other.span().start.offset..other.span().end.offset].to_string()))
                }
            }
        }
        let names: HashMap<String, usize> =
            groups.iter().enumerate().filter_map(|(i, g)| g.as_ref().map(|g| (g.group.clone(), i))).collect();
        // Fold into prefix literal, then (piece, following literal) steps.
        let mut prefix = String::new();
        let mut pieces: Vec<(String, String)> = Vec::new();
        for e in elements {
            match (e, pieces.last_mut()) {
                (Element::Literal(c), None) => prefix.push(c),
                (Element::Literal(c), Some((_, lit))) => lit.push(c),
                (Element::Other(text), Some((piece, lit))) if lit.is_empty() => piece.push_str(&text),
                (Element::Other(text), _) => pieces.push((text, String::new())),
            }
        }
        let prefix_starts = !anchored_start && !prefix.is_empty() && anchored_end;
        let mut before: Option<char> = prefix.chars().last();
        let mut steps = Vec::with_capacity(pieces.len());
        let last = pieces.len().saturating_sub(1);
        for (i, (piece, literal)) in pieces.into_iter().enumerate() {
            let first = literal.chars().next();
            let looks = piece_looks(&piece)?;
            // A word boundary at a piece edge looks at the neighbouring character; it is
            // decided by the token alone only when that neighbour is not a word character.
            let edges_safe = !looks.word || (before.is_none_or(|c| !is_word(c)) && first.is_none_or(|c| !is_word(c)));
            let forced = match first {
                None => i == last,
                Some(c) => !can_contain(&piece, c)?,
            };
            let delimiter = first.filter(char::is_ascii);
            let split = (forced && edges_safe && !looks.line_or_text)
                .then(|| compile_check(&piece, &names, delimiter))
                .flatten();
            let piece_kind = match split {
                // The last piece of a match whose end is not anchored has no forced end.
                Some(check) if !(i == last && first.is_none() && !anchored_end) => Piece::Split(check),
                _ => match (!looks.word && !looks.line_or_text).then(|| scan_ends(&piece, &names)).flatten() {
                    Some((ends, or_literal)) => Piece::Scan { ends, or_literal },
                    None => ask(&piece, &literal, &names)?,
                },
            };
            before = literal.chars().last().or(before);
            steps.push(Step { piece: piece_kind, literal, word_looks: looks.word, needed: 0 });
        }
        let asked = steps
            .iter()
            .map(|s| match &s.piece {
                Piece::Ask { regex, .. } => Some((regex.create_cache(), regex.create_captures())),
                _ => None,
            })
            .collect();
        for i in 0..steps.len() {
            let Some(&first) = steps[i].literal.as_bytes().first() else { continue };
            steps[i].needed = steps[i..].iter().map(|s| memchr::memchr_iter(first, s.literal.as_bytes()).count()).sum();
        }
        let all_split = steps.iter().all(|s| matches!(s.piece, Piece::Split(_)));
        Some(Self {
            prefix,
            steps,
            anchored_start,
            anchored_end,
            prefix_starts,
            all_split,
            groups: groups.len(),
            state: RefCell::new(WalkState { asked, ..WalkState::default() }),
        })
    }

    fn describe(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|s| {
                let kind = match &s.piece {
                    Piece::Split(_) => "split",
                    Piece::Scan { ends: Ends::Lazy { .. }, .. } => "scan, shortest first",
                    Piece::Scan { ends: Ends::Greedy { .. }, .. } => "scan, longest first",
                    Piece::Ask { .. } => "sub-regex",
                };
                format!("{kind} then {:?}", s.literal)
            })
            .collect()
    }

    /// Matches a sequence anchored at the start, or starting with a literal and
    /// anchored at the end.
    fn match_into(&self, text: &str, spans: &mut Spans) -> Option<bool> {
        let end = self.anchored_end.then_some(text.len());
        if self.anchored_start {
            return self.decide(text, 0, end, spans);
        }
        let first = self.prefix.as_bytes()[0];
        let mut from = 0;
        for _ in 0..MAX_STARTS {
            let Some(i) = memchr::memchr(first, &text.as_bytes()[from..]) else { return Some(false) };
            match self.walk_from(text, from + i, end, spans) {
                Walk::Match => return Some(true),
                Walk::NoMatch => {}
                Walk::Undecided => return None,
            }
            from += i + 1;
        }
        None
    }

    /// Word boundaries at the edges of a piece are judged by the piece alone, as if the
    /// line ended there: true when the characters outside `start..stop` cannot change
    /// that verdict.
    fn edges_are_free(&self, text: &str, start: usize, stop: usize) -> bool {
        let word_before = text[..start].chars().next_back().is_some_and(is_word);
        let word_after = text[stop..].chars().next().is_some_and(is_word);
        let first_looks = self.prefix.is_empty() && self.steps.first().is_some_and(|s| s.word_looks);
        let last_looks = self.steps.last().is_some_and(|s| s.word_looks && s.literal.is_empty());
        !((word_before && first_looks) || (word_after && last_looks))
    }

    fn decide(&self, text: &str, start: usize, end: Option<usize>, spans: &mut Spans) -> Option<bool> {
        match self.walk_from(text, start, end, spans) {
            Walk::Match => Some(true),
            Walk::NoMatch => Some(false),
            Walk::Undecided => None,
        }
    }

    /// Matches the pattern starting exactly at `start`; with `end`, the match must end
    /// there.
    fn walk_from(&self, text: &str, start: usize, end: Option<usize>, spans: &mut Spans) -> Walk {
        if !crate::literal::starts_with(&text.as_bytes()[start..], self.prefix.as_bytes()) {
            return Walk::NoMatch;
        }
        if self.all_split {
            return self.split_pass(text, start, end, spans);
        }
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        state.trail.clear();
        if !state.failed.is_empty() {
            state.failed.clear();
        }
        state.work = 0;
        let result = self.walk(text, 0, start + self.prefix.len(), end, state);
        if result == Walk::Match {
            spans.clear();
            spans.resize(self.groups, None);
            if !self.fill(text, state, spans) {
                return Walk::Undecided;
            }
            let stop = state.trail.last().map_or(start + self.prefix.len(), |&(_, e, _)| e);
            let stop = stop + self.steps.last().map_or(0, |s| s.literal.len());
            spans[0] = Some((start, stop));
        }
        result
    }

    /// The walk of a sequence whose every piece ends at its delimiter: there is one way
    /// to split the line, so the spans are filled as the pieces pass.
    fn split_pass(&self, text: &str, start: usize, end: Option<usize>, spans: &mut Spans) -> Walk {
        spans.clear();
        spans.resize(self.groups, None);
        let bytes = text.as_bytes();
        let mut pos = start + self.prefix.len();
        for step in &self.steps {
            let Piece::Split(check) = &step.piece else { return Walk::Undecided };
            let token_len = if step.literal.is_empty() {
                end.unwrap_or(text.len()).saturating_sub(pos)
            } else {
                let rest = &bytes[pos..];
                let Some(i) = crate::literal::find_byte(step.literal.as_bytes()[0], rest) else {
                    return Walk::NoMatch;
                };
                if !crate::literal::starts_with(&rest[i..], step.literal.as_bytes()) {
                    return Walk::NoMatch;
                }
                i
            };
            let stop = pos + token_len;
            if stop > text.len() || !check_and_fill(check, text, pos, stop, spans) {
                return Walk::NoMatch;
            }
            pos = stop + step.literal.len();
        }
        if end.is_some_and(|e| e != pos) {
            return Walk::NoMatch;
        }
        spans[0] = Some((start, pos));
        Walk::Match
    }

    fn walk(&self, text: &str, index: usize, pos: usize, end: Option<usize>, state: &mut WalkState) -> Walk {
        let Some(step) = self.steps.get(index) else {
            return if end.is_none_or(|e| e == pos) { Walk::Match } else { Walk::NoMatch };
        };
        let bytes = text.as_bytes();
        let rest = &bytes[pos..];
        match &step.piece {
            Piece::Split(check) => {
                let token_len = if step.literal.is_empty() {
                    end.unwrap_or(text.len()).saturating_sub(pos)
                } else {
                    let Some(i) = crate::literal::find_byte(step.literal.as_bytes()[0], rest) else {
                        return Walk::NoMatch;
                    };
                    if !crate::literal::starts_with(&rest[i..], step.literal.as_bytes()) {
                        return Walk::NoMatch;
                    }
                    i
                };
                if pos + token_len > text.len() || !split_token_matches(check, &text[pos..pos + token_len]) {
                    return Walk::NoMatch;
                }
                state.trail.push((pos, pos + token_len, false));
                let r = self.walk(text, index + 1, pos + token_len + step.literal.len(), end, state);
                if r != Walk::Match {
                    state.trail.pop();
                }
                r
            }
            Piece::Ask { regex, map, literal_len, .. } => {
                let input = regex_automata::Input::new(text).range(pos..).anchored(regex_automata::Anchored::Yes);
                let Some((cache, caps)) = state.asked[index].as_mut() else { return Walk::Undecided };
                let found = if map.is_empty() {
                    regex.search_with(cache, &input).map(|m| m.end())
                } else {
                    regex.search_captures_with(cache, &input, caps);
                    caps.get_match().map(|m| m.end())
                };
                let Some(match_end) = found else { return Walk::NoMatch };
                state.trail.push((pos, match_end - literal_len, false));
                match self.walk(text, index + 1, match_end, end, state) {
                    Walk::Match => Walk::Match,
                    // The regex's first choice failed: its other choices are unknown here.
                    _ => {
                        state.trail.pop();
                        Walk::Undecided
                    }
                }
            }
            Piece::Scan { ends, or_literal } => {
                if let Some(lit) = or_literal {
                    if crate::literal::starts_with(rest, lit.as_bytes()) {
                        let r = self.try_end(text, index, pos, pos + lit.len(), true, end, state);
                        if r != Walk::NoMatch {
                            return r;
                        }
                    }
                }
                let (class, min, lazy) = match ends {
                    Ends::Lazy { class, min, .. } => (class, *min, true),
                    Ends::Greedy { class, min, .. } => (class, *min, false),
                };
                let run = rest.iter().position(|&b| !class.allows(b)).unwrap_or(rest.len());
                let limit = end.map_or(pos + run, |e| e.min(pos + run));
                if step.literal.is_empty() {
                    // The last piece: with a fixed end the run must reach it; otherwise
                    // the preferred end is the shortest or the longest.
                    let piece_end = match end {
                        Some(e) if limit == e => e,
                        Some(_) => return Walk::NoMatch,
                        // One character at least for `+?`: a whole character, not a byte.
                        None if lazy && min == 0 => pos,
                        None if lazy => pos + text[pos..].chars().next().map_or(1, char::len_utf8).min(run.max(1)),
                        None => pos + run,
                    };
                    if piece_end < pos + min || !text.is_char_boundary(piece_end) {
                        return Walk::NoMatch;
                    }
                    return self.try_end(text, index, pos, piece_end, false, end, state);
                }
                let lit = step.literal.as_bytes();
                // Candidate ends: where the literal starts within the run (or right
                // after it), at least `min` bytes in.
                let window = &bytes[pos..(limit + lit.len()).min(bytes.len())];
                let fits = |&i: &usize| i >= min && crate::literal::starts_with(&window[i..], lit) && pos + i <= limit;
                let try_one = |i: usize, state: &mut WalkState| {
                    state.work += 1;
                    if state.work > WORK_BUDGET {
                        return Walk::Undecided;
                    }
                    self.try_end(text, index, pos, pos + i, false, end, state)
                };
                // Occurrences of the literal's first byte from `pos` on: a candidate
                // with fewer than `needed` at or after it cannot lead to a match.
                let stop = end.unwrap_or(bytes.len()).min(bytes.len());
                let total = memchr::memchr_iter(lit[0], &bytes[pos..stop]).count();
                if total < step.needed {
                    return Walk::NoMatch;
                }
                if lazy {
                    for (k, i) in memchr::memchr_iter(lit[0], window).enumerate() {
                        if total - k < step.needed {
                            break;
                        }
                        if !fits(&i) {
                            continue;
                        }
                        match try_one(i, state) {
                            Walk::NoMatch => continue,
                            r => return r,
                        }
                    }
                } else {
                    // The window may reach past `stop` by the literal's length; only
                    // occurrences before `stop` are counted in `total`.
                    let in_window = memchr::memchr_iter(lit[0], &window[..window.len().min(stop - pos)]).count();
                    let beyond = total.saturating_sub(in_window);
                    for (k, i) in memchr::memrchr_iter(lit[0], window).enumerate() {
                        if k + 1 + beyond < step.needed || !fits(&i) {
                            continue;
                        }
                        match try_one(i, state) {
                            Walk::NoMatch => continue,
                            r => return r,
                        }
                    }
                }
                Walk::NoMatch
            }
        }
    }

    /// Tries `piece_end` as the end of step `index` (the literal after it, then the rest).
    #[allow(clippy::too_many_arguments)]
    fn try_end(
        &self,
        text: &str,
        index: usize,
        pos: usize,
        piece_end: usize,
        took_or_literal: bool,
        end: Option<usize>,
        state: &mut WalkState,
    ) -> Walk {
        let step = &self.steps[index];
        let next = piece_end + if took_or_literal { 0 } else { step.literal.len() };
        let next = if took_or_literal {
            if !crate::literal::starts_with(&text.as_bytes()[next..], step.literal.as_bytes()) {
                return Walk::NoMatch;
            }
            next + step.literal.len()
        } else {
            next
        };
        let key = ((index + 1) as u32, next as u32);
        if state.failed.contains(&key) {
            return Walk::NoMatch;
        }
        state.trail.push((pos, piece_end, took_or_literal));
        let r = self.walk(text, index + 1, next, end, state);
        match r {
            Walk::Match => {}
            Walk::NoMatch => {
                state.trail.pop();
                state.failed.insert(key);
            }
            Walk::Undecided => {
                state.trail.pop();
            }
        }
        r
    }

    /// Fills the group spans of a successful walk; false when a piece with groups
    /// inside cannot be captured on its own (the regex then decides).
    fn fill(&self, text: &str, state: &WalkState, spans: &mut Spans) -> bool {
        let asked = &state.asked;
        for (index, (step, &(start, stop, took_or_literal))) in self.steps.iter().zip(&state.trail).enumerate() {
            match &step.piece {
                Piece::Split(check) => {
                    if !fill_split(check, text, start, stop, spans) {
                        return false;
                    }
                }
                Piece::Scan { ends, .. } => {
                    let (Ends::Lazy { group, .. } | Ends::Greedy { group, .. }) = ends;
                    if let (Some(g), false) = (group, took_or_literal) {
                        spans[*g] = Some((start, stop));
                    }
                }
                Piece::Ask { map, whole, .. } => {
                    if let Some(g) = whole {
                        spans[*g] = Some((start, stop));
                    }
                    let Some((_, caps)) = asked[index].as_ref() else { continue };
                    for (local, global) in map {
                        if let Some(s) = caps.get_group(*local) {
                            spans[*global] = Some((s.start, s.end));
                        }
                    }
                }
            }
        }
        true
    }
}

/// Most ends a line's enumerated pieces may try before the line goes to the regex.
const WORK_BUDGET: usize = 4096;

/// Whether a forced token passes its piece's check.
fn split_token_matches(check: &Check, token: &str) -> bool {
    match check {
        Check::Whole { check, .. } => check.is_full_match(token),
        Check::LiteralOr { literal, check, .. } => token == literal || check.is_full_match(token),
        Check::Plain(check) => check.is_full_match(token),
        Check::Groups { regex, .. } => regex.is_match(token),
    }
}

/// Checks a forced token and stores its captures in one pass (the one-way split, where
/// no later failure can take the captures back).
fn check_and_fill(check: &Check, text: &str, start: usize, stop: usize, spans: &mut Spans) -> bool {
    let token = &text[start..stop];
    match check {
        Check::Whole { check, group } => {
            let m = check.is_full_match(token);
            if m {
                spans[*group] = Some((start, stop));
            }
            m
        }
        Check::LiteralOr { literal, check, group } => {
            if token == literal {
                return true;
            }
            let m = check.is_full_match(token);
            if m {
                spans[*group] = Some((start, stop));
            }
            m
        }
        Check::Plain(check) => check.is_full_match(token),
        Check::Groups { regex, map } => match regex.captures(token) {
            Some(c) => {
                for (local, global) in map {
                    if let Some(m) = c.get(*local) {
                        spans[*global] = Some((start + m.start(), start + m.end()));
                    }
                }
                true
            }
            None => false,
        },
    }
}

/// Stores a forced token's captures.
fn fill_split(check: &Check, text: &str, start: usize, stop: usize, spans: &mut Spans) -> bool {
    match check {
        Check::Whole { group, .. } => spans[*group] = Some((start, stop)),
        Check::LiteralOr { literal, group, .. } => {
            if &text[start..stop] != literal {
                spans[*group] = Some((start, stop));
            }
        }
        Check::Plain(_) => {}
        Check::Groups { regex, map } => {
            let Some(c) = regex.captures(&text[start..stop]) else { return false };
            for (local, global) in map {
                if let Some(m) = c.get(*local) {
                    spans[*global] = Some((start + m.start(), start + m.end()));
                }
            }
        }
    }
    true
}

/// Recognises pieces whose ends can be enumerated in priority order: a lazy or greedy
/// unbounded repetition of a class (at least 0 or 1 times), maybe as one named group,
/// maybe behind a literal alternative (`(?:-|%{DATA:x})`).
fn scan_ends(piece: &str, names: &HashMap<String, usize>) -> Option<(Ends, Option<String>)> {
    let parsed = ast::parse::Parser::new().parse(piece).ok()?;
    let (or_literal, body): (Option<String>, &Ast) = match &parsed {
        Ast::Group(outer) if matches!(outer.kind, ast::GroupKind::NonCapturing(ref f) if f.items.is_empty()) => {
            match &*outer.ast {
                Ast::Alternation(alt) => {
                    let [first, second] = alt.asts.as_slice() else { return None };
                    let literal = match first {
                        Ast::Literal(l) => l.c.to_string(),
                        Ast::Concat(c) => c
                            .asts
                            .iter()
                            .map(|a| if let Ast::Literal(l) = a { Some(l.c) } else { None })
                            .collect::<Option<String>>()?,
                        _ => return None,
                    };
                    (Some(literal), second)
                }
                inner => (None, inner),
            }
        }
        other => (None, other),
    };
    let (group, inner) = match body {
        Ast::Group(g) => match &g.kind {
            ast::GroupKind::CaptureName { name, .. } => (Some(*names.get(&name.name)?), &*g.ast),
            ast::GroupKind::NonCapturing(f) if f.items.is_empty() => (None, &*g.ast),
            _ => return None,
        },
        other => (None, other),
    };
    let inner_text = &piece[inner.span().start.offset..inner.span().end.offset];
    let hir = regex_syntax::ParserBuilder::new()
        .dot_matches_new_line(true)
        .multi_line(true)
        .build()
        .parse(inner_text)
        .ok()?;
    let HirKind::Repetition(rep) = hir.kind() else { return None };
    if rep.max.is_some() || rep.min > 1 {
        return None;
    }
    let class = ByteClass::from_hir(&rep.sub)?;
    let min = rep.min as usize;
    let ends = if rep.greedy { Ends::Greedy { class, min, group } } else { Ends::Lazy { class, min, group } };
    Some((ends, or_literal))
}

/// A piece asked of an anchored sub-regex: the piece followed by its literal.
fn ask(piece: &str, literal: &str, names: &HashMap<String, usize>) -> Option<Piece> {
    // One named group with none inside spans the piece: no captures needed.
    let parsed = ast::parse::Parser::new().parse(piece).ok()?;
    if let Ast::Group(g) = &parsed {
        if let ast::GroupKind::CaptureName { name, .. } = &g.kind {
            let inner = &piece[g.ast.span().start.offset..g.ast.span().end.offset];
            if group_count(inner)? == 0 {
                let pattern = format!("(?ms)(?:{inner}){}", regex_syntax::escape(literal));
                let regex = regex_automata::meta::Regex::new(&pattern).ok()?;
                let whole = Some(*names.get(&name.name)?);
                return Some(Piece::Ask { regex, map: Vec::new(), whole, literal_len: literal.len() });
            }
        }
    }
    let pattern = format!("(?ms)(?:{piece}){}", regex_syntax::escape(literal));
    let regex = regex_automata::meta::Regex::new(&pattern).ok()?;
    let map = regex
        .group_info()
        .pattern_names(regex_automata::PatternID::ZERO)
        .enumerate()
        .filter_map(|(i, n)| n.and_then(|n| names.get(n).map(|g| (i, *g))))
        .collect();
    Some(Piece::Ask { regex, map, whole: None, literal_len: literal.len() })
}

/// Compiles the anchored check for one piece.
fn compile_check(piece: &str, names: &HashMap<String, usize>, delimiter: Option<char>) -> Option<Check> {
    let parsed = ast::parse::Parser::new().parse(piece).ok()?;
    // One named group spanning the whole piece, with no groups inside it.
    if let Ast::Group(g) = &parsed {
        if let ast::GroupKind::CaptureName { name, .. } = &g.kind {
            let inner = &piece[g.ast.span().start.offset..g.ast.span().end.offset];
            if group_count(inner)? == 0 {
                let check = Validator::new(inner, delimiter)?;
                return Some(Check::Whole { check, group: *names.get(&name.name)? });
            }
        }
    }
    if let Some(check) = literal_or_group(&parsed, piece, names, delimiter) {
        return Some(check);
    }
    if group_count(piece)? == 0 {
        return Some(Check::Plain(Validator::new(piece, delimiter)?));
    }
    let regex = regex::Regex::new(&format!(r"(?ms)\A(?:{piece})\z")).ok()?;
    let map =
        regex.capture_names().enumerate().filter_map(|(i, n)| n.and_then(|n| names.get(n).map(|g| (i, *g)))).collect();
    Some(Check::Groups { regex, map })
}

fn group_count(pattern: &str) -> Option<usize> {
    let hir = regex_syntax::parse(pattern).ok()?;
    Some(hir.properties().explicit_captures_len())
}

/// Recognises `(?:LIT|(?<g>X))` where `X` has no groups of its own.
fn literal_or_group(
    parsed: &Ast,
    piece: &str,
    names: &HashMap<String, usize>,
    delimiter: Option<char>,
) -> Option<Check> {
    let Ast::Group(outer) = parsed else { return None };
    if !matches!(outer.kind, ast::GroupKind::NonCapturing(_)) {
        return None;
    }
    let Ast::Alternation(alt) = &*outer.ast else { return None };
    let [first, second] = alt.asts.as_slice() else { return None };
    let literal: String = match first {
        Ast::Literal(l) => l.c.to_string(),
        Ast::Concat(c) => {
            c.asts.iter().map(|a| if let Ast::Literal(l) = a { Some(l.c) } else { None }).collect::<Option<String>>()?
        }
        _ => return None,
    };
    let Ast::Group(g) = second else { return None };
    let ast::GroupKind::CaptureName { name, .. } = &g.kind else { return None };
    let inner = &piece[g.ast.span().start.offset..g.ast.span().end.offset];
    if group_count(inner)? != 0 {
        return None;
    }
    Some(Check::LiteralOr { literal, check: Validator::new(inner, delimiter)?, group: *names.get(&name.name)? })
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Which look-around assertions a piece uses.
struct Looks {
    word: bool,
    line_or_text: bool,
}

fn piece_looks(piece: &str) -> Option<Looks> {
    let hir =
        regex_syntax::ParserBuilder::new().dot_matches_new_line(true).multi_line(true).build().parse(piece).ok()?;
    let set = hir.properties().look_set();
    let line_or_text = [Look::Start, Look::End, Look::StartLF, Look::EndLF, Look::StartCRLF, Look::EndCRLF]
        .iter()
        .any(|l| set.contains(*l));
    let word = set.contains_word();
    Some(Looks { word, line_or_text })
}

/// Whether any string `piece` matches can contain `c`. `None` if the piece does not parse.
fn can_contain(piece: &str, c: char) -> Option<bool> {
    let hir =
        regex_syntax::ParserBuilder::new().dot_matches_new_line(true).multi_line(true).build().parse(piece).ok()?;
    Some(hir_can_contain(&hir, c))
}

fn hir_can_contain(h: &Hir, c: char) -> bool {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => std::str::from_utf8(&lit.0).map_or(true, |s| s.contains(c)),
        HirKind::Class(Class::Unicode(cls)) => cls.ranges().iter().any(|r| r.start() <= c && c <= r.end()),
        HirKind::Class(Class::Bytes(cls)) => {
            c.is_ascii() && cls.ranges().iter().any(|r| r.start() <= c as u8 && c as u8 <= r.end())
        }
        HirKind::Repetition(rep) => hir_can_contain(&rep.sub, c),
        HirKind::Capture(cap) => hir_can_contain(&cap.sub, c),
        HirKind::Concat(items) | HirKind::Alternation(items) => items.iter().any(|i| hir_can_contain(i, c)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::library::{Flavour, Library};
    use super::super::GrokPattern;
    use crate::regex_engine::Regex;

    /// The fast path and the regex engine agree on matches and captures.
    fn agree(pattern: &str, inputs: &[&str]) {
        let lib = Library::builtin(Flavour::EcsV1);
        let p = GrokPattern::compile(pattern, &lib, true).unwrap();
        assert!(p.uses_segments(), "{pattern} should use the fast path");
        let expanded = super::super::expand::expand(pattern, &lib, true).unwrap();
        let re = Regex::new(&expanded.regex).unwrap();
        for input in inputs {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let fast = p.match_into(input, &mut a);
            let slow = re.captures_into(input, &mut b);
            assert_eq!(fast, slow, "{pattern} on {input:?}");
            if fast {
                // Unnamed groups (inside library patterns) fill no field: only the
                // match and the named groups must agree.
                let named = |spans: &super::Spans| -> Vec<Option<(usize, usize)>> {
                    (0..p.by_group.len()).filter(|&g| g == 0 || p.by_group[g].is_some()).map(|g| spans[g]).collect()
                };
                assert_eq!(named(&a), named(&b), "{pattern} on {input:?}");
            }
        }
    }

    #[test]
    fn agrees_with_the_regex_engine() {
        agree(
            r#"^%{NOTSPACE:ip} - (?:-|%{NOTSPACE:user}) \[%{HTTPDATE:ts}\] "%{WORD:m} (?<path>[^ "]+) HTTP/%{NUMBER:v}" %{INT:s:int} (?:-|%{INT:b:int}) "(?:-|(?<ua>[^"]*))"$"#,
            &[
                r#"1.2.3.4 - - [20/Nov/2026:20:00:00 +0000] "GET /a HTTP/1.1" 200 5 "x""#,
                r#"1.2.3.4 - bob [20/Nov/2026:20:00:00 +0000] "GET /a HTTP/1.1" 200 - "-""#,
                r#"1.2.3.4 - bob [20/Nov/2026:20:00:00 +0000] "GET /a HTTP/1.1" 200 - "-" trailing"#,
                r#"1.2.3.4 - bob [bad date] "GET /a HTTP/1.1" 200 - "-""#,
                "",
            ],
        );
        agree(
            r"^(?:-|%{INT:a:int})\t(?<b>[^\t]*)(?:\t(?:-|(?<c>[^\t]*))(?:\t(?<d>[^\t]*))?)?\t*$",
            &["1\tx", "-\tx\t-", "7\tx\ty\tz", "7\tx\ty\tz\t\t", "x\ty", "1\tx\ty\tz\tw"],
        );
        // A piece that may contain its delimiter is merged with what follows.
        agree("^%{DATA:a} %{WORD:b}$", &["x y z", "x", "x y"]);
        // A word boundary next to a word-character delimiter depends on that delimiter.
        agree(r"^(?<a>\b[a-w]+\b)x(?<b>\w+)$", &["abxcd", "ab-xcd"]);
        agree(r"^(?<a>\b[a-w]+\b) (?<b>\w+)$", &["ab cd", "ab  cd"]);
        // Class sequences, with and without non-ASCII text.
        agree(
            r"^%{INT:a} (?<b>[^ ]*) %{WORD:c} (?:-|%{NOTSPACE:d})$",
            &["-12 x abc -", "+7  é_1 q", "7 x a-b y", "x y z w", "1 ü ä ö"],
        );
        // Not anchored at the start: each occurrence of the leading literal, from the
        // left, is tried as a start; past MAX_STARTS the regex decides.
        let many_dots = format!("{}x.m4s", "a.".repeat(40));
        agree(
            r"\.(?<ext>[A-Za-z0-9]+)$",
            &["/a/b.c/seg.m4s", "/a/b.c/seg", "noext", ".x", "a.b.", "é.ü", "..a", &many_dots],
        );
        agree(r" (?<a>\w+)=(?<b>[^ ]*)$", &["x k=v", "x k=v y=", "x k= y=z", "x =v", "x k=v w"]);
        // Classes that exclude nothing but their delimiter accept a token unseen; one
        // that excludes more (`[^ x]`) is still checked.
        agree(
            r#"^"(?<a>[^"]*)" (?<b>[^ x]+) (?<c>[^\t]+)\t(?<d>.*)$"#,
            &["\"é q\" yy z\tw", "\"\" yy z\t", "\"q\" yxy z\tw", "\"q\" yy \tw", "\"q\" yy z\tw\tv", "\"q\" yy z"],
        );
    }

    #[test]
    fn recognises_classes_that_exclude_only_the_delimiter() {
        let hir = |p: &str| regex_syntax::ParserBuilder::new().dot_matches_new_line(true).build().parse(p).unwrap();
        let trivial = super::trivial_class_repetition;
        assert_eq!(trivial(&hir(r#"[^"]*"#), Some('"')), Some(0));
        assert_eq!(trivial(&hir(r"[^\t]+"), Some('\t')), Some(1));
        assert_eq!(trivial(&hir(r"[^\n\t]*"), Some('\t')), Some(0));
        assert_eq!(trivial(&hir(".*"), None), Some(0));
        assert_eq!(trivial(&hir(r#"[^"]*"#), Some(' ')), None);
        assert_eq!(trivial(&hir("[^ x]+"), Some(' ')), None);
        assert_eq!(trivial(&hir("[^ ]{2,}"), Some(' ')), None);
        assert_eq!(trivial(&hir("[^ ]{0,9}"), Some(' ')), None);
    }

    /// A validator remembering its last verdict answers every token, repeated or not,
    /// as the regex does.
    #[test]
    fn remembered_verdicts_match_the_regex() {
        let body = r"(?:0[1-9]|[12][0-9]|3[01]|[1-9])/\b(?:Jan|Nov)\b/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} [+-]?[0-9]+";
        let v = super::Validator::new(body, Some(']')).unwrap();
        assert!(v.dfa.is_some() && v.classes.is_none() && v.min_len_only.is_none(), "judged by the DFA");
        let regex = regex::Regex::new(&format!(r"(?ms)\A(?:{body})\z")).unwrap();
        let long = format!("20/Nov/2026:20:00:00 +{}", "0".repeat(80));
        let tokens = [
            "20/Nov/2026:20:00:00 +0000",
            "20/Nov/2026:20:00:00 +0000",
            "20/Nov/2026:20:00:01 +0000",
            "20/Nov/2026:20:00:0x +0000",
            "20/Nov/2026:20:00:0x +0000",
            "",
            "",
            &long,
            &long,
            "20/Nov/2026:20:00:01 +0000",
            "20/Nov/2026:20:00:01 +000",
        ];
        for t in tokens {
            assert_eq!(v.is_full_match(t), regex.is_match(t), "{t:?}");
        }
    }

    #[test]
    fn pieces_that_may_hold_their_delimiter_are_walked() {
        // Unanchored, lazy and greedy pieces, pieces asked of a sub-regex.
        agree("%{WORD:a} %{WORD:b}", &["x y", "x y z", "  x y", "x", "é x y", "-x y"]);
        agree("^%{WORD:a} %{GREEDYDATA:b}", &["x y z", "x ", "x", "x y\tz"]);
        agree(r"\.(?<e>\w+)", &["a.b", "a.b.c", "ab", "a..b", ".é"]);
        agree(r"(?<e>\w+)\.x$", &["a.x", "a.b.x", "a.xx", ".x", "a b.x"]);
        agree("%{DATA:a}:%{DATA:b}:%{GREEDYDATA:c}", &["a:b:c", "::", "a:b", "a:b:c:d", "é:ü:x"]);
        agree("%{GREEDYDATA:a}:%{DATA:b}:%{GREEDYDATA:c}", &["a:b:c", "::", "a:b", "a:b:c:d:e", "x"]);
        agree(
            r#"%{IPORHOST:h} (?:-|%{DATA:u}) "(?:%{WORD:m} %{NOTSPACE:p}(?: HTTP/%{NUMBER:v})?|%{DATA:raw})" %{QS:r}$"#,
            &[
                r#"1.2.3.4 - "GET /a HTTP/1.1" "x""#,
                r#"1.2.3.4 bob "GET /a" "x y""#,
                r#"h - "weird request line" "-""#,
                r#"h - "GET /a HTTP/1.1" "x" trailing"#,
                r#"junk h - "GET / HTTP/1.1" "q""#,
                r#"h - "" """#,
            ],
        );
        agree("(?:-|%{DATA:a})\\t%{DATA:b}$", &["-\tx", "-x\ty", "\t", "a\tb\tc", "-\t-"]);
    }

    #[test]
    fn top_level_alternatives_are_walked_in_order() {
        agree("^a|b$", &["a", "ab", "b", "xb", "ba", "x"]);
        agree("%{INT:n}|%{WORD:w}", &["12", "ab", "-ab 12", "ab 12", "  ", "é1"]);
        agree("%{HTTPD_ERRORLOG}", &[
            "[Mon Aug 31 09:30:48.958285 2020] [proxy_fcgi:error] [pid 28787:tid 1401] [client 1.2.3.4:48] AH01071: Got error 'x'",
            "[Mon Aug 31 16:27:04 2020] [error] [client 1.2.3.4] File does not exist: /var/www",
            "junk [Mon Aug 31 16:27:04 2020] [error] x",
        ]);
    }
}
