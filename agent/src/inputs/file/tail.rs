//! The file input's reading loop: discovers files, follows them through rotation,
//! truncation and deletion, cuts their bytes into line batches and registers every
//! batch with the file's checkpoint tracker before sending it on.
//!
//! One thread runs this loop per `file` input. It polls: each round reads what every
//! open file has gained (a bounded amount per file, so one busy file cannot starve the
//! others), then sleeps `stat_interval` when nothing was read. Sending blocks when the
//! pipeline is full, which is how back-pressure from a slow output reaches the reader.
//!
//! Cases handled (each has a test in `tests/file_tail.rs`):
//! - rotation by rename: the renamed file (same inode) is read to its end, and closed
//!   once idle for `rotation_grace`; the new file at the path is a new file;
//! - copytruncate: a file shorter than what was read, or whose first bytes changed, is
//!   read again from offset 0 under a new identity;
//! - deletion: the open handle is read to its end, then closed;
//! - a partial last line is held until its newline arrives (or the file is complete);
//! - `.gz` files are decompressed and read once.

use super::{FileInput, Mode, StartPosition};
use crate::batch::AckTracker;
use crate::batch::{AckPoint, Origin, RawBatch};
use crate::checkpoint::{Checkpoints, Identity, FINGERPRINT_BYTES};
use crate::inputs::codec::InputCodec;
use crate::inputs::InputContext;
use crate::line_codec::{Line, LineSplitter, Lines};
use crate::multiline::{self, Multiline};
use anyhow::Context;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// Most bytes read from one file per round before the others get their turn.
const ROUND_BYTES: usize = 4 * 1024 * 1024;
/// A batch is sent once it holds `--batch-size` lines or this many bytes of text.
const BATCH_BYTES: usize = 512 * 1024;

/// Where a file's bytes come from.
enum Source {
    Plain(File),
    Gz(Box<flate2::read::MultiGzDecoder<std::io::BufReader<File>>>),
}

impl Source {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Source::Plain(f) => f.read(buf),
            Source::Gz(g) => g.read(buf),
        }
    }
}

/// One file being read.
struct OpenFile<'a> {
    path: PathBuf,
    /// `None` once the file is finished and its handle closed.
    source: Option<Source>,
    gz: bool,
    dev_inode: (u64, u64),
    identity: Identity,
    tracker: Arc<AckTracker>,
    origin: Arc<Origin>,
    splitter: LineSplitter,
    multiline: Option<Multiline<'a>>,
    lines: Lines,
    /// Matched by the globs at the last discovery.
    in_glob: bool,
    /// The last read found no new bytes.
    at_eof: bool,
    /// Nothing more will be read from this file.
    finished: bool,
    /// To be dropped now and rediscovered (truncated, or closed while idle).
    replaced: bool,
    /// Its content was replaced under the same inode (copytruncate).
    truncated: bool,
    last_activity: Instant,
    /// Size last seen (at discovery or at end of file), for the lag gauge.
    size: u64,
    /// Registered by this discovery, its record not saved yet: nothing of it is read
    /// before the save.
    unsaved: bool,
}

/// Runs a `file` input until it is stopped (or, in `--once` mode, until every file
/// found at start-up has been read to its end).
pub fn run(input: &FileInput, ctx: &InputContext) -> anyhow::Result<()> {
    let checkpoints = Arc::new(Checkpoints::load(input.sincedb_file(&ctx.data_dir))?);
    ctx.keep_checkpoints(checkpoints.clone());
    let mut reader =
        Reader { input, ctx, checkpoints: &checkpoints, files: Vec::new(), broken: HashSet::new(), waiting: 0 };
    let result = reader.run_loop();
    for f in &reader.files {
        checkpoints.release(&f.identity);
    }
    result
}

struct Reader<'a, 'c> {
    input: &'a FileInput,
    ctx: &'c InputContext,
    checkpoints: &'c Checkpoints,
    files: Vec<OpenFile<'a>>,
    /// (device, inode, size) of files that could not be read (a corrupt `.gz`): not
    /// retried until they change.
    broken: HashSet<(u64, u64, u64)>,
    /// Files found at the last discovery that could not be opened for want of a file
    /// descriptor: they wait for one (the next discovery comes soon) and are never
    /// treated as broken.
    waiting: usize,
}

