//! `create`: writes a new migration file from a template, with a fresh UTC
//! timestamp as its version, and wires it into the folder's `mod.rs` so it
//! compiles and registers with no other edit.

use migrations_rs_runtime::{Error, Registry, Version};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// What `create` wrote.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Created {
    pub version: Version,
    pub file: PathBuf,
    /// The `mod.rs` a Rust migration was wired into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module_file: Option<PathBuf>,
    /// The down file of a SQL migration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub down_file: Option<PathBuf>,
    /// The folder was new: the crate root still needs `mod <folder>;`.
    pub new_folder: bool,
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "static",
    "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "gen", "abstract", "become", "box",
    "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual", "yield", "try",
];

pub(crate) fn create_rust(
    registry: &Registry,
    dir: &Path,
    name: &str,
    depends_on: &[Version],
    risk: &[String],
    now: SystemTime,
) -> Result<Created, Error> {
    let new_folder = prepare(registry, dir, name, depends_on)?;
    let version =
        free_version(now, |version| Ok(registry.get(version).is_some() || files_with_version(dir, version)?))?;
    let file = dir.join(format!("m{version}_{name}.rs"));
    std::fs::write(&file, template(version, name, depends_on, risk))
        .map_err(|e| Error::msg(format!("cannot write {}: {e}", file.display())))?;
    let module_file = dir.join("mod.rs");
    let mut module = std::fs::read_to_string(&module_file).unwrap_or_else(|_| {
        "//! The migrations of this program, one file each. `migrate create` adds to this list.\n\n".to_owned()
    });
    if !module.ends_with('\n') && !module.is_empty() {
        module.push('\n');
    }
    let _ = writeln!(
        module,
        "mod m{version}_{name};\n#[allow(unused_imports)] // lets other migrations say `depends_on = [super::{name}]`\n\
         pub use m{version}_{name}::{name};"
    );
    std::fs::write(&module_file, module)
        .map_err(|e| Error::msg(format!("cannot write {}: {e}", module_file.display())))?;
    Ok(Created { version, file, module_file: Some(module_file), down_file: None, new_folder })
}

/// Writes `V<version>__NAME.sql` and `V<version>__NAME.down.sql` in a folder of SQL migrations.
pub(crate) fn create_sql(
    registry: &Registry,
    dir: &Path,
    name: &str,
    depends_on: &[Version],
    risk: &[String],
    now: SystemTime,
) -> Result<Created, Error> {
    let new_folder = prepare(registry, dir, name, depends_on)?;
    let version = free_version(now, |version| Ok(registry.get(version).is_some()))?;
    let up = dir.join(format!("V{version}__{name}.sql"));
    let down = dir.join(format!("V{version}__{name}.down.sql"));
    let mut header = Vec::new();
    if !depends_on.is_empty() {
        let list: Vec<String> = depends_on.iter().map(ToString::to_string).collect();
        header.push(format!("depends_on = [{}]", list.join(", ")));
    }
    if !risk.is_empty() {
        header.push(format!("risk = [{}]", risk.join(", ")));
    }
    let header = if header.is_empty() {
        "-- migrations-rs: risk = [schema]".to_owned()
    } else {
        format!("-- migrations-rs: {}", header.join(", "))
    };
    let up_text = format!(
        "{header}\n-- Say what this migration changes, and why. Statements end with `;`.\n\
         -- Until it holds a statement, `up` refuses it; one meant to change nothing says `empty` in the header.\n\n"
    );
    let down_text = "-- Undo what the up file did. Delete this file if the migration cannot be undone.\n";
    for (path, text) in [(&up, up_text.as_str()), (&down, down_text)] {
        std::fs::write(path, text).map_err(|e| Error::msg(format!("cannot write {}: {e}", path.display())))?;
    }
    Ok(Created { version, file: up, module_file: None, down_file: Some(down), new_folder })
}

