//! What Moat tells admins by email (a full license pool, an import's result), in the recipient's language.
//! The directory decides when; whoever runs it ([`Notifier`]) queues the mail.

use moat_store::ImportLineError;
use std::fmt::Write;

/// The languages of the console and of notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Language {
    #[default]
    English,
    Spanish,
}

impl Language {
    /// `en`, `es` (and regional forms such as `es-MX`); anything else is English.
    pub fn parse(code: &str) -> Self {
        match code.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("es") => Language::Spanish,
            _ => Language::English,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::Spanish => "es",
        }
    }

    pub const ALL: [Language; 2] = [Language::English, Language::Spanish];
}

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
        let es = self.language == Language::Spanish;
        match &self.notice {
            Notice::LicensesExhausted { tenant, .. } if es => format!("Moat: sin licencias libres ({tenant})"),
            Notice::LicensesExhausted { tenant, .. } => format!("Moat: no licenses left ({tenant})"),
            Notice::ImportFinished { file_name, .. } if es => format!("Moat: importación de {file_name} terminada"),
            Notice::ImportFinished { file_name, .. } => format!("Moat: import of {file_name} finished"),
            Notice::Welcome { .. } if es => "Bienvenido a la protección de correo".into(),
            Notice::Welcome { .. } => "Welcome to your email protection".into(),
            Notice::QuarantineDigest { items, .. } if es => format!("Moat: {} mensaje(s) en cuarentena", items.len()),
            Notice::QuarantineDigest { items, .. } => format!("Moat: {} message(s) held in quarantine", items.len()),
            Notice::DirectorySync { scope, .. } if es => format!("Moat: sincronización con el directorio ({scope})"),
            Notice::DirectorySync { scope, .. } => format!("Moat: directory synchronization ({scope})"),
        }
    }

    pub fn text(&self) -> String {
        let es = self.language == Language::Spanish;
        let mut out = String::new();
        match &self.notice {
            Notice::Welcome { name, address, password, console, template } => {
                let password = match (password, es) {
                    (Some(p), _) => p.clone(),
                    (None, true) => "(la que le dio su administrador)".into(),
                    (None, false) => "(the one your administrator gave you)".into(),
                };
                let default = if es {
                    "Hola {name}:\n\nSu correo pasa ahora por un filtro que lo protege del spam, los virus y el \
                     phishing. En la consola puede ver los mensajes retenidos en cuarentena, liberarlos y decidir qué \
                     remitentes se aceptan o se bloquean siempre.\n\n  Consola: {console}\n  Usuario: {address}\n  \
                     Contraseña: {password}\n"
                } else {
                    "Hello {name},\n\nYour email now goes through a filter that protects you from spam, viruses and \
                     phishing. In the console you can see messages held in quarantine, release them, and choose senders \
                     to always accept or block.\n\n  Console: {console}\n  User: {address}\n  Password: {password}\n"
                };
                let text = template.as_deref().unwrap_or(default);
                out.push_str(
                    &text
                        .replace("{name}", name)
                        .replace("{address}", address)
                        .replace("{password}", &password)
                        .replace("{console}", console),
                );
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
                    if es {
                        format!("Moat sincronizó los usuarios de {scope} con su directorio.")
                    } else {
                        format!("Moat synchronized the users of {scope} with your directory.")
                    }
                );
                list(&mut out, if es { "Usuarios nuevos" } else { "New users" }, added);
                list(&mut out, if es { "Nombres cambiados" } else { "Names changed" }, renamed);
                let gone = match (es, removed) {
                    (true, true) => "Usuarios que dejaron el directorio, eliminados",
                    (true, false) => "Usuarios que ya no están en el directorio (no se eliminaron)",
                    (false, true) => "Users who left the directory, removed",
                    (false, false) => "Users no longer in the directory (not removed)",
                };
                list(&mut out, gone, departed);
            }
            Notice::QuarantineDigest { console, items } => {
                let _ = writeln!(
                    out,
                    "{}\n",
                    if es {
                        "Estos mensajes para usted se retuvieron en cuarentena como posible spam. Si alguno es \
                         legítimo, libérelo en la consola; los demás se borrarán solos."
                    } else {
                        "These messages for you were held in quarantine as likely spam. If one is legitimate, \
                         release it in the console; the others will be deleted in time."
                    }
                );
                for item in items {
                    let _ = writeln!(out, "  {}  {}", item.received, item.sender);
                    let _ = writeln!(
                        out,
                        "      {}  ({} {})",
                        item.subject,
                        if es { "puntuación" } else { "score" },
                        item.score
                    );
                }
                let _ =
                    writeln!(out, "\n{}: {}quarantine", if es { "Consola" } else { "Console" }, console_base(console));
            }
            Notice::LicensesExhausted { tenant, domain, pool, used } => {
                if es {
                    let _ = writeln!(
                        out,
                        "No se pudo crear un usuario en {domain}: las licencias de {tenant} están agotadas \
                         ({used} de {pool} en uso).\n\nCada licencia cubre un buzón y hasta 5 alias. Pida más \
                         licencias a su proveedor o elimine usuarios que ya no necesite."
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "A user could not be created in {domain}: {tenant} has no license left ({used} of {pool} \
                         in use).\n\nEach license covers one mailbox and up to 5 of its aliases. Ask your provider \
                         for more licenses, or delete users you no longer need."
                    );
                }
            }
            Notice::ImportFinished { file_name, imported, unchanged, errors, generated } => {
                let failed = errors.len();
                if es {
                    let _ = writeln!(
                        out,
                        "Importación de {file_name}: {imported} importados, {unchanged} ya existían, {failed} con \
                         errores."
                    );
                } else {
                    let _ = writeln!(
                        out,
                        "Import of {file_name}: {imported} imported, {unchanged} already there, {failed} with errors."
                    );
                }
                if !errors.is_empty() {
                    let _ = writeln!(out, "\n{}", if es { "Líneas no importadas:" } else { "Lines not imported:" });
                    for e in errors {
                        let _ = writeln!(out, "  {} {}: {}", if es { "línea" } else { "line" }, e.line, e.reason);
                    }
                }
                if !generated.is_empty() {
                    let _ = writeln!(
                        out,
                        "\n{}",
                        if es {
                            "Contraseñas generadas (entréguelas a cada usuario; podrán cambiarlas en la consola):"
                        } else {
                            "Generated passwords (give each to its user; they can change it in the console):"
                        }
                    );
                    for (address, password) in generated {
                        let _ = writeln!(out, "  {address}  {password}");
                    }
                }
            }
        }
        out
    }
}

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
        let note = Notification { notice: welcome, ..en };
        assert_eq!(
            note.text(),
            "Hi Ann, sign in at https://console.test/ as ann@acme.test with (the one your administrator gave you)"
        );
    }
}
