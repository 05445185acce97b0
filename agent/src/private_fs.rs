//! Files and directories only the agent's user can read: the data directory holds
//! checkpoints, open windows and dead-letter files, and dead-letter files hold raw log
//! lines, often personal data. Directories are created 0700 and files 0600 (existing
//! ones keep the permissions an operator gave them).

use std::fs::{DirBuilder, File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// `mkdir -p` with mode 0700 for every directory it creates.
pub fn create_dir_all(path: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(path)
}

/// Creates (or truncates) `path` for writing, mode 0600 when new.
pub fn create(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

/// Opens `path` for appending, created with mode 0600 when new.
pub fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn owner_only() {
        let base = crate::test_support::temp_dir("private-fs");
        let dir = base.join("a/b");
        super::create_dir_all(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&base.join("a")), 0o700);
        super::create(&dir.join("f")).unwrap();
        super::append(&dir.join("g")).unwrap();
        assert_eq!(mode(&dir.join("f")), 0o600);
        assert_eq!(mode(&dir.join("g")), 0o600);
    }
}
