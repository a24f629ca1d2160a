//! The layouts of SQL migration folders, the header comment that gives a
//! SQL migration its metadata, and what a migration's files amount to (its
//! texts and checksum). The `sql_migrations!` macro reads a folder with
//! this module at build time and the runtime at run time, so a folder
//! embedded and a folder loaded at run time are read alike.
//!
//! Layouts, each read by its tool's own rules (README has the table):
//! - ours: `V<version>__<name>.sql`, with an optional `V<version>__<name>.down.sql`;
//! - sqlx: `<version>_<name>.sql`, or `<version>_<name>.up.sql` with `.down.sql`,
//!   ordered by the number; `-- no-transaction` at the very start of the file
//!   runs it outside a transaction, as sqlx does;
//! - diesel: a folder `<version>_<name>/` holding `up.sql` and `down.sql`. The
//!   version is the part of the folder's name before the first `_` with every
//!   `-` removed, so `2024-01-15-093000` is `20240115093000` and
//!   `2024-01-15-093000-0000` is the distinct `202401150930000000`; diesel
//!   orders versions as strings, and so does a folder holding diesel
//!   migrations: each of its migrations runs after the one before it in that
//!   order. diesel reads only folders, so the files at the top of such a
//!   folder (a README, a loose data script) are not migrations, except ours.
//!   `metadata.toml` may say `run_in_transaction = false`.
//!
//! Versions are non-negative and at most `i64::MAX`, the largest number the
//! history table's integer column holds; a larger one is an error naming the file.
//!
//! A header comment of `-- migrations-rs: key = value, ...` lines, before the
//! first statement of the up file, sets `depends_on = [versions]`,
//! `risk = [tags]`, `allow = [rules]`, `transaction = false`,
//! `lock_wait = 10s` (how long each statement waits for a lock) and
//! `irreversible`. Other files (a README, a `.txt`) are not migrations and are
//! listed as ignored; in a folder without diesel migrations, a `.sql` file
//! whose name fits no layout is an error. Flyway's callback names at the top
//! of a folder (`beforeMigrate.sql`, `afterMigrate.sql`,
//! `beforeEachMigrate.sql`, `afterEachMigrate.sql`) are hooks, not migrations.

use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};

/// One SQL migration found in a folder, before its files are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMigrationFiles {
    /// The version read from the name.
    pub version: u64,
    /// The layout the name follows.
    pub layout: Layout,
    /// The name part after the version.
    pub name: String,
    /// The file applied by `up`.
    pub up: PathBuf,
    /// The file applied by `down`, if there is one.
    pub down: Option<PathBuf>,
    /// diesel's `metadata.toml` says `run_in_transaction = false`.
    pub no_transaction: bool,
    /// The migration before this one in its tool's order, where that order is
    /// not the order of the numbers (a folder of diesel migrations): this one
    /// depends on it, so that the planner runs them in the tool's order.
    pub after: Option<u64>,
}

/// Which tool's naming a migration follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `V<version>__<name>.sql`.
    Ours,
    /// `<version>_<name>.sql` or `.up.sql` / `.down.sql`.
    Sqlx,
    /// A folder `<version>_<name>/` holding `up.sql`.
    Diesel,
}

/// The largest version: the history table keeps versions in a signed 64-bit integer.
pub const MAX_VERSION: u64 = i64::MAX as u64;

/// What a folder holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderContents {
    /// In the folder's order: diesel's string order of versions when the
    /// folder holds diesel migrations, else the order of the numbers.
    pub migrations: Vec<SqlMigrationFiles>,
    /// Files and folders that are not migrations.
    pub ignored: Vec<PathBuf>,
    /// Hook files found at the top of the folder.
    pub hooks: Vec<(HookPoint, PathBuf)>,
}

