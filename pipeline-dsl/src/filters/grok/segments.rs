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
    /// The piece's regex, for the dense DFA built on first need: most tokens are
    /// decided by the class scan, and determinizing every piece of every pattern at
    /// start-up would cost more than all the lines of a small file.
    body: String,
    dfa: std::cell::OnceCell<Option<DenseDfa>>,
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

/// Largest dense DFA a piece may build, in bytes; past it the piece's regex judges.
const DFA_SIZE_LIMIT: usize = 1 << 20;

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
        Some(Self {
            min_len_only,
            classes,
            body: body.to_string(),
            dfa: std::cell::OnceCell::new(),
            regex,
            last: RefCell::default(),
        })
    }

    /// The anchored dense DFA, built on first use; `None` when it would be larger than
    /// [`DFA_SIZE_LIMIT`] (the regex then judges).
    fn dfa(&self) -> Option<&DenseDfa> {
        self.dfa
            .get_or_init(|| {
                dense::Builder::new()
                    .configure(
                        dense::Config::new()
                            .start_kind(StartKind::Anchored)
                            .unicode_word_boundary(true)
                            .dfa_size_limit(Some(DFA_SIZE_LIMIT))
                            .determinize_size_limit(Some(DFA_SIZE_LIMIT)),
                    )
                    .syntax(regex_automata::util::syntax::Config::new().dot_matches_new_line(true).multi_line(true))
                    .build(&format!(r"(?:{})\z", self.body))
                    .ok()
            })
            .as_ref()
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
        let matched = match self.dfa().and_then(|dfa| dfa_is_match(dfa, &input)) {
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

#[derive(Clone)]
/// A node of the pattern's structure as the walk sees it: pieces (runs of regex matched
/// as one token), literals, and the structure around them.
enum Node {
    /// Regex text matched as one token, with the parsed items it came from, kept so that
    /// a piece whose end cannot be found on its own can be opened up.
    Piece(Vec<Ast>),
    Literal(String),
    Seq(Vec<Node>),
    /// Ordered choice: the first alternative that leads to a match wins.
    Alt(Vec<Node>),
    /// `(?:…)?`: the body first when greedy, after skipping it when lazy.
    Opt {
        body: Box<Node>,
        greedy: bool,
    },
    /// A named group over several nodes: its span is saved as the walk passes.
    Group {
        index: usize,
        body: Box<Node>,
    },
    /// `^`: only at the line's start.
    Start,
    /// `$`: only at the line's end.
    End,
}

/// One instruction of the walk: the pattern's structure laid out flat.
enum Op {
    /// Piece number `n` of [`SegmentMatcher::pieces`].
    Piece(usize),
    Literal(String),
    /// Try each target in order.
    Choice(Vec<usize>),
    Jump(usize),
    /// Record the position as the start (even slot) or end (odd) of a group.
    Save(usize),
    Start,
    End,
    Match,
}

/// What can come right after a piece.
#[derive(Default, Clone)]
struct Follow {
    /// First bytes of the literals that can follow.
    bytes: Vec<u8>,
    /// `$` can follow: the piece may run to the line's end.
    end: bool,
    /// The match may end right after it (not anchored at the end there).
    open: bool,
    /// Another piece can follow, whose first byte is unknown.
    unknown: bool,
}

/// How a split piece finds its end: the first of its follow bytes.
#[derive(Clone, Copy)]
enum Delim {
    /// No follow byte: the piece runs to the end.
    None,
    One(u8),
    Two(u8, u8),
    Three(u8, u8, u8),
    /// More: test each byte against the follow set.
    Many,
}

impl Delim {
    fn of(bytes: &[u8]) -> Self {
        match *bytes {
            [] => Delim::None,
            [a] => Delim::One(a),
            [a, b] => Delim::Two(a, b),
            [a, b, c] => Delim::Three(a, b, c),
            _ => Delim::Many,
        }
    }

    /// The first follow byte in `rest`.
    #[inline(always)]
    fn find(self, rest: &[u8], set: &[u8]) -> Option<usize> {
        match self {
            Delim::None => None,
            Delim::One(b) => crate::literal::find_byte(b, rest),
            Delim::Two(a, b) => memchr::memchr2(a, b, rest),
            Delim::Three(a, b, c) => memchr::memchr3(a, b, c, rest),
            Delim::Many => rest.iter().position(|x| set.contains(x)),
        }
    }
}

/// A straight program as its leading literal and (piece, literal after it) pairs.
type Pairs = (Vec<u8>, Vec<(usize, Vec<u8>)>);

/// What a piece can be where it stands (see [`SegmentMatcher::placement`]).
struct Placement {
    /// It cannot contain its follow bytes and its edges are judged alone.
    split: bool,
    /// It has no look-arounds and ASCII follow bytes: a class scan may enumerate it.
    scan: bool,
    follow: Follow,
}

/// A compiled piece with what its walk needs.
struct PieceOp {
    piece: Piece,
    delim: Delim,
    follow: Follow,
    /// Whether the piece uses word-boundary assertions (judged at its edges).
    word_looks: bool,
    /// With a single follow byte: how many of it every path after the piece needs; a
    /// scanned piece cannot end where fewer follow.
    needed: usize,
}

/// A compiled matcher: the pattern's structure walked piece by piece.
pub struct SegmentMatcher {
    ops: Vec<Op>,
    pieces: Vec<PieceOp>,
    /// The program starts with `^`: it can match only at the line's start.
    anchored_start: bool,
    /// The program ends with `$`.
    anchored_end: bool,
    /// Not anchored at the start, starting with a literal and ending with `$`
    /// (`\.(?<ext>\w+)$`): each occurrence of that literal's first byte, from the
    /// left, is tried as a start.
    prefix_starts: Option<u8>,
    /// A piece with word-boundary assertions can be the first of a match: split there,
    /// its verdict assumes the line starts before it.
    word_at_entry: bool,
    /// No choices, no group saves, and every piece split at its delimiter: one way
    /// through, laid out as (piece, literal after it) pairs after a leading literal and
    /// walked in one pass without walk state (the commonest patterns).
    pairs: Option<Pairs>,
    /// For patterns not anchored at the start: the whole regex, whose lazy-DFA search
    /// finds the leftmost match when the line does not match from its start.
    search: Option<regex::Regex>,
    groups: usize,
    state: RefCell<WalkState>,
}

/// Scratch space of one walk, kept between lines.
#[derive(Default)]
struct WalkState {
    /// `(op, position)` pairs from which the rest of the pattern is known to fail.
    failed: foldhash::HashSet<(u32, u32)>,
    /// The path taken: pieces with their spans, and group saves.
    trail: Vec<Mark>,
    /// Ends tried this line; past a budget the line goes to the regex.
    work: usize,
    /// Per piece: the sub-regex's cache and captures (asked pieces only).
    asked: Vec<Option<(regex_automata::meta::Cache, regex_automata::util::captures::Captures)>>,
}

/// One step of the path taken.
#[derive(Clone, Copy)]
enum Mark {
    /// Piece `n` spans `start..end`; `or_literal`: its literal alternative was taken.
    Piece {
        n: usize,
        start: usize,
        end: usize,
        or_literal: bool,
    },
    Save {
        slot: usize,
        at: usize,
    },
}

/// Most starts tried for a pattern that is not anchored at the start; a line with more
/// occurrences of its leading literal goes to the regex engine, which stays linear.
const MAX_STARTS: usize = 16;

/// Most instructions a pattern's walk may grow to when pieces are opened up.
const MAX_OPS: usize = 2048;

/// The outcome of a walk: matched, definitely not matched from here, or undecided (an
/// asked piece's first end did not lead to a match; only the regex knows the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Walk {
    Match,
    NoMatch,
    Undecided,
}

fn plain_group(g: &ast::Group) -> bool {
    matches!(&g.kind, ast::GroupKind::NonCapturing(f) if f.items.is_empty())
}

/// Whether opening `a` up would show literals or choices inside it.
fn has_structure(a: &Ast) -> bool {
    match a {
        Ast::Literal(_) | Ast::Alternation(_) => true,
        Ast::Concat(c) => c.asts.iter().any(has_structure),
        Ast::Group(g) => has_structure(&g.ast),
        Ast::Repetition(r) => {
            matches!(r.op.kind, ast::RepetitionKind::ZeroOrOne)
                && matches!(&*r.ast, Ast::Group(_))
                && has_structure(&r.ast)
        }
        _ => false,
    }
}

/// The items of a sequence: `(?:…)` groups without flags or alternation spliced in.
fn sequence_items(a: &Ast, out: &mut Vec<Ast>) {
    match a {
        Ast::Concat(c) => c.asts.iter().for_each(|x| sequence_items(x, out)),
        Ast::Group(g) if plain_group(g) && !matches!(&*g.ast, Ast::Alternation(_)) => sequence_items(&g.ast, out),
        Ast::Empty(_) => {}
        other => out.push(other.clone()),
    }
}

/// The top level of a pattern: literals, anchors, and runs of other items as pieces.
fn top_level(items: &[Ast]) -> Option<Node> {
    let mut nodes = Vec::new();
    let mut run: Vec<Ast> = Vec::new();
    let flush = |run: &mut Vec<Ast>, nodes: &mut Vec<Node>| {
        if !run.is_empty() {
            nodes.push(Node::Piece(std::mem::take(run)));
        }
    };
    for item in items {
        match item {
            Ast::Literal(l) => {
                flush(&mut run, &mut nodes);
                match nodes.last_mut() {
                    Some(Node::Literal(s)) => s.push(l.c),
                    _ => nodes.push(Node::Literal(l.c.to_string())),
                }
            }
            Ast::Assertion(a) if matches!(a.kind, ast::AssertionKind::StartLine | ast::AssertionKind::StartText) => {
                flush(&mut run, &mut nodes);
                nodes.push(Node::Start);
            }
            Ast::Assertion(a) if matches!(a.kind, ast::AssertionKind::EndLine | ast::AssertionKind::EndText) => {
                flush(&mut run, &mut nodes);
                nodes.push(Node::End);
            }
            Ast::Flags(_) => return None,
            other => run.push(other.clone()),
        }
    }
    flush(&mut run, &mut nodes);
    Some(Node::Seq(nodes))
}

/// Opens a piece up: its items as structure (groups, choices, optional parts) with
/// pieces between their literals. `None` when it has nothing to open.
fn open_up(items: &[Ast], names: &HashMap<String, usize>) -> Option<Node> {
    if !items.iter().any(has_structure) {
        return None;
    }
    let mut nodes = Vec::new();
    let mut run: Vec<Ast> = Vec::new();
    for item in items {
        let opened = match item {
            Ast::Literal(_) | Ast::Assertion(_) | Ast::Flags(_) => None,
            Ast::Group(g) if has_structure(&g.ast) => Some(group_node(g, names)?),
            Ast::Alternation(alt) => Some(alternation_node(alt, names)?),
            Ast::Repetition(r) if matches!(r.op.kind, ast::RepetitionKind::ZeroOrOne) && has_structure(&r.ast) => {
                let Ast::Group(g) = &*r.ast else { return None };
                Some(Node::Opt { body: Box::new(group_node(g, names)?), greedy: r.greedy })
            }
            _ => None,
        };
        match opened {
            Some(node) => {
                if !run.is_empty() {
                    nodes.push(top_level(&std::mem::take(&mut run))?);
                }
                nodes.push(node);
            }
            None => run.push(item.clone()),
        }
    }
    if !run.is_empty() {
        nodes.push(top_level(&run)?);
    }
    Some(Node::Seq(nodes))
}

fn group_node(g: &ast::Group, names: &HashMap<String, usize>) -> Option<Node> {
    let body = match &*g.ast {
        Ast::Alternation(alt) => alternation_node(alt, names)?,
        inner => {
            let mut items = Vec::new();
            sequence_items(inner, &mut items);
            top_level(&items)?
        }
    };
    match &g.kind {
        ast::GroupKind::CaptureName { name, .. } => {
            Some(Node::Group { index: *names.get(&name.name)?, body: Box::new(body) })
        }
        ast::GroupKind::CaptureIndex(_) => Some(body),
        ast::GroupKind::NonCapturing(f) if f.items.is_empty() => Some(body),
        ast::GroupKind::NonCapturing(_) => None,
    }
}

fn alternation_node(alt: &ast::Alternation, _names: &HashMap<String, usize>) -> Option<Node> {
    let branches = alt
        .asts
        .iter()
        .map(|a| {
            let mut items = Vec::new();
            sequence_items(a, &mut items);
            top_level(&items)
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Node::Alt(branches))
}

/// Lays `node` out as instructions; pieces are numbered in `texts` order.
fn lay_out(node: &Node, ops: &mut Vec<Op>, items: &mut Vec<Vec<Ast>>) {
    match node {
        Node::Piece(p) => {
            ops.push(Op::Piece(items.len()));
            items.push(p.clone());
        }
        Node::Literal(s) => ops.push(Op::Literal(s.clone())),
        Node::Seq(nodes) => nodes.iter().for_each(|n| lay_out(n, ops, items)),
        Node::Alt(branches) => {
            let choice = ops.len();
            ops.push(Op::Choice(Vec::new()));
            let mut starts = Vec::new();
            let mut jumps = Vec::new();
            for b in branches {
                starts.push(ops.len());
                lay_out(b, ops, items);
                jumps.push(ops.len());
                ops.push(Op::Jump(0));
            }
            let after = ops.len();
            for j in jumps {
                ops[j] = Op::Jump(after);
            }
            ops[choice] = Op::Choice(starts);
        }
        Node::Opt { body, greedy } => {
            let choice = ops.len();
            ops.push(Op::Choice(Vec::new()));
            lay_out(body, ops, items);
            let after = ops.len();
            ops[choice] = Op::Choice(if *greedy { vec![choice + 1, after] } else { vec![after, choice + 1] });
        }
        Node::Group { index, body } => {
            ops.push(Op::Save(2 * index));
            lay_out(body, ops, items);
            ops.push(Op::Save(2 * index + 1));
        }
        Node::Start => ops.push(Op::Start),
        Node::End => ops.push(Op::End),
    }
}

/// Replaces the pieces numbered in `open` by their opened-up structure.
fn open_pieces(node: Node, counter: &mut usize, open: &[usize], names: &HashMap<String, usize>) -> Node {
    match node {
        Node::Piece(items) => {
            let n = *counter;
            *counter += 1;
            if open.contains(&n) {
                if let Some(opened) = open_up(&items, names) {
                    return opened;
                }
            }
            Node::Piece(items)
        }
        Node::Seq(nodes) => Node::Seq(nodes.into_iter().map(|x| open_pieces(x, counter, open, names)).collect()),
        Node::Alt(nodes) => Node::Alt(nodes.into_iter().map(|x| open_pieces(x, counter, open, names)).collect()),
        Node::Opt { body, greedy } => Node::Opt { body: Box::new(open_pieces(*body, counter, open, names)), greedy },
        Node::Group { index, body } => Node::Group { index, body: Box::new(open_pieces(*body, counter, open, names)) },
        other => other,
    }
}

/// The instructions that can run next after `at` without consuming text, and whether
/// they include the end of the program.
fn successors(ops: &[Op], at: usize) -> Vec<usize> {
    match &ops[at] {
        Op::Choice(targets) => targets.clone(),
        Op::Jump(t) => vec![*t],
        Op::Match => Vec::new(),
        _ => vec![at + 1],
    }
}

/// What can come right after the instruction `at` (a piece).
fn follow_of(ops: &[Op], at: usize) -> Follow {
    let mut follow = Follow::default();
    let mut seen = vec![false; ops.len()];
    let mut todo = successors(ops, at);
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        match &ops[i] {
            Op::Literal(s) => follow.bytes.extend(s.as_bytes().first()),
            Op::Piece(_) | Op::Start => follow.unknown = true,
            Op::Match => follow.open = true,
            Op::End => follow.end = true,
            Op::Choice(_) | Op::Jump(_) | Op::Save(_) => todo.extend(successors(ops, i)),
        }
    }
    follow.bytes.sort_unstable();
    follow.bytes.dedup();
    follow
}

/// The characters that can come right before the instruction `at`: `None` for the
/// start of the match, and whether something unknown (a piece) can.
fn before_of(ops: &[Op], at: usize) -> (Vec<Option<char>>, bool) {
    let mut preds: Vec<Vec<usize>> = vec![Vec::new(); ops.len()];
    for i in 0..ops.len() {
        for s in successors(ops, i) {
            if s < ops.len() {
                preds[s].push(i);
            }
        }
    }
    let (mut chars, mut unknown) = (Vec::new(), false);
    let mut seen = vec![false; ops.len()];
    let mut todo = preds[at].clone();
    if at == 0 {
        chars.push(None);
    }
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        match &ops[i] {
            Op::Literal(s) => chars.push(s.chars().last()),
            Op::Piece(_) | Op::Match => unknown = true,
            Op::Start => chars.push(None),
            Op::Choice(_) | Op::Jump(_) | Op::Save(_) | Op::End => {
                if i == 0 {
                    chars.push(None);
                }
                todo.extend(preds[i].iter().copied());
            }
        }
    }
    (chars, unknown)
}

