//! Importing users from a CSV or TXT file, in the product's three line formats:
//!
//! ```text
//! Full name, email, password
//! Full name, email
//! Full name, email, password, alias1, alias2, …
//! ```
//!
//! Addresses are either all written with their domain (no domain chosen) or all without it (the chosen
//! domain completes them); a file that mixes the two is refused as a whole before anything is written.
//! Each line is imported whole or not at all; a bad line is reported with its number and reason and the
//! others go on. A re-import is idempotent: users already there are left as they are (only aliases they lack
//! are added). The job runs in the background in batches (one transaction each) and records its progress.

use crate::{
    Address, Directory, DirectoryError, Language, Localized, Notice, check_password, generate_password,
    hash_generated_password, hash_password, licenses_for, normalize_domain,
};
use moat_i18n::fill;
use moat_store::{
    AdminId, Domain, DomainId, ImportJob, ImportLineError, ImportStatus, ImportedUser, MailboxId, TenantId,
};
use std::collections::HashMap;

/// Lines written per transaction (and between two progress updates).
const BATCH: usize = 500;

/// An import as the admin asked for it.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    pub tenant: TenantId,
    pub admin: Option<AdminId>,
    pub file_name: String,
    pub bytes: Vec<u8>,
    /// The domain of addresses written without one; `None` when every address has its domain.
    pub domain: Option<String>,
    /// Who gets the result by email.
    pub report_to: Option<String>,
    /// The importer's language: of the per-line reasons and of the mailed result.
    pub language: Language,
}

/// Why a whole file is refused (nothing of it is imported).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is not text (UTF-8)")]
    NotText,
    #[error("the file holds no users")]
    Empty,
    #[error(
        "line {line}: {address:?} has no domain: choose the domain of the file, or write every address with its \
         domain"
    )]
    MissingDomain { line: usize, address: String },
    #[error(
        "line {line}: {address:?} has a domain while {domain} was chosen: leave the domain empty, or write every \
         address without its domain"
    )]
    UnexpectedDomain { line: usize, address: String, domain: String },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

/// One user line, fields trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine {
    pub line: usize,
    pub full_name: Option<String>,
    /// With its domain (the chosen one appended when the file has none).
    pub address: String,
    pub password: Option<String>,
    pub aliases: Vec<String>,
}

/// Splits a file into user lines, checking the file-wide domain rule. Lines too short to hold an address
/// come back as line errors; blank lines, `#` comments and a header line are skipped.
pub fn parse_import(
    bytes: &[u8],
    domain: Option<&str>,
    language: Language,
) -> Result<(Vec<ParsedLine>, Vec<ImportLineError>), ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ImportError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let domain = domain.map(str::trim).filter(|d| !d.is_empty()).map(normalize_domain).transpose();
    let domain = domain.map_err(DirectoryError::from)?;
    let (mut lines, mut errors) = (Vec::new(), Vec::new());
    // Line by line, so every error names the line an admin sees in an editor (a quoted field does not span
    // lines in these files).
    for (index, text_line) in text.lines().enumerate() {
        let line = index + 1;
        if text_line.trim().is_empty() || text_line.trim_start().starts_with('#') {
            continue;
        }
        // Spreadsheets of some locales save CSV with semicolons; TXT files are sometimes tab-separated.
        let delimiter = [b',', b';', b'\t'].into_iter().find(|d| text_line.as_bytes().contains(d)).unwrap_or(b',');
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text_line.as_bytes());
        let record = match reader.records().next() {
            Some(Ok(r)) => r,
            Some(Err(e)) => {
                let reason = fill(language, "not readable: {why}", &[("why", &e.to_string())]);
                errors.push(ImportLineError { line, reason });
                continue;
            }
            None => continue,
        };
        let fields: Vec<&str> = record.iter().collect();
        if fields.iter().all(|f| f.is_empty()) {
            continue;
        }
        if lines.is_empty() && errors.is_empty() && fields.get(1).is_some_and(|f| is_header(f)) {
            continue;
        }
        let Some(address) = fields.get(1).filter(|a| !a.is_empty()) else {
            let reason = moat_i18n::text(language, "expected: full name, email[, password[, aliases…]]");
            errors.push(ImportLineError { line, reason: reason.into() });
            continue;
        };
        let complete = |written: &str| -> Result<String, ImportError> {
            match (&domain, written.contains('@')) {
                (Some(domain), false) => Ok(format!("{written}@{domain}")),
                (Some(domain), true) => {
                    Err(ImportError::UnexpectedDomain { line, address: written.into(), domain: domain.clone() })
                }
                (None, true) => Ok(written.to_owned()),
                (None, false) => Err(ImportError::MissingDomain { line, address: written.into() }),
            }
        };
        let address = complete(address)?;
        // Aliases may name another (alias) domain; without one they take the mailbox's.
        let mailbox_domain = address.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
        let aliases = fields
            .iter()
            .skip(3)
            .filter(|a| !a.is_empty())
            .map(|a| if a.contains('@') { (*a).to_owned() } else { format!("{a}@{mailbox_domain}") })
            .collect();
        lines.push(ParsedLine {
            line,
            full_name: fields.first().filter(|n| !n.is_empty()).map(|n| formula_unquoted(n).to_owned()),
            address,
            password: fields.get(2).filter(|p| !p.is_empty()).map(|p| (*p).to_owned()),
            aliases,
        });
    }
    if lines.is_empty() && errors.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok((lines, errors))
}

