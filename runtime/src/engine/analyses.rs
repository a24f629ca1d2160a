//! The risk analyses of one run's `up` bodies, each made once: the refusal
//! before the lock, the one under it and the guard of each step share them.
//!
//! Each analysis keeps a [`Transcript`] of what it read, so that the guard,
//! which checks every statement a body sends, only reads again what the
//! body sends differently from what the analysis saw.

use crate::analysis::{MigrationAnalysis, Transcript};
use crate::backend::Backend;
use crate::record::Migration;
use crate::version::Version;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One migration's `up`, analysed for one backend.
#[derive(Debug)]
pub(crate) struct Analysed {
    pub analysis: MigrationAnalysis,
    pub transcript: Transcript,
}

/// The analyses made so far in one run, by version.
#[derive(Debug, Default)]
pub(crate) struct RunAnalyses {
    made: Mutex<HashMap<Version, Arc<Analysed>>>,
}

impl RunAnalyses {
    /// The analysis of `migration`'s `up` on `backend`, made now unless this run made it before.
    pub(crate) async fn up_of(&self, migration: &'static Migration, backend: Backend) -> Arc<Analysed> {
        if let Some(made) = self.made_for(migration.version, backend) {
            return made;
        }
        let made = Arc::new(super::safety::analyze_up(migration, backend).await);
        self.lock().insert(migration.version, Arc::clone(&made));
        made
    }

    /// The analysis of `version`'s `up` on `backend`, if this run made it.
    pub(crate) fn made_for(&self, version: Version, backend: Backend) -> Option<Arc<Analysed>> {
        self.lock().get(&version).filter(|made| made.analysis.backend == backend).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Version, Arc<Analysed>>> {
        self.made.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