/// How many times `byte` must occur from instruction `at` on, on every path: literals
/// up to the first choice.
fn needed_from(ops: &[Op], mut at: usize, byte: u8) -> usize {
    let mut n = 0;
    while let Some(op) = ops.get(at) {
        match op {
            Op::Literal(s) => n += memchr::memchr_iter(byte, s.as_bytes()).count(),
            Op::Jump(t) if *t > at => {
                at = *t;
                continue;
            }
            Op::Piece(_) | Op::Save(_) | Op::End => {}
            _ => break,
        }
        at += 1;
    }
    n
}

impl SegmentMatcher {
    /// Builds a matcher for the expanded regex `regex`, or `None` when the pattern does
    /// not have a shape the walk handles exactly. `groups` is the full regex's group
    /// table.
    pub fn build(regex: &str, groups: &[Option<Capture>], whole: &regex::Regex) -> Option<Self> {
        let names: HashMap<String, usize> =
            groups.iter().enumerate().filter_map(|(i, g)| g.as_ref().map(|g| (g.group.clone(), i))).collect();
        // The expansion is `(?ms)` and the body; nothing else may set flags (pieces
        // are compiled with those two flags on).
        let full = regex;
        let regex = full.strip_prefix("(?ms)")?;
        let parsed = ast::parse::Parser::new().parse(regex).ok()?;
        let mut items = Vec::new();
        sequence_items(&parsed, &mut items);
        let mut tree = match items.as_slice() {
            // The whole pattern is one choice (`%{HTTPD_ERRORLOG}`, `^a|b$`): its
            // alternatives.
            [Ast::Alternation(alt)] => alternation_node(alt, &names)?,
            [Ast::Group(g)] if plain_group(g) && matches!(&*g.ast, Ast::Alternation(_)) => {
                let Ast::Alternation(alt) = &*g.ast else { return None };
                alternation_node(alt, &names)?
            }
            _ => top_level(&items)?,
        };
        // Lay out, find each piece's kind; pieces whose end cannot be found on their own
        // are opened up and the layout done again, a few rounds at most. Opening can
        // leave more pieces to ask than it removes (`+` runs between optional fields):
        // the layout with the cheaper asks is kept.
        let unopened = tree.clone();
        for _ in 0..4 {
            let (ops, piece_items) = Self::layout(&tree);
            let to_open: Vec<usize> = (0..piece_items.len())
                .filter(|&n| {
                    let at = ops.iter().position(|o| matches!(o, Op::Piece(m) if *m == n)).unwrap_or(0);
                    let text = piece_text(regex, &piece_items[n]);
                    // Opened up only when asking would need a capture pass: a piece
                    // without groups inside costs one lazy-DFA search as it is.
                    !Self::resolvable(&ops, at, &text, &names)
                        && piece_items[n].iter().any(has_structure)
                        && captures_inside(&text)
                })
                .collect();
            if to_open.is_empty() || ops.len() > MAX_OPS {
                break;
            }
            tree = open_pieces(tree, &mut 0, &to_open, &names);
        }
        if Self::ask_cost(&unopened, regex, &names) < Self::ask_cost(&tree, regex, &names) {
            tree = unopened;
        }
        let (ops, piece_items) = Self::layout(&tree);
        if ops.len() > MAX_OPS {
            return None;
        }
        let mut pieces = Vec::with_capacity(piece_items.len());
        for (n, its) in piece_items.iter().enumerate() {
            let at = ops.iter().position(|o| matches!(o, Op::Piece(m) if *m == n))?;
            let text = piece_text(regex, its);
            let piece = match Self::kind_of(&ops, at, &text, &names) {
                Some(p) => p,
                None => ask(&text, &next_literal(&ops, at), &names)?,
            };
            let follow = follow_of(&ops, at);
            let needed = match follow.bytes.as_slice() {
                [b] if !follow.end && !follow.unknown && !follow.open => needed_from(&ops, at + 1, *b),
                _ => 0,
            };
            pieces.push(PieceOp {
                piece,
                delim: Delim::of(&follow.bytes),
                follow,
                word_looks: piece_looks(&text)?.word,
                needed,
            });
        }
        let anchored_start = matches!(ops.first(), Some(Op::Start));
        let anchored_end = matches!(ops.len().checked_sub(2).map(|i| &ops[i]), Some(Op::End));
        let prefix_starts = match ops.first() {
            Some(Op::Literal(s)) if anchored_end => s.as_bytes().first().copied(),
            _ => None,
        };
        let word_at_entry = entry_pieces(&ops).iter().any(|&n| pieces[n].word_looks);
        let pairs = straight_pairs(&ops, &pieces);
        let search = if anchored_start || prefix_starts.is_some() { None } else { Some(whole.clone()) };
        let asked = pieces
            .iter()
            .map(|p| match &p.piece {
                Piece::Ask { regex, .. } => Some((regex.create_cache(), regex.create_captures())),
                _ => None,
            })
            .collect();
        Some(Self {
            ops,
            pieces,
            anchored_start,
            anchored_end,
            prefix_starts,
            word_at_entry,
            pairs,
            search,
            groups: groups.len(),
            state: RefCell::new(WalkState { asked, ..WalkState::default() }),
        })
    }