fn is_header(field: &str) -> bool {
    ["email", "e-mail", "mail", "address", "correo", "correo electrónico"].contains(&field.to_lowercase().as_str())
}

/// Who holds an address already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holder {
    Mailbox(MailboxId),
    AliasOf(MailboxId),
}

/// The tenant's directory as the job sees it, kept up to date as lines are planned, so each line is
/// checked against the lines before it without a query per line.
struct Snapshot {
    tenant_name: String,
    domains: HashMap<String, Domain>,
    holders: HashMap<String, Holder>,
    aliases_of: HashMap<MailboxId, i64>,
    users_in: HashMap<DomainId, i64>,
    pool: Option<i64>,
    used: i64,
    exhaustion_told: bool,
    /// The importer's, for the per-line reasons.
    language: Language,
}

/// What one line comes to.
enum Plan {
    Unchanged,
    Write { user: ImportedUser, password: Secret, address: String },
}

enum Secret {
    None,
    Chosen(String),
    Generated(String),
}

impl Snapshot {
    async fn load(directory: &Directory, tenant: TenantId, language: Language) -> Result<Self, DirectoryError> {
        let store = directory.store();
        let tenant_name = store.tenant_list().await?.into_iter().find(|t| t.id == tenant).map(|t| t.name);
        let tenant_name = tenant_name.ok_or_else(|| DirectoryError::UnknownTenant(format!("#{}", tenant.0)))?;
        let domains: HashMap<String, Domain> =
            store.domain_list(Some(tenant)).await?.into_iter().map(|d| (d.name.clone(), d)).collect();
        let (mut holders, mut aliases_of, mut users_in) = (HashMap::new(), HashMap::new(), HashMap::new());
        for domain in domains.values() {
            for mailbox in store.mailbox_list(Some(domain.id)).await? {
                holders.insert(mailbox.address, Holder::Mailbox(mailbox.id));
                *users_in.entry(domain.id).or_insert(0) += 1;
            }
        }
        for domain in domains.values() {
            for alias in store.alias_list(Some(domain.id)).await? {
                if let Some(Holder::Mailbox(id)) = holders.get(&alias.mailbox).copied() {
                    holders.insert(alias.address, Holder::AliasOf(id));
                    *aliases_of.entry(id).or_insert(0) += 1;
                }
            }
        }
        let usage = directory.license_usage(tenant).await?;
        Ok(Self {
            tenant_name,
            domains,
            holders,
            aliases_of,
            users_in,
            pool: usage.pool,
            used: usage.used,
            exhaustion_told: false,
            language,
        })
    }

    fn domain(&self, name: &str) -> Result<&Domain, String> {
        self.domains
            .get(name)
            .ok_or_else(|| self.say("{domain} is not one of this tenant's domains", &[("domain", name)]))
    }

