//! The layouts of SQL migration folders, the header comment that gives a
//! SQL migration its metadata, and what a migration's files amount to (its
//! texts and checksum). `std` and `sha2` only: the `#[migration]` crate
//! compiles this same file to embed a folder at build time, so a folder
//! embedded and a folder loaded at run time are read alike.
//!
//! Layouts, which may be mixed in one folder:
//! - ours: `V<version>__<name>.sql`, with an optional `V<version>__<name>.down.sql`;
//! - sqlx: `<version>_<name>.sql`, or `<version>_<name>.up.sql` with `.down.sql`;
//! - diesel: a folder `<version>_<name>/` holding `up.sql` and `down.sql`, where
//!   the version may be written `2024-01-15-093000` or `2024-01-15-093000-0000`
//!   (diesel's version is the part before the first `_` with every `-` removed,
//!   and a `-0000` suffix is dropped so that both styles order by time),
//!   and `metadata.toml` may say `run_in_transaction = false`.
//!
//! A header comment of `-- migrations-rs: key = value, ...` lines, before the
//! first statement of the up file, sets `depends_on = [versions]`,
//! `risk = [tags]`, `allow = [rules]`, `transaction = false` and
//! `irreversible`; sqlx's `-- no-transaction` first line also means
//! `transaction = false`. Other files (a README, a `.txt`) are not migrations
//! and are listed as ignored; a `.sql` file whose name fits no layout is an error.

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// One SQL migration found in a folder, before its files are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMigrationFiles {
    pub version: u64,
    pub name: String,
    pub up: PathBuf,
    pub down: Option<PathBuf>,
    /// diesel's `metadata.toml` says `run_in_transaction = false`.
    pub no_transaction: bool,
}

/// What a folder holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderContents {
    /// In version order.
    pub migrations: Vec<SqlMigrationFiles>,
    /// Files and folders that are not migrations.
    pub ignored: Vec<PathBuf>,
}

/// One SQL migration with its files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMigration {
    pub files: SqlMigrationFiles,
    pub header: Header,
    pub up: String,
    /// The down file's text; `None` without one, or when it holds nothing but comments.
    pub down: Option<String>,
    /// There was a down file, but it held nothing but comments.
    pub empty_down: bool,
    /// SHA-256 of the up text, then a zero byte and the down text if there is one.
    pub checksum: [u8; 32],
}

impl SqlMigration {
    pub fn irreversible(&self) -> bool {
        self.down.is_none()
    }

    /// The up file holds no statement and the header does not say `empty`.
    pub fn empty_up(&self) -> bool {
        is_empty_sql(&self.up) && !self.header.empty
    }

    pub fn transaction(&self) -> bool {
        !(self.files.no_transaction || self.header.no_transaction)
    }
}

/// Reads the files of one migration and its header.
pub fn read(files: SqlMigrationFiles) -> Result<SqlMigration, LayoutError> {
    let text = |path: &Path| std::fs::read_to_string(path).map_err(|e| error(path, format!("cannot be read: {e}")));
    let up = text(&files.up)?;
    let header = header(&up).map_err(|message| error(&files.up, message))?;
    let down = files.down.as_deref().map(text).transpose()?;
    let empty_down = down.as_deref().is_some_and(is_empty_sql);
    let down = down.filter(|sql| !is_empty_sql(sql));
    if header.irreversible && down.is_some() {
        return Err(error(&files.up, "says `irreversible` but has a down file; remove one of them"));
    }
    let mut hasher = Sha256::new();
    hasher.update(up.as_bytes());
    if let Some(down) = &down {
        hasher.update([0]);
        hasher.update(down.as_bytes());
    }
    let checksum = hasher.finalize().into();
    Ok(SqlMigration { files, header, up, down, empty_down, checksum })
}

/// Metadata from the header comment of an up file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub depends_on: Vec<u64>,
    pub risk: Vec<String>,
    pub allow: Vec<String>,
    pub no_transaction: bool,
    pub irreversible: bool,
    /// `empty`: the migration is meant to change nothing.
    pub empty: bool,
}

/// A folder or file that cannot be read as migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

fn error(path: &Path, message: impl Into<String>) -> LayoutError {
    LayoutError { path: path.to_owned(), message: message.into() }
}

const NAMING: &str = "name it V<version>__<name>.sql (with an optional .down.sql), <version>_<name>.sql or \
                      .up.sql/.down.sql, or <version>_<name>/up.sql, or move it out of the migrations folder";

/// Lists the migrations of `dir` in version order.
pub fn scan(dir: &Path) -> Result<FolderContents, LayoutError> {
    let entries = std::fs::read_dir(dir).map_err(|e| error(dir, format!("cannot read the migrations folder: {e}")))?;
    let mut contents = FolderContents::default();
    let mut downs: Vec<(u64, String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| error(dir, format!("cannot read the migrations folder: {e}")))?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            match diesel_folder(&path, &file_name)? {
                Some(migration) => contents.migrations.push(migration),
                None => contents.ignored.push(path),
            }
            continue;
        }
        let Some(stem) = file_name.strip_suffix(".sql") else {
            contents.ignored.push(path);
            continue;
        };
        let (stem, down) = match stem.strip_suffix(".down") {
            Some(stem) => (stem, true),
            None => (stem.strip_suffix(".up").unwrap_or(stem), false),
        };
        let (version, name) = file_version_and_name(stem).ok_or_else(|| error(&path, NAMING))?;
        if down {
            downs.push((version, name, path));
        } else {
            contents.migrations.push(SqlMigrationFiles { version, name, up: path, down: None, no_transaction: false });
        }
    }
    for (version, name, path) in downs {
        let up = contents.migrations.iter_mut().find(|m| m.version == version && m.name == name);
        match up {
            Some(migration) => migration.down = Some(path),
            None => return Err(error(&path, "a down file without an up file of the same version and name")),
        }
    }
    contents.migrations.sort_by(|a, b| a.version.cmp(&b.version).then_with(|| a.up.cmp(&b.up)));
    for pair in contents.migrations.windows(2) {
        if pair[0].version == pair[1].version {
            return Err(error(
                &pair[1].up,
                format!(
                    "version {} is also used by {}; give each migration its own version",
                    pair[0].version,
                    pair[0].up.display()
                ),
            ));
        }
    }
    contents.ignored.sort();
    Ok(contents)
}

