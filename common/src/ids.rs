//! Ids as people type them: the whole id, or a prefix of at least
//! [`MIN_PREFIX`] characters that names one row (the 8 characters `status`,
//! `claims` and the other listings show are enough while they are unique).
//! A prefix that names several rows is refused with the candidates listed,
//! so a command never acts on a row the user did not mean.

use anyhow::Result;
use rusqlite::{params, Connection};

use crate::UserError;

/// The shortest prefix taken for an id.
pub const MIN_PREFIX: usize = 4;

/// How many candidates an ambiguous prefix lists.
const MOST_LISTED: usize = 10;

/// Finds the one id that `given` names in the query's rows. `query` selects
/// `id` and a short description of the row (shown when `given` is
/// ambiguous), with `?1` the whole id and `?2` a `LIKE` pattern (escape
/// character `\`), e.g. `SELECT id, pid FROM sessions WHERE id = ?1 OR id
/// LIKE ?2 ESCAPE '\'`. `noun` names the rows in messages ("session").
///
/// `Ok(None)` when nothing matches (also for a prefix shorter than
/// [`MIN_PREFIX`] that is not a whole id); an error listing the candidates
/// when a prefix matches several rows.
pub fn resolve(conn: &Connection, query: &str, given: &str, noun: &str) -> Result<Option<String>> {
    let given = given.trim();
    if given.is_empty() {
        return Ok(None);
    }
    let pattern = if given.chars().count() >= MIN_PREFIX {
        format!("{}%", escape_like(given))
    } else {
        // Too short to be a prefix: only a whole id matches.
        escape_like(given)
    };
    let mut stmt = conn.prepare(query)?;
    let found: Vec<(String, String)> = stmt
        .query_map(params![given, pattern], |row| {
            Ok((row.get(0)?, describe(row.get_ref(1)?)))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if let Some((id, _)) = found.iter().find(|(id, _)| id == given) {
        return Ok(Some(id.clone()));
    }
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next().map(|(id, _)| id)),
        many => {
            let listed: Vec<String> = found
                .iter()
                .take(MOST_LISTED)
                .map(|(id, what)| {
                    if what.is_empty() {
                        id.clone()
                    } else {
                        format!("{id} ({what})")
                    }
                })
                .collect();
            let more = if many > MOST_LISTED {
                format!(" and {} more", many - MOST_LISTED)
            } else {
                String::new()
            };
            Err(UserError::with_hint(
                format!(
                    "'{given}' names {many} {noun}s: {}{more}",
                    listed.join(", ")
                ),
                "give more of the id",
            )
            .into())
        }
    }
}

/// `LIKE` pattern text matching `text` literally (escape character `\`).
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

fn describe(value: rusqlite::types::ValueRef<'_>) -> String {
    use rusqlite::types::ValueRef;
    match value {
        ValueRef::Null => String::new(),
        ValueRef::Integer(n) => n.to_string(),
        ValueRef::Real(n) => n.to_string(),
        ValueRef::Text(text) | ValueRef::Blob(text) => String::from_utf8_lossy(text).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id TEXT, label TEXT);
             INSERT INTO t VALUES ('1a2b3c4d-0000', 'first'), ('1a2b9999-0000', 'second'),
                                  ('ffff0000-0000', NULL), ('a_b%c', 'odd');",
        )
        .unwrap();
        conn
    }

    const QUERY: &str = "SELECT id, label FROM t WHERE id = ?1 OR id LIKE ?2 ESCAPE '\\'";

    #[test]
    fn whole_ids_and_unique_prefixes_resolve() {
        let conn = table();
        let found = |given: &str| resolve(&conn, QUERY, given, "row").unwrap();
        assert_eq!(found("1a2b3c4d-0000").as_deref(), Some("1a2b3c4d-0000"));
        assert_eq!(found("1a2b3").as_deref(), Some("1a2b3c4d-0000"));
        assert_eq!(found("ffff").as_deref(), Some("ffff0000-0000"));
        assert_eq!(found("fff"), None, "too short for a prefix");
        assert_eq!(found("0000"), None);
        // LIKE's wildcards in what was typed are taken literally.
        assert_eq!(found("a_b%").as_deref(), Some("a_b%c"));
        assert_eq!(found("a_b_"), None);
    }

    #[test]
    fn an_ambiguous_prefix_lists_the_candidates() {
        let conn = table();
        let err = resolve(&conn, QUERY, "1a2b", "session").unwrap_err();
        let user = err.downcast_ref::<UserError>().unwrap();
        assert_eq!(
            user.message,
            "'1a2b' names 2 sessions: 1a2b3c4d-0000 (first), 1a2b9999-0000 (second)"
        );
        assert_eq!(user.hint.as_deref(), Some("give more of the id"));
    }
}
