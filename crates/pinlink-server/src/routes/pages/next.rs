//! Where a browser goes after signing in: the `next` a sign-in page
//! carries, which must never lead off this site.

use axum::response::{IntoResponse, Redirect, Response};

/// Where to go after signing in: only a path on this server, never another
/// site. `//evil.example` and `/\\evil.example` are other sites to a browser,
/// and so is `/\t/evil.example`: browsers drop tabs and newlines from URLs
/// before reading them. So only visible ASCII is followed, and anything else
/// (whitespace, control characters, and non-ASCII text, which cannot go into
/// a `Location` header as it is) makes the target `/`.
pub fn safe_next(next: &str) -> &str {
    let local = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 2048
        && next.bytes().all(|b| b.is_ascii_graphic());
    if local {
        next
    } else {
        "/"
    }
}

/// A redirect to the sign-in page that returns to `next`.
pub fn to_login(next: &str) -> Response {
    let query = serde_urlencoded::to_string([("next", safe_next(next))]).unwrap_or_default();
    Redirect::to(&format!("/login?{query}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next("/link?pin=ABCD"), "/link?pin=ABCD");
        assert_eq!(safe_next("//evil.example/x"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\\evil.example"), "/");
        assert_eq!(safe_next(""), "/");
        assert_eq!(safe_next("/\t/evil.example"), "/");
        assert_eq!(safe_next("/\n/evil.example"), "/");
        assert_eq!(safe_next("/x\ny"), "/");
        assert_eq!(safe_next("/ /evil.example"), "/");
        assert_eq!(safe_next("/\u{3000}/evil.example"), "/");
        assert_eq!(safe_next("/devices?x=%20"), "/devices?x=%20");
        assert_eq!(safe_next("/caf\u{e9}"), "/");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    proptest! {
        /// Whatever `next` holds, sign-in goes to a path on this server that
        /// fits in a `Location` header.
        #[test]
        fn next_is_always_a_local_path(raw in prop_oneof![any::<String>(), "/[ -~\\t\\n\\r\\\\/]{0,30}"]) {
            let next = super::safe_next(&raw);
            prop_assert!(next.starts_with('/') && !next.starts_with("//"));
            prop_assert!(next.bytes().all(|b| b.is_ascii_graphic()));
            prop_assert!(axum::http::HeaderValue::from_str(next).is_ok());
        }
    }
}
