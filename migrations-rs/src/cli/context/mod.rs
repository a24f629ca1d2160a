//! What every verb's handler works with: the parsed command line, the
//! settings it resolved to, and the two output streams; and, in the child
//! modules, the migrations to run and the migrator and connection a verb
//! that needs the database opens.

mod approval;
mod migrations;
mod session;

pub(crate) use session::{Access, RunRules};

use crate::cli::args::Cli;
use crate::cli::config::{Settings, confirm};
use crate::cli::output::{Output, Tone};
use crate::cli::render;
use migrations_rs_runtime::Error;

pub(crate) struct Context<'a> {
    pub cli: &'a Cli,
    pub settings: &'a Settings,
    pub out: &'a Output,
    pub err: &'a Output,
}

impl Context<'_> {
    /// A result: as JSON with `--json`, else as `text` makes it.
    pub(crate) fn print<T: serde::Serialize>(&self, value: &T, text: impl FnOnce(&T) -> String) {
        if self.cli.json {
            self.out.line_always(render::json(value));
        } else {
            self.out.line(text(value));
        }
    }

    /// A line on standard error in `tone`, such as a note or a warning.
    pub(crate) fn say(&self, tone: Tone, text: &str) {
        self.err.line(self.err.paint(tone, text));
    }

    /// In a protected environment, a change needs a yes.
    pub(crate) fn confirm_change(&self, what: &str) -> Result<(), Error> {
        if self.settings.protected {
            confirm(&format!("{what} on {} (protected environment). Go ahead?", self.settings.url), self.cli.yes)?;
        }
        Ok(())
    }
}