/// Checks the name and the dependencies, then makes sure the folder exists; whether it is new.
fn prepare(registry: &Registry, dir: &Path, name: &str, depends_on: &[Version]) -> Result<bool, Error> {
    check_name(registry, dir, name)?;
    for version in depends_on {
        if registry.get(*version).is_none() {
            return Err(Error::msg(format!(
                "--depends-on {version}: no migration of this program has that version; run `status` to list them"
            )));
        }
    }
    let new_folder = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| Error::msg(format!("cannot create {}: {e}", dir.display())))?;
    Ok(new_folder)
}

/// The current UTC time as a version, a second later while `taken` says it is in use.
fn free_version(now: SystemTime, taken: impl Fn(Version) -> Result<bool, Error>) -> Result<Version, Error> {
    let mut moment = now;
    loop {
        let version = timestamp(moment);
        if !taken(version)? {
            return Ok(version);
        }
        moment += Duration::from_secs(1);
    }
}

fn check_name(registry: &Registry, dir: &Path, name: &str) -> Result<(), Error> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !well_formed || KEYWORDS.contains(&name) {
        return Err(Error::msg(format!(
            "`{name}` cannot name a migration: use lowercase letters, digits and underscores, starting with a letter, \
             and no Rust keyword (for example `add_user_avatars`)"
        )));
    }
    if let Some(existing) = registry.in_order().find(|m| m.name == name) {
        return Err(Error::msg(format!(
            "the name `{name}` is taken by migration {} ({}); choose another",
            existing.version,
            existing.location()
        )));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            let stem = file
                .strip_suffix(".rs")
                .or_else(|| file.strip_suffix(".down.sql"))
                .or_else(|| file.strip_suffix(".sql"));
            if stem
                .is_some_and(|stem| stem.split_once('_').is_some_and(|(_, rest)| rest.trim_start_matches('_') == name))
            {
                return Err(Error::msg(format!(
                    "the name `{name}` is taken by {}; choose another",
                    entry.path().display()
                )));
            }
        }
    }
    Ok(())
}

fn files_with_version(dir: &Path, version: Version) -> Result<bool, Error> {
    let prefix = format!("m{version}_");
    Ok(std::fs::read_dir(dir)
        .map_err(|e| Error::msg(format!("cannot read {}: {e}", dir.display())))?
        .flatten()
        .any(|entry| entry.file_name().to_string_lossy().starts_with(&prefix)))
}

/// `YYYYMMDDHHMMSS` in UTC.
fn timestamp(moment: SystemTime) -> Version {
    let text = humantime::format_rfc3339_seconds(moment).to_string();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    Version::parse(&digits).expect("an RFC 3339 time has 14 digits")
}

fn underscored(version: Version) -> String {
    let digits = version.to_string();
    if digits.len() == 14 {
        format!("{}_{}_{}_{}", &digits[..4], &digits[4..6], &digits[6..8], &digits[8..])
    } else {
        digits
    }
}

fn template(version: Version, name: &str, depends_on: &[Version], risk: &[String]) -> String {
    let mut attribute = format!("version = {}", underscored(version));
    if !depends_on.is_empty() {
        let list: Vec<String> = depends_on.iter().map(|v| underscored(*v)).collect();
        let _ = write!(attribute, ", depends_on = [{}]", list.join(", "));
    }
    if !risk.is_empty() {
        let _ = write!(attribute, ", risk = [{}]", risk.join(", "));
    }
    format!(
        r#"use migrations_rs::prelude::*;

/// Say what this migration changes, and why.
#[migration({attribute})]
pub mod {name} {{
    use super::*;

    /// Rename `_db` to `db` and make the change, for example
    /// `db.exec(Table::alter().table("users").add_column(ColumnDef::new("avatar").string())).await`.
    /// While `up` is only `Ok(())`, `lint` reports an empty migration and `up`
    /// refuses to apply it; a migration meant to change nothing says `empty`
    /// in its attribute.
    pub async fn up(_db: &mut Db<'_>) -> Result<()> {{
        Ok(())
    }}

    /// Undo what `up` did. A migration that cannot be undone drops `down`
    /// and says `irreversible` in its attribute.
    pub async fn down(_db: &mut Db<'_>) -> Result<()> {{
        Ok(())
    }}
}}
"#
    )
}
