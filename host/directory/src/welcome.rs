//! The welcome message new users get (when the domain's customization turns it on): how to reach the
//! console, with their credentials, in their domain's language and the admin's own words if set.

use crate::{Directory, DirectoryError, Language, Notice};
use moat_store::EVERY_DOMAIN;

/// Whether and how a domain welcomes its new users.
#[derive(Debug, Clone)]
pub(crate) struct Welcome {
    language: Language,
    template: Option<String>,
}

impl Directory {
    /// The address end users open the console at, for welcome messages.
    pub fn with_console_url(mut self, url: &str) -> Self {
        self.console_url = url.to_owned();
        self
    }

    /// How `domain` welcomes new users; `None` when it does not (the default).
    pub(crate) async fn welcome_of(&self, domain: &str) -> Result<Option<Welcome>, DirectoryError> {
        let domain = self.domain(domain).await?;
        let own = self.store().branding_get(&domain.name).await?.unwrap_or_default();
        let every = self.store().branding_get(EVERY_DOMAIN).await?.unwrap_or_default();
        Ok(own
            .send_welcome
            .or(every.send_welcome)
            .unwrap_or(false)
            .then(|| Welcome { language: Language::parse(&domain.language), template: own.welcome.or(every.welcome) }))
    }

    pub(crate) fn send_welcome(&self, welcome: &Welcome, address: &str, name: Option<&str>, password: Option<&str>) {
        self.notify(
            address,
            welcome.language,
            Notice::Welcome {
                name: name.unwrap_or(address).to_owned(),
                address: address.to_owned(),
                password: password.map(str::to_owned),
                console: self.console_url.clone(),
                template: welcome.template.clone(),
            },
        );
    }

    /// Sends the welcome message to a new user if its domain (or every domain) has it turned on. `password`
    /// is the one Moat generated, if it did.
    pub async fn welcome(
        &self,
        address: &str,
        name: Option<&str>,
        password: Option<&str>,
    ) -> Result<(), DirectoryError> {
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if let Some(welcome) = self.welcome_of(domain).await? {
            self.send_welcome(&welcome, address, name, password);
        }
        Ok(())
    }
}
