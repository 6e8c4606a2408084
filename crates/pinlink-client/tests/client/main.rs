//! The client against a real pinlink server, and against a stand-in that
//! answers with recorded plex.tv-shaped bodies (so the plex.tv path is tested
//! without network).

mod against_pinlink;
mod plex_tv_fixtures;
