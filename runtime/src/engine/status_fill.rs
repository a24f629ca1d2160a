//! The state of every migration as `status` fills it in, one history row at
//! a time as the rows stream in.

use crate::engine::report::{MigrationState, MigrationStatus};
use crate::error::Result;
use crate::history::{RowState, StatusRow};
use crate::registry::Registry;

/// Every migration pending until its row comes; each row fills in its migration's place.
pub(super) struct StatusFill {
    pub migrations: Vec<MigrationStatus>,
    /// Which places a row has filled.
    pub recorded: Vec<bool>,
    /// Rows seen.
    pub rows: usize,
    /// A version came in more than one row.
    pub repeated: bool,
    /// A row is not `applied`: a step was cut short.
    pub unfinished: bool,
    /// A row's version is not in the code.
    pub missing: bool,
    /// The last place, in the registry's order, that a row filled.
    pub last_applied: Option<usize>,
}

impl StatusFill {
    pub fn new(registry: &Registry) -> Self {
        let migrations: Vec<MigrationStatus> = registry
            .in_order()
            .map(|migration| MigrationStatus { migration, state: MigrationState::Pending { out_of_order: false } })
            .collect();
        let recorded = vec![false; migrations.len()];
        StatusFill {
            migrations,
            recorded,
            rows: 0,
            repeated: false,
            unfinished: false,
            missing: false,
            last_applied: None,
        }
    }

    pub fn add(&mut self, registry: &Registry, row: StatusRow<'_>) -> Result<()> {
        self.rows += 1;
        self.unfinished |= row.state != RowState::Applied;
        let Some(place) = registry.graph().position_of(row.version) else {
            self.missing = true;
            return Ok(());
        };
        self.repeated |= std::mem::replace(&mut self.recorded[place], true);
        self.last_applied = self.last_applied.max(Some(place));
        let entry = &mut self.migrations[place];
        entry.state = if row.state == RowState::Applied {
            MigrationState::Applied {
                applied_at: row.applied_at.into(),
                applied_by: row.applied_by.into(),
                execution_ms: row.execution_ms,
                batch: row.batch,
                checksum_matches: entry.migration.matches_recorded(row.checksum),
            }
        } else {
            MigrationState::Dirty { since: row.applied_at.into(), reverting: row.state == RowState::Reverting }
        };
        Ok(())
    }
}