    /// What the pieces a layout must ask cost per line, roughly: one search each, two
    /// when the piece's groups need a capture pass too.
    fn ask_cost(tree: &Node, regex: &str, names: &HashMap<String, usize>) -> usize {
        let (ops, piece_items) = Self::layout(tree);
        (0..piece_items.len())
            .map(|n| {
                let at = ops.iter().position(|o| matches!(o, Op::Piece(m) if *m == n)).unwrap_or(0);
                let text = piece_text(regex, &piece_items[n]);
                match Self::resolvable(&ops, at, &text, names) {
                    true => 0,
                    false if captures_inside(&text) => 2,
                    false => 1,
                }
            })
            .sum()
    }

    fn layout(tree: &Node) -> (Vec<Op>, Vec<Vec<Ast>>) {
        let (mut ops, mut items) = (Vec::new(), Vec::new());
        lay_out(tree, &mut ops, &mut items);
        ops.push(Op::Match);
        (ops, items)
    }

    /// What the piece at instruction `at` can be, from its syntax and neighbours:
    /// whether it may be split at its follow bytes, or scanned for its ends.
    fn placement(ops: &[Op], at: usize, text: &str) -> Option<Placement> {
        let looks = piece_looks(text)?;
        let follow = follow_of(ops, at);
        let (before, before_unknown) = before_of(ops, at);
        // A word boundary at an edge is judged by the token alone: the neighbours must
        // be known and not word characters.
        let edges_safe = !looks.word
            || (!before_unknown
                && before.iter().all(|c| c.is_none_or(|c| !is_word(c)))
                && !follow.unknown
                && !follow.open
                && follow.bytes.iter().all(|&b| !is_word(b as char)));
        let forced = !follow.unknown
            && !follow.open
            && follow.bytes.iter().all(|&b| b.is_ascii() && can_contain(text, b as char) == Some(false));
        Some(Placement {
            split: forced && edges_safe && !looks.line_or_text,
            scan: !looks.word && !looks.line_or_text && follow.bytes.iter().all(u8::is_ascii),
            follow,
        })
    }