    /// A reason, in the importer's language.
    fn say(&self, template: &'static str, values: &[(&str, &str)]) -> String {
        fill(self.language, template, values)
    }

    /// Checks a line against the directory and the lines before it; on success the snapshot counts it in.
    fn plan(&mut self, directory: &Directory, line: &ParsedLine) -> Result<Plan, String> {
        let address = Address::parse_mailbox(&line.address).map_err(|e| e.in_language(self.language))?;
        let domain = self.domain(address.domain())?.clone();
        if let Some(primary) = domain.alias_of {
            let primary = self.domains.values().find(|d| d.id == primary).map(|d| d.name.clone());
            let primary = primary.unwrap_or_default();
            return Err(self.say(
                "{domain} is an alias domain of {primary}: mailboxes belong to {primary}",
                &[("domain", &domain.name), ("primary", &primary)],
            ));
        }
        let existing = match self.holders.get(&address.to_string()) {
            Some(Holder::Mailbox(id)) => Some(*id),
            Some(Holder::AliasOf(_)) => {
                return Err(self.say("{address} is already an alias", &[("address", &address.to_string())]));
            }
            None => None,
        };
        let mut aliases = Vec::new();
        for alias in &line.aliases {
            let alias = Address::parse_mailbox(alias)
                .map_err(|e| format!("alias {alias:?}: {}", e.in_language(self.language)))?;
            let alias_domain = self.domain(alias.domain())?;
            match self.holders.get(&alias.to_string()) {
                Some(Holder::AliasOf(id)) if Some(*id) == existing => continue,
                Some(_) => {
                    return Err(
                        self.say("alias {alias} already belongs to another user", &[("alias", &alias.to_string())])
                    );
                }
                None => {}
            }
            if alias == address || aliases.iter().any(|(_, a): &(DomainId, Address)| *a == alias) {
                continue;
            }
            if let Some(primary) = alias_domain.alias_of {
                let primary = self.domains.values().find(|d| d.id == primary).map(|d| d.name.clone());
                let shadowed = format!("{}@{}", alias.local(), primary.unwrap_or_default());
                if self.holders.contains_key(&shadowed) {
                    return Err(self.say(
                        "alias {alias} is already delivered to {shadowed} through its alias domain",
                        &[("alias", &alias.to_string()), ("shadowed", &shadowed.to_string())],
                    ));
                }
            }
            aliases.push((alias_domain.id, alias));
        }
        if existing.is_some() && aliases.is_empty() {
            return Ok(Plan::Unchanged);
        }
        let had = existing.map_or(0, |id| self.aliases_of.get(&id).copied().unwrap_or(0));
        let more = licenses_for(had + aliases.len() as i64) - if existing.is_some() { licenses_for(had) } else { 0 };
        if let Some(pool) = self.pool
            && self.used + more > pool
        {
            if !self.exhaustion_told {
                self.exhaustion_told = true;
                directory.notify_exhausted(&domain, &self.tenant_name, pool, self.used);
            }
            let used = self.used;
            return Err(self.say(
                "no license left ({used} of {pool} in use)",
                &[("used", &used.to_string()), ("pool", &pool.to_string())],
            ));
        }
        if existing.is_none()
            && let Some(max) = domain.max_users
            && self.users_in.get(&domain.id).copied().unwrap_or(0) >= max
        {
            return Err(self.say(
                "{domain} already has its maximum of {max} users",
                &[("domain", &domain.name), ("max", &max.to_string())],
            ));
        }
        let password = match (&line.password, existing) {
            (_, Some(_)) => Secret::None,
            (Some(chosen), None) => {
                check_password(chosen).map_err(|e| e.in_language(self.language))?;
                Secret::Chosen(chosen.clone())
            }
            (None, None) => Secret::Generated(generate_password()),
        };
        // Counted in now, so the lines after this one see it.
        self.used += more;
        let mailbox = existing.unwrap_or(MailboxId(-(line.line as i64)));
        if existing.is_none() {
            *self.users_in.entry(domain.id).or_insert(0) += 1;
            self.holders.insert(address.to_string(), Holder::Mailbox(mailbox));
        }
        for (_, alias) in &aliases {
            self.holders.insert(alias.to_string(), Holder::AliasOf(mailbox));
        }
        *self.aliases_of.entry(mailbox).or_insert(0) += aliases.len() as i64;
        let user = ImportedUser {
            existing,
            domain: domain.id,
            local_part: address.local().to_owned(),
            full_name: line.full_name.clone(),
            password_hash: None,
            aliases: aliases.into_iter().map(|(d, a)| (d, a.local().to_owned())).collect(),
        };
        Ok(Plan::Write { user, password, address: address.to_string() })
    }
}

