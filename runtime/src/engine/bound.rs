//! A connection bound to a migrator: the migrator's tables checked once
//! against the connection's backend, so nothing after needs to check again.

use crate::backend::Connection;
use std::ops::{Deref, DerefMut};

/// A connection the migrator's tables were checked against; only
/// `Migrator::bind` makes one.
pub(crate) struct Bound<'c>(&'c mut Connection);

impl<'c> Bound<'c> {
    pub(super) fn new(conn: &'c mut Connection) -> Self {
        Bound(conn)
    }
}

impl Deref for Bound<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        self.0
    }
}

impl DerefMut for Bound<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        self.0
    }
}