    /// Whether [`SegmentMatcher::kind_of`] would find a kind for the piece, without
    /// building its automata.
    fn resolvable(ops: &[Op], at: usize, text: &str, names: &HashMap<String, usize>) -> bool {
        Self::placement(ops, at, text).is_some_and(|p| p.split || (p.scan && scannable(text, names)))
    }

    /// The piece at instruction `at` as a forced split or a scan; `None` when neither
    /// applies (it is then opened up or asked).
    fn kind_of(ops: &[Op], at: usize, text: &str, names: &HashMap<String, usize>) -> Option<Piece> {
        let place = Self::placement(ops, at, text)?;
        if place.split {
            let delimiter = match place.follow.bytes.as_slice() {
                [b] if !place.follow.end => Some(*b as char),
                _ => None,
            };
            if let Some(check) = compile_check(text, names, delimiter) {
                return Some(Piece::Split(check));
            }
        }
        if place.scan {
            if let Some((ends, or_literal)) = scan_ends(text, names) {
                return Some(Piece::Scan { ends, or_literal });
            }
        }
        None
    }

    /// One line per instruction: how the walk runs this pattern.
    pub fn describe(&self) -> Vec<String> {
        self.ops
            .iter()
            .enumerate()
            .map(|(i, op)| match op {
                Op::Piece(n) => {
                    let kind = match &self.pieces[*n].piece {
                        Piece::Split(_) => "split at its delimiter",
                        Piece::Scan { ends: Ends::Lazy { .. }, .. } => "scan, shortest first",
                        Piece::Scan { ends: Ends::Greedy { .. }, .. } => "scan, longest first",
                        Piece::Ask { .. } => "sub-regex",
                    };
                    format!("{i}: piece {n}, {kind}")
                }
                Op::Literal(s) => format!("{i}: literal {s:?}"),
                Op::Choice(t) => format!("{i}: choice {t:?}"),
                Op::Jump(t) => format!("{i}: jump {t}"),
                Op::Save(s) => format!("{i}: save {s}"),
                Op::Start => format!("{i}: ^"),
                Op::End => format!("{i}: $"),
                Op::Match => format!("{i}: match"),
            })
            .collect()
    }