/// When a hook file runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPoint {
    /// Before the first step of a run that has steps.
    BeforeRun,
    /// After the last step of a run that succeeded.
    AfterRun,
    /// Before each step.
    BeforeEach,
    /// After each step that succeeded.
    AfterEach,
}

impl HookPoint {
    /// Every hook point, in the order a run reaches them.
    pub const ALL: [HookPoint; 4] =
        [HookPoint::BeforeRun, HookPoint::AfterRun, HookPoint::BeforeEach, HookPoint::AfterEach];

    /// The file that holds the hook, named as Flyway names its callbacks.
    pub const fn file_name(self) -> &'static str {
        match self {
            HookPoint::BeforeRun => "beforeMigrate.sql",
            HookPoint::AfterRun => "afterMigrate.sql",
            HookPoint::BeforeEach => "beforeEachMigrate.sql",
            HookPoint::AfterEach => "afterEachMigrate.sql",
        }
    }
}

/// One SQL migration with its files read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlMigration {
    /// Where the migration's files are.
    pub files: SqlMigrationFiles,
    /// What its header comment says.
    pub header: Header,
    /// The up file's text.
    pub up: String,
    /// The down file's text; `None` without one, or when it is empty or blank.
    /// A down of comments only is kept: it runs nothing, on purpose.
    pub down: Option<String>,
    /// There was a down file, but it was empty or blank.
    pub empty_down: bool,
    /// SHA-256 of the up text, then a zero byte and the down text if there is one.
    pub checksum: [u8; 32],
}

impl SqlMigration {
    /// Whether the migration has no `down`: no down file, or an empty one.
    pub fn irreversible(&self) -> bool {
        self.down.is_none()
    }

    /// The up file holds no statement and the header does not say `empty`.
    pub fn empty_up(&self) -> bool {
        is_empty_sql(&self.up) && !self.header.empty
    }

    /// Whether the migration runs inside a transaction.
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
    // A 0-byte or blank down file says nothing: the migration has no down.
    // One holding only comments says there is nothing to undo: it runs
    // nothing, and reverting it succeeds.
    let empty_down = down.as_deref().is_some_and(|sql| sql.trim().is_empty());
    let down = down.filter(|sql| !sql.trim().is_empty());
    if header.irreversible && down.is_some() {
        return Err(error(&files.up, "says `irreversible` but has a down file; remove one of them"));
    }
    let mut hasher = Sha256::new();
    hasher.update(up.as_bytes());
    // A down of `--` comments only is left out, as it was when it counted as
    // no down file (the rule of that time, so recorded checksums stay valid).
    let line_comments_only = |sql: &str| sql.lines().map(str::trim).all(|l| l.is_empty() || l.starts_with("--"));
    if let Some(down) = down.as_deref().filter(|sql| !line_comments_only(sql)) {
        hasher.update([0]);
        hasher.update(down.as_bytes());
    }
    let checksum = hasher.finalize().into();
    Ok(SqlMigration { files, header, up, down, empty_down, checksum })
}

/// Metadata from the header comment of an up file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `depends_on = [versions]`.
    pub depends_on: Vec<u64>,
    /// `risk = [tags]`.
    pub risk: Vec<String>,
    /// `allow = [rules]`.
    pub allow: Vec<String>,
    /// `transaction = false`, or sqlx's `-- no-transaction`, or diesel's `run_in_transaction = false`.
    pub no_transaction: bool,
    /// `irreversible`.
    pub irreversible: bool,
    /// `empty`: the migration is meant to change nothing.
    pub empty: bool,
    /// `lock_wait = 10s`: how long each of its statements waits for a lock,
    /// instead of the run's lock wait.
    pub lock_wait: Option<std::time::Duration>,
}

/// A folder or file that cannot be read as migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutError {
    /// The file or folder the problem is in.
    pub path: PathBuf,
    /// What is wrong with it.
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

