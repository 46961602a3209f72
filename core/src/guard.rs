//! Checks shared by every operation of [`crate::service::Service`] and the knowledge
//! domain: role requirements, field lengths, pagination limits and cursors.
//!
//! Tenant scoping needs no helper: every store call takes the actor's `org_id`.

use uuid::Uuid;

use crate::model::{Actor, Page, Role};
use crate::{Error, Result};

/// Largest page size for list endpoints.
pub const MAX_PAGE: u32 = 100;
/// Page size when the caller gives none.
pub(crate) const DEFAULT_PAGE: u32 = 20;

/// `Ok` when the actor has at least role `min`. Errors: [`Error::Forbidden`] with `what`
/// (e.g. "creating agents needs member").
pub(crate) fn require(actor: &Actor, min: Role, what: &'static str) -> Result<()> {
    if actor.role >= min {
        Ok(())
    } else {
        Err(Error::Forbidden(what))
    }
}

/// `Ok` when `value` has `min..=max` characters (Unicode scalar values).
/// Errors: [`Error::Validation`] on `field`, saying the range and the length found.
pub(crate) fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(Error::validation(
            field,
            format!("must be {min} to {max} characters, got {n}"),
        ));
    }
    Ok(())
}

/// A list cursor (the id of the last item of the previous page); `None` or empty: the
/// first page. Errors: [`Error::Validation`] (`cursor`) when it is not a UUID.
pub(crate) fn parse_cursor(cursor: Option<&str>) -> Result<Option<Uuid>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => Uuid::parse_str(c)
            .map(Some)
            .map_err(|_| Error::validation("cursor", "malformed cursor")),
    }
}

/// The page size of a list call: `limit`, 1..=[`MAX_PAGE`] (default [`DEFAULT_PAGE`]).
/// List calls fetch one item more to learn whether a next page exists. Errors:
/// [`Error::Validation`] (`limit`) outside that range, so a client asking for more than a
/// page holds learns it rather than silently getting fewer.
pub(crate) fn page_limit(limit: Option<u32>) -> Result<u32> {
    match limit.unwrap_or(DEFAULT_PAGE) {
        l @ 1..=MAX_PAGE => Ok(l),
        _ => Err(Error::validation(
            "limit",
            format!("must be 1 to {MAX_PAGE}"),
        )),
    }
}

/// A page from up to `limit + 1` fetched items: the first `limit`, and when there were
/// more, a `next_cursor` made by `cursor_of` from the last one kept.
pub(crate) fn into_page<T>(
    mut items: Vec<T>,
    limit: u32,
    cursor_of: impl Fn(&T) -> Uuid,
) -> Page<T> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(|i| cursor_of(i).to_string())
    } else {
        None
    };
    Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_keep_the_limit_and_point_past_the_last_item() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        let page = into_page(ids.clone(), 2, |id| *id);
        assert_eq!(page.items, ids[..2]);
        assert_eq!(page.next_cursor, Some(ids[1].to_string()));
        let last = into_page(ids[..2].to_vec(), 2, |id| *id);
        assert_eq!(last.next_cursor, None);
        assert_eq!(
            (page_limit(None).unwrap(), page_limit(Some(100)).unwrap()),
            (20, 100)
        );
        for out_of_range in [0, 101, u32::MAX] {
            assert!(matches!(
                page_limit(Some(out_of_range)),
                Err(Error::Validation { ref field, .. }) if field == "limit"
            ));
        }
        assert_eq!(parse_cursor(Some("")).unwrap(), None);
        assert!(parse_cursor(Some("nope")).is_err());
    }
}