    /// Matches `text` (a single line), filling group spans like a regex match would.
    /// `None` when the regex must decide; lines containing a newline always go there.
    pub fn match_into(&self, text: &str, spans: &mut Spans) -> Option<bool> {
        if memchr::memchr(b'\n', text.as_bytes()).is_some() {
            return None;
        }
        if self.anchored_start {
            return self.decide(text, 0, None, spans);
        }
        if let Some(first) = self.prefix_starts {
            let mut from = 0;
            for _ in 0..MAX_STARTS {
                let Some(i) = memchr::memchr(first, &text.as_bytes()[from..]) else { return Some(false) };
                match self.walk_from(text, from + i, None, spans) {
                    Walk::Match => return Some(true),
                    Walk::NoMatch => {}
                    Walk::Undecided => return None,
                }
                from += i + 1;
            }
            return None;
        }
        // Leftmost-first: a match from the line's start is the leftmost. Most lines
        // match from their first byte, so that is tried first; otherwise the whole
        // regex's lazy DFA finds the leftmost match, and the walk fills its captures
        // with both ends fixed.
        match self.walk_from(text, 0, None, spans) {
            Walk::Match => return Some(true),
            Walk::Undecided => return None,
            Walk::NoMatch => {}
        }
        let Some(found) = self.search.as_ref()?.find(text) else { return Some(false) };
        let (start, stop) = (found.start(), found.end());
        if self.word_at_entry && text[..start].chars().next_back().is_some_and(is_word) {
            // A piece split at the start judged its word boundary as if the line began
            // there.
            return None;
        }
        match self.walk_from(text, start, Some(stop), spans) {
            Walk::Match => Some(true),
            // The regex found a match the walk does not: let the regex decide.
            Walk::NoMatch | Walk::Undecided => None,
        }
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
        if let Some((prefix, pairs)) = &self.pairs {
            return self.pairs_pass(prefix, pairs, text, start, end, spans);
        }
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        state.trail.clear();
        if !state.failed.is_empty() {
            state.failed.clear();
        }
        state.work = 0;
        let mut stop = start;
        let result = self.walk(text, 0, start, end, state, &mut stop);
        if result == Walk::Match {
            spans.clear();
            spans.resize(self.groups, None);
            if !self.fill(text, state, spans) {
                return Walk::Undecided;
            }
            spans[0] = Some((start, stop));
        }
        result
    }

