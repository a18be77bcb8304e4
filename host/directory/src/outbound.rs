//! Who may send through Moat, and as what: SMTP credentials and console accounts authenticating on the
//! submission listeners, and the DKIM keys outgoing mail is signed with. Every "may this client send as
//! this address?" is decided here, so the SMTP layer cannot become an open relay by accident.

use crate::{Directory, DirectoryError, normalize_domain};
use moat_store::{DkimAlgorithm, DkimKey, Domain, DomainId, Role, SmtpCredential, StoreError, TenantId};

/// An account that authenticated on a submission listener: what it may send as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sender {
    /// The name it authenticated with (for the log, throttling and notices).
    pub account: String,
    pub tenant: TenantId,
    /// The domains (lower-case, alias domains included) whose addresses it may use as envelope sender and
    /// `From:`.
    pub domains: Vec<String>,
}

impl Sender {
    /// Whether `address` is one this account may send as: an address of one of its domains.
    pub fn may_send_as(&self, address: &str) -> bool {
        let Some((_, domain)) = address.rsplit_once('@') else { return false };
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        self.domains.contains(&domain)
    }
}

/// Why an authentication did not give a sender.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthFailure {
    /// Unknown account or wrong secret: one answer for both, so names cannot be probed.
    #[error("authentication credentials invalid")]
    Invalid,
    /// The right secret of a credential that may not send now.
    #[error("this credential is suspended from sending: {0}")]
    Suspended(String),
    /// The right password of an account that administers no domain (a platform admin).
    #[error("this account sends for no domain; use an SMTP credential or a tenant or domain admin")]
    NoDomains,
    #[error("the directory is unavailable: {0}")]
    Temporary(String),
}

/// A DKIM key ready to sign: its selector, algorithm and private key (DER: PKCS#1 for RSA, PKCS#8 for
/// Ed25519).
pub struct SigningKey {
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    pub private_der: Vec<u8>,
}

/// A DKIM key as its admin publishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimRecord {
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// `SELECTOR._domainkey.DOMAIN`
    pub name: String,
    /// The TXT record's text.
    pub value: String,
    /// False once rotated: it signs no more, but its record must stay until it is retired.
    pub signing: bool,
}

/// The alphabet of generated SMTP secrets and usernames: no look-alike characters.
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

