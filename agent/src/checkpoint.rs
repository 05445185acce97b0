//! File checkpoints (our "sincedb"): which files were read, how they are recognised, and
//! how far their events have been delivered.
//!
//! A file is recognised by a content fingerprint — a hash of its first bytes (up to
//! [`FINGERPRINT_BYTES`]) — together with its device and inode. The fingerprint, not the
//! path, decides identity: a renamed file keeps its checkpoint, a reused inode with new
//! content does not inherit one, and a rotated file compressed to `.gz` is recognised as
//! the file already read. The offset stored is the delivered one (every event before it
//! acknowledged by every output), so a crash re-reads at most what was in flight; the
//! deterministic document ids make that re-read harmless.
//!
//! The file is rewritten atomically: a temporary file, fsync, rename, fsync of the
//! directory. A corrupt file is set aside (renamed `*.corrupt`) and reading restarts
//! from scratch, which costs time but, thanks to document ids, no duplicates.

use crate::batch::AckTracker;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// How many leading bytes of a file make its fingerprint.
pub const FINGERPRINT_BYTES: usize = 1024;

/// Records of files not seen for this long are forgotten (Logstash's
/// `sincedb_clean_after` default: two weeks).
const FORGET_AFTER_SECS: i64 = 14 * 24 * 3600;

/// 64-bit FNV-1a over `salt` (little-endian) then `bytes`: small, stable across
/// versions and platforms, which a persisted fingerprint must be.
pub fn fingerprint(bytes: &[u8], salt: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in salt.to_le_bytes().iter().filter(|_| salt != 0).chain(bytes) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// One file as stored on disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Fingerprint of the first `fingerprint_len` bytes, as 16 hex digits.
    pub fingerprint: String,
    /// How many leading bytes the fingerprint covers.
    pub fingerprint_len: u64,
    /// Mixed into the hash when two different files began with the same bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub salt: u64,
    /// Device of the file when last seen.
    pub dev: u64,
    /// Inode of the file when last seen.
    pub inode: u64,
    /// Bytes delivered (decompressed bytes for `.gz` files).
    pub offset: u64,
    /// Path when last seen (informational).
    pub path: String,
    /// Unix time when last seen.
    pub last_seen: i64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// On-disk layout, versioned so that a later format can tell old files apart.
#[derive(Serialize, Deserialize)]
struct SincedbFile {
    version: u32,
    files: Vec<FileRecord>,
}

/// A file's identity: fingerprint, bytes covered and salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    /// The hash.
    pub fingerprint: u64,
    /// Bytes it covers.
    pub len: u64,
    /// Salt mixed in (0 for most files).
    pub salt: u64,
}

impl Identity {
    /// The identity of a file starting with `prefix` (at most [`FINGERPRINT_BYTES`]).
    pub fn of(prefix: &[u8]) -> Self {
        let prefix = &prefix[..prefix.len().min(FINGERPRINT_BYTES)];
        Self { fingerprint: fingerprint(prefix, 0), len: prefix.len() as u64, salt: 0 }
    }

    /// Whether a file starting with `prefix` is the file this identity describes.
    pub fn matches(&self, prefix: &[u8]) -> bool {
        let len = self.len as usize;
        prefix.len() >= len && fingerprint(&prefix[..len], self.salt) == self.fingerprint
    }
}

/// A tracked file: its identity, where it was last seen, and its delivery tracker.
#[derive(Debug)]
pub struct Tracked {
    /// Content identity.
    pub identity: Identity,
    /// Device and inode when last seen.
    pub dev_inode: (u64, u64),
    /// Path when last seen.
    pub path: String,
    /// Unix time when last seen.
    pub last_seen: i64,
    /// Whether an open file is reading under this record right now.
    pub claimed: bool,
    /// Device and inode of a file whose content replaced this record's (truncation):
    /// that file must never resume here, even if its first bytes look the same.
    pub retired_for: Option<(u64, u64)>,
    /// Delivered offset and batches in flight.
    pub tracker: Arc<AckTracker>,
}