    /// The walk of a program with one way through ([`SegmentMatcher::pairs`]): spans
    /// are filled as the pieces pass.
    fn pairs_pass(
        &self,
        prefix: &[u8],
        pairs: &[(usize, Vec<u8>)],
        text: &str,
        start: usize,
        end: Option<usize>,
        spans: &mut Spans,
    ) -> Walk {
        let bytes = text.as_bytes();
        let limit = end.unwrap_or(bytes.len()).min(bytes.len());
        if (self.anchored_start && start != 0) || !crate::literal::starts_with(&bytes[start..limit], prefix) {
            return Walk::NoMatch;
        }
        spans.clear();
        spans.resize(self.groups, None);
        let mut pos = start + prefix.len();
        for (n, literal) in pairs {
            let p = &self.pieces[*n];
            let Piece::Split(check) = &p.piece else { return Walk::Undecided };
            let rest = &bytes[pos..limit];
            let token_len = p.delim.find(rest, &p.follow.bytes).unwrap_or(rest.len());
            let stop = pos + token_len;
            if !crate::literal::starts_with(&rest[token_len..], literal)
                || !check_and_fill(check, text, pos, stop, spans)
            {
                return Walk::NoMatch;
            }
            pos = stop + literal.len();
        }
        if (self.anchored_end && pos != bytes.len()) || end.is_some_and(|e| e != pos) {
            return Walk::NoMatch;
        }
        spans[0] = Some((start, pos));
        Walk::Match
    }

