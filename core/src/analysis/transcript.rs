//! What an analysis read, call by call, so that a body sending the same
//! statements again is checked without reading them again.
//!
//! A run analyses every pending `up` before its first step, and its guard
//! then checks each statement as the body sends it. When the body sends
//! what the analysis read, in the same order and with the same
//! acknowledgements, the guard's findings are the ones already found: a
//! [`Replay`] hands them back. At the first statement that differs (values
//! bound instead of inlined, a body that reads the database and decides),
//! it feeds a fresh [`Analyzer`] the calls read so far and reads on from
//! there, so its findings are always those of a fresh analysis.

use super::{Acknowledged, Analyzer, Finding};

/// The calls an [`Analyzer`] made while [`Analyzer::keep_transcript`] was
/// on, each with what it found and whether the SQL read so far commits by itself.
#[derive(Debug, Clone, Default)]
pub struct Transcript {
    calls: Vec<Call>,
}

#[derive(Debug, Clone)]
struct Call {
    text: String,
    acknowledged: Acknowledged,
    findings: Vec<Finding>,
    /// [`Analyzer::saw_implicit_commit`] after this call.
    committed: bool,
}

impl Transcript {
    /// How many calls it holds.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// Whether it holds no call.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }

    pub(super) fn push(&mut self, text: &str, acknowledged: &Acknowledged, findings: &[Finding], committed: bool) {
        self.calls.push(Call {
            text: text.to_owned(),
            acknowledged: acknowledged.clone(),
            findings: findings.to_vec(),
            committed,
        });
    }
}

/// An analysis that replays a [`Transcript`] while the SQL it is given
/// matches it, and reads the SQL itself from the first call that does not.
///
/// ```
/// use migrations_rs_core::{Backend, analysis::{Acknowledged, Analyzer, Replay, Rule}};
///
/// let mut first = Analyzer::new(Backend::Postgres, true, &[]);
/// first.keep_transcript();
/// first.sql("CREATE TABLE t (id int)");
/// first.sql("DROP TABLE users");
/// let transcript = first.take_transcript();
///
/// let mut replay = Replay::new(Analyzer::new(Backend::Postgres, true, &[]), Some(&transcript));
/// assert!(replay.sql_acknowledged("CREATE TABLE t (id int)", &Acknowledged::Nothing).is_empty());
/// let found = replay.sql_acknowledged("DROP TABLE users", &Acknowledged::Nothing);
/// assert_eq!(found[0].rule, Rule::DropTable);
/// assert!(!replay.reading());
/// // Something the analysis did not read: read now, after the calls before it.
/// replay.sql_acknowledged("DROP TABLE t", &Acknowledged::Nothing);
/// assert!(replay.reading());
/// ```
#[derive(Debug)]
pub struct Replay<'t> {
    transcript: Option<&'t Transcript>,
    /// The next call of the transcript to compare with.
    next: usize,
    /// Fresh until the first call that differs; from then on it reads.
    analyzer: Analyzer,
    reading: bool,
}

impl<'t> Replay<'t> {
    /// Replays `transcript`, if there is one, falling back on `fresh`, an
    /// analyzer that has read nothing yet and is set up as the one that wrote it.
    pub fn new(fresh: Analyzer, transcript: Option<&'t Transcript>) -> Self {
        Replay { reading: transcript.is_none(), transcript, next: 0, analyzer: fresh }
    }

    /// Like [`Analyzer::sql_acknowledged`].
    pub fn sql_acknowledged(&mut self, text: &str, acknowledged: &Acknowledged) -> &[Finding] {
        if !self.reading
            && let Some(transcript) = self.transcript
        {
            match transcript.calls.get(self.next) {
                Some(call) if call.text == text && call.acknowledged == *acknowledged => {
                    self.next += 1;
                    return &call.findings;
                }
                _ => {
                    for call in &transcript.calls[..self.next] {
                        self.analyzer.sql_acknowledged(&call.text, &call.acknowledged);
                    }
                    self.reading = true;
                }
            }
        }
        self.analyzer.sql_acknowledged(text, acknowledged)
    }

    /// Like [`Analyzer::saw_implicit_commit`].
    pub fn saw_implicit_commit(&self) -> bool {
        match self.transcript {
            Some(transcript) if !self.reading => {
                self.next.checked_sub(1).is_some_and(|last| transcript.calls[last].committed)
            }
            _ => self.analyzer.saw_implicit_commit(),
        }
    }