impl<'a> Reader<'a, '_> {
    fn run_loop(&mut self) -> anyhow::Result<()> {
        let input = self.input;
        let discover_every = input.stat_interval * input.discover_interval;
        let mut next_discovery = Instant::now();
        let mut first = true;
        let mut buf = vec![0u8; READ_CHUNK];
        let mut scratch = Vec::new();
        let mut last_save = Instant::now();
        loop {
            if self.ctx.shutdown.is_triggered() {
                return Ok(());
            }
            if (first || !self.ctx.once || self.waiting > 0) && Instant::now() >= next_discovery {
                self.discover(first)?;
                first = false;
                // Files waiting for a descriptor are tried again as soon as others close.
                next_discovery = Instant::now() + if self.waiting > 0 { input.stat_interval } else { discover_every };
            }
            let mut progressed = false;
            for i in 0..self.files.len() {
                match self.read_round(i, &mut buf, &mut scratch) {
                    Ok(Some(p)) => progressed |= p,
                    Ok(None) => return Ok(()),
                    Err(e) => {
                        let f = &mut self.files[i];
                        tracing::error!(path = %f.path.display(), error = %format!("{e:#}"), "Reading a file failed; closing it");
                        f.finished = true;
                        f.source = None;
                    }
                }
            }
            if !self.settle_idle_files()? {
                return Ok(());
            }
            if self.files.iter().any(|f| f.replaced) {
                for f in self.files.iter_mut().filter(|f| f.replaced) {
                    if f.truncated {
                        // What was read of the old content is complete now: a partial
                        // last line or pending multiline event goes out as it is.
                        f.finish_lines();
                        if !send_lines(f, self.ctx) {
                            return Ok(());
                        }
                        self.checkpoints.retire(&f.identity, f.dev_inode);
                    } else {
                        self.checkpoints.release(&f.identity);
                    }
                }
                self.files.retain(|f| !f.replaced);
                next_discovery = Instant::now();
            }
            self.close_done_files();
            let lag: u64 =
                self.files.iter().filter(|f| !f.finished).map(|f| f.size.saturating_sub(f.splitter.offset())).sum();
            self.ctx.stats.lag_bytes.set(lag as i64);
            self.ctx.stats.files_open.set(self.files.iter().filter(|f| f.source.is_some()).count() as i64);
            if self.ctx.once && self.waiting == 0 && self.files.iter().all(|f| f.finished) {
                return Ok(());
            }
            if last_save.elapsed() >= Duration::from_secs(1) {
                if let Err(e) = self.checkpoints.save() {
                    tracing::error!(error = %format!("{e:#}"), "Cannot write checkpoints");
                }
                last_save = Instant::now();
            }
            let until_discovery = next_discovery.saturating_duration_since(Instant::now());
            let wait = input.stat_interval.min(until_discovery).max(Duration::from_millis(10));
            if !progressed && self.ctx.shutdown.sleep(wait) {
                return Ok(());
            }
        }
    }

    /// Looks for new, renamed, truncated and vanished files.
    fn discover(&mut self, at_startup: bool) -> anyhow::Result<()> {
        for f in &mut self.files {
            f.in_glob = false;
        }
        let was_waiting = self.waiting;
        self.waiting = 0;
        let found = self.input.discover();
        for path in found.iter().cloned() {
            let Ok(meta) = std::fs::metadata(&path) else { continue };
            let key = (meta.dev(), meta.ino());
            if let Some(f) = self.files.iter_mut().find(|f| f.dev_inode == key) {
                f.in_glob = true;
                f.size = meta.len();
                if f.path != path {
                    tracing::info!(from = %f.path.display(), to = %path.display(), "File renamed");
                    self.checkpoints.seen(&f.identity, &path.display().to_string());
                    f.path = path;
                }
                if !f.gz && !f.finished && content_replaced(f, meta.len()) {
                    tracing::info!(path = %f.path.display(), "File truncated; reading it again from the start");
                    f.replaced = true;
                    f.truncated = true;
                }
                continue;
            }
            if self.broken.contains(&(key.0, key.1, meta.len())) {
                continue;
            }
            match self.open(&path, &meta, at_startup) {
                Ok(Some(f)) => self.files.push(f),
                Ok(None) => {}
                Err(e) if out_of_descriptors(&e) => self.waiting += 1,
                Err(e) => {
                    tracing::error!(path = %path.display(), error = %format!("{e:#}"), "Cannot open file; will retry when it changes");
                    self.broken.insert((key.0, key.1, meta.len()));
                }
            }
        }
        if at_startup {
            self.recover_renamed(&found);
        }
        self.save_registrations();
        if self.waiting > 0 && was_waiting == 0 {
            tracing::warn!(
                waiting = self.waiting,
                open = self.files.iter().filter(|f| f.source.is_some()).count(),
                "Out of file descriptors; the other files wait until open ones are finished or closed"
            );
        }
        self.ctx.stats.files_waiting.set(self.waiting as i64);
        Ok(())
    }

    /// Saves the records of the files this discovery registered, once for all, before
    /// any of them is read. Should that fail (out of descriptors, a full disk), they
    /// are closed again and their claims given back; they wait for the next discovery,
    /// which claims their records.
    fn save_registrations(&mut self) {
        let new = self.files.iter().filter(|f| f.unsaved).count();
        if new == 0 {
            return;
        }
        match self.checkpoints.save() {
            Ok(()) => self.files.iter_mut().for_each(|f| f.unsaved = false),
            Err(e) => {
                tracing::warn!(files = new, error = %format!("{e:#}"), "Cannot save the checkpoints of new files; they wait for the next look");
                for f in self.files.iter().filter(|f| f.unsaved) {
                    self.checkpoints.release(&f.identity);
                }
                self.files.retain(|f| !f.unsaved);
                self.waiting += new;
            }
        }
    }

    /// Finds files renamed out of the globs while the agent was down (the path names
    /// only the live file, and logrotate renamed it to `.1` during a restart): each
    /// checkpoint no open file claimed is looked for in its directory by device and
    /// inode, and a file found is read from its checkpoint to its end, then closed like
    /// any file rotated away. Its content must still match the checkpoint's
    /// fingerprint, so a reused inode is never mistaken for it.
    fn recover_renamed(&mut self, in_glob: &[PathBuf]) {
        // Each directory is listed once, however many checkpoints point into it (a host
        // keeps weeks of rotated files).
        type Lost = Vec<(PathBuf, (u64, u64))>;
        let mut by_dir: std::collections::HashMap<PathBuf, Lost> = std::collections::HashMap::new();
        for (old_path, dev_inode) in self.checkpoints.unclaimed() {
            let old_path = PathBuf::from(old_path);
            if let Some(dir) = old_path.parent() {
                by_dir.entry(dir.to_path_buf()).or_default().push((old_path, dev_inode));
            }
        }
        for (dir, lost) in by_dir {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            let wanted: HashSet<(u64, u64)> = lost.iter().map(|(_, k)| *k).collect();
            let mut found: std::collections::HashMap<(u64, u64), PathBuf> = std::collections::HashMap::new();
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                let key = (meta.dev(), meta.ino());
                // Files the globs still match are discovery's.
                if meta.is_file() && wanted.contains(&key) && in_glob.binary_search(&path).is_err() {
                    found.insert(key, path);
                }
            }
            for (old_path, dev_inode) in lost {
                let Some(path) = found.remove(&dev_inode) else { continue };
                if self.files.iter().any(|f| f.dev_inode == dev_inode) {
                    continue;
                }
                let Ok(meta) = std::fs::metadata(&path) else { continue };
                match self.open(&path, &meta, false) {
                    Ok(Some(mut f)) => {
                        tracing::info!(from = %old_path.display(), to = %path.display(), "File renamed while the agent was down; reading what is left of it");
                        f.in_glob = false;
                        self.files.push(f);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %format!("{e:#}"), "Cannot open a file renamed while the agent was down")
                    }
                }
            }
        }
    }

    /// Opens a file not open yet, resuming at its checkpoint. `Ok(None)`: not now (empty,
    /// or a copy of a file still being read).
    fn open(&self, path: &Path, meta: &std::fs::Metadata, at_startup: bool) -> anyhow::Result<Option<OpenFile<'a>>> {
        if meta.len() == 0 {
            return Ok(None);
        }
        let gz = path.extension().is_some_and(|e| e == "gz");
        let mut source = open_source(path, gz)?;
        let prefix = read_prefix(&mut source).with_context(|| format!("reading the start of {}", path.display()))?;
        if prefix.is_empty() {
            return Ok(None);
        }
        let key = (meta.dev(), meta.ino());
        let shown = path.display().to_string();
        let size_bound = if gz { u64::MAX } else { meta.len() };
        let mut registered = false;
        let (identity, tracker) = match self.checkpoints.claim(&prefix, key, &shown, size_bound) {
            Ok(found) => found,
            Err(true) => return Ok(None),
            Err(false) => {
                let at_end = at_startup
                    && !gz
                    && self.input.mode == Mode::Tail
                    && self.input.start_position == StartPosition::End;
                let start = if at_end { meta.len() } else { 0 };
                registered = true;
                self.checkpoints.register(&prefix, key, &shown, start)
            }
        };
        let start = tracker.committed();
        // Position the source at the checkpoint: seek a plain file, skip decompressed bytes
        // (a fresh decoder). Should that fail (out of descriptors), the claim is given
        // back, so that the next attempt resumes here.
        let positioned = (|| -> anyhow::Result<Source> {
            let mut source = match source {
                Source::Plain(f) => Source::Plain(f),
                Source::Gz(_) => {
                    drop(source);
                    open_source(path, gz)?
                }
            };
            match &mut source {
                Source::Plain(f) => {
                    f.seek(SeekFrom::Start(start))?;
                }
                Source::Gz(g) => {
                    std::io::copy(&mut g.by_ref().take(start), &mut std::io::sink())
                        .with_context(|| format!("skipping to offset {start} in {}", path.display()))?;
                }
            }
            Ok(source)
        })();
        let source = match positioned {
            Ok(s) => s,
            Err(e) => {
                self.checkpoints.release(&identity);
                return Err(e);
            }
        };
        tracing::info!(path = %shown, offset = start, fingerprint = %format!("{:016x}", identity.fingerprint), "Reading file");
        let multiline = self.input.codec.joiner();
        Ok(Some(OpenFile {
            path: path.to_path_buf(),
            source: Some(source),
            gz,
            dev_inode: key,
            identity,
            tracker,
            origin: Arc::new(Origin {
                json: self.input.codec.is_json(),
                tags: self.input.tags.clone(),
                path: Some(pipeline_dsl::value::shared_text(&shown)),
                fingerprint: Some(identity.fingerprint),
            }),
            splitter: LineSplitter::new(self.input.max_line_bytes, start),
            multiline,
            lines: self.ctx.new_lines(),
            in_glob: true,
            at_eof: false,
            finished: false,
            replaced: false,
            truncated: false,
            last_activity: Instant::now(),
            size: meta.len(),
            unsaved: registered,
        }))
    }

    /// Reads what file `i` has gained, up to [`ROUND_BYTES`]. `Ok(Some(progressed))`,
    /// or `Ok(None)` when the agent is stopping.
    fn read_round(&mut self, i: usize, buf: &mut [u8], scratch: &mut Vec<Line>) -> anyhow::Result<Option<bool>> {
        let complete_at_eof = self.ctx.once || self.input.mode == Mode::Read;
        let f = &mut self.files[i];
        if f.source.is_none() {
            return Ok(Some(false));
        }
        let mut total = 0;
        while total < ROUND_BYTES {
            let Some(source) = f.source.as_mut() else { break };
            let n = match source.read(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // A corrupt or cut `.gz`: keep what was decoded, do not retry.
                    self.broken.insert((f.dev_inode.0, f.dev_inode.1, f.size));
                    f.finish_lines();
                    f.finished = true;
                    f.source = None;
                    if !send_lines(f, self.ctx) {
                        return Ok(None);
                    }
                    return Err(e).with_context(|| format!("reading {}", f.path.display()));
                }
            };
            if n == 0 {
                break;
            }
            total += n;
            f.at_eof = false;
            f.last_activity = Instant::now();
            self.ctx.stats.bytes.inc_by(n as u64);
            multiline::split_into(&mut f.splitter, &buf[..n], f.multiline.as_mut(), scratch, &mut f.lines);
            if (f.lines.len() >= self.ctx.batch_lines || f.lines.text_len() >= BATCH_BYTES) && !send_lines(f, self.ctx)
            {
                return Ok(None);
            }
        }
        if total < ROUND_BYTES {
            f.at_eof = true;
            if let Some(Source::Plain(file)) = &f.source {
                f.size = file.metadata().map_or(f.size, |m| m.len());
            }
            let shrunk = !f.gz && f.size < f.splitter.offset();
            if shrunk {
                tracing::info!(path = %f.path.display(), "File truncated; reading it again from the start");
                f.replaced = true;
                f.truncated = true;
            } else if f.gz || complete_at_eof {
                f.finish_lines();
                f.finished = true;
                f.source = None;
            }
        }
        if !send_lines(f, self.ctx) {
            return Ok(None);
        }
        Ok(Some(total > 0))
    }

    /// Completes files renamed away or deleted and idle past the grace period, flushes a
    /// multiline event of an idle file, closes files idle past `close_older`. Returns
    /// false when the agent is stopping.
    fn settle_idle_files(&mut self) -> anyhow::Result<bool> {
        let input = self.input;
        for f in self.files.iter_mut().filter(|f| f.at_eof && !f.finished) {
            let idle = f.last_activity.elapsed();
            if !f.in_glob && (idle >= input.rotation_grace || self.ctx.once) {
                tracing::info!(path = %f.path.display(), "File rotated away or deleted; finished reading it");
                f.finish_lines();
                f.finished = true;
                f.source = None;
            } else if let InputCodec::Multiline(config) = &input.codec {
                // The last event of a quiet log is not held back until the next line.
                if idle >= config.auto_flush_interval {
                    if let Some(event) = f.multiline.as_mut().and_then(|m| m.flush()) {
                        f.lines.push(event);
                    }
                }
            }
            if !send_lines(f, self.ctx) {
                return Ok(false);
            }
            if idle >= input.close_older
                && f.source.is_some()
                && f.tracker.in_flight() == 0
                && !f.splitter.has_pending()
            {
                tracing::info!(path = %f.path.display(), "Closing idle file");
                f.replaced = true; // dropped now, reopened at its checkpoint when it grows
            }
        }
        Ok(true)
    }

    /// Forgets files that are finished, delivered and no longer matched by the globs.
    fn close_done_files(&mut self) {
        let checkpoints = self.checkpoints;
        self.files.retain(|f| {
            let done = f.finished && !f.in_glob && f.tracker.in_flight() == 0;
            if done {
                checkpoints.release(&f.identity);
            }
            !done
        });
    }
}

