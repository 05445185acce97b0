//! `logship console`: the live streaming-health terminal UI (ratatui + crossterm).
//!
//! Placeholder crate that fixes the workspace layout of DESIGN.md; the console itself is
//! issue 5 and depends on the agent's control API (issue 3) and snapshot (issue 4).
#![forbid(unsafe_code)]