/// `V20240115093000__name`, `20240115093000_name` or `0001_name`.
fn file_version_and_name(stem: &str) -> Option<(u64, String)> {
    let (digits, name) = match stem.strip_prefix('V') {
        Some(rest) => rest.split_once("__")?,
        None => stem.split_once('_')?,
    };
    Some((parse_digits(digits)?, non_empty(name)?))
}

/// A diesel folder `<version>_<name>` holding `up.sql`; `None` for any other folder.
fn diesel_folder(path: &Path, folder: &str) -> Result<Option<SqlMigrationFiles>, LayoutError> {
    let up = path.join("up.sql");
    if !up.is_file() {
        return Ok(None);
    }
    let (stamp, name) = folder.split_once('_').ok_or_else(|| error(path, NAMING))?;
    let mut digits: String = stamp.chars().filter(|c| *c != '-').collect();
    // `2024-01-15-093000-0000` is `2024-01-15-093000`: both styles, often mixed
    // in one folder, then order by time.
    if digits.len() == 18 && digits.ends_with("0000") {
        digits.truncate(14);
    }
    let version = parse_digits(&digits).ok_or_else(|| error(path, NAMING))?;
    let name = non_empty(name).ok_or_else(|| error(path, NAMING))?;
    let down = Some(path.join("down.sql")).filter(|p| p.is_file());
    let metadata = path.join("metadata.toml");
    let no_transaction = match std::fs::read_to_string(&metadata) {
        Ok(text) => text.lines().any(|line| {
            let line: String = line.chars().filter(|c| !c.is_whitespace()).collect();
            line == "run_in_transaction=false"
        }),
        Err(_) => false,
    };
    Ok(Some(SqlMigrationFiles { version, name, up, down, no_transaction }))
}

fn parse_digits(digits: &str) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn non_empty(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Reads the header comment of an up file.
pub fn header(sql: &str) -> Result<Header, String> {
    let mut header = Header::default();
    for (index, line) in sql.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else { break };
        let comment = comment.trim();
        if index == 0 && comment == "no-transaction" {
            header.no_transaction = true;
        }
        let Some(settings) = comment.strip_prefix("migrations-rs:") else { continue };
        for (key, value) in entries(settings).map_err(|e| format!("line {}: {e}", index + 1))? {
            let line_error = |message: String| format!("line {}: {message}", index + 1);
            match (key.as_str(), value) {
                ("depends_on", Some(value)) => {
                    for item in list(&value) {
                        let digits: String = item.chars().filter(|c| *c != '_').collect();
                        let version = parse_digits(&digits)
                            .ok_or_else(|| line_error(format!("`{item}` in depends_on is not a version")))?;
                        header.depends_on.push(version);
                    }
                }
                ("risk", Some(value)) => header.risk.extend(list(&value)),
                ("allow", Some(value)) => header.allow.extend(list(&value)),
                ("transaction", Some(value)) if value == "false" => header.no_transaction = true,
                ("transaction", Some(value)) if value == "true" => header.no_transaction = false,
                ("irreversible", None) => header.irreversible = true,
                ("empty", None) => header.empty = true,
                (key, _) => {
                    return Err(line_error(format!(
                        "cannot read `{key}` here; the keys are depends_on = [versions], risk = [tags], \
                         allow = [rules], transaction = false, irreversible and empty"
                    )));
                }
            }
        }
    }
    Ok(header)
}

/// `key = value` pairs separated by commas outside brackets.
fn entries(settings: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    let bytes = settings.as_bytes();
    for i in 0..=bytes.len() {
        let at_end = i == bytes.len();
        match bytes.get(i) {
            Some(b'[') => depth += 1,
            Some(b']') => depth -= 1,
            _ => {}
        }
        if at_end || (bytes[i] == b',' && depth == 0) {
            let part = settings[start..i].trim();
            start = i + 1;
            if part.is_empty() {
                continue;
            }
            match part.split_once('=') {
                Some((key, value)) => out.push((key.trim().to_owned(), Some(value.trim().to_owned()))),
                None => out.push((part.to_owned(), None)),
            }
        }
    }
    if depth != 0 { Err("a `[` is not closed".to_owned()) } else { Ok(out) }
}

/// `[a, b]` or `a`.
fn list(value: &str) -> Vec<String> {
    let inner = value.trim().trim_start_matches('[').trim_end_matches(']');
    inner.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Whether a down file does nothing: empty, or only comments and whitespace.
pub fn is_empty_sql(sql: &str) -> bool {
    sql.lines().map(str::trim).all(|line| line.is_empty() || line.starts_with("--"))
}
