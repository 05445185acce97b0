//! Grok pattern libraries: our built-in definitions plus user pattern files.
//!
//! The built-in library is our own text (pipeline-dsl/patterns/), in two flavours that
//! share their primitives: `legacy` field names (`clientip`, `verb`, …) and ECS v1
//! names (`[source][address]`, `[http][request][method]`, …), chosen by
//! `ecs_compatibility` exactly as Logstash does.

use std::collections::HashMap;
use std::path::Path;

const CORE: &str = include_str!("../../../patterns/core.grok");
const LEGACY: &str = include_str!("../../../patterns/legacy.grok");
const ECS_V1: &str = include_str!("../../../patterns/ecs-v1.grok");

/// Field naming flavour of the built-in patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `ecs_compatibility => disabled`
    Legacy,
    /// `ecs_compatibility => v1` (also `v8`)
    EcsV1,
}

/// Pattern name → definition.
#[derive(Debug, Clone, Default)]
pub struct Library {
    patterns: HashMap<String, String>,
}

impl Library {
    /// The built-in library in the given flavour.
    pub fn builtin(flavour: Flavour) -> Self {
        let mut lib = Library::default();
        lib.add_text(CORE);
        lib.add_text(match flavour {
            Flavour::Legacy => LEGACY,
            Flavour::EcsV1 => ECS_V1,
        });
        lib
    }

    /// Adds definitions from pattern-file text: `NAME regex` per line, `#` comments.
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, def) = match line.split_once([' ', '\t']) {
                Some((n, d)) => (n, d.trim_start()),
                None => continue,
            };
            self.patterns.insert(name.to_string(), def.trim_end_matches(['\r', '\n']).to_string());
        }
    }

    /// Adds every file in `dir` (or the single file `dir`), sorted by name.
    pub fn add_path(&mut self, path: &Path) -> std::io::Result<()> {
        if path.is_dir() {
            let mut files: Vec<_> =
                std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
            files.sort();
            for f in files {
                self.add_text(&std::fs::read_to_string(&f)?);
            }
        } else {
            self.add_text(&std::fs::read_to_string(path)?);
        }
        Ok(())
    }

    /// Adds one definition.
    pub fn define(&mut self, name: &str, definition: &str) {
        self.patterns.insert(name.to_string(), definition.to_string());
    }

    /// Every defined name, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.patterns.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The definition of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.patterns.get(name).map(String::as_str)
    }
}