/// All checkpoints of one input, shared by its reader and the periodic writer.
#[derive(Debug)]
pub struct Checkpoints {
    path: Option<PathBuf>,
    files: Mutex<Vec<Tracked>>,
    /// What was last written, to skip writing (and fsyncing) unchanged checkpoints.
    last_saved: Mutex<Vec<u8>>,
}

impl Checkpoints {
    /// Loads checkpoints from `path` (`None` keeps them in memory only, like Logstash's
    /// `sincedb_path => "/dev/null"`). A missing file is an empty start; a corrupt one is
    /// renamed aside with a warning.
    pub fn load(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let mut files = Vec::new();
        if let Some(p) = &path {
            match std::fs::read(p) {
                Ok(bytes) => match serde_json::from_slice::<SincedbFile>(&bytes) {
                    Ok(db) => files = db.files.into_iter().filter_map(tracked_from_record).collect(),
                    Err(e) => {
                        let aside = p.with_extension("corrupt");
                        tracing::error!(path = %p.display(), error = %e, aside = %aside.display(),
                            "Checkpoint file is corrupt; set aside, files will be read again (document ids prevent duplicates)");
                        std::fs::rename(p, &aside).with_context(|| format!("setting aside {}", p.display()))?;
                    }
                },
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("reading checkpoints {}", p.display())),
            }
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                crate::private_fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
        }
        Ok(Self { path, files: Mutex::new(files), last_saved: Mutex::default() })
    }

    fn files(&self) -> std::sync::MutexGuard<'_, Vec<Tracked>> {
        // Every update leaves the list consistent, so a poisoned lock is still usable.
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds the record of a newly opened file starting with `prefix`, claims it and
    /// returns its identity and tracker (whose committed offset is where to resume).
    /// A record with the same device and inode wins; otherwise any unclaimed record
    /// with a matching fingerprint (a renamed or compressed copy of a file already
    /// read). `Err(true)` means a matching record is claimed by another open file (a
    /// compressed copy of a file still being read: try again later); `Err(false)`
    /// means the file is new. Records whose offset lies beyond `size` are skipped.
    pub fn claim(
        &self,
        prefix: &[u8],
        dev_inode: (u64, u64),
        path: &str,
        size: u64,
    ) -> Result<(Identity, Arc<AckTracker>), bool> {
        let mut files = self.files();
        // A record past the end of the file belongs to content that was truncated away.
        let fits = |t: &Tracked| {
            t.identity.matches(prefix) && t.tracker.committed() <= size && t.retired_for != Some(dev_inode)
        };
        let index = files
            .iter()
            .position(|t| t.dev_inode == dev_inode && !t.claimed && fits(t))
            .or_else(|| files.iter().position(|t| !t.claimed && fits(t)));
        match index {
            Some(i) => {
                let t = &mut files[i];
                t.claimed = true;
                t.dev_inode = dev_inode;
                t.path = path.to_string();
                t.last_seen = now_unix();
                Ok((t.identity, t.tracker.clone()))
            }
            None => Err(files.iter().any(|t| t.claimed && fits(t))),
        }
    }

    /// Registers a new file starting with `prefix`, read from `start`, claimed. The
    /// caller must [`save`](Checkpoints::save) before any of its events can be shipped,
    /// so that their document ids are stable across a crash. The file reader saves once
    /// for all the files a discovery registers: a save per file would write every
    /// record once per new file, quadratic on a host of thousands of files. A
    /// fingerprint already in use by another record gets a salt, so two files never
    /// share document ids.
    pub fn register(
        &self,
        prefix: &[u8],
        dev_inode: (u64, u64),
        path: &str,
        start: u64,
    ) -> (Identity, Arc<AckTracker>) {
        {
            let mut files = self.files();
            let mut identity = Identity::of(prefix);
            while files.iter().any(|t| t.identity.fingerprint == identity.fingerprint) {
                identity.salt += 1;
                identity.fingerprint = fingerprint(&prefix[..identity.len as usize], identity.salt);
            }
            let tracker = Arc::new(AckTracker::new(start));
            files.push(Tracked {
                identity,
                dev_inode,
                path: path.to_string(),
                last_seen: now_unix(),
                claimed: true,
                retired_for: None,
                tracker: tracker.clone(),
            });
            (identity, tracker)
        }
    }

    /// Releases the claim of an open file that was closed (its record stays).
    pub fn release(&self, identity: &Identity) {
        if let Some(t) = self.files().iter_mut().find(|t| t.identity == *identity) {
            t.claimed = false;
            t.last_seen = now_unix();
        }
    }

    /// Releases a file whose content was replaced (truncated): the file at
    /// `dev_inode` will be read as new, never resumed under this record.
    pub fn retire(&self, identity: &Identity, dev_inode: (u64, u64)) {
        if let Some(t) = self.files().iter_mut().find(|t| t.identity == *identity) {
            t.claimed = false;
            t.retired_for = Some(dev_inode);
        }
    }

    /// Notes that a claimed file was seen at `path` now (renames are followed).
    pub fn seen(&self, identity: &Identity, path: &str) {
        if let Some(t) = self.files().iter_mut().find(|t| t.identity == *identity) {
            t.path.clear();
            t.path.push_str(path);
            t.last_seen = now_unix();
        }
    }

    /// Files with a checkpoint that no open file reads now: `(path, device and inode)`
    /// when last seen. After a restart, one may have been renamed out of the globs
    /// (logrotate's `.1`) with lines still unread.
    pub fn unclaimed(&self) -> Vec<(String, (u64, u64))> {
        self.files()
            .iter()
            .filter(|t| !t.claimed && !t.path.is_empty())
            .map(|t| (t.path.clone(), t.dev_inode))
            .collect()
    }

    /// The records as they would be written now.
    pub fn records(&self) -> Vec<FileRecord> {
        self.files()
            .iter()
            .map(|t| FileRecord {
                fingerprint: format!("{:016x}", t.identity.fingerprint),
                fingerprint_len: t.identity.len,
                salt: t.identity.salt,
                dev: t.dev_inode.0,
                inode: t.dev_inode.1,
                offset: t.tracker.committed(),
                path: t.path.clone(),
                last_seen: t.last_seen,
            })
            .collect()
    }

    /// Writes the checkpoints atomically, forgetting files unseen for two weeks.
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let cutoff = now_unix() - FORGET_AFTER_SECS;
        self.files().retain(|t| t.claimed || t.last_seen >= cutoff);
        let db = SincedbFile { version: 1, files: self.records() };
        // `last_seen` alone changing is not worth a write.
        let unseen: Vec<FileRecord> = db.files.iter().map(|f| FileRecord { last_seen: 0, ..f.clone() }).collect();
        let key = serde_json::to_vec(&unseen)?;
        let mut last = self.last_saved.lock().unwrap_or_else(|p| p.into_inner());
        if *last == key {
            return Ok(());
        }
        write_atomically(path, &serde_json::to_vec_pretty(&db)?)
            .with_context(|| format!("writing checkpoints {}", path.display()))?;
        *last = key;
        Ok(())
    }
}

