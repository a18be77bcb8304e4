//! What Moat tells admins by email (a full license pool, an import's result), in the recipient's language.
//! The directory decides when; whoever runs it ([`Notifier`]) queues the mail.

use crate::Language;
use moat_i18n::{fill, text};
use moat_store::ImportLineError;
use std::fmt::Write;

/// Something an admin should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A user could not be created in `domain`: the tenant's pool is used up.
    LicensesExhausted { tenant: String, domain: String, pool: i64, used: i64 },
    /// A user import ended.
    ImportFinished {
        file_name: String,
        imported: i64,
        unchanged: i64,
        errors: Vec<ImportLineError>,
        /// (address, password) of the users given a random password.
        generated: Vec<(String, String)>,
    },
    /// A new user's welcome: how to reach the console, with the password Moat generated (`None`: the one
    /// the admin chose and gave the user). `template` is the admin's own text, if any.
    Welcome { name: String, address: String, password: Option<String>, console: String, template: Option<String> },
    /// A user's messages held since the last digest, to review in the console.
    QuarantineDigest { console: String, items: Vec<crate::HeldSummary> },
    /// A synchronization with the directory that changed something (`removed`: departed users removed, else
    /// only reported).
    DirectorySync { scope: String, added: Vec<String>, renamed: Vec<String>, departed: Vec<String>, removed: bool },
}

/// A notice for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub to: crate::Address,
    pub language: Language,
    pub notice: Notice,
}

/// Sends notifications (the gateway queues them as mail through itself). Must not block.
pub trait Notifier: Send + Sync + std::fmt::Debug {
    fn send(&self, notification: Notification);
}

impl Notification {
    pub fn subject(&self) -> String {
        let lang = self.language;
        match &self.notice {
            Notice::LicensesExhausted { tenant, .. } => {
                fill(lang, "Moat: no licenses left ({tenant})", &[("tenant", tenant)])
            }
            Notice::ImportFinished { file_name, .. } => {
                fill(lang, "Moat: import of {file} finished", &[("file", file_name)])
            }
            Notice::Welcome { .. } => text(lang, "Welcome to your email protection").to_owned(),
            Notice::QuarantineDigest { items, .. } => {
                fill(lang, "Moat: {count} message(s) held in quarantine", &[("count", &items.len().to_string())])
            }
            Notice::DirectorySync { scope, .. } => {
                fill(lang, "Moat: directory synchronization ({scope})", &[("scope", scope)])
            }
        }
    }

    pub fn text(&self) -> String {
        let lang = self.language;
        let mut out = String::new();
        match &self.notice {
            Notice::Welcome { name, address, password, console, template } => {
                let password =
                    password.clone().unwrap_or_else(|| text(lang, "(the one your administrator gave you)").to_owned());
                // The admin's own template is in the admin's words; the standard one in the user's language.
                let template = template.as_deref().unwrap_or_else(|| text(lang, WELCOME));
                let values =
                    [("name", name.as_str()), ("address", address), ("password", &password), ("console", console)];
                out.push_str(&moat_i18n::substitute(template, &values));
            }
            Notice::DirectorySync { scope, added, renamed, departed, removed } => {
                let list = |out: &mut String, title: &str, items: &[String]| {
                    if !items.is_empty() {
                        let _ = writeln!(out, "{title} ({}):", items.len());
                        for item in items {
                            let _ = writeln!(out, "  {item}");
                        }
                        out.push('\n');
                    }
                };
                let _ = writeln!(
                    out,
                    "{}\n",
                    fill(lang, "Moat synchronized the users of {scope} with your directory.", &[("scope", scope)])
                );
                list(&mut out, text(lang, "New users"), added);
                list(&mut out, text(lang, "Names changed"), renamed);
                let gone = if *removed {
                    "Users who left the directory, removed"
                } else {
                    "Users no longer in the directory (not removed)"
                };
                list(&mut out, text(lang, gone), departed);
            }
            Notice::QuarantineDigest { console, items } => {
                let _ = writeln!(out, "{}\n", text(lang, DIGEST));
                for item in items {
                    let _ = writeln!(out, "  {}  {}", item.received, item.sender);
                    let _ = writeln!(out, "      {}  ({} {})", item.subject, text(lang, "score"), item.score);
                }
                let _ = writeln!(out, "\n{}: {}quarantine", text(lang, "Console"), console_base(console));
            }
            Notice::LicensesExhausted { tenant, domain, pool, used } => {
                let values = [
                    ("domain", domain.as_str()),
                    ("tenant", tenant),
                    ("used", &used.to_string()),
                    ("pool", &pool.to_string()),
                ];
                let _ = writeln!(out, "{}", fill(lang, LICENSES_EXHAUSTED, &values));
            }
            Notice::ImportFinished { file_name, imported, unchanged, errors, generated } => {
                let values = [
                    ("file", file_name.as_str()),
                    ("imported", &imported.to_string()),
                    ("unchanged", &unchanged.to_string()),
                    ("failed", &errors.len().to_string()),
                ];
                let _ = writeln!(out, "{}", fill(lang, IMPORT_FINISHED, &values));
                if !errors.is_empty() {
                    let _ = writeln!(out, "\n{}", text(lang, "Lines not imported:"));
                    for e in errors {
                        let _ = writeln!(out, "  {} {}: {}", text(lang, "line"), e.line, e.reason);
                    }
                }
                if !generated.is_empty() {
                    let _ = writeln!(out, "\n{}", text(lang, GENERATED_PASSWORDS));
                    for (address, password) in generated {
                        let _ = writeln!(out, "  {address}  {password}");
                    }
                }
            }
        }
        out
    }
}

