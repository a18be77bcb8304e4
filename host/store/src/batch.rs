//! Statements written together and sent to the database together.
//!
//! On SQLite each statement sqlx runs is a round trip to the connection's own thread and back to the async
//! worker that waits on it, and on a busy machine each way is a wake-up that waits for a core. The group commit
//! wrote its rows in seven such trips, and every session of the group waited for all of them. A batch on SQLite
//! is one query text of all its statements (sqlx runs the statements of one text in turn, their `$N`
//! placeholders numbered across the whole text): one trip. PostgreSQL takes one statement per query, so there a
//! batch runs its statements one after another.

use crate::{Backend, Result, StoreError};
use sqlx::Arguments;
use sqlx::any::{Any, AnyArguments};

pub(crate) struct Batch {
    backend: Backend,
    /// Each query's text and values; on SQLite the one query holds every statement, joined by `;`.
    queries: Vec<(String, AnyArguments)>,
    /// The first value that could not be encoded: reported by [`Batch::execute`], as sqlx reports a bind's.
    failed: Option<sqlx::error::BoxDynError>,
}

/// The values of the statement just pushed, bound in the order of its placeholders.
pub(crate) struct Values<'b> {
    arguments: &'b mut AnyArguments,
    failed: &'b mut Option<sqlx::error::BoxDynError>,
}

impl Values<'_> {
    pub(crate) fn bind<'q, T: sqlx::Encode<'q, Any> + sqlx::Type<Any>>(&mut self, value: T) -> &mut Self {
        if let Err(e) = self.arguments.add(value) {
            self.failed.get_or_insert(e);
        }
        self
    }
}

impl Batch {
    pub(crate) fn new(backend: Backend) -> Self {
        Self { backend, queries: Vec::new(), failed: None }
    }

    /// Adds a statement: `text(first)` writes it with its placeholders numbered from `$first`, and the values
    /// returned take their values in that order.
    pub(crate) fn push(&mut self, text: impl FnOnce(usize) -> String) -> Values<'_> {
        let one_query = self.backend == Backend::Sqlite && !self.queries.is_empty();
        if one_query {
            let (sql, arguments) = &mut self.queries[0];
            sql.push_str("; ");
            sql.push_str(&text(arguments.len() + 1));
        } else {
            self.queries.push((text(1), AnyArguments::default()));
        }
        let arguments = &mut self.queries.last_mut().expect("a query was just pushed").1;
        Values { arguments, failed: &mut self.failed }
    }

    /// Runs the statements in order on `conn`, stopping at the first that fails.
    pub(crate) async fn execute(self, conn: &mut sqlx::AnyConnection) -> Result<()> {
        if let Some(e) = self.failed {
            return Err(StoreError::Database(sqlx::Error::Encode(e)));
        }
        for (sql, arguments) in self.queries {
            sqlx::query_with(sqlx::AssertSqlSafe(sql), arguments).execute(&mut *conn).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(batch: &Batch) -> Vec<(&str, usize)> {
        batch.queries.iter().map(|(sql, arguments)| (sql.as_str(), arguments.len())).collect()
    }

    #[test]
    fn sqlite_numbers_placeholders_across_one_text_and_postgresql_per_statement() {
        let fill = |batch: &mut Batch| {
            batch.push(|first| format!("INSERT INTO a VALUES (${first}, ${})", first + 1)).bind(1_i64).bind("x");
            batch.push(|first| format!("DELETE FROM b WHERE id = ${first}")).bind(2_i64);
        };
        let mut sqlite = Batch::new(Backend::Sqlite);
        fill(&mut sqlite);
        assert_eq!(texts(&sqlite), [("INSERT INTO a VALUES ($1, $2); DELETE FROM b WHERE id = $3", 3)]);
        let mut postgres = Batch::new(Backend::Postgres);
        fill(&mut postgres);
        assert_eq!(texts(&postgres), [("INSERT INTO a VALUES ($1, $2)", 2), ("DELETE FROM b WHERE id = $1", 1)]);
    }
}
