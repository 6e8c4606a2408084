//! Who the device says it is: the `X-Plex-*` headers sent with every request.

use crate::error::Error;

#[derive(Debug, Clone)]
pub struct Identity {
    product: String,
    client_identifier: String,
    version: Option<String>,
    platform: Option<String>,
    platform_version: Option<String>,
    device: Option<String>,
    device_name: Option<String>,
    model: Option<String>,
}

impl Identity {
    /// An identity for `product` (the name the account owner will see) with a
    /// fresh random client identifier. Store [`Identity::client_identifier`]
    /// and pass it to [`Identity::with_client_identifier`] next time: it names
    /// this installation, and polling must present the same one.
    pub fn new(product: impl Into<String>) -> Result<Identity, Error> {
        let product = product.into();
        if product.trim().is_empty() {
            return Err(Error::Config("the product name must not be empty".into()));
        }
        Ok(Identity {
            product,
            client_identifier: uuid::Uuid::new_v4().to_string(),
            version: None,
            platform: None,
            platform_version: None,
            device: None,
            device_name: None,
            model: None,
        })
    }

    pub fn with_client_identifier(mut self, id: impl Into<String>) -> Result<Identity, Error> {
        let id = id.into();
        if id.trim().is_empty() {
            return Err(Error::Config(
                "the client identifier must not be empty".into(),
            ));
        }
        self.client_identifier = id;
        Ok(self)
    }
    pub fn version(mut self, v: impl Into<String>) -> Self {
        self.version = Some(v.into());
        self
    }
    pub fn platform(mut self, v: impl Into<String>) -> Self {
        self.platform = Some(v.into());
        self
    }
    pub fn platform_version(mut self, v: impl Into<String>) -> Self {
        self.platform_version = Some(v.into());
        self
    }
    pub fn device(mut self, v: impl Into<String>) -> Self {
        self.device = Some(v.into());
        self
    }
    pub fn device_name(mut self, v: impl Into<String>) -> Self {
        self.device_name = Some(v.into());
        self
    }
    pub fn model(mut self, v: impl Into<String>) -> Self {
        self.model = Some(v.into());
        self
    }

    pub fn product(&self) -> &str {
        &self.product
    }
    pub fn client_identifier(&self) -> &str {
        &self.client_identifier
    }

    /// `(header, value)` for every field that is set.
    pub(crate) fn headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = vec![
            ("X-Plex-Product", self.product.as_str()),
            ("X-Plex-Client-Identifier", self.client_identifier.as_str()),
        ];
        let optional = [
            ("X-Plex-Version", &self.version),
            ("X-Plex-Platform", &self.platform),
            ("X-Plex-Platform-Version", &self.platform_version),
            ("X-Plex-Device", &self.device),
            ("X-Plex-Device-Name", &self.device_name),
            ("X-Plex-Model", &self.model),
        ];
        headers.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.as_deref().map(|v| (name, v))),
        );
        headers
    }

    /// The `context[device][…]` parameters of plex.tv's approval URL.
    pub(crate) fn auth_context(&self) -> Vec<(&'static str, &str)> {
        let mut context = vec![("context[device][product]", self.product.as_str())];
        let optional = [
            ("context[device][version]", &self.version),
            ("context[device][platform]", &self.platform),
            ("context[device][platformVersion]", &self.platform_version),
            ("context[device][device]", &self.device),
            ("context[device][deviceName]", &self.device_name),
            ("context[device][model]", &self.model),
        ];
        context.extend(
            optional
                .into_iter()
                .filter_map(|(name, value)| value.as_deref().map(|v| (name, v))),
        );
        context
    }
}
