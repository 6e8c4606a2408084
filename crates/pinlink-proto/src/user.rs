//! The user object of `POST /api/v2/users/signin` and `GET /api/v2/user`
//! (protocol reference §8). pinlink has no subscriptions, homes or profiles,
//! but the clients deserialise those fields strictly, so they are always
//! present with neutral values.

use serde::{Deserialize, Serialize};

use crate::xml::Element;
use crate::WireBody;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub active: bool,
    pub subscribed_at: Option<String>,
    pub status: String,
    pub payment_service: Option<String>,
    pub plan: Option<String>,
    pub features: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub auto_select_audio: bool,
    pub default_audio_language: Option<String>,
    pub default_subtitle_language: Option<String>,
    pub auto_select_subtitle: i64,
    pub default_subtitle_accessibility: i64,
    pub default_subtitle_forced: i64,
    /// Whether watched indicators are shown (1) or not (0).
    pub watched_indicator: i64,
    /// Whether media reviews are visible (1) or not (0).
    pub media_reviews_visibility: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserBody {
    pub id: i64,
    pub uuid: String,
    pub username: String,
    pub title: String,
    pub email: String,
    pub friendly_name: String,
    pub locale: Option<String>,
    pub confirmed: bool,
    pub joined_at: i64,
    pub email_only_auth: bool,
    pub has_password: bool,
    pub protected: bool,
    pub thumb: String,
    pub auth_token: String,
    pub mailing_list_status: String,
    pub mailing_list_active: bool,
    pub scrobble_types: String,
    pub country: String,
    pub subscription: Subscription,
    pub subscription_description: Option<String>,
    pub restricted: bool,
    pub anonymous: Option<bool>,
    pub home: bool,
    pub guest: bool,
    pub home_size: i64,
    pub home_admin: bool,
    pub max_home_size: i64,
    pub remember_expires_at: i64,
    pub profile: Profile,
    pub entitlements: Vec<String>,
    pub roles: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub services: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub subscriptions: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub past_subscriptions: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub trials: Vec<serde_json::Value>,
    pub ads_consent: Option<bool>,
    pub ads_consent_set_at: Option<i64>,
    pub ads_consent_reminder_at: Option<i64>,
    pub experimental_features: bool,
    pub two_factor_enabled: bool,
    pub backup_codes_created: bool,
    pub attribution_partner: Option<String>,
}

/// The facts pinlink knows about a user; everything else is a constant.
#[derive(Debug, Clone)]
pub struct UserFacts {
    pub id: i64,
    pub uuid: String,
    pub username: String,
    pub email: String,
    pub joined_at: i64,
    pub auth_token: String,
    pub thumb: String,
    pub remember_expires_at: i64,
}

impl UserBody {
    pub fn new(f: UserFacts) -> UserBody {
        UserBody {
            id: f.id,
            uuid: f.uuid,
            title: f.username.clone(),
            friendly_name: f.username.clone(),
            username: f.username,
            email: f.email,
            locale: None,
            confirmed: true,
            joined_at: f.joined_at,
            email_only_auth: false,
            has_password: true,
            protected: false,
            thumb: f.thumb,
            auth_token: f.auth_token,
            mailing_list_status: "unsubscribed".into(),
            mailing_list_active: false,
            scrobble_types: String::new(),
            country: String::new(),
            subscription: Subscription {
                active: false,
                subscribed_at: None,
                status: "Inactive".into(),
                payment_service: None,
                plan: None,
                features: Vec::new(),
            },
            subscription_description: None,
            restricted: false,
            anonymous: None,
            home: false,
            guest: false,
            home_size: 1,
            home_admin: false,
            max_home_size: 1,
            remember_expires_at: f.remember_expires_at,
            profile: Profile {
                auto_select_audio: true,
                default_audio_language: Some("en".into()),
                default_subtitle_language: Some("en".into()),
                auto_select_subtitle: 0,
                default_subtitle_accessibility: 0,
                default_subtitle_forced: 0,
                watched_indicator: 1,
                media_reviews_visibility: 0,
            },
            entitlements: Vec::new(),
            roles: Vec::new(),
            services: Vec::new(),
            subscriptions: Vec::new(),
            past_subscriptions: Vec::new(),
            trials: Vec::new(),
            ads_consent: None,
            ads_consent_set_at: None,
            ads_consent_reminder_at: None,
            experimental_features: false,
            two_factor_enabled: false,
            backup_codes_created: false,
            attribution_partner: None,
        }
    }