fn random_text(len: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

impl Directory {
    /// A new SMTP credential of `domain` (a primary domain): its username (`smtp-XXXXXX@DOMAIN`) and its
    /// secret, which is kept only as an argon2id hash — this is the one time it can be shown.
    pub async fn smtp_credential_create(
        &self,
        domain: &str,
        label: &str,
    ) -> Result<(SmtpCredential, String), DirectoryError> {
        let domain = self.primary_domain(domain, "SMTP credentials").await?;
        let label: String = label.trim().chars().filter(|c| !c.is_control()).take(100).collect();
        let secret = random_text(24);
        let hash = crate::secrets::hash_secret(&secret);
        let username = format!("smtp-{}@{}", random_text(6).to_ascii_lowercase(), domain.name);
        self.store().smtp_credential_add(domain.id, &username, &hash, &label, moat_store::unix_now()).await?;
        let credential = self
            .store()
            .smtp_credential_by_username(&username)
            .await?
            .ok_or_else(|| StoreError::NotFound { what: format!("SMTP credential {username}") })?;
        Ok((credential, secret))
    }

    /// Checks a username and secret given to AUTH on a submission listener: an SMTP credential, or the
    /// console account of a tenant or domain admin (the credentials the product's admins already have).
    /// Every failure costs one argon2 verification, as the console's sign-in does.
    pub async fn authenticate_sender(&self, username: &str, secret: &str) -> Result<Sender, AuthFailure> {
        let temporary = |e: StoreError| AuthFailure::Temporary(e.to_string());
        let username = username.trim();
        if let Some(credential) =
            self.store().smtp_credential_by_username(&username.to_ascii_lowercase()).await.map_err(temporary)?
        {
            if !crate::verify_password(secret, &credential.secret_hash) {
                return Err(AuthFailure::Invalid);
            }
            if let Some((_, reason)) = credential.suspended {
                return Err(AuthFailure::Suspended(reason));
            }
            let domains =
                self.sending_domains(credential.tenant_id, &[credential.domain_id]).await.map_err(temporary)?;
            let _ = self.store().smtp_credential_used(credential.id, moat_store::unix_now()).await;
            return Ok(Sender { account: credential.username, tenant: credential.tenant_id, domains });
        }
        let Some(admin) = self.store().admin_by_name(username).await.map_err(temporary)? else {
            let _ = crate::verify_password(secret, &crate::DUMMY_HASH);
            return Err(AuthFailure::Invalid);
        };
        if !crate::verify_password(secret, &admin.password_hash) {
            return Err(AuthFailure::Invalid);
        }
        let (tenant, ids) = match admin.role {
            Role::Platform => return Err(AuthFailure::NoDomains),
            Role::Tenant(tenant) => (tenant, None),
            Role::Domain(tenant) => (tenant, Some(self.store().admin_domains(admin.id).await.map_err(temporary)?)),
        };
        let domains = match ids {
            Some(ids) => self.sending_domains(tenant, &ids).await,
            None => self.store().domain_list(Some(tenant)).await.map(|all| all.into_iter().map(|d| d.name).collect()),
        }
        .map_err(temporary)?;
        if domains.is_empty() {
            return Err(AuthFailure::NoDomains);
        }
        Ok(Sender { account: admin.name, tenant, domains })
    }

    /// The names of `tenant`'s domains among `ids` and of their alias domains (one listing of the tenant's
    /// domains, sorted by name).
    async fn sending_domains(&self, tenant: TenantId, ids: &[DomainId]) -> Result<Vec<String>, StoreError> {
        let all = self.store().domain_list(Some(tenant)).await?;
        Ok(all
            .into_iter()
            .filter(|d| ids.contains(&d.id) || d.alias_of.is_some_and(|p| ids.contains(&p)))
            .map(|d| d.name)
            .collect())
    }

    /// New DKIM keys for `domain` — RSA-2048 and Ed25519, each under a selector of its own — which sign its
    /// mail from now on; the keys it had stop signing but stay listed (and published) until retired.
    pub async fn dkim_rotate(&self, domain: &str) -> Result<Vec<DkimRecord>, DirectoryError> {
        let domain = self.protected_domain(domain).await?;
        let now = moat_store::unix_now();
        let stamp = chrono::DateTime::from_timestamp(now, 0).unwrap_or_default().format("%Y%m%d%H%M%S");
        let generated = tokio::task::spawn_blocking(|| -> Result<_, String> {
            let rsa = mail_auth::dkim::generate::DkimKeyPair::generate_rsa(2048).map_err(|e| e.to_string())?;
            let ed25519 = mail_auth::dkim::generate::DkimKeyPair::generate_ed25519().map_err(|e| e.to_string())?;
            Ok([(DkimAlgorithm::RsaSha256, rsa), (DkimAlgorithm::Ed25519Sha256, ed25519)])
        })
        .await
        .map_err(|e| DirectoryError::Dkim(e.to_string()))?
        .map_err(DirectoryError::Dkim)?;
        let keys: Vec<DkimKey> = generated
            .into_iter()
            .map(|(algorithm, pair)| {
                use base64::Engine;
                let (private, public) = pair.into_inner();
                let b64 = base64::engine::general_purpose::STANDARD;
                DkimKey {
                    domain_id: domain.id,
                    selector: format!("moat{stamp}{}", &algorithm.key_type()[..1]),
                    algorithm,
                    sealed_private_key: self.keyring().seal(&b64.encode(private)),
                    public_key: b64.encode(public),
                    created_at: now,
                    rotated_at: None,
                }
            })
            .collect();
        self.store().dkim_keys_rotate(&keys, now).await?;
        self.dkim_records(&domain.name).await
    }

    /// The DNS records `domain` must publish for its DKIM keys, signing keys first.
    pub async fn dkim_records(&self, domain: &str) -> Result<Vec<DkimRecord>, DirectoryError> {
        let domain = self.protected_domain(domain).await?;
        let keys = self.store().dkim_keys(domain.id).await?;
        Ok(keys
            .into_iter()
            .map(|key| DkimRecord {
                name: format!("{}._domainkey.{}", key.selector, domain.name),
                value: format!("v=DKIM1; k={}; p={}", key.algorithm.key_type(), key.public_key),
                signing: key.rotated_at.is_none(),
                selector: key.selector,
                algorithm: key.algorithm,
            })
            .collect())
    }

    /// Retires a rotated key: it is forgotten, and its record may leave the DNS.
    pub async fn dkim_retire(&self, domain: &str, selector: &str) -> Result<(), DirectoryError> {
        let domain = self.protected_domain(domain).await?;
        Ok(self.store().dkim_key_remove(domain.id, selector).await?)
    }

    /// The keys that sign mail from `domain` (an alias domain has keys of its own: DMARC wants the From
    /// domain as `d=`); none when it has none.
    pub async fn dkim_signing_keys(&self, domain: &str) -> Result<Vec<SigningKey>, DirectoryError> {
        let Some(domain) = self.store().domain_by_name(&normalize_domain(domain)?).await? else {
            return Ok(Vec::new());
        };
        let mut keys = Vec::new();
        for key in self.store().dkim_keys(domain.id).await?.into_iter().filter(|k| k.rotated_at.is_none()) {
            use base64::Engine;
            let opened =
                self.keyring().open(&key.sealed_private_key).map_err(|e| DirectoryError::Dkim(e.to_string()))?;
            let private_der = base64::engine::general_purpose::STANDARD
                .decode(opened)
                .map_err(|e| DirectoryError::Dkim(format!("stored key of {}: {e}", key.selector)))?;
            keys.push(SigningKey { selector: key.selector, algorithm: key.algorithm, private_der });
        }
        Ok(keys)
    }

    /// `name` as a protected domain, primary or alias.
    async fn protected_domain(&self, name: &str) -> Result<Domain, DirectoryError> {
        let name = normalize_domain(name)?;
        self.store().domain_by_name(&name).await?.ok_or(DirectoryError::UnknownDomain(name))
    }

    /// `name` as a protected primary domain (`what` says what only primaries have).
    async fn primary_domain(&self, name: &str, what: &'static str) -> Result<Domain, DirectoryError> {
        let domain = self.protected_domain(name).await?;
        let name = domain.name.clone();
        if let Some(primary) = domain.alias_of {
            let primary = self.store().domain_by_id(primary).await?.map(|d| d.name).unwrap_or_default();
            return Err(DirectoryError::OnAliasDomain { domain: name, primary, what });
        }
        Ok(domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tests::directory;

    #[tokio::test]
    async fn a_credential_sends_as_its_domain_and_its_alias_domains_only() {
        let (directory, _dir) = directory().await;
        let (credential, secret) = directory.smtp_credential_create("example.com", "office").await.unwrap();
        assert!(credential.username.starts_with("smtp-") && credential.username.ends_with("@example.com"));
        assert!(credential.secret_hash.starts_with("$argon2id$"), "only a slow hash is kept");
        let sender = directory.authenticate_sender(&credential.username, &secret).await.unwrap();
        assert_eq!(sender.domains, ["example.com", "example.net"]);
        assert!(sender.may_send_as("anyone@EXAMPLE.net"));
        assert!(!sender.may_send_as("bob@other.org"));
        assert!(!sender.may_send_as("bob@sub.example.com"));
        assert_eq!(directory.authenticate_sender(&credential.username, "wrong").await, Err(AuthFailure::Invalid));
        assert_eq!(directory.authenticate_sender("nobody@example.com", &secret).await, Err(AuthFailure::Invalid));
        directory.store().smtp_credential_suspend(&credential.username, Some((1, "a burst of bounces"))).await.unwrap();
        assert_eq!(
            directory.authenticate_sender(&credential.username, &secret).await,
            Err(AuthFailure::Suspended("a burst of bounces".into()))
        );
        let alias = directory.smtp_credential_create("example.net", "").await;
        assert!(matches!(alias, Err(DirectoryError::OnAliasDomain { .. })), "{alias:?}");
    }

    #[tokio::test]
    async fn console_accounts_send_as_the_domains_they_administer() {
        let (directory, _dir) = directory().await;
        let hash = crate::hash_password("Console_pass.2026").unwrap();
        let store = directory.store();
        let tenant = store.domain_by_name("example.com").await.unwrap().unwrap().tenant_id;
        store.admin_add("root", &hash, Role::Platform, 1).await.unwrap();
        store.admin_add("owner", &hash, Role::Tenant(tenant), 1).await.unwrap();
        let delegate = store.admin_add("delegate", &hash, Role::Domain(tenant), 1).await.unwrap();
        let other = store.domain_by_name("other.org").await.unwrap().unwrap();
        store.admin_delegate(delegate, &[other.id], moat_store::Delegation::default()).await.unwrap();
        assert_eq!(directory.authenticate_sender("root", "Console_pass.2026").await, Err(AuthFailure::NoDomains));
        let owner = directory.authenticate_sender("owner", "Console_pass.2026").await.unwrap();
        assert_eq!(owner.domains, ["example.com", "example.net", "other.org"]);
        let delegate = directory.authenticate_sender("delegate", "Console_pass.2026").await.unwrap();
        assert_eq!(delegate.domains, ["other.org"]);
        assert_eq!(directory.authenticate_sender("owner", "Console_pass.2025").await, Err(AuthFailure::Invalid));
    }

    #[tokio::test]
    async fn rotated_keys_stop_signing_and_stay_published_until_retired() {
        let (directory, _dir) = directory().await;
        assert!(directory.dkim_signing_keys("example.com").await.unwrap().is_empty(), "no key until made");
        let first = directory.dkim_rotate("example.com").await.unwrap();
        let kinds: Vec<(DkimAlgorithm, bool)> = first.iter().map(|r| (r.algorithm, r.signing)).collect();
        assert_eq!(kinds, [(DkimAlgorithm::Ed25519Sha256, true), (DkimAlgorithm::RsaSha256, true)]);
        assert!(first.iter().all(|r| r.name == format!("{}._domainkey.example.com", r.selector)));
        assert!(first.iter().any(|r| r.value.starts_with("v=DKIM1; k=rsa; p=MII")), "{first:?}");
        let stored =
            directory.store().dkim_keys(directory.store().domain_by_name("example.com").await.unwrap().unwrap().id);
        assert!(stored.await.unwrap().iter().all(|k| crate::Keyring::is_sealed(&k.sealed_private_key)));
        let signing = directory.dkim_signing_keys("example.com").await.unwrap();
        assert_eq!(signing.len(), 2);
        mail_auth::common::crypto::Ed25519Key::from_pkcs8_der(
            &signing.iter().find(|k| k.algorithm == DkimAlgorithm::Ed25519Sha256).unwrap().private_der,
        )
        .expect("the Ed25519 key opens and parses");

        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let second = directory.dkim_rotate("example.com").await.unwrap();
        assert_eq!(second.iter().filter(|r| r.signing).count(), 2);
        assert_eq!(second.iter().filter(|r| !r.signing).count(), 2, "the old selectors are still to publish");
        let old = &second.iter().find(|r| !r.signing).unwrap().selector;
        directory.dkim_retire("example.com", old).await.unwrap();
        assert_eq!(directory.dkim_records("example.com").await.unwrap().len(), 3);
        let new = &second.iter().find(|r| r.signing).unwrap().selector;
        assert!(directory.dkim_retire("example.com", new).await.is_err(), "a signing key cannot be retired");
    }
}
