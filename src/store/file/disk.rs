//! The file store's file: a redb database (ACID, crash-safe, fsync on every durable commit)
//! with three tables. Entries carry their deadline in unix milliseconds (monotonic instants do
//! not survive a restart); an index by deadline lets the sweep find expired entries without a
//! scan.
//!
//! ```text
//! entries:    key -> (value, deadline ms)      value: 1 (a token), a not-before, 0 (lifted)
//! deadlines:  (deadline ms, key) -> ()
//! meta:       "global_not_before" -> unix seconds (a loss of the file was noticed)
//! ```

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

const ENTRIES: TableDefinition<&str, (i64, i64)> = TableDefinition::new("entries");
const DEADLINES: TableDefinition<(i64, &str), ()> = TableDefinition::new("deadlines");
const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
const GLOBAL_NOT_BEFORE: &str = "global_not_before";

/// Live entries as (key, value, deadline ms).
pub type Entries = Vec<(String, i64, i64)>;

/// Changes to commit: a key set to (value, deadline ms), or removed (`None`).
pub type Changes = HashMap<String, Option<(i64, i64)>>;

/// What identifies the file on disk: a file replaced or removed under a running store is a loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
}

pub fn identity(path: &Path) -> Option<Identity> {
    std::fs::metadata(path).ok().map(|m| Identity {
        dev: m.dev(),
        ino: m.ino(),
    })
}

/// Why the file cannot be used, in words an operator can act on (never "starting empty").
pub fn describe(error: &redb::DatabaseError, path: &Path) -> String {
    let shown = path.display();
    match error {
        redb::DatabaseError::DatabaseAlreadyOpen => {
            format!("{shown} is in use by another introspectd (one process per file)")
        }
        redb::DatabaseError::Storage(redb::StorageError::Io(io))
            if !matches!(
                io.kind(),
                std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof
            ) =>
        {
            format!("cannot open {shown}: {io}")
        }
        other => format!(
            "{shown} is not a readable introspectd store ({other}); move it away to start with an \
             empty store, which loses every revocation in it"
        ),
    }
}

pub struct Disk {
    pub path: PathBuf,
    pub db: Database,
    pub identity: Option<Identity>,
}

impl Disk {
    /// Opens the file, creating it (and its directory) when missing. An existing empty file
    /// is refused: redb would take it for a new database, and a truncated store would start
    /// empty, bringing revoked tokens back.
    pub fn open(path: &Path) -> Result<Disk, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create the directory {}: {e}", dir.display()))?;
        }
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.len() == 0 {
                return Err(format!(
                    "{} is empty (truncated?); move it away to start with an empty store",
                    path.display()
                ));
            }
        }
        // redb asserts (panics) on some truncated files instead of returning an error: that is a
        // file it cannot read too, and must not print a panic over the one-line error.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let opened =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| Database::create(path)));
        std::panic::set_hook(previous);
        let db = match opened {
            Ok(opened) => opened.map_err(|e| describe(&e, path))?,
            Err(_) => {
                return Err(format!(
                    "{} is not a readable introspectd store (truncated or corrupt); move it away \
                     to start with an empty store, which loses every revocation in it",
                    path.display()
                ))
            }
        };
        let disk = Disk {
            path: path.to_owned(),
            identity: identity(path),
            db,
        };
        // The tables exist from the first commit on, so a read never meets a missing one.
        disk.commit(&Changes::new(), None, Durability::Immediate)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(disk)
    }

    /// Every live entry at `now_ms`, and the global not-before.
    pub fn load(&self, now_ms: i64) -> Result<(Entries, i64), redb::Error> {
        let read = self.db.begin_read()?;
        let entries = read.open_table(ENTRIES)?;
        let mut live = Vec::new();
        for row in entries.iter()? {
            let (key, value) = row?;
            let (value, deadline) = value.value();
            if deadline > now_ms {
                live.push((key.value().to_owned(), value, deadline));
            }
        }
        let meta = read.open_table(META)?;
        let global = meta.get(GLOBAL_NOT_BEFORE)?.map_or(0, |v| v.value());
        Ok((live, global))
    }

    /// Commits `changes` (and a global not-before) in one transaction.
    pub fn commit(
        &self,
        changes: &Changes,
        global_not_before: Option<i64>,
        durability: Durability,
    ) -> Result<(), redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(durability)?;
        {
            let mut entries = txn.open_table(ENTRIES)?;
            let mut deadlines = txn.open_table(DEADLINES)?;
            for (key, change) in changes {
                if let Some(old) = entries.get(key.as_str())?.map(|v| v.value()) {
                    deadlines.remove((old.1, key.as_str()))?;
                }
                match change {
                    Some((value, deadline)) => {
                        entries.insert(key.as_str(), (*value, *deadline))?;
                        deadlines.insert((*deadline, key.as_str()), ())?;
                    }
                    None => {
                        entries.remove(key.as_str())?;
                    }
                }
            }
            let mut meta = txn.open_table(META)?;
            if let Some(global) = global_not_before {
                meta.insert(GLOBAL_NOT_BEFORE, global)?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Deletes up to `limit` entries whose deadline passed at `now_ms`; returns how many. A
    /// durable commit (at most one a second): redb compacts only a file whose every commit is.
    pub fn sweep(&self, now_ms: i64, limit: usize) -> Result<usize, redb::Error> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        let removed = {
            let mut entries = txn.open_table(ENTRIES)?;
            let mut deadlines = txn.open_table(DEADLINES)?;
            let expired: Vec<(i64, String)> = deadlines
                .range(..(now_ms, ""))?
                .take(limit)
                .map(|row| row.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
                .collect::<Result<_, _>>()?;
            for (deadline, key) in &expired {
                deadlines.remove((*deadline, key.as_str()))?;
                let current = entries.get(key.as_str())?.map(|v| v.value().1);
                if current == Some(*deadline) {
                    entries.remove(key.as_str())?;
                }
            }
            expired.len()
        };
        if removed == 0 {
            // Nothing expired: no commit, no fsync.
            txn.abort()?;
        } else {
            txn.commit()?;
        }
        Ok(removed)
    }
}
