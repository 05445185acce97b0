//! The open windows of the `window_stats` blocks, kept across a restart.
//!
//! When the agent is told to stop, its last turn leaves open windows open; once every
//! event read has been delivered, they are written to `windows.json` in the data
//! directory, consistent with the checkpoints saved just before (the windows hold
//! exactly the events before the checkpoints). At the next start they are read back
//! before any input runs, and the file is removed. A window spanning the restart is
//! then emitted once, with every event of it. Without a file (first start, a crash,
//! a stop that could not deliver everything) windows start empty, as before.

use anyhow::Context;
use pipeline_dsl::aggregation::{Aggregations, SavedAggregation};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the file's layout; a file of another version is set aside, not read.
const VERSION: u32 = 1;

/// The file's content.
#[derive(Serialize, Deserialize)]
struct WindowsFile {
    version: u32,
    aggregations: Vec<SavedAggregation>,
}

/// Where the open windows are kept in `data_dir`.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("windows.json")
}

/// Writes the open windows of every aggregation (atomically: temporary file, fsync,
/// rename). Returns how many windows were written; with none, no file is left.
pub fn save(aggregations: &Aggregations, data_dir: &Path) -> anyhow::Result<usize> {
    let saved: Vec<SavedAggregation> = aggregations.all().iter().filter_map(|a| a.save()).collect();
    let file = path(data_dir);
    if saved.is_empty() {
        return match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("removing {}", file.display()))
            }
            _ => Ok(0),
        };
    }
    let windows = saved.iter().map(|a| a.windows.len()).sum();
    let content = WindowsFile { version: VERSION, aggregations: saved };
    crate::private_fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    // Streamed: a window of 100,000 keys makes a file of tens of megabytes.
    crate::checkpoint::write_atomically_with(&file, |w| serde_json::to_writer(w, &content).map_err(Into::into))
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(windows)
}

/// Reads back the windows [`save`] wrote, removes the file, and gives the windows to
/// the aggregations of the same ids and settings. Never stops the start: a file that
/// cannot be read is renamed to `windows.json.unreadable` and reported, and windows
/// that do not fit the current config are reported and dropped.
pub fn restore(aggregations: &Aggregations, data_dir: &Path) {
    let file = path(data_dir);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            tracing::warn!(path = %file.display(), error = %e, "Cannot read the saved windows; they start empty");
            return;
        }
    };
    let parsed = serde_json::from_slice::<WindowsFile>(&bytes).map_err(|e| e.to_string()).and_then(|f| {
        if f.version == VERSION {
            Ok(f)
        } else {
            Err(format!("layout version {}", f.version))
        }
    });
    let saved = match parsed {
        Ok(f) => f.aggregations,
        Err(e) => {
            let aside = file.with_extension("json.unreadable");
            let moved = std::fs::rename(&file, &aside);
            tracing::warn!(
                path = %file.display(), error = %e, moved_to = %aside.display(), moved = moved.is_ok(),
                "Saved windows not readable; windows start empty"
            );
            return;
        }
    };
    // Removed before use: windows restored twice would count their events twice.
    if let Err(e) = std::fs::remove_file(&file) {
        tracing::warn!(path = %file.display(), error = %e, "Cannot remove the saved windows; not restored, so they cannot count twice");
        return;
    }
    let mut targets = aggregations.all();
    for s in saved {
        let id = s.id.clone();
        // Ids are unique in a config; should two blocks share one, they match in order.
        let Some(i) = targets.iter().position(|a| a.config.id == id) else {
            tracing::warn!(id = %id, windows = s.windows.len(), "Saved windows dropped: no window_stats block has this id now");
            continue;
        };
        let target = targets.remove(i);
        let keys: usize = s.windows.iter().map(|w| w.keys.len()).sum();
        match target.restore(s) {
            Ok(windows) => tracing::info!(id = %id, windows, keys, "Open windows restored from the last run"),
            Err(e) => tracing::warn!(id = %id, error = %e, "Saved windows dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::temp_dir;
    use pipeline_dsl::event::Event;
    use pipeline_dsl::field_ref::FieldRef;
    use pipeline_dsl::filters::Flush;
    use pipeline_dsl::pipeline::{compile, ConfigSource, LoadOptions};
    use pipeline_dsl::value::Value;
    use std::sync::Arc;

    /// The aggregations of a config with one `window_stats` block (id `w`), after
    /// `events` of (key, second, value) and a stop turn.
    fn aggregations(window: &str, events: &[(&str, i64, i64)]) -> Arc<Aggregations> {
        let aggregations = Aggregations::new();
        let text = format!(
            r#"filter {{ window_stats {{ id => "w" group_by => ["k"] value => "v" window => "{window}" idle_flush => "1h" }} }}"#
        );
        let options = LoadOptions { env: &|_| None, support_escapes: false, aggregations: aggregations.clone() };
        let source = ConfigSource { path: "t.conf".into(), text };
        let mut pipeline = compile(vec![source], &[], &[], &options).unwrap_or_else(|e| panic!("{e}"));
        for &(k, second, v) in events {
            let mut e = Event::default();
            e.set(&FieldRef::parse("k").unwrap(), Value::from(k));
            e.set(&FieldRef::parse("v").unwrap(), Value::Int(v));
            // A minute boundary a while ago: the events share one window, 10 s or 60 s.
            let base = (chrono::Utc::now().timestamp() - 1000).div_euclid(60) * 60;
            e.set_timestamp(chrono::DateTime::from_timestamp(base + second, 0).unwrap());
            pipeline.filter(&mut e);
        }
        pipeline.flush(Flush::Stop(0), &mut |_, _| {});
        aggregations
    }

    #[test]
    fn open_windows_come_back_once_at_the_next_start() {
        let dir = temp_dir("windows-roundtrip");
        let stopped = aggregations("10s", &[("a", 0, 5), ("b", 1, 7), ("a", 2, 9)]);
        let before = stopped.all()[0].save().expect("open windows");
        assert_eq!(save(&stopped, &dir).unwrap(), 1);
        assert!(path(&dir).exists());

        let started = aggregations("10s", &[]);
        restore(&started, &dir);
        assert!(!path(&dir).exists(), "used once");
        assert_eq!(started.all()[0].save(), Some(before));

        // Nothing open: nothing written, and no file left behind.
        std::fs::write(path(&dir), b"stale").unwrap();
        assert_eq!(save(&aggregations("10s", &[]), &dir).unwrap(), 0);
        assert!(!path(&dir).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unusable_saved_windows_are_set_aside_or_dropped_without_stopping_the_start() {
        let dir = temp_dir("windows-unusable");
        std::fs::write(path(&dir), b"{ not json").unwrap();
        let started = aggregations("10s", &[]);
        restore(&started, &dir);
        assert!(dir.join("windows.json.unreadable").exists(), "kept for a look, out of the way");
        assert!(!path(&dir).exists());
        assert_eq!(started.all()[0].save(), None);

        // Saved under a 10 s window, restored into a 60 s one: dropped.
        save(&aggregations("10s", &[("a", 0, 5)]), &dir).unwrap();
        let other = aggregations("60s", &[]);
        restore(&other, &dir);
        assert_eq!(other.all()[0].save(), None);
        assert!(!path(&dir).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
