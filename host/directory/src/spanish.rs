//! The directory's refusals in Spanish, for admins whose console speaks it: each typed refusal implements
//! `moat_i18n::Localized` (its English is its `Display`).

use crate::{AddressError, DirectoryError, ImportError, PasswordError};
use moat_i18n::Localized;

impl Localized for AddressError {
    fn spanish(&self) -> Option<String> {
        Some(match self {
            AddressError::Syntax(a) => format!("{a:?} no es una dirección de la forma usuario@dominio"),
            AddressError::IpLiteral(a) => {
                format!("{a:?} tiene una IP como dominio; Moat solo acepta correo para nombres de dominio")
            }
            AddressError::Domain(d) => format!("{d:?} no es un nombre de dominio válido"),
            AddressError::LocalPart(l) => {
                format!("la parte local {l:?} solo admite letras, dígitos y los caracteres . _ + - '")
            }
            AddressError::Forbidden(a) => {
                format!(
                    "{a:?} contiene un espacio, un carácter de control o un corchete angular, que ninguna dirección admite"
                )
            }
        })
    }
}

impl Localized for PasswordError {
    fn spanish(&self) -> Option<String> {
        Some(match self {
            PasswordError::Length(n) => format!("las contraseñas tienen de 8 a 64 caracteres (esta tiene {n})"),
            PasswordError::Character(c) => format!("las contraseñas solo admiten letras, dígitos y _ . - (no {c:?})"),
            PasswordError::Repetitive => {
                "esta contraseña es demasiado fácil de adivinar: use al menos 3 caracteres distintos".into()
            }
            PasswordError::Common => {
                "esta contraseña está entre las más comunes, que se prueban primero: elija otra".into()
            }
        })
    }
}

impl Localized for DirectoryError {
    fn spanish(&self) -> Option<String> {
        Some(match self {
            DirectoryError::Address(e) => return e.spanish(),
            DirectoryError::UnknownDomain(d) => {
                format!("Moat no protege el dominio {d} (añádalo antes con `moat domain add {d}`)")
            }
            DirectoryError::UnknownTenant(t) => format!("el cliente {t} no existe"),
            DirectoryError::TenantName(t) => {
                format!("los nombres de cliente tienen de 1 a 64 letras, dígitos y - _ . (no {t:?})")
            }
            DirectoryError::LicensePool(n) => {
                format!("un conjunto de licencias es un número de 0 o más, o ilimitado (no {n})")
            }
            DirectoryError::NotAvailable(name) => format!("{name} no está disponible"),
            DirectoryError::Ldap(_) | DirectoryError::Dkim(_) => return None,
            DirectoryError::NestedAliasDomain { alias, primary } => {
                format!("{alias} no puede ser alias de {primary}, que ya es un dominio alias")
            }
            DirectoryError::OnAliasDomain { domain, primary, what } => {
                let what = match *what {
                    "mailboxes" => "los buzones",
                    "sign-up settings" => "el modo de alta",
                    "SMTP credentials" => "las credenciales SMTP",
                    "downstream hosts and user limits" => "los servidores de destino y el límite de usuarios",
                    other => other,
                };
                format!("{domain} es un dominio alias de {primary}: {what} pertenecen a {primary}")
            }
            DirectoryError::MaxUsers { domain, max } => format!("{domain} ya tiene su máximo de {max} usuarios"),
            DirectoryError::ShadowedByAliasDomain { address, existing, alias_domain } => {
                format!("{address} ya se entrega a {existing} a través del dominio alias {alias_domain}")
            }
            DirectoryError::LicensesExhausted { tenant, pool, used } => format!(
                "el cliente {tenant} no tiene licencias libres ({used} de {pool} en uso; cada una cubre un buzón y \
                 5 de sus alias): añada licencias con `moat tenant licenses {tenant} N`"
            ),
            DirectoryError::MaxUsersBelowUsers { domain, max, users } => {
                format!("{domain} tiene {users} usuarios: su máximo no puede ser {max} (elimine usuarios antes)")
            }
            DirectoryError::FullName(n) => {
                format!("nombre completo {n:?}…: como máximo 200 caracteres, sin caracteres de control")
            }
            DirectoryError::AddressTaken(a) => format!("{a} ya existe (como usuario o como alias)"),
            DirectoryError::UnknownMailbox(m) => format!("el buzón {m} no existe"),
            DirectoryError::NoDownstream(domain) => {
                format!(
                    "{domain} necesita al menos un servidor de destino (HOST[:PUERTO[:PRIORIDAD]]) al que entregar su correo"
                )
            }
            DirectoryError::Downstream { spec, why } => format!("servidor de destino incorrecto {spec:?}: {why}"),
            DirectoryError::SignupCheck { domain, why } => {
                format!("no se puede activar el alta por SMTP en {domain}: {why}")
            }
            DirectoryError::ListEntry(e) => format!("entrada de lista incorrecta {e}"),
            DirectoryError::Store(e) => return e.spanish(),
        })
    }
}

impl Localized for ImportError {
    fn spanish(&self) -> Option<String> {
        Some(match self {
            ImportError::NotText => "el archivo no es texto (UTF-8)".into(),
            ImportError::Empty => "el archivo no contiene usuarios".into(),
            ImportError::MissingDomain { line, address } => format!(
                "línea {line}: {address:?} no tiene dominio: elija el dominio del archivo o escriba todas las \
                 direcciones con su dominio"
            ),
            ImportError::UnexpectedDomain { line, address, domain } => format!(
                "línea {line}: {address:?} tiene dominio y se eligió {domain}: deje el dominio vacío o escriba \
                 todas las direcciones sin dominio"
            ),
            ImportError::Directory(e) => return e.spanish(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Language;
    use moat_store::StoreError;

    #[test]
    fn refusals_speak_the_admins_language() {
        let e = DirectoryError::LicensesExhausted { tenant: "acme".into(), pool: 2, used: 2 };
        assert!(e.in_language(Language::Spanish).contains("no tiene licencias libres (2 de 2 en uso"));
        assert_eq!(e.in_language(Language::English), e.to_string());
        let weak = PasswordError::Length(5);
        assert_eq!(weak.in_language(Language::Spanish), "las contraseñas tienen de 8 a 64 caracteres (esta tiene 5)");
        let internal = DirectoryError::Store(StoreError::UnsupportedUrl("x".into()));
        assert_eq!(internal.in_language(Language::Spanish), internal.to_string(), "no Spanish: the English text");
    }
}