/// A top-level file of a folder, before the folder's layout is known.
struct TopFile {
    path: PathBuf,
    /// `(version, name, is_down, layout)` when the name fits ours or sqlx's layout.
    parsed: Result<(u64, String, bool, Layout), LayoutError>,
    ours: bool,
}

/// Lists the migrations of `dir` in the folder's order (see the module's documentation).
pub fn scan(dir: &Path) -> Result<FolderContents, LayoutError> {
    let entries = std::fs::read_dir(dir).map_err(|e| error(dir, format!("cannot read the migrations folder: {e}")))?;
    let mut contents = FolderContents::default();
    let mut files: Vec<TopFile> = Vec::new();
    let mut diesel: Vec<(String, SqlMigrationFiles)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| error(dir, format!("cannot read the migrations folder: {e}")))?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        if file_name.starts_with('.') {
            continue;
        }
        if path.is_dir() {
            match diesel_folder(&path, &file_name)? {
                Some(found) => diesel.push(found),
                None => contents.ignored.push(path),
            }
            continue;
        }
        if let Some(point) = HookPoint::ALL.into_iter().find(|p| p.file_name() == file_name) {
            contents.hooks.push((point, path));
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
        let ours = is_ours(stem);
        let parsed = file_version_and_name(stem, &path).map(|(version, name, layout)| (version, name, down, layout));
        files.push(TopFile { path, parsed, ours });
    }
    let diesel_folder = !diesel.is_empty();
    let mut downs: Vec<(u64, String, PathBuf)> = Vec::new();
    let mut keyed: Vec<(String, SqlMigrationFiles)> = diesel;
    for file in files {
        // diesel reads only folders: beside them, only our own files are migrations.
        if diesel_folder && !file.ours {
            contents.ignored.push(file.path);
            continue;
        }
        let (version, name, down, layout) = file.parsed?;
        if down {
            downs.push((version, name, file.path));
        } else {
            let key = version_text(&file.path);
            let files = SqlMigrationFiles {
                version,
                layout,
                name,
                up: file.path,
                down: None,
                no_transaction: false,
                after: None,
            };
            keyed.push((key, files));
        }
    }
    for (version, name, path) in downs {
        let up = keyed.iter_mut().find(|(_, m)| m.version == version && m.name == name);
        match up {
            Some((_, migration)) => migration.down = Some(path),
            None => return Err(error(&path, "a down file without an up file of the same version and name")),
        }
    }
    let mut by_number: Vec<&SqlMigrationFiles> = keyed.iter().map(|(_, m)| m).collect();
    by_number.sort_by(|a, b| a.version.cmp(&b.version).then_with(|| a.up.cmp(&b.up)));
    for pair in by_number.windows(2) {
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
    if diesel_folder {
        // diesel's order: the version strings compared as strings.
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.version.cmp(&b.1.version)));
        let mut before = None;
        for (_, migration) in &mut keyed {
            migration.after = before;
            before = Some(migration.version);
        }
    } else {
        keyed.sort_by_key(|(_, m)| m.version);
    }
    contents.migrations = keyed.into_iter().map(|(_, m)| m).collect();
    contents.ignored.sort();
    Ok(contents)
}

/// The version as the file's or folder's name writes it (`-` removed), which
/// diesel compares as a string.
fn version_text(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let name = name.strip_prefix('V').filter(|rest| rest.contains("__")).unwrap_or(&name);
    name.split('_').next().unwrap_or_default().chars().filter(|c| *c != '-').collect()
}

