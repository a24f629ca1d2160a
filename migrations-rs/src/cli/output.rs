//! Where the command line writes: results to one stream, diagnostics to the
//! other, colours and a progress bar only on a terminal (and never with
//! NO_COLOR), nothing but errors with `--quiet`.

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

/// An output stream shared with the progress callbacks; each line is flushed at once.
#[derive(Clone)]
pub(crate) struct Output {
    writer: Arc<Mutex<Box<dyn Write + Send>>>,
    color: bool,
    quiet: bool,
    /// The progress bar drawn on this stream: lines go above it, never onto its line.
    bar: Arc<Mutex<Option<ProgressBar>>>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Tone {
    Good,
    Warning,
    Bad,
    Dim,
    Strong,
}

impl Output {
    /// `terminal` says whether the writer is one; colours need it and no NO_COLOR.
    pub(crate) fn new(writer: impl Write + Send + 'static, terminal: bool, quiet: bool) -> Self {
        let color = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Output { writer: Arc::new(Mutex::new(Box::new(writer))), color, quiet, bar: Arc::default() }
    }

    pub(crate) fn stdout(quiet: bool) -> Self {
        Output::new(std::io::stdout(), std::io::stdout().is_terminal(), quiet)
    }

    pub(crate) fn stderr(quiet: bool) -> Self {
        Output::new(std::io::stderr(), std::io::stderr().is_terminal(), quiet)
    }

    pub(crate) fn is_terminal_with_color(&self) -> bool {
        self.color
    }

    /// Writes every later line above `progress`'s bar, which is drawn on this stream.
    pub(crate) fn share_with(&self, progress: &Progress) {
        *self.bar.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = progress.bar.clone();
    }

    /// Writes text as it is, even with `--quiet` (for errors and requested data).
    pub(crate) fn write_always(&self, text: &str) {
        let bar = self.bar.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
        match bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| self.write_raw(text)),
            _ => self.write_raw(text),
        }
    }

    fn write_raw(&self, text: &str) {
        let mut writer = self.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // A closed pipe (`migrate status | head`) is not worth a panic.
        let _ = writer.write_all(text.as_bytes()).and_then(|()| writer.flush());
    }

    /// A line of ordinary output, dropped with `--quiet`.
    pub(crate) fn line(&self, text: impl AsRef<str>) {
        if !self.quiet {
            self.write_always(&format!("{}\n", text.as_ref()));
        }
    }

    /// A line that is shown even with `--quiet`.
    pub(crate) fn line_always(&self, text: impl AsRef<str>) {
        self.write_always(&format!("{}\n", text.as_ref()));
    }

    /// `text` in a colour, when colours are on.
    pub(crate) fn paint(&self, tone: Tone, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let style = match tone {
            Tone::Good => Style::new().fg_color(Some(AnsiColor::Green.into())),
            Tone::Warning => Style::new().fg_color(Some(AnsiColor::Yellow.into())).bold(),
            Tone::Bad => Style::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            Tone::Dim => Style::new().dimmed(),
            Tone::Strong => Style::new().bold(),
        };
        format!("{style}{text}{style:#}")
    }
}

/// A progress bar on a terminal for runs of several steps; nothing elsewhere.
#[derive(Clone)]
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub(crate) fn new(enabled: bool) -> Self {
        Progress { bar: enabled.then(ProgressBar::hidden) }
    }

    pub(crate) fn start(&self, index: usize, total: usize, message: String) {
        if let Some(bar) = &self.bar {
            if bar.is_hidden() && total > 1 {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.enable_steady_tick(std::time::Duration::from_millis(120));
            }
            bar.set_length(total as u64);
            bar.set_position(index as u64);
            bar.set_message(message);
        }
    }

    /// Prints a finished step above the bar, or plainly when there is none.
    pub(crate) fn finish_step(&self, out: &Output, line: String) {
        match &self.bar {
            Some(bar) if !bar.is_hidden() => {
                bar.inc(1);
                bar.suspend(|| out.line(&line));
            }
            _ => out.line(line),
        }
    }

    pub(crate) fn clear(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