    /// Runs the program from instruction `at` at position `pos`; `stop` receives the
    /// match's end.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        text: &str,
        mut at: usize,
        mut pos: usize,
        end: Option<usize>,
        state: &mut WalkState,
        stop: &mut usize,
    ) -> Walk {
        let bytes = text.as_bytes();
        let mark = state.trail.len();
        loop {
            match &self.ops[at] {
                Op::Match => {
                    if end.is_some_and(|e| e != pos) {
                        state.trail.truncate(mark);
                        return Walk::NoMatch;
                    }
                    *stop = pos;
                    return Walk::Match;
                }
                Op::Start => {
                    if pos != 0 {
                        state.trail.truncate(mark);
                        return Walk::NoMatch;
                    }
                    at += 1;
                }
                Op::End => {
                    if pos != bytes.len() {
                        state.trail.truncate(mark);
                        return Walk::NoMatch;
                    }
                    at += 1;
                }
                Op::Literal(s) => {
                    let limit = end.unwrap_or(bytes.len()).min(bytes.len());
                    if pos + s.len() > limit || !crate::literal::starts_with(&bytes[pos..], s.as_bytes()) {
                        state.trail.truncate(mark);
                        return Walk::NoMatch;
                    }
                    pos += s.len();
                    at += 1;
                }
                Op::Save(slot) => {
                    state.trail.push(Mark::Save { slot: *slot, at: pos });
                    at += 1;
                }
                Op::Jump(t) => at = *t,
                Op::Choice(targets) => {
                    for &t in targets {
                        let r = self.try_at(text, t, pos, end, state, stop);
                        if r != Walk::NoMatch {
                            if r == Walk::Undecided {
                                state.trail.truncate(mark);
                            }
                            return r;
                        }
                    }
                    state.trail.truncate(mark);
                    return Walk::NoMatch;
                }
                Op::Piece(n) => {
                    let r = self.piece(text, at, *n, pos, end, state, stop);
                    if r != Walk::Match {
                        state.trail.truncate(mark);
                    }
                    return r;
                }
            }
        }
    }

    /// Continues at `at` from `pos`, unless that is known to fail; remembers failure.
    fn try_at(
        &self,
        text: &str,
        at: usize,
        pos: usize,
        end: Option<usize>,
        state: &mut WalkState,
        stop: &mut usize,
    ) -> Walk {
        let key = (at as u32, pos as u32);
        if state.failed.contains(&key) {
            return Walk::NoMatch;
        }
        state.work += 1;
        if state.work > WORK_BUDGET {
            return Walk::Undecided;
        }
        let r = self.walk(text, at, pos, end, state, stop);
        if r == Walk::NoMatch {
            state.failed.insert(key);
        }
        r
    }

    /// Piece `n` (instruction `at`) from `pos`, then the rest.
    #[allow(clippy::too_many_arguments)]
    fn piece(
        &self,
        text: &str,
        at: usize,
        n: usize,
        pos: usize,
        end: Option<usize>,
        state: &mut WalkState,
        stop: &mut usize,
    ) -> Walk {
        let bytes = text.as_bytes();
        let p = &self.pieces[n];
        let limit_end = end.unwrap_or(bytes.len()).min(bytes.len());
        if pos > limit_end {
            return Walk::NoMatch;
        }
        match &p.piece {
            Piece::Split(check) => {
                let rest = &bytes[pos..limit_end];
                let token_len = match p.delim.find(rest, &p.follow.bytes) {
                    Some(i) => i,
                    None if p.follow.end || end.is_some() => rest.len(),
                    None => return Walk::NoMatch,
                };
                let stop_at = pos + token_len;
                if !split_token_matches(check, &text[pos..stop_at]) {
                    return Walk::NoMatch;
                }
                state.trail.push(Mark::Piece { n, start: pos, end: stop_at, or_literal: false });
                self.walk(text, at + 1, stop_at, end, state, stop)
            }
            Piece::Ask { regex, map, .. } => {
                let input =
                    regex_automata::Input::new(text).range(pos..limit_end).anchored(regex_automata::Anchored::Yes);
                let Some((cache, caps)) = state.asked[n].as_mut() else { return Walk::Undecided };
                let found = if map.is_empty() {
                    regex.search_with(cache, &input).map(|m| m.end())
                } else {
                    regex.search_captures_with(cache, &input, caps);
                    caps.get_match().map(|m| m.end())
                };
                let Some(match_end) = found else { return Walk::NoMatch };
                let Piece::Ask { literal_len, .. } = &p.piece else { unreachable!() };
                // The literal after the piece was matched with it: continue after both.
                let piece_end = match_end - literal_len;
                state.trail.push(Mark::Piece { n, start: pos, end: piece_end, or_literal: false });
                let next = if *literal_len > 0 { at + 2 } else { at + 1 };
                match self.walk(text, next, match_end, end, state, stop) {
                    Walk::Match => Walk::Match,
                    // The regex's first choice failed: its other choices are unknown here.
                    _ => Walk::Undecided,
                }
            }
            Piece::Scan { ends, or_literal } => {
                let rest = &bytes[pos..limit_end];
                if let Some(lit) = or_literal {
                    if crate::literal::starts_with(rest, lit.as_bytes()) {
                        state.trail.push(Mark::Piece { n, start: pos, end: pos + lit.len(), or_literal: true });
                        let r = self.try_at(text, at + 1, pos + lit.len(), end, state, stop);
                        if r != Walk::NoMatch {
                            return r;
                        }
                        state.trail.pop();
                    }
                }
                let (class, min, lazy) = match ends {
                    Ends::Lazy { class, min, .. } => (class, *min, true),
                    Ends::Greedy { class, min, .. } => (class, *min, false),
                };
                let run = rest.iter().position(|&b| !class.allows(b)).unwrap_or(rest.len());
                let mut try_end = |e: usize, state: &mut WalkState| -> Walk {
                    state.trail.push(Mark::Piece { n, start: pos, end: e, or_literal: false });
                    let r = self.try_at(text, at + 1, e, end, state, stop);
                    if r != Walk::Match {
                        state.trail.pop();
                    }
                    r
                };
                if p.follow.unknown || (p.follow.open && end.is_none()) {
                    // Another piece may follow, or the match may end here: the preferred
                    // end is the shortest or the longest, and whatever follows takes it
                    // from there. Where the match may end, that always leads to one;
                    // before another piece, only the regex knows the other ends.
                    let e = if lazy {
                        match min {
                            0 => pos,
                            _ => pos + text[pos..].chars().next().map_or(1, char::len_utf8),
                        }
                    } else {
                        pos + run
                    };
                    if e > pos + run || e < pos + min {
                        return Walk::NoMatch;
                    }
                    let r = try_end(e, state);
                    return if r == Walk::NoMatch && (p.follow.unknown || end.is_some()) { Walk::Undecided } else { r };
                }
                // Candidate ends: where a follow byte is (or the end), within the run.
                let window = &rest[..run.min(rest.len())];
                let candidates = |i: usize| i >= min;
                let at_end_ok = (p.follow.end || end.is_some()) && run == rest.len() && rest.len() >= min;
                match p.follow.bytes.as_slice() {
                    [b] => {
                        // Occurrences from `pos` on: an end with fewer than `needed`
                        // at or after it cannot lead to a match. Each candidate is one
                        // occurrence itself, so only `needed > 1` rules any out, and
                        // only then is the line counted.
                        let prune = p.needed > 1;
                        let total = if prune { memchr::memchr_iter(*b, rest).count() } else { usize::MAX / 2 };
                        if total < p.needed && !at_end_ok {
                            return Walk::NoMatch;
                        }
                        // An occurrence right after the run ends it too.
                        let after = usize::from(rest.get(run) == Some(b));
                        if lazy {
                            for (k, i) in memchr::memchr_iter(*b, window).chain((after == 1).then_some(run)).enumerate()
                            {
                                if total - k < p.needed {
                                    break;
                                }
                                if !candidates(i) {
                                    continue;
                                }
                                match try_end(pos + i, state) {
                                    Walk::NoMatch => continue,
                                    r => return r,
                                }
                            }
                            if at_end_ok {
                                return try_end(pos + rest.len(), state);
                            }
                        } else {
                            if at_end_ok {
                                match try_end(pos + rest.len(), state) {
                                    Walk::NoMatch => {}
                                    r => return r,
                                }
                            }
                            // The k-th candidate from the right has k + 1 occurrences
                            // at or after it in the run, plus those past it.
                            let beyond =
                                if prune { total - memchr::memchr_iter(*b, window).count() - after } else { 0 };
                            let from_right =
                                (after == 1).then_some(run).into_iter().chain(memchr::memrchr_iter(*b, window));
                            for (k, i) in from_right.enumerate() {
                                if (prune && k + 1 + beyond < p.needed) || !candidates(i) {
                                    continue;
                                }
                                match try_end(pos + i, state) {
                                    Walk::NoMatch => continue,
                                    r => return r,
                                }
                            }
                        }
                        Walk::NoMatch
                    }
                    set => {
                        let mut ends: Vec<usize> = (0..=run)
                            .filter(|&i| candidates(i) && rest.get(i).is_some_and(|x| set.contains(x)))
                            .collect();
                        if at_end_ok {
                            ends.push(rest.len());
                        }
                        if !lazy {
                            ends.reverse();
                        }
                        for e in ends {
                            match try_end(pos + e, state) {
                                Walk::NoMatch => continue,
                                r => return r,
                            }
                        }
                        Walk::NoMatch
                    }
                }
            }
        }
    }

    /// Fills the group spans of a successful walk; false when a piece with groups
    /// inside cannot be captured on its own (the regex then decides).
    fn fill(&self, text: &str, state: &WalkState, spans: &mut Spans) -> bool {
        for mark in &state.trail {
            match *mark {
                Mark::Save { slot, at } => {
                    let g = slot / 2;
                    let (s, e) = spans[g].unwrap_or((at, at));
                    spans[g] = Some(if slot % 2 == 0 { (at, e.max(at)) } else { (s, at) });
                }
                Mark::Piece { n, start, end, or_literal } => match &self.pieces[n].piece {
                    Piece::Split(check) => {
                        if !fill_split(check, text, start, end, spans) {
                            return false;
                        }
                    }
                    Piece::Scan { ends, .. } => {
                        let (Ends::Lazy { group, .. } | Ends::Greedy { group, .. }) = ends;
                        if let (Some(g), false) = (group, or_literal) {
                            spans[*g] = Some((start, end));
                        }
                    }
                    Piece::Ask { map, whole, .. } => {
                        if let Some(g) = whole {
                            spans[*g] = Some((start, end));
                        }
                        let Some((_, caps)) = state.asked[n].as_ref() else { continue };
                        for (local, global) in map {
                            if let Some(s) = caps.get_group(*local) {
                                spans[*global] = Some((s.start, s.end));
                            }
                        }
                    }
                },
            }
        }
        true
    }
}