/// Hashes the batch's passwords on every core: argon2id for chosen ones (the cost of an import with
/// passwords), a fast digest for generated ones.
fn hash_all(planned: &mut [(usize, ImportedUser, Secret, String)]) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_thread = planned.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        for part in planned.chunks_mut(per_thread) {
            scope.spawn(move || {
                for (_, user, secret, _) in part {
                    user.password_hash = match secret {
                        Secret::None => None,
                        Secret::Chosen(p) => hash_password(p).ok(),
                        Secret::Generated(p) => Some(hash_generated_password(p)),
                    };
                }
            });
        }
    });
}

impl Directory {
    /// Checks the file and starts the import in the background; returns the job's id to follow its
    /// progress with `import_job_get`. A file-wide error (mixed domains, not text, no users) starts nothing.
    pub async fn start_import(&self, request: ImportRequest) -> Result<i64, ImportError> {
        let (lines, errors) = parse_import(&request.bytes, request.domain.as_deref(), request.language)?;
        if let Some(domain) = &request.domain {
            let domain = self.domain(domain).await?;
            if domain.tenant_id != request.tenant {
                return Err(DirectoryError::UnknownDomain(domain.name).into());
            }
        }
        let total = (lines.len() + errors.len()) as i64;
        let id = self
            .store()
            .import_job_add(request.tenant, request.admin, &request.file_name, total, now())
            .await
            .map_err(DirectoryError::from)?;
        let mut job = self.store().import_job_get(id).await.map_err(DirectoryError::from)?;
        job.errors = errors;
        job.processed = job.errors.len() as i64;
        let directory = self.clone();
        tokio::spawn(async move {
            let report_to = request.report_to.map(|to| (to, request.language));
            if let Err(e) = directory.run_import(&mut job, lines, report_to, request.language).await {
                tracing::error!(job = job.id, "import failed: {e}");
                job.status = ImportStatus::Interrupted;
                job.finished_at = Some(now());
                let _ = directory.store().import_job_update(&job).await;
            }
        });
        Ok(id)
    }

