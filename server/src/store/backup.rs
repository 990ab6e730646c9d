//! The embedded database's copy for `truckroll backup` / `restore` (issue
//! 19): SQLite's online backup API copies every page inside one read
//! transaction, so the copy is the database as of one instant while the
//! server keeps writing (WAL: readers never block writers), and
//! `PRAGMA integrity_check` vouches for a copy before it is used.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    time::Duration,
};

use rusqlite::{
    Connection, OpenFlags,
    backup::{Backup, StepResult},
};
use sqlx::sqlite::SqliteConnectOptions;

#[derive(Debug, thiserror::Error)]
pub enum SqliteCopyError {
    #[error("not an SQLite database URL: {0}")]
    Url(String),
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("integrity check of {path}: {problems}")]
    Integrity { path: PathBuf, problems: String },
}

/// The database file a `sqlite:` URL names.
pub fn sqlite_file(database_url: &str) -> Result<PathBuf, SqliteCopyError> {
    if !database_url.starts_with("sqlite:") {
        return Err(SqliteCopyError::Url(database_url.to_owned()));
    }
    let options = SqliteConnectOptions::from_str(database_url)
        .map_err(|e| SqliteCopyError::Url(e.to_string()))?;
    Ok(options.get_filename().to_path_buf())
}

/// Copies the database at `source` (in use or not) into the new file
/// `target` with the online backup API, in one step: one read
/// transaction, so the copy is consistent.
pub fn online_backup(source: &Path, target: &Path) -> Result<(), SqliteCopyError> {
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    from.busy_timeout(Duration::from_secs(10))?;
    let mut to = Connection::open(target)?;
    {
        let backup = Backup::new(&from, &mut to)?;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                // A writer holds a lock the backup needs for a moment.
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    to.close().map_err(|(_, error)| error)?;
    from.close().map_err(|(_, error)| error)?;
    Ok(())
}

/// `PRAGMA integrity_check` of the file at `path`: `Ok` when it says "ok".
pub fn integrity_check(path: &Path) -> Result<(), SqliteCopyError> {
    let connection = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut statement = connection.prepare("PRAGMA integrity_check(20)")?;
    let problems = statement
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    if problems.len() == 1 && problems[0] == "ok" {
        Ok(())
    } else {
        Err(SqliteCopyError::Integrity {
            path: path.to_owned(),
            problems: problems.join("; "),
        })
    }
}