/// `V<digits>__...`: our own layout.
fn is_ours(stem: &str) -> bool {
    stem.strip_prefix('V')
        .and_then(|rest| rest.split_once("__"))
        .is_some_and(|(digits, _)| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// `V20240115093000__name` (ours), `20240115093000_name` or `0001_name` (sqlx).
fn file_version_and_name(stem: &str, path: &Path) -> Result<(u64, String, Layout), LayoutError> {
    let (digits, name, layout) = if is_ours(stem) {
        let (digits, name) = stem[1..].split_once("__").expect("checked by is_ours");
        (digits, name, Layout::Ours)
    } else {
        let (digits, name) = stem.split_once('_').ok_or_else(|| error(path, NAMING))?;
        (digits, name, Layout::Sqlx)
    };
    let version = parse_version(digits).map_err(|problem| problem.error(path, digits))?;
    let name = non_empty(name).ok_or_else(|| error(path, NAMING))?;
    Ok((version, name, layout))
}

/// A diesel folder `<version>_<name>` holding `up.sql`, with diesel's version
/// string; `None` for any other folder.
fn diesel_folder(path: &Path, folder: &str) -> Result<Option<(String, SqlMigrationFiles)>, LayoutError> {
    let up = path.join("up.sql");
    if !up.is_file() {
        return Ok(None);
    }
    let (stamp, name) = folder.split_once('_').ok_or_else(|| error(path, NAMING))?;
    let digits: String = stamp.chars().filter(|c| *c != '-').collect();
    let version = parse_version(&digits).map_err(|problem| problem.error(path, &digits))?;
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
    let files = SqlMigrationFiles { version, layout: Layout::Diesel, name, up, down, no_transaction, after: None };
    Ok(Some((digits, files)))
}

/// Why a run of characters is not a version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionProblem {
    /// Characters other than digits.
    NotDigits,
    /// Digits, but a number above [`MAX_VERSION`].
    TooLarge,
}

impl VersionProblem {
    fn error(self, path: &Path, digits: &str) -> LayoutError {
        match self {
            VersionProblem::NotDigits => error(path, NAMING),
            VersionProblem::TooLarge => error(path, too_large(digits)),
        }
    }
}

fn too_large(digits: &str) -> String {
    format!(
        "version {digits} is larger than {MAX_VERSION}, the largest the history table's 64-bit integer holds; \
         give it a smaller version"
    )
}

/// A version written in decimal digits, at most [`MAX_VERSION`].
pub fn parse_version(digits: &str) -> Result<u64, VersionProblem> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VersionProblem::NotDigits);
    }
    match digits.parse::<u64>() {
        Ok(version) if version <= MAX_VERSION => Ok(version),
        _ => Err(VersionProblem::TooLarge),
    }
}

