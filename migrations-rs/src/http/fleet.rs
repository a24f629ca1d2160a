//! `GET /fleet/status`: the state of every target of the fleet the service
//! was given ([`HttpApi::fleet`]), one read per target and no lock, with a
//! report per target and the counts, as `status --targets ... --json` gives them.

use crate::http::HttpApi;
use crate::http::reply::ApiError;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use migrations_rs_runtime::fleet::{Fleet, FleetReport, FleetSummary, TargetReport};
use migrations_rs_runtime::{Migrator, Tables};
use serde::Serialize;
use std::sync::Arc;

/// The body of `GET /fleet/status`.
#[derive(Serialize)]
pub(crate) struct FleetStatusBody {
    up_to_date: bool,
    targets: Vec<TargetReport>,
    summary: FleetSummary,
}

pub(crate) async fn fleet_status(State(api): State<Arc<HttpApi>>) -> Result<Json<FleetStatusBody>, ApiError> {
    let Some(fleet) = &api.fleet else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this service was given no fleet of targets: HttpApi::fleet names them",
        ));
    };
    let tables: Tables = api.migrator.tables().clone();
    let report: FleetReport = Fleet::new(fleet.targets.clone())
        .migrator(move || Ok(Migrator::from_linked()?.with_tables(tables.clone())))
        .parallel(fleet.parallel)
        .status()
        .await;
    Ok(Json(FleetStatusBody { up_to_date: report.is_up_to_date(), targets: report.targets, summary: report.summary }))
}
