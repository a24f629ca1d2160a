//! `create`: writes a new migration (a Rust file wired into its folder's
//! `mod.rs`, or with `--sql-dir` a SQL file and its down file) and says
//! where. It needs no database.

use crate::cli::args::CreateArgs;
use crate::cli::context::Context;
use crate::cli::new_migration::{create_rust, create_sql};
use migrations_rs_runtime::{Error, Registry};
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

pub(super) fn create(args: &CreateArgs, ctx: &Context<'_>) -> Result<ExitCode, Error> {
    let CreateArgs { name, dir, depends_on, risk } = args;
    let registry = match &ctx.cli.sql_dir {
        // A SQL folder that is not there yet: this creates it.
        Some(folder) if !folder.exists() => Registry::from_linked()?,
        _ => ctx.registry()?,
    };
    if let Some(folder) = &ctx.cli.sql_dir {
        let created = create_sql(&registry, folder, name, depends_on, risk, SystemTime::now())?;
        ctx.print(&created, |c| {
            format!(
                "created {} and {} with version {}",
                c.file.display(),
                c.down_file.as_deref().unwrap_or(&c.file).display(),
                c.version
            )
        });
        return Ok(ExitCode::SUCCESS);
    }
    let created = create_rust(&registry, dir.as_ref(), name, depends_on, risk, SystemTime::now())?;
    ctx.print(&created, |c| {
        let mut text = format!(
            "created {} with version {}\nwired into {}",
            c.file.display(),
            c.version,
            c.module_file.as_deref().unwrap_or(&c.file).display()
        );
        if c.new_folder {
            text.push_str(&format!("\n{} is new: add `mod {};` to your crate root once", dir, folder_name(dir)));
        }
        text
    });
    Ok(ExitCode::SUCCESS)
}

fn folder_name(dir: &str) -> String {
    Path::new(dir).file_name().map_or_else(|| dir.to_owned(), |n| n.to_string_lossy().into_owned())
}
