use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://USER:PASSWORD@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot open database {url}: {source}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{what} already exists")]
    Duplicate { what: String },
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Maps a unique-constraint violation to [`StoreError::Duplicate`] naming `what`.
    pub(crate) fn on_unique(what: impl FnOnce() -> String) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate { what: what() },
            _ => StoreError::Database(err),
        }
    }
}

impl moat_i18n::Localized for StoreError {
    fn spanish(&self) -> Option<String> {
        match self {
            StoreError::Duplicate { what } => Some(format!("ya existe: {what}")),
            StoreError::NotFound { what } => Some(format!("no existe: {what}")),
            _ => None,
        }
    }
}
