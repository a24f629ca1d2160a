//! A fleet's errors: a target list that cannot be used as given, or an
//! operation the list cannot be given.

/// Why a list of targets, or a share of it, was refused before anything ran.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The list names one database or schema more than once.
    #[error("the target list names {} more than once: {}; give each target once", plural(names.len()), names.join(", "))]
    DuplicateTargets {
        /// Each target given twice or more, as its report name and where it is (no password).
        names: Vec<String>,
    },

    /// A schema name that is not a plain identifier.
    #[error(
        "`{name}` is not a plain schema name: use letters, digits and underscores, starting with a letter or \
         underscore, at most 63 characters"
    )]
    InvalidSchemaName {
        /// The name as given.
        name: String,
    },

    /// Schemas as targets on a backend that has none.
    #[error("schemas as targets need PostgreSQL, and {url} is a {backend} database")]
    SchemasNeedPostgres {
        /// The database URL, without its password.
        url: String,
        /// Its backend.
        backend: String,
    },

    /// A share of the targets that is not `K/N` with `K < N`.
    #[error("`{given}` is not a shard: {reason}")]
    InvalidShard {
        /// The share as given.
        given: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A target list file that cannot be read.
    #[error("cannot read the target list {path}: {cause}")]
    UnreadableList {
        /// The file.
        path: String,
        /// Why.
        cause: String,
    },

    /// `drift` over schemas of a PostgreSQL database: the live schema is read
    /// from every schema of the database, so one schema's drift cannot be
    /// told apart from its neighbours'.
    #[error(
        "drift cannot run over schema targets ({}): it reads the tables of every schema of the database, so one \
         tenant's schema cannot be compared alone; give the databases as targets instead (Target::url; --target, \
         --targets or --targets-query rather than --schema or --schemas-query)",
        schemas.join(", ")
    )]
    DriftOverSchemas {
        /// The schema targets given.
        schemas: Vec<String>,
    },

    /// A `drift` option that works on one database at a time, given to a fleet.
    #[error("drift over a fleet cannot {what}: {why}")]
    DriftOptionOverFleet {
        /// What the option does.
        what: String,
        /// Why a fleet cannot, and what to do instead.
        why: String,
    },

    /// A line of a target list that is not a database URL.
    #[error("{source_name}, line {line}: {reason}")]
    InvalidLine {
        /// Where the line came from: a file, or the query.
        source_name: String,
        /// Its number, from 1.
        line: usize,
        /// What is wrong with it (URLs shown without their password).
        reason: String,
    },
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "a target" } else { "targets" }
}
