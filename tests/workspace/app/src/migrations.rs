//! The app's own migrations.

use migrations_rs::prelude::*;

/// Depends on billing by path: the app depends on billing and calls it.
#[migration(version = 2024_01_05_000000, depends_on = [billing::migrations::create_customers], risk = [schema])]
mod create_sessions {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(
            Table::create()
                .table("sessions")
                .col(ColumnDef::new("id").integer().not_null().primary_key())
                .col(ColumnDef::new("customer_id").integer().not_null()),
        )
        .await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::drop().table("sessions")).await
    }
}

/// Depends on audit's `create_audit_events` by version: the app names nothing in audit.
#[migration(version = 2024_01_06_000000, depends_on = [create_sessions, 2024_01_03_000000], risk = [schema])]
mod audit_sessions {
    use super::*;

    pub async fn up(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::alter().table("audit_events").add_column(ColumnDef::new("session_id").integer().null())).await
    }

    pub async fn down(db: &mut Db<'_>) -> Result<()> {
        db.exec(Table::alter().table("audit_events").drop_column("session_id")).await
    }
}
