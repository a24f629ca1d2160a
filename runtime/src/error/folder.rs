//! The SQL folder's error: a file or folder that cannot be read as SQL
//! migrations, and why.

use std::path::PathBuf;

/// A file or folder of SQL migrations that cannot be read, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct SqlFolderError {
    /// The file or folder.
    pub path: PathBuf,
    /// What is wrong with it.
    pub message: String,
}