    /// Whether it reads the SQL itself: the SQL given so far left the transcript, or there was none.
    pub fn reading(&self) -> bool {
        self.reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Rule;
    use crate::dialect::Backend;

    /// What each call finds, and whether the SQL so far commits by itself, read fresh.
    fn fresh(backend: Backend, calls: &[(&str, Acknowledged)]) -> Vec<(Vec<Finding>, bool)> {
        let mut analyzer = Analyzer::new(backend, true, &["drop-column"]);
        calls
            .iter()
            .map(|(text, ack)| {
                let found = analyzer.sql_acknowledged(text, ack).to_vec();
                (found, analyzer.saw_implicit_commit())
            })
            .collect()
    }

    fn replayed(
        backend: Backend,
        read: &[(&str, Acknowledged)],
        sent: &[(&str, Acknowledged)],
    ) -> Vec<(Vec<Finding>, bool)> {
        let mut first = Analyzer::new(backend, true, &["drop-column"]);
        first.keep_transcript();
        for (text, ack) in read {
            first.sql_acknowledged(text, ack);
        }
        let transcript = first.take_transcript();
        assert_eq!(transcript.len(), read.len());
        let mut replay = Replay::new(Analyzer::new(backend, true, &["drop-column"]), Some(&transcript));
        sent.iter()
            .map(|(text, ack)| {
                let found = replay.sql_acknowledged(text, ack).to_vec();
                (found, replay.saw_implicit_commit())
            })
            .collect()
    }

    fn calls<'a>(texts: &[&'a str]) -> Vec<(&'a str, Acknowledged)> {
        texts.iter().map(|text| (*text, Acknowledged::Nothing)).collect()
    }

    #[test]
    fn a_replay_finds_what_a_fresh_analysis_finds_however_the_sql_departs_from_the_transcript() {
        let read = calls(&[
            "INSERT INTO audit VALUES (1)",
            "CREATE TABLE scratch (id int)",
            "DROP TABLE scratch",
            "ALTER TABLE users DROP COLUMN email",
            "DROP TABLE users",
        ]);
        let mut sent_variants = vec![
            read.clone(),
            read[..2].to_vec(),
            read[..0].to_vec(),
            // The same calls and more: the statement after them depends on what they created.
            [read.clone(), calls(&["CREATE TABLE scratch (id int)", "CREATE INDEX scratch_id ON scratch (id)"])]
                .concat(),
            // Departs after the table was created: what is done to it is done to a new table.
            [
                read[..2].to_vec(),
                calls(&["CREATE INDEX scratch_id ON scratch (id); ALTER TABLE scratch ADD COLUMN a int NOT NULL"]),
            ]
            .concat(),
            // Departs at the first call.
            calls(&["DROP TABLE scratch", "UPDATE users SET a = 1"]),
            // Comes back to the transcript's text after departing: read, not replayed.
            [calls(&["SELECT 1"]), read[1..].to_vec()].concat(),
        ];
        // The same text with another acknowledgement is another call.
        let mut acknowledged = read.clone();
        acknowledged[4].1 = Acknowledged::Rules(vec![Rule::DropTable]);
        sent_variants.push(acknowledged);
        for backend in [Backend::Postgres, Backend::MySql, Backend::Sqlite] {
            for sent in &sent_variants {
                assert_eq!(replayed(backend, &read, sent), fresh(backend, sent), "{backend}: {sent:?}");
            }
        }
    }

    #[test]
    fn the_replayed_findings_are_the_transcripts_and_a_departure_is_read() {
        let read = calls(&["CREATE TABLE t (id int)", "DROP TABLE users"]);
        let mut first = Analyzer::new(Backend::MySql, true, &[]);
        first.keep_transcript();
        for (text, ack) in &read {
            first.sql_acknowledged(text, ack);
        }
        let transcript = first.take_transcript();
        let mut replay = Replay::new(Analyzer::new(Backend::MySql, true, &[]), Some(&transcript));
        assert!(replay.sql_acknowledged("CREATE TABLE t (id int)", &Acknowledged::Nothing).is_empty());
        // DDL commits by itself on MySQL/MariaDB, as the transcript recorded.
        assert!(replay.saw_implicit_commit());
        assert_eq!(replay.sql_acknowledged("DROP TABLE users", &Acknowledged::Nothing)[0].rule, Rule::DropTable);
        assert!(!replay.reading(), "every call matched the transcript");
        replay.sql_acknowledged("DROP TABLE t", &Acknowledged::Nothing);
        assert!(replay.reading());
        // An analyzer that did not keep a transcript hands over an empty one.
        assert!(Analyzer::new(Backend::MySql, true, &[]).take_transcript().is_empty());
        let mut without = Replay::new(Analyzer::new(Backend::MySql, true, &[]), None);
        assert!(without.reading());
        assert!(!without.saw_implicit_commit());
        without.sql_acknowledged("SELECT 1", &Acknowledged::Nothing);
        assert!(!without.saw_implicit_commit());
    }
}
