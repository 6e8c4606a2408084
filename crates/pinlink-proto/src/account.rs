//! What apps call right after a login, beyond the user object: `ping`, the
//! account's friends, its home's users and its webhooks (the servers are in
//! [`crate::resource`]). pinlink has no friends, homes or webhooks, so these
//! answer the shapes real clients parse, with the account owner as the
//! home's only user and empty lists elsewhere (reference:
//! `shared/protocol/plex-jwt-and-after-login.md` §B.2).

use serde::Serialize;

use crate::xml::Element;
use crate::WireBody;

/// plex.tv's name for the container of its v1 account lists.
const MYPLEX: &str = "myPlex";
const MYPLEX_IDENTIFIER: &str = "com.plexapp.plugins.myplex";

/// `GET /api/v2/ping`: `{"pong":true}`, `<pong>true</pong>`.
#[derive(Debug, Clone, Copy)]
pub struct Pong;

impl WireBody for Pong {
    fn to_json(&self) -> String {
        r#"{"pong":true}"#.to_owned()
    }
    fn to_xml(&self) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<pong>true</pong>\n".to_owned()
    }
}

/// An empty v2 list: JSON `[]`, XML a lower-case container named `element`
/// with `size="0"` (`GET /api/v2/user/webhooks`).
#[derive(Debug, Clone, Copy)]
pub struct EmptyList {
    pub element: &'static str,
}

impl WireBody for EmptyList {
    fn to_json(&self) -> String {
        "[]".to_owned()
    }
    fn to_xml(&self) -> String {
        Element::new(self.element).attr("size", 0).to_document()
    }
}

/// `GET /api/users`: the account's friends (pinlink has none), as the v1
/// container python-plexapi, Overseerr and Home Assistant parse.
#[derive(Debug, Clone)]
pub struct Friends {
    /// Names the account's container (plex.tv: the account's machine id).
    pub machine_identifier: String,
}

impl WireBody for Friends {
    fn to_json(&self) -> String {
        serde_json::json!({
            "MediaContainer": {
                "friendlyName": MYPLEX,
                "identifier": MYPLEX_IDENTIFIER,
                "machineIdentifier": self.machine_identifier,
                "totalSize": 0,
                "size": 0,
            }
        })
        .to_string()
    }
    fn to_xml(&self) -> String {
        Element::new("MediaContainer")
            .attr("friendlyName", MYPLEX)
            .attr("identifier", MYPLEX_IDENTIFIER)
            .attr("machineIdentifier", &self.machine_identifier)
            .attr("totalSize", 0)
            .attr("size", 0)
            .to_document()
    }
}

/// One user of a Plex Home; pinlink's homes have one, the owner.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HomeUser {
    pub id: i64,
    pub uuid: String,
    pub title: String,
    pub username: String,
    pub email: String,
    pub friendly_name: String,
    pub thumb: String,
    pub has_password: bool,
    pub restricted: bool,
    pub updated_at: i64,
    pub restriction_profile: Option<String>,
    pub admin: bool,
    pub guest: bool,
    pub protected: bool,
}

/// `GET /api/v2/home/users` (JSON: the home with its `users`) and v1
/// `GET /api/home/users` (XML: a `MediaContainer` of `<User>`s, every
/// container attribute the `plex-api` crate requires).
#[derive(Debug, Clone)]
pub struct HomeUsers {
    pub home_id: i64,
    pub name: String,
    pub machine_identifier: String,
    pub users: Vec<HomeUser>,
}

impl WireBody for HomeUsers {
    fn to_json(&self) -> String {
        serde_json::json!({
            "id": self.home_id,
            "name": self.name,
            "guestUserID": serde_json::Value::Null,
            "guestUserUUID": "",
            "guestEnabled": false,
            "subscription": false,
            "users": self.users,
        })
        .to_string()
    }
    fn to_xml(&self) -> String {
        Element::new("MediaContainer")
            .attr("friendlyName", MYPLEX)
            .attr("identifier", MYPLEX_IDENTIFIER)
            .attr("machineIdentifier", &self.machine_identifier)
            .attr("totalSize", self.users.len())
            .attr("size", self.users.len())
            .attr("guestUserID", "")
            .children(self.users.iter().map(|u| {
                Element::new("User")
                    .attr("id", u.id)
                    .attr("uuid", &u.uuid)
                    .bool_attr("admin", u.admin)
                    .bool_attr("guest", u.guest)
                    .bool_attr("restricted", u.restricted)
                    .bool_attr("hasPassword", u.has_password)
                    .bool_attr("protected", u.protected)
                    .attr("title", &u.title)
                    .attr("thumb", &u.thumb)
                    .attr("username", &u.username)
                    .attr("email", &u.email)
            }))
            .to_document()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> HomeUser {
        HomeUser {
            id: 1,
            uuid: "0123456789abcdef".into(),
            title: "alice".into(),
            username: "alice".into(),
            email: "alice@example.org".into(),
            friendly_name: "alice".into(),
            thumb: "http://x/users/0123456789abcdef/avatar".into(),
            has_password: true,
            restricted: false,
            updated_at: 1_700_000_000,
            restriction_profile: None,
            admin: true,
            guest: false,
            protected: false,
        }
    }

    #[test]
    fn ping_in_both_formats() {
        let v: serde_json::Value = serde_json::from_str(&Pong.to_json()).expect("json");
        assert_eq!(v["pong"], true);
        assert!(Pong.to_xml().contains("<pong>true</pong>"));
    }

    #[test]
    fn home_users_carry_every_attribute_the_clients_require() {
        let home = HomeUsers {
            home_id: 1,
            name: "alice".into(),
            machine_identifier: "m".into(),
            users: vec![owner()],
        };
        let xml = home.to_xml();
        for attr in [
            "friendlyName=",
            "identifier=",
            "machineIdentifier=",
            "totalSize=\"1\"",
            "size=\"1\"",
            "guestUserID=",
            "<User id=\"1\"",
            "admin=\"1\"",
            "hasPassword=\"1\"",
        ] {
            assert!(xml.contains(attr), "{attr} in {xml}");
        }
        let v: serde_json::Value = serde_json::from_str(&home.to_json()).expect("json");
        assert_eq!(v["users"][0]["username"], "alice");
        assert_eq!(v["users"][0]["admin"], true);
    }

    #[test]
    fn empty_lists() {
        assert_eq!(
            EmptyList {
                element: "resources"
            }
            .to_json(),
            "[]"
        );
        assert!(EmptyList {
            element: "resources"
        }
        .to_xml()
        .contains("<resources size=\"0\"/>"));
        let friends = Friends {
            machine_identifier: "m".into(),
        }
        .to_xml();
        assert!(
            friends.contains("identifier=\"com.plexapp.plugins.myplex\""),
            "{friends}"
        );
    }
}
