//! plex.tv's two ways of writing a time: RFC 3339 with `Z` in JSON, and
//! `YYYY-MM-DD HH:MM:SS UTC` in XML.

use time::macros::format_description;
use time::OffsetDateTime;

fn utc(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// `2024-07-16T17:03:05Z`
pub fn json_datetime(unix: i64) -> String {
    utc(unix)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .unwrap_or_default()
}

/// `2024-07-16 17:03:05 UTC`
pub fn xml_datetime(unix: i64) -> String {
    utc(unix)
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_default()
}

/// Parses what [`json_datetime`] writes (and any RFC 3339 time) back to unix seconds.
pub fn parse_json_datetime(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// Parses what [`xml_datetime`] writes back to unix seconds.
pub fn parse_xml_datetime(s: &str) -> Option<i64> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let stripped = s.trim().strip_suffix("UTC")?.trim_end();
    time::PrimitiveDateTime::parse(stripped, format)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_plex() {
        assert_eq!(json_datetime(1_721_149_385), "2024-07-16T17:03:05Z");
        assert_eq!(xml_datetime(1_721_149_385), "2024-07-16 17:03:05 UTC");
        assert_eq!(
            parse_json_datetime("2024-07-16T17:03:05Z"),
            Some(1_721_149_385)
        );
    }
}