/// The standard welcome (an admin may write their own, with the same `{name}`s).
const WELCOME: &str = "Hello {name},\n\nYour email now goes through a filter that protects you from spam, viruses and \
                       phishing. In the console you can see messages held in quarantine, release them, and choose \
                       senders to always accept or block.\n\n  Console: {console}\n  User: {address}\n  Password: \
                       {password}\n";
const DIGEST: &str = "These messages for you were held in quarantine as likely spam. If one is legitimate, release it \
                      in the console; the others will be deleted in time.";
const LICENSES_EXHAUSTED: &str = "A user could not be created in {domain}: {tenant} has no license left ({used} of \
                                  {pool} in use).\n\nEach license covers one mailbox and up to 5 of its aliases. Ask \
                                  your provider for more licenses, or delete users you no longer need.";
const IMPORT_FINISHED: &str = "Import of {file}: {imported} imported, {unchanged} already there, {failed} with errors.";
const GENERATED_PASSWORDS: &str = "Generated passwords (give each to its user; they can change it in the console):";

/// `console` with exactly one trailing slash.
fn console_base(console: &str) -> String {
    format!("{}/", console.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_speak_the_recipients_language() {
        let notice = Notice::LicensesExhausted { tenant: "acme".into(), domain: "acme.test".into(), pool: 2, used: 2 };
        let en = Notification {
            to: crate::Address::parse("it@acme.test").unwrap(),
            language: Language::English,
            notice: notice.clone(),
        };
        let es = Notification { language: Language::parse("es-MX"), ..en.clone() };
        assert!(en.subject().contains("no licenses left"));
        assert!(en.text().contains("2 of 2 in use"));
        assert!(es.subject().contains("sin licencias"));
        assert!(es.text().contains("2 de 2 en uso"));
        let welcome = Notice::Welcome {
            name: "Ann".into(),
            address: "ann@acme.test".into(),
            password: None,
            console: "https://console.test/".into(),
            template: Some("Hi {name}, sign in at {console} as {address} with {password}".into()),
        };
        let digest = Notice::QuarantineDigest {
            console: "https://console.test".into(),
            items: vec![crate::HeldSummary {
                received: "2026-11-24 08:00 UTC".into(),
                sender: "deals@spam.test".into(),
                subject: "Cheap watches".into(),
                score: "12.0".into(),
            }],
        };
        let held = Notification { notice: digest, ..es.clone() };
        assert_eq!(held.subject(), "Moat: 1 mensaje(s) en cuarentena");
        assert!(held.text().contains("deals@spam.test") && held.text().contains("Cheap watches  (puntuación 12.0)"));
        assert!(held.text().ends_with("Consola: https://console.test/quarantine\n"), "{}", held.text());
        let standard = Notice::Welcome {
            name: "Ann".into(),
            address: "ann@acme.test".into(),
            password: None,
            console: "https://console.test/".into(),
            template: None,
        };
        let hola = Notification { notice: standard, ..es.clone() }.text();
        assert!(
            hola.starts_with("Hola Ann:") && hola.contains("Contraseña: (la que le dio su administrador)"),
            "{hola}"
        );
        let import = Notice::ImportFinished {
            file_name: "team.csv".into(),
            imported: 2,
            unchanged: 0,
            errors: vec![ImportLineError { line: 3, reason: "no es una dirección".into() }],
            generated: vec![("zed@acme.test".into(), "Xy12".into())],
        };
        let report = Notification { notice: import, ..es.clone() };
        assert_eq!(report.subject(), "Moat: importación de team.csv terminada");
        let text = report.text();
        assert!(
            text.starts_with("Importación de team.csv: 2 importados")
                && text.contains("  línea 3: no es una dirección"),
            "{text}"
        );
        assert!(text.contains("Contraseñas generadas"), "{text}");
        // Every fixed text of a notice is in the table: a miss would silently mail English.
        for template in [WELCOME, DIGEST, LICENSES_EXHAUSTED, IMPORT_FINISHED, GENERATED_PASSWORDS] {
            assert!(moat_i18n::translated(template), "no Spanish for {template:?}");
        }
        let sly = Notice::Welcome {
            name: "{password}".into(),
            address: "ann@acme.test".into(),
            password: Some("Secret1".into()),
            console: "https://console.test/".into(),
            template: Some("Hi {name}".into()),
        };
        assert_eq!(Notification { notice: sly, ..en.clone() }.text(), "Hi {password}", "a name is not a template");
        let note = Notification { notice: welcome, ..en };
        assert_eq!(
            note.text(),
            "Hi Ann, sign in at https://console.test/ as ann@acme.test with (the one your administrator gave you)"
        );
    }
}
