//! Pieces of SQL text built from counts and integers only: numbered placeholders (every value they stand for is
//! bound) and lists of row ids, so nothing a user typed ever reaches a statement's text.

/// The most rows one multi-row `INSERT` carries: far below both databases' limits on bound parameters
/// (SQLite 32,766, PostgreSQL 65,535) at eight a row.
pub(crate) const ROWS_PER_INSERT: usize = 200;

/// `($first, …), ($first+width, …), …`: the `VALUES` rows of a multi-row insert of `rows` rows.
pub(crate) fn value_rows(first: usize, rows: usize, width: usize) -> String {
    (0..rows).map(|i| format!("({})", placeholders(first + i * width, width))).collect::<Vec<_>>().join(", ")
}

/// `$start, $start+1, …`: `count` numbered placeholders for an `IN` list.
pub(crate) fn placeholders(start: usize, count: usize) -> String {
    (start..start + count).map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
}

/// Row ids for an `IN (…)` list: integers formatted here, so nothing an admin typed reaches the SQL text. A
/// statement with such a list is seldom run twice, so the hot paths run theirs with `persistent(false)`: kept,
/// each would push a statement that is run again out of the connection's cache of the last hundred (sqlx),
/// and the group commit's inserts were parsed again after a quarter of the commits.
pub(crate) fn id_list(ids: impl Iterator<Item = i64>) -> String {
    ids.map(|id| id.to_string()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn rows_number_their_placeholders_in_order() {
        assert_eq!(super::value_rows(1, 2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::value_rows(4, 1, 2), "($4, $5)");
        assert_eq!(super::placeholders(3, 2), "$3, $4");
        assert_eq!(super::id_list([7, -1].into_iter()), "7,-1");
    }
}