/// A program with one way through, as a leading literal and (piece, literal) pairs;
/// `None` when it has choices, group saves, a piece not split at its delimiter, or two
/// pieces in a row (the general walk runs it).
fn straight_pairs(ops: &[Op], pieces: &[PieceOp]) -> Option<Pairs> {
    let mut prefix = Vec::new();
    let mut pairs: Vec<(usize, Vec<u8>)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            // `^` and `$` are checked by the caller, at the ends only.
            Op::Start if i != 0 => return None,
            Op::End if i + 2 != ops.len() => return None,
            Op::Literal(s) => match pairs.last_mut() {
                Some((_, lit)) => lit.extend_from_slice(s.as_bytes()),
                None => prefix.extend_from_slice(s.as_bytes()),
            },
            Op::Piece(n) => {
                if !matches!(pieces[*n].piece, Piece::Split(_)) || pairs.last().is_some_and(|(_, lit)| lit.is_empty()) {
                    return None;
                }
                pairs.push((*n, Vec::new()));
            }
            Op::Start | Op::End | Op::Match => {}
            Op::Save(_) | Op::Choice(_) | Op::Jump(_) => return None,
        }
    }
    Some((prefix, pairs))
}

/// The pieces that can come first in a match.
fn entry_pieces(ops: &[Op]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut seen = vec![false; ops.len()];
    let mut todo = vec![0];
    while let Some(i) = todo.pop() {
        if i >= ops.len() || std::mem::replace(&mut seen[i], true) {
            continue;
        }
        match &ops[i] {
            Op::Piece(n) => out.push(*n),
            Op::Choice(_) | Op::Jump(_) | Op::Save(_) | Op::Start => todo.extend(successors(ops, i)),
            Op::Literal(_) | Op::End | Op::Match => {}
        }
    }
    out
}

/// Whether matching `piece` must report groups inside it (beyond one named group that
/// spans all of it).
fn captures_inside(piece: &str) -> bool {
    thread_local! {
        static CAPTURES: RefCell<HashMap<String, bool>> = RefCell::new(HashMap::new());
    }
    remembered(&CAPTURES, piece, || captures_inside_uncached(piece))
}

/// `compute()` for `key`, remembered in `cache` (per thread; pieces are few per config,
/// and the bound only guards against a pathological one).
fn remembered<T: Clone>(
    cache: &'static std::thread::LocalKey<RefCell<HashMap<String, T>>>,
    key: &str,
    compute: impl FnOnce() -> T,
) -> T {
    if let Some(known) = cache.with(|c| c.borrow().get(key).cloned()) {
        return known;
    }
    let answer = compute();
    cache.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() > 4096 {
            c.clear();
        }
        c.insert(key.to_string(), answer.clone());
    });
    answer
}

fn captures_inside_uncached(piece: &str) -> bool {
    let Ok(parsed) = ast::parse::Parser::new().parse(piece) else { return true };
    if let Ast::Group(g) = &parsed {
        if matches!(g.kind, ast::GroupKind::CaptureName { .. }) {
            let inner = &piece[g.ast.span().start.offset..g.ast.span().end.offset];
            return group_count(inner).is_none_or(|n| n > 0);
        }
    }
    group_count(piece).is_none_or(|n| n > 0)
}

/// The regex text of a piece's items.
fn piece_text(regex: &str, items: &[Ast]) -> String {
    items.iter().map(|a| &regex[a.span().start.offset..a.span().end.offset]).collect()
}

/// The literal right after instruction `at`, if that is one.
fn next_literal(ops: &[Op], at: usize) -> String {
    match ops.get(at + 1) {
        Some(Op::Literal(s)) => s.clone(),
        _ => String::new(),
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
#[inline(always)]
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
    syntax(pattern).map(|s| s.hir.properties().explicit_captures_len())
}

/// Whether [`scan_ends`] recognises `piece`, remembered per piece text.
fn scannable(piece: &str, names: &HashMap<String, usize>) -> bool {
    thread_local! {
        static SCANNABLE: RefCell<HashMap<String, bool>> = RefCell::new(HashMap::new());
    }
    remembered(&SCANNABLE, piece, || scan_ends(piece, names).is_some())
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
#[derive(Clone, Copy)]
struct Looks {
    word: bool,
    line_or_text: bool,
}

/// What the build asks of a piece's syntax, once per piece text: a pattern's layout is
/// probed several times over, and parsing dominated compiling.
#[derive(Clone)]
struct Syntax {
    looks: Looks,
    hir: std::rc::Rc<Hir>,
}

thread_local! {
    static SYNTAX: RefCell<HashMap<String, Option<Syntax>>> = RefCell::new(HashMap::new());
}

fn syntax(piece: &str) -> Option<Syntax> {
    remembered(&SYNTAX, piece, || {
        let hir =
            regex_syntax::ParserBuilder::new().dot_matches_new_line(true).multi_line(true).build().parse(piece).ok()?;
        let set = hir.properties().look_set();
        let line_or_text = [Look::Start, Look::End, Look::StartLF, Look::EndLF, Look::StartCRLF, Look::EndCRLF]
            .iter()
            .any(|l| set.contains(*l));
        Some(Syntax { looks: Looks { word: set.contains_word(), line_or_text }, hir: std::rc::Rc::new(hir) })
    })
}

fn piece_looks(piece: &str) -> Option<Looks> {
    syntax(piece).map(|s| s.looks)
}

/// Whether any string `piece` matches can contain `c`. `None` if the piece does not parse.
fn can_contain(piece: &str, c: char) -> Option<bool> {
    syntax(piece).map(|s| hir_can_contain(&s.hir, c))
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
        assert!(v.dfa().is_some() && v.classes.is_none() && v.min_len_only.is_none(), "judged by the DFA");
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