    /// Runs an import to its end in the caller's task (what [`Directory::start_import`] spawns).
    async fn run_import(
        &self,
        job: &mut ImportJob,
        lines: Vec<ParsedLine>,
        report_to: Option<(String, Language)>,
        language: Language,
    ) -> Result<(), DirectoryError> {
        let mut snapshot = Snapshot::load(self, job.tenant, language).await?;
        let mut generated = Vec::new();
        // Per domain: whether new users get the welcome message (looked up once).
        let mut welcomes = HashMap::new();
        for batch in lines.chunks(BATCH) {
            let mut planned = Vec::new();
            for line in batch {
                match snapshot.plan(self, line) {
                    Ok(Plan::Unchanged) => job.unchanged += 1,
                    Ok(Plan::Write { user, password, address }) => planned.push((line.line, user, password, address)),
                    Err(reason) => job.errors.push(ImportLineError { line: line.line, reason }),
                }
            }
            let planned = tokio::task::spawn_blocking(move || {
                hash_all(&mut planned);
                planned
            })
            .await
            .map_err(|e| DirectoryError::Store(moat_store::StoreError::NotFound { what: format!("hashing: {e}") }))?;
            let users: Vec<ImportedUser> = planned.iter().map(|(_, u, _, _)| u.clone()).collect();
            let written = match self.store().import_users(&users, now()).await {
                Ok(()) => vec![true; planned.len()],
                // Someone else wrote one of these addresses meanwhile: line by line, so only that one fails.
                Err(_) => {
                    let mut written = Vec::with_capacity(planned.len());
                    for (line, user, _, _) in &planned {
                        let result = self.store().import_users(std::slice::from_ref(user), now()).await;
                        if let Err(e) = &result {
                            job.errors.push(ImportLineError { line: *line, reason: e.in_language(language) });
                        }
                        written.push(result.is_ok());
                    }
                    written
                }
            };
            for ((_, user, secret, address), written) in planned.into_iter().zip(written) {
                if !written || user.existing.is_some() {
                    continue;
                }
                let password = match secret {
                    Secret::Generated(password) => Some(password),
                    _ => None,
                };
                let domain = address.rsplit_once('@').map(|(_, d)| d.to_owned()).unwrap_or_default();
                if !welcomes.contains_key(&domain) {
                    welcomes.insert(domain.clone(), self.welcome_of(&domain).await?);
                }
                if let Some(welcome) = &welcomes[&domain] {
                    self.send_welcome(welcome, &address, user.full_name.as_deref(), password.as_deref());
                }
                if let Some(password) = password {
                    generated.push((address, password));
                }
            }
            job.processed += batch.len() as i64;
            self.store().import_job_update(job).await?;
        }
        job.errors.sort_by_key(|e| e.line);
        job.status = ImportStatus::Finished;
        job.finished_at = Some(now());
        tracing::info!(
            job = job.id,
            imported = job.imported(),
            unchanged = job.unchanged,
            failed = job.errors.len(),
            "import finished"
        );
        // The report is on its way before the job reads as finished.
        if let Some((to, language)) = report_to {
            self.notify(
                &to,
                language,
                Notice::ImportFinished {
                    file_name: job.file_name.clone(),
                    imported: job.imported(),
                    unchanged: job.unchanged,
                    errors: job.errors.clone(),
                    generated,
                },
            );
        }
        self.store().import_job_update(job).await?;
        Ok(())
    }
}

/// A name as the export wrote it: a leading `'` before `=`, `+`, `-` or `@` only kept a spreadsheet from
/// running the cell as a formula.
fn formula_unquoted(name: &str) -> &str {
    match name.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => name,
    }
}

use moat_store::unix_now as now;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats_with_and_without_domain() {
        let file = "Full name, Email, Password\n\
                    Ann Lee, ann@a.test, Secret.123\n\
                    \"Doe, John\", john@a.test\n\
                    # a comment\n\
                    \n\
                    Bo, bo@a.test, Passw0rd.x, b, bob@alias.test\n";
        let (lines, errors) = parse_import(file.as_bytes(), None, Language::English).unwrap();
        assert!(errors.is_empty());
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].password.as_deref(), Some("Secret.123"));
        assert_eq!((lines[1].full_name.as_deref(), lines[1].password.as_deref()), (Some("Doe, John"), None));
        assert_eq!(lines[2].aliases, ["b@a.test", "bob@alias.test"]);
        assert_eq!(lines[2].line, 6);

        let (lines, _) =
            parse_import(b"Ann; ann\nBo\tbo\tPassw0rd.x\tbobby\n", Some("A.test"), Language::English).unwrap();
        assert_eq!(lines[0].address, "ann@a.test");
        assert_eq!(lines[1].aliases, ["bobby@a.test"]);
    }

    #[test]
    fn mixed_domains_refuse_the_whole_file() {
        let err = parse_import(b"Ann, ann@a.test\nBo, bo\n", None, Language::English).unwrap_err();
        assert!(matches!(err, ImportError::MissingDomain { line: 2, .. }), "{err}");
        let err = parse_import(b"Ann, ann\nBo, bo@a.test\n", Some("a.test"), Language::English).unwrap_err();
        assert!(err.to_string().contains("leave the domain empty"), "{err}");
        assert!(matches!(parse_import(b"\n# only\n", None, Language::English), Err(ImportError::Empty)));
        assert!(matches!(parse_import(&[0xff, 0xfe, 0x00], None, Language::English), Err(ImportError::NotText)));
        let (lines, errors) = parse_import(b"Just a name\nAnn, ann@a.test\n", None, Language::English).unwrap();
        assert_eq!((lines.len(), errors[0].line), (1, 1));
    }
}