impl OpenFile<'_> {
    /// The file is complete: its partial last line and pending multiline event are events.
    fn finish_lines(&mut self) {
        multiline::finish_into(&mut self.splitter, self.multiline.as_mut(), &mut self.lines);
    }
}

/// Whether opening failed for want of a file descriptor (the process's or the system's
/// limit): the file waits for one instead of counting as broken.
fn out_of_descriptors(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::raw_os_error)
            .is_some_and(|code| code == libc::EMFILE || code == libc::ENFILE)
    })
}

/// Whether a file's content was replaced under the same inode: shorter than what was
/// read, or its first bytes no longer match its fingerprint.
fn content_replaced(f: &OpenFile, size: u64) -> bool {
    if size < f.splitter.offset() {
        return true;
    }
    let Ok(mut file) = File::open(&f.path) else { return false };
    let mut prefix = vec![0u8; f.identity.len as usize];
    match file.read_exact(&mut prefix) {
        Ok(()) => !f.identity.matches(&prefix),
        Err(_) => true,
    }
}

/// Sends the lines gathered from `f` as one batch, registered with its tracker first.
/// Returns false when the agent is stopping.
fn send_lines(f: &mut OpenFile, ctx: &InputContext) -> bool {
    if f.lines.is_empty() {
        return true;
    }
    let lines = std::mem::replace(&mut f.lines, ctx.new_lines());
    let end = lines.last_end().unwrap_or(0);
    let ticket = f.tracker.register(end);
    ctx.stats.events.inc_by(lines.len() as u64);
    let batch =
        RawBatch { lines, origin: f.origin.clone(), ack: Some(AckPoint { tracker: f.tracker.clone(), ticket }) };
    ctx.send(batch)
}

fn open_source(path: &Path, gz: bool) -> anyhow::Result<Source> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(if gz {
        Source::Gz(Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(READ_CHUNK, file))))
    } else {
        Source::Plain(file)
    })
}

/// The first [`FINGERPRINT_BYTES`] bytes (decompressed for `.gz`), fewer if the file is
/// shorter.
fn read_prefix(source: &mut Source) -> std::io::Result<Vec<u8>> {
    let mut prefix = vec![0u8; FINGERPRINT_BYTES];
    let mut filled = 0;
    while filled < prefix.len() {
        match source.read(&mut prefix[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    prefix.truncate(filled);
    Ok(prefix)
}