fn non_empty(name: &str) -> Option<String> {
    let name = name.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

/// Reads the header comment of an up file.
pub fn header(sql: &str) -> Result<Header, String> {
    // sqlx's own test, byte for byte: the file starts with `-- no-transaction`.
    let mut header = Header { no_transaction: sql.starts_with("-- no-transaction"), ..Header::default() };
    for (index, line) in sql.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(comment) = line.strip_prefix("--") else { break };
        let comment = comment.trim();
        let Some(settings) = comment.strip_prefix("migrations-rs:") else { continue };
        // `-- migrations-rs: allow <rule>` acknowledges the statement after it, not the file.
        let inline_allow = settings
            .trim_start()
            .strip_prefix("allow")
            .is_some_and(|rest| rest.starts_with(char::is_whitespace) && !rest.trim_start().starts_with('='));
        if inline_allow {
            continue;
        }
        for (key, value) in entries(settings).map_err(|e| format!("line {}: {e}", index + 1))? {
            let line_error = |message: String| format!("line {}: {message}", index + 1);
            match (key.as_str(), value) {
                ("depends_on", Some(value)) => {
                    for item in list(&value) {
                        let digits: String = item.chars().filter(|c| *c != '_').collect();
                        let version = parse_version(&digits).map_err(|problem| match problem {
                            VersionProblem::NotDigits => line_error(format!("`{item}` in depends_on is not a version")),
                            VersionProblem::TooLarge => line_error(too_large(&digits)),
                        })?;
                        header.depends_on.push(version);
                    }
                }
                ("risk", Some(value)) => header.risk.extend(list(&value)),
                ("allow", Some(value)) => header.allow.extend(list(&value)),
                ("transaction", Some(value)) if value == "false" => header.no_transaction = true,
                ("transaction", Some(value)) if value == "true" => header.no_transaction = false,
                ("irreversible", None) => header.irreversible = true,
                ("empty", None) => header.empty = true,
                ("lock_wait", Some(value)) => {
                    let wait = crate::wait::parse_wait(value.trim_matches('"'))
                        .map_err(|why| line_error(format!("lock_wait: {why}")))?;
                    header.lock_wait = Some(wait);
                }
                (key, _) => {
                    return Err(line_error(format!(
                        "cannot read `{key}` here; the keys are depends_on = [versions], risk = [tags], \
                         allow = [rules], transaction = false, lock_wait = <duration>, irreversible and empty"
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

/// Whether SQL holds no statement: empty, or only comments (`--` lines and
/// `/* … */` blocks, nested as PostgreSQL nests them) and whitespace. An
/// unclosed block comment is not empty: the lexer reports it.
pub fn is_empty_sql(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    while !rest.is_empty() {
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.split_once('\n').map_or("", |(_, after)| after);
        } else if rest.starts_with("/*") {
            let mut depth = 0usize;
            let mut end = None;
            let bytes = rest.as_bytes();
            let mut i = 0;
            while i + 1 < bytes.len() {
                match (bytes[i], bytes[i + 1]) {
                    (b'/', b'*') => {
                        depth += 1;
                        i += 2;
                    }
                    (b'*', b'/') => {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    _ => i += 1,
                }
            }
            let Some(end) = end else { return false };
            rest = &rest[end..];
        } else {
            return false;
        }
        rest = rest.trim_start();
    }
    true
}

/// The file of a SQL migration's down, from its up file: `up.sql` beside
/// `down.sql` (diesel), `.up.sql` beside `.down.sql` (sqlx), `.sql` beside
/// `.down.sql` (ours).
pub fn down_file_of(up_file: &str) -> String {
    if let Some(folder) = up_file.strip_suffix("up.sql").filter(|f| f.is_empty() || f.ends_with(['/', '\\'])) {
        format!("{folder}down.sql")
    } else if let Some(stem) = up_file.strip_suffix(".up.sql") {
        format!("{stem}.down.sql")
    } else {
        format!("{}.down.sql", up_file.strip_suffix(".sql").unwrap_or(up_file))
    }
}

#[cfg(test)]
mod tests {
    use super::{down_file_of, header};
    use std::time::Duration;

    #[test]
    fn a_header_sets_the_lock_wait_of_its_migration() {
        let read = header("-- migrations-rs: lock_wait = 10s, transaction = false\nALTER TABLE t ADD c INT;").unwrap();
        assert_eq!(read.lock_wait, Some(Duration::from_secs(10)));
        assert_eq!(
            header("-- migrations-rs: lock_wait = \"500ms\"\n").unwrap().lock_wait,
            Some(Duration::from_millis(500))
        );
        assert_eq!(header("SELECT 1;").unwrap().lock_wait, None);
        let zero = header("-- migrations-rs: lock_wait = 0s\n").unwrap_err();
        assert!(zero.contains("line 1") && zero.contains("lock_wait") && zero.contains("zero"), "{zero}");
        assert!(header("-- migrations-rs: lock_wait = soon\n").unwrap_err().contains("not a duration"));
    }

    #[test]
    fn down_files_sit_beside_their_up_files() {
        assert_eq!(down_file_of("m/2024-01-01-000000_a/up.sql"), "m/2024-01-01-000000_a/down.sql");
        assert_eq!(down_file_of("m/1_a.up.sql"), "m/1_a.down.sql");
        assert_eq!(down_file_of("m/V1__a.sql"), "m/V1__a.down.sql");
        assert_eq!(down_file_of("m/V1__setup.sql"), "m/V1__setup.down.sql");
    }
}