    fn to_element(&self) -> Element {
        let s = &self.subscription;
        let p = &self.profile;
        // Booleans that are null in JSON are left out of the XML: python-plexapi
        // raises on an empty boolean attribute (protocol reference §8).
        let mut user = Element::new("user")
            .attr("id", self.id)
            .attr("uuid", &self.uuid)
            .attr("username", &self.username)
            .attr("title", &self.title)
            .attr("email", &self.email)
            .attr("friendlyName", &self.friendly_name)
            .opt_attr("locale", self.locale.as_ref())
            .bool_attr("confirmed", self.confirmed)
            .attr("joinedAt", self.joined_at)
            .bool_attr("emailOnlyAuth", self.email_only_auth)
            .bool_attr("hasPassword", self.has_password)
            .bool_attr("protected", self.protected)
            .attr("thumb", &self.thumb)
            .attr("authToken", &self.auth_token)
            // The legacy name of the same token: python-plexapi's home-user
            // switch and older clients read this one.
            .attr("authenticationToken", &self.auth_token)
            .attr("mailingListStatus", &self.mailing_list_status)
            .bool_attr("mailingListActive", self.mailing_list_active)
            .attr("scrobbleTypes", &self.scrobble_types)
            .attr("country", &self.country)
            .opt_attr(
                "subscriptionDescription",
                self.subscription_description.as_ref(),
            )
            .bool_attr("restricted", self.restricted);
        if let Some(anonymous) = self.anonymous {
            user = user.bool_attr("anonymous", anonymous);
        }
        user.bool_attr("home", self.home)
            .bool_attr("guest", self.guest)
            .attr("homeSize", self.home_size)
            .bool_attr("homeAdmin", self.home_admin)
            .attr("maxHomeSize", self.max_home_size)
            .attr("rememberExpiresAt", self.remember_expires_at)
            .bool_attr("experimentalFeatures", self.experimental_features)
            .bool_attr("twoFactorEnabled", self.two_factor_enabled)
            .bool_attr("backupCodesCreated", self.backup_codes_created)
            .child(
                Element::new("subscription")
                    .bool_attr("active", s.active)
                    .opt_attr("subscribedAt", s.subscribed_at.as_ref())
                    .attr("status", &s.status)
                    .opt_attr("paymentService", s.payment_service.as_ref())
                    .opt_attr("plan", s.plan.as_ref())
                    .children(
                        s.features
                            .iter()
                            .map(|f| Element::new("feature").attr("id", f)),
                    ),
            )
            .child(
                Element::new("profile")
                    .bool_attr("autoSelectAudio", p.auto_select_audio)
                    .opt_attr("defaultAudioLanguage", p.default_audio_language.as_ref())
                    .opt_attr(
                        "defaultSubtitleLanguage",
                        p.default_subtitle_language.as_ref(),
                    )
                    .attr("autoSelectSubtitle", p.auto_select_subtitle)
                    .attr(
                        "defaultSubtitleAccessibility",
                        p.default_subtitle_accessibility,
                    )
                    .attr("defaultSubtitleForced", p.default_subtitle_forced)
                    .attr("watchedIndicator", p.watched_indicator)
                    .attr("mediaReviewsVisibility", p.media_reviews_visibility),
            )
            .child(Element::new("entitlements"))
            .child(Element::new("roles"))
            .child(Element::new("services"))
    }
}

impl WireBody for UserBody {
    fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
    fn to_xml(&self) -> String {
        self.to_element().to_document()
    }
}

/// The legacy `GET /users/account(.json)` wrapper: `{"user": {…}}` in JSON;
/// the same `<user>` element in XML.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserEnvelope {
    pub user: UserBody,
}

impl WireBody for UserEnvelope {
    /// plex.tv's legacy object names the token twice, `authToken` and
    /// `authenticationToken`.
    fn to_json(&self) -> String {
        let mut user = serde_json::to_value(&self.user).unwrap_or_default();
        if let Some(fields) = user.as_object_mut() {
            fields.insert(
                "authenticationToken".into(),
                self.user.auth_token.clone().into(),
            );
        }
        serde_json::json!({ "user": user }).to_string()
    }
    fn to_xml(&self) -> String {
        self.user.to_xml()
    }
}
