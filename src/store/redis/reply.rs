//! Reading Redis replies: the bulk strings of an MGET, and the text(s) of an INFO reply.

use crate::store::StoreError;

/// A bulk string or nil from MGET.
pub fn as_string(value: redis::Value) -> Result<Option<String>, StoreError> {
    match value {
        redis::Value::Nil => Ok(None),
        redis::Value::BulkString(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| StoreError::Unavailable("unreadable entry")),
        _ => Err(StoreError::Unavailable("unexpected reply")),
    }
}

/// The text(s) of an INFO reply: a bulk string, or a map of node to text in cluster mode.
pub fn info_texts(value: redis::Value) -> Vec<String> {
    match value {
        redis::Value::BulkString(bytes) => vec![String::from_utf8_lossy(&bytes).into_owned()],
        redis::Value::VerbatimString { text, .. } => vec![text],
        redis::Value::Map(entries) => entries
            .into_iter()
            .flat_map(|(_, v)| info_texts(v))
            .collect(),
        redis::Value::Array(items) => items.into_iter().flat_map(info_texts).collect(),
        _ => Vec::new(),
    }
}