fn tracked_from_record(r: FileRecord) -> Option<Tracked> {
    let fingerprint = u64::from_str_radix(&r.fingerprint, 16).ok()?;
    Some(Tracked {
        identity: Identity { fingerprint, len: r.fingerprint_len, salt: r.salt },
        dev_inode: (r.dev, r.inode),
        path: r.path,
        last_seen: r.last_seen,
        claimed: false,
        retired_for: None,
        tracker: Arc::new(AckTracker::new(r.offset)),
    })
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new
/// content: temporary file, fsync, rename, fsync of the directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomically_with(path, |w| w.write_all(bytes))
}

/// [`write_atomically`] with the content written by `write` (buffered), so that a
/// large file never has to be held in memory whole.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = std::io::BufWriter::new(crate::private_fs::create(&tmp)?);
        write(&mut f)?;
        f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::temp_dir;

    #[test]
    fn offsets_survive_a_reload_and_files_are_recognised_by_content() {
        let dir = temp_dir("ckpt-reload");
        let path = dir.join("sincedb");
        let db = Checkpoints::load(Some(path.clone())).unwrap();
        let (id, tracker) = db.register(b"first line\nsecond", (1, 42), "/x/a.log", 0);
        let t = tracker.register(11);
        tracker.ack(t);
        db.save().unwrap();

        let db = Checkpoints::load(Some(path.clone())).unwrap();
        // Same inode, same content: resumes where delivery stopped.
        let (again, tracker) = db.claim(b"first line\nsecond line\n", (1, 42), "/x/a.log", 23).unwrap();
        assert_eq!(again, id);
        assert_eq!(tracker.committed(), 11);
        // A reused inode with other content is a new file.
        let db = Checkpoints::load(Some(path.clone())).unwrap();
        assert!(!db.claim(b"other content", (1, 42), "/x/a.log", 13).unwrap_err());
        // A compressed copy (other inode, same content) is the file already read...
        let (copy, tracker) = db.claim(b"first line\nsecond line\n", (1, 77), "/x/a.log.1.gz", u64::MAX).unwrap();
        assert_eq!((copy, tracker.committed()), (id, 11));
        // ...a second copy while the first is open must wait...
        assert!(db.claim(b"first line\nsecond line\n", (1, 78), "/x/a.log.2", 23).unwrap_err());
        // ...and content truncated below the checkpoint is not the file read before.
        let db = Checkpoints::load(Some(path.clone())).unwrap();
        assert!(!db.claim(b"first line", (1, 42), "/x/a.log", 10).unwrap_err());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn files_with_the_same_first_bytes_get_distinct_identities() {
        let db = Checkpoints::load(None).unwrap();
        let (a, _) = db.register(b"#Version: 1.0\n", (1, 1), "a", 0);
        let (b, _) = db.register(b"#Version: 1.0\n", (1, 2), "b", 0);
        assert_ne!(a.fingerprint, b.fingerprint);
        assert!(a.matches(b"#Version: 1.0\nmore") && b.matches(b"#Version: 1.0\nmore"));
    }

    #[test]
    fn a_truncated_file_never_resumes_under_its_old_record_even_with_the_same_first_bytes() {
        let db = Checkpoints::load(None).unwrap();
        let (id, tracker) = db.register(b"#Version: 1.0\n", (1, 5), "a", 0);
        let t = tracker.register(14);
        tracker.ack(t);
        db.retire(&id, (1, 5));
        // Rewritten with the same header and already longer than the old offset.
        assert!(!db.claim(b"#Version: 1.0\nnew", (1, 5), "a", 100).unwrap_err());
        // A copy made before the truncation (another inode) is still the file read.
        let (copy, tracker) = db.claim(b"#Version: 1.0\nold", (1, 6), "a.1", 100).unwrap();
        assert_eq!((copy, tracker.committed()), (id, 14));
    }

    #[test]
    fn unchanged_checkpoints_are_not_rewritten() {
        let dir = temp_dir("ckpt-unchanged");
        let path = dir.join("sincedb");
        let db = Checkpoints::load(Some(path.clone())).unwrap();
        db.register(b"abc\n", (1, 9), "x", 0);
        db.save().unwrap();
        std::fs::remove_file(&path).unwrap();
        db.save().unwrap();
        assert!(!path.exists(), "nothing changed since the last write");
        db.release(&Identity::of(b"abc\n"));
        db.save().unwrap();
        assert!(!path.exists(), "a claim is not part of the file either");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_file_is_set_aside() {
        let dir = temp_dir("ckpt-corrupt");
        let path = dir.join("sincedb");
        std::fs::write(&path, b"{not json").unwrap();
        let db = Checkpoints::load(Some(path.clone())).unwrap();
        assert!(db.records().is_empty());
        assert!(path.with_extension("corrupt").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
