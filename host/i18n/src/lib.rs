//! Moat's languages, in one place: [`Language`], the one table of fixed texts and templates in Spanish (the
//! console's pages, the notices Moat mails, fixed refusals), read with [`text`] and [`fill`], and the
//! [`Localized`] trait that typed messages with values (the directory's refusals) implement. Texts are
//! written in English in the code; English is the key.

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

/// A typed message that can say itself in Spanish too (its English is its `Display`).
pub trait Localized: std::fmt::Display {
    /// The Spanish text, when there is one.
    fn spanish(&self) -> Option<String>;

    fn in_language(&self, language: Language) -> String {
        match language {
            Language::Spanish => self.spanish().unwrap_or_else(|| self.to_string()),
            Language::English => self.to_string(),
        }
    }
}

/// The Spanish of `english` when the table has it (else `english`), or `english` itself.
pub fn text(language: Language, english: &'static str) -> &'static str {
    match language {
        Language::English => english,
        Language::Spanish => spanish(english).unwrap_or(english),
    }
}

/// [`text`] for a text that is not a literal (a stored verdict, an error's fixed message).
pub fn text_of(language: Language, english: &str) -> String {
    match language {
        Language::English => english.to_owned(),
        Language::Spanish => spanish(english).unwrap_or(english).to_owned(),
    }
}

/// A template of the table (`{name}`s and all) in `language`, its `{name}`s filled with `values`.
pub fn fill(language: Language, template: &'static str, values: &[(&str, &str)]) -> String {
    substitute(text(language, template), values)
}

/// `template` with each `{name}` of `values` replaced, in one pass: a value is never read as a template (an
/// import's file name `{imported}.csv`, a user named `{password}`), and an unknown `{…}` stays as written.
pub fn substitute(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let known = after.find('}').and_then(|close| {
            values.iter().find(|(name, _)| *name == &after[..close]).map(|(_, value)| (value, close))
        });
        match known {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Whether the table has the Spanish of `english` (tests check every text the code shows).
pub fn translated(english: &str) -> bool {
    spanish(english).is_some()
}

/// Every English text the table holds, for tests that look for untranslated words.
pub fn english_texts() -> impl Iterator<Item = (&'static str, &'static str)> {
    SPANISH.iter().copied()
}

fn spanish(english: &str) -> Option<&'static str> {
    SPANISH.iter().find(|(en, _)| *en == english).map(|(_, es)| *es)
}

static SPANISH: &[(&str, &str)] = &[
    // The console's fixed refusals (`AppError::message_in`).
    ("internal error", "error interno"),
    ("not found", "no encontrado"),
    ("this is for administrators", "esto es para administradores"),
    (
        "only platform and tenant administrators may do this",
        "solo los administradores de la plataforma y de clientes pueden hacerlo",
    ),
    (
        "a domain admin's domains belong to one tenant",
        "los dominios de un administrador de dominio pertenecen a un solo cliente",
    ),
    ("choose at least one domain", "elija al menos un dominio"),
    ("the gateway is not running with this console", "la pasarela no está en marcha con esta consola"),
    ("you may not open users' panels", "no puede abrir los paneles de los usuarios"),
    ("this message was for no protected domain", "este mensaje no era para ningún dominio protegido"),
    (
        "Moat no longer holds this message, so its filters cannot learn it",
        "Moat ya no tiene este mensaje, así que sus filtros no pueden aprenderlo",
    ),
    ("this message has no sender to list (a bounce)", "este mensaje no tiene remitente que añadir (un rebote)"),
    ("no recipient of this message is in your domains", "ningún destinatario de este mensaje está en sus dominios"),
    (
        "say whose list: a user's address or a domain",
        "indique de quién es la lista: la dirección de un usuario o un dominio",
    ),
    ("the form expired; reload the page", "el formulario caducó; recargue la página"),
    ("unknown action", "acción desconocida"),
    ("choose allow or deny, sender or IP", "elija permitir o bloquear, remitente o IP"),
    ("classify as valid or spam", "clasifique como válido o spam"),
    ("Send new users the welcome message", "Enviar a los usuarios nuevos el mensaje de bienvenida"),
    ("as for every domain", "como para todos los dominios"),
    (
        "Welcome message ({name}, {address}, {password} and {console} are replaced; empty: the standard text)",
        "Mensaje de bienvenida ({name}, {address}, {password} y {console} se sustituyen; vacío: el texto estándar)",
    ),
    (
        "Email me a digest of the messages held in my quarantine",
        "Enviarme un resumen de los mensajes retenidos en mi cuarentena",
    ),
    ("Sign-up mode", "Modo de alta"),
    ("Sign-up", "Alta"),
    ("SMTP", "SMTP"),
    ("Manual", "Manual"),
    ("Manual: users are added by admins", "Manual: los administradores dan de alta a los usuarios"),
    (
        "SMTP: users are signed up on their first message, if the domain's server accepts them",
        "SMTP: los usuarios se dan de alta con su primer mensaje, si el servidor del dominio los acepta",
    ),
    (
        "An existing address of the domain, to check that its server refuses unknown recipients",
        "Una dirección existente del dominio, para comprobar que su servidor rechaza destinatarios desconocidos",
    ),
    ("Save sign-up mode", "Guardar modo de alta"),
    ("Sign-up mode saved.", "Modo de alta guardado."),
    ("No messages found.", "No se encontraron mensajes."),
    ("Sender, recipient, subject or IP", "Remitente, destinatario, asunto o IP"),
    ("Every verdict", "Todos los veredictos"),
    ("Classified", "Clasificado"),
    (
        "Only the newest 200 are shown; search to narrow them down.",
        "Solo se muestran los 200 más recientes; busque para acotarlos.",
    ),
    ("Allow this IP", "Permitir esta IP"),
    ("Deny this IP", "Bloquear esta IP"),
    ("Classify as valid", "Clasificar como válido"),
    ("Classify as spam", "Clasificar como spam"),
    ("Allowed for the domain:", "Permitido para el dominio:"),
    ("Denied for the domain:", "Bloqueado para el dominio:"),
    ("Classified as spam: the filters learned it.", "Clasificado como spam: los filtros lo han aprendido."),
    ("Classified as valid: the filters learned it.", "Clasificado como válido: los filtros lo han aprendido."),
    ("clean", "limpio"),
    ("tagged", "marcado"),
    ("quarantined", "en cuarentena"),
    ("rejected", "rechazado"),
    ("tempfailed", "aplazado"),
    ("discarded", "descartado"),
    ("accepted", "aceptado"),
    ("spam", "spam"),
    ("valid", "válido"),
    ("Verdict", "Veredicto"),
    ("Delivery", "Entrega"),
    ("Email log", "Registro de correo"),
    ("Client", "Cliente"),
    ("Symbols", "Símbolos"),
    ("Allow this sender", "Permitir este remitente"),
    ("Deny this sender", "Bloquear este remitente"),
    ("Headers", "Cabeceras"),
    ("Message", "Mensaje"),
    (
        "Moat no longer has this message (delivered without a kept copy, aged out, or deleted).",
        "Moat ya no tiene este mensaje (entregado sin copia, caducado o eliminado).",
    ),
    ("Password", "Contraseña"),
    ("Current password", "Contraseña actual"),
    ("New password (8–64 letters, digits, _ . -)", "Nueva contraseña (8–64 letras, dígitos, _ . -)"),
    ("Change password", "Cambiar contraseña"),
    ("Settings", "Ajustes"),
    ("Language", "Idioma"),
    ("Email for notifications", "Correo para notificaciones"),
    ("Save", "Guardar"),
    ("Second factor (TOTP)", "Segundo factor (TOTP)"),
    (
        "On: signing in asks for a code from your authenticator app.",
        "Activado: al iniciar sesión se pide un código de su aplicación de autenticación.",
    ),
    ("Turn off", "Desactivar"),
    (
        "Off. To turn it on, add this secret to your authenticator app, then enter the code it shows.",
        "Desactivado. Para activarlo, añada este secreto a su aplicación de autenticación e introduzca el código que muestre.",
    ),
    ("Code", "Código"),
    ("Turn on", "Activar"),
    ("Account", "Cuenta"),
    ("The current password is wrong.", "La contraseña actual no es correcta."),
    ("Password changed; sign in with the new one.", "Contraseña cambiada; inicie sesión con la nueva."),
    (
        "Wrong code: check the app's clock and try again.",
        "Código incorrecto: compruebe la hora de la aplicación e inténtelo de nuevo.",
    ),
    ("Second factor on.", "Segundo factor activado."),
    ("Second factor off.", "Segundo factor desactivado."),
    ("yes", "sí"),
    ("no", "no"),
    ("Name", "Nombre"),
    ("Domains", "Dominios"),
    ("May open users' panels", "Puede abrir los paneles de usuarios"),
    ("May view emails from the email log", "Puede ver correos desde el registro de correo"),
    ("May view headers from the email log", "Puede ver cabeceras desde el registro de correo"),
    ("New domain admin", "Nuevo administrador de dominio"),
    ("Email", "Correo electrónico"),
    ("Create domain admin", "Crear administrador de dominio"),
    ("Domain admins", "Administradores de dominio"),
    ("Every domain", "Todos los dominios"),
    ("Settings for", "Ajustes para"),
    ("Show", "Mostrar"),
    ("Current logo:", "Logotipo actual:"),
    ("own logo", "logotipo propio"),
    ("inherited", "heredado"),
    ("Logo (PNG, JPEG, GIF or SVG, at most 512 KB)", "Logotipo (PNG, JPEG, GIF o SVG, 512 KB como máximo)"),
    ("Remove this logo", "Quitar este logotipo"),
    ("Customization", "Personalización"),
    ("The logo is larger than 512 KB.", "El logotipo ocupa más de 512 KB."),
    ("The logo is not a PNG, JPEG, GIF or SVG picture.", "El logotipo no es una imagen PNG, JPEG, GIF o SVG."),
    ("Customization saved.", "Personalización guardada."),
    ("Domain", "Dominio"),
    ("Alias of", "Alias de"),
    ("Contact", "Contacto"),
    ("Max users", "Máximo de usuarios"),
    ("Downstream hosts", "Servidores de destino"),
    ("New domain", "Nuevo dominio"),
    ("Domain name", "Nombre del dominio"),
    ("Alias domain of", "Dominio alias de"),
    ("Tenant", "Cliente"),
    ("Contact email", "Correo de contacto"),
    (
        "Downstream hosts (HOST:PORT:PRIORITY, one per line)",
        "Servidores de destino (HOST:PUERTO:PRIORIDAD, uno por línea)",
    ),
    ("Get SMTP", "Obtener SMTP"),
    ("Domain admin (optional)", "Administrador del dominio (opcional)"),
    ("Create domain", "Crear dominio"),
    ("No MX records found for this domain.", "No se encontraron registros MX para este dominio."),
    ("Downstream hosts filled from the MX records.", "Servidores de destino rellenados a partir de los registros MX."),
    ("Choose the primary domain of the alias domain.", "Elija el dominio principal del dominio alias."),
    ("Domain created.", "Dominio creado."),
    ("unlimited", "ilimitado"),
    ("Host", "Servidor"),
    ("Port", "Puerto"),
    ("Priority", "Prioridad"),
    ("Test result", "Resultado de la prueba"),
    ("OK", "Correcto"),
    ("Failed", "Falló"),
    ("Test SMTP", "Probar SMTP"),
    ("Configuration information", "Información de configuración"),
    ("MX records to publish", "Registros MX que publicar"),
    ("Moat's IP ranges", "Rangos de IP de Moat"),
    ("Smart host for outgoing mail", "Smart host para el correo saliente"),
    ("Outgoing mail", "Correo saliente"),
    ("Incoming mail", "Correo entrante"),
    ("Revoking", "Revocar"),
    (
        "the server that authenticates with it can no longer send mail through Moat. This cannot be undone; a new credential means a new password on that server.",
        "el servidor que se autentica con ella ya no podrá enviar correo a través de Moat. No se puede deshacer; una credencial nueva supone una contraseña nueva en ese servidor.",
    ),
    ("Revoke SMTP credential", "Revocar credencial SMTP"),
    ("Retiring", "Retirar"),
    (
        "Moat forgets this rotated key, and its record may leave the DNS. Mail it signed before the rotation no longer verifies once the record is gone.",
        "Moat olvida esta clave rotada y su registro puede salir del DNS. El correo que firmó antes de la rotación deja de verificarse cuando el registro desaparece.",
    ),
    ("Retire DKIM key", "Retirar clave DKIM"),
    (
        "Runs on mail the customers' servers send through Moat: it judges what the message carries, not the client (the customer's own server).",
        "Se aplica al correo que los servidores de los clientes envían a través de Moat: juzga lo que lleva el mensaje, no al cliente (el propio servidor del cliente).",
    ),
    ("Ports", "Puertos"),
    ("Authentication", "Autenticación"),
    (
        "An SMTP credential of this domain, or the console account of one of its admins (AUTH PLAIN or LOGIN, inside TLS only)",
        "Una credencial SMTP de este dominio, o la cuenta de consola de uno de sus administradores (AUTH PLAIN o LOGIN, solo dentro de TLS)",
    ),
    ("SMTP credentials", "Credenciales SMTP"),
    ("No SMTP credentials yet.", "Aún no hay credenciales SMTP."),
    ("Username", "Usuario"),
    ("Label", "Etiqueta"),
    ("Last used", "Último uso"),
    ("Sent today", "Enviados hoy"),
    ("State", "Estado"),
    ("never", "nunca"),
    ("Suspended", "Suspendida"),
    ("Active", "Activa"),
    ("Lift suspension", "Levantar la suspensión"),
    ("Revoke", "Revocar"),
    ("e.g. office mail server", "p. ej. servidor de correo de la oficina"),
    ("Create SMTP credential", "Crear credencial SMTP"),
    ("DKIM keys", "Claves DKIM"),
    ("No DKIM key: this domain's mail is sent unsigned.", "Sin clave DKIM: el correo de este dominio sale sin firmar."),
    ("Record to publish", "Registro a publicar"),
    ("Algorithm", "Algoritmo"),
    ("Signing", "Firmando"),
    ("Rotated: keep published until retired", "Rotada: manténgala publicada hasta retirarla"),
    ("Retire", "Retirar"),
    ("Create DKIM keys", "Crear claves DKIM"),
    ("Rotate DKIM keys", "Rotar las claves DKIM"),
    ("SMTP credential created", "Credencial SMTP creada"),
    ("password", "contraseña"),
    ("copy it now, it is not shown again", "cópiela ahora, no se vuelve a mostrar"),
    ("SMTP credential revoked.", "Credencial SMTP revocada."),
    ("The credential may send again.", "La credencial puede volver a enviar."),
    (
        "New DKIM keys sign this domain's mail: publish their records.",
        "Las nuevas claves DKIM firman el correo de este dominio: publique sus registros.",
    ),
    ("DKIM key retired.", "Clave DKIM retirada."),
    ("Direction", "Dirección"),
    ("Both directions", "Ambas direcciones"),
    ("inbound", "entrante"),
    ("outbound", "saliente"),
    ("SPF record to publish", "Registro SPF que publicar"),
    ("Delete domain", "Eliminar dominio"),
    (
        "The default chain: every tenant without its own runs it.",
        "La cadena predeterminada: la usan todos los clientes sin cadena propia.",
    ),
    ("This tenant's own chain.", "La cadena propia de este cliente."),
    (
        "This tenant runs the default chain; saving here gives it its own.",
        "Este cliente usa la cadena predeterminada; al guardar aquí tendrá la suya propia.",
    ),
    ("default chain", "cadena predeterminada"),
    ("Thresholds", "Umbrales"),
    ("Tag at", "Marcar a partir de"),
    ("Quarantine at", "Cuarentena a partir de"),
    ("Reject at", "Rechazar a partir de"),
    ("Order", "Orden"),
    ("Filter", "Filtro"),
    ("Version", "Versión"),
    ("Enabled", "Activado"),
    ("Shadow", "En sombra"),
    ("Learns", "Aprende"),
    ("nothing", "nada"),
    ("every verdict", "de cada veredicto"),
    ("confident verdicts", "de los veredictos seguros"),
    ("Learning from confident verdicts", "Aprendizaje de los veredictos seguros"),
    (
        "A filter set to learn from confident verdicts is taught spam when the other filters alone score at least the first value, and valid mail when the whole chain scores at most the second.",
        "Un filtro que aprende de los veredictos seguros aprende como spam el correo al que los demás filtros, por sí solos, dan al menos el primer valor, y como correo válido aquel al que toda la cadena da como mucho el segundo.",
    ),
    ("Teach spam at", "Enseñar spam a partir de"),
    ("Teach valid mail at", "Enseñar correo válido hasta"),
    ("On failure", "Si falla"),
    ("Configuration (JSON)", "Configuración (JSON)"),
    ("open: let mail through", "abierto: dejar pasar el correo"),
    ("closed: retry later", "cerrado: reintentar más tarde"),
    ("Save chain", "Guardar cadena"),
    ("Upload a custom filter", "Subir un filtro propio"),
    ("Component (.wasm, built for wasm32-wasip2)", "Componente (.wasm, compilado para wasm32-wasip2)"),
    ("Add it to the end of the chain", "Añadirlo al final de la cadena"),
    ("Upload", "Subir"),
    ("Filtering", "Filtrado"),
    ("Chain saved, version", "Cadena guardada, versión"),
    ("Choose a .wasm file.", "Elija un archivo .wasm."),
    ("Filter uploaded:", "Filtro subido:"),
    ("running", "en curso"),
    ("finished", "terminada"),
    ("interrupted", "interrumpida"),
    ("One user per line, in one of these formats:", "Un usuario por línea, en uno de estos formatos:"),
    (
        "Write every address with its domain and leave Domain empty, or every address without it and choose the domain. Missing passwords are generated. Importing the same file again changes nothing.",
        "Escriba todas las direcciones con su dominio y deje Dominio vacío, o todas sin él y elija el dominio. Las contraseñas que falten se generan. Importar otra vez el mismo archivo no cambia nada.",
    ),
    ("File (CSV or TXT)", "Archivo (CSV o TXT)"),
    ("None: addresses have their domain", "Ninguno: las direcciones llevan su dominio"),
    ("Import", "Importar"),
    ("Imports", "Importaciones"),
    ("File", "Archivo"),
    ("Status", "Estado"),
    ("Progress", "Progreso"),
    ("Imported", "Importados"),
    ("Unchanged", "Sin cambios"),
    ("Errors", "Errores"),
    ("Import users", "Importar usuarios"),
    ("Choose a file to import.", "Elija un archivo para importar."),
    ("Import started.", "Importación iniciada."),
    ("Line", "Línea"),
    ("Reason", "Motivo"),
    (
        "The result, with any generated passwords, was emailed to you.",
        "El resultado, con las contraseñas generadas, se le ha enviado por correo.",
    ),
    ("Name or email address", "Nombre o dirección de correo"),
    ("Sign in", "Iniciar sesión"),
    ("The form expired; please sign in again.", "El formulario caducó; inicie sesión de nuevo."),
    ("Wrong name or password.", "Nombre o contraseña incorrectos."),
    ("Code from your authenticator app", "Código de su aplicación de autenticación"),
    ("Verify", "Verificar"),
    ("Second factor", "Segundo factor"),
    ("Sign out", "Cerrar sesión"),
    ("Users", "Usuarios"),
    ("Quarantine", "Cuarentena"),
    ("Trust lists", "Listas de confianza"),
    ("Panel of", "Panel de"),
    ("No messages in quarantine.", "No hay mensajes en cuarentena."),
    ("Received", "Recibido"),
    ("From", "De"),
    ("To", "Para"),
    ("Subject", "Asunto"),
    ("Score", "Puntuación"),
    ("Release", "Liberar"),
    ("Deleting this domain also deletes", "Eliminar este dominio elimina también"),
    ("users", "usuarios"),
    ("aliases", "alias"),
    ("and its alias domains", "y sus dominios alias"),
    (
        "Mail for it is refused from then on. This cannot be undone.",
        "Desde entonces se rechaza su correo. No se puede deshacer.",
    ),
    ("Cancel", "Cancelar"),
    ("Back to the domain", "Volver al dominio"),
    ("These settings are for", "Esta configuración es para"),
    ("this domain only", "solo este dominio"),
    ("every domain of the tenant", "todos los dominios del cliente"),
    ("Server type", "Tipo de servidor"),
    ("Server URL (ldap:// or ldaps://)", "URL del servidor (ldap:// o ldaps://)"),
    ("Use StartTLS", "Usar StartTLS"),
    ("Verify the server's certificate", "Verificar el certificado del servidor"),
    (
        "Certificate authority (PEM), if the directory has its own",
        "Autoridad de certificación (PEM), si el directorio tiene la suya",
    ),
    ("Bind DN (empty: anonymous)", "DN de conexión (vacío: anónimo)"),
    ("Bind password (empty: keep the one saved)", "Contraseña de conexión (vacía: se mantiene la guardada)"),
    ("Base DN", "DN base"),
    ("Search scope", "Ámbito de búsqueda"),
    ("Subtree", "Subárbol"),
    ("One level", "Un nivel"),
    ("User search attributes (comma separated)", "Atributos de búsqueda de usuario (separados por comas)"),
    ("User filter", "Filtro de usuarios"),
    ("Alias attribute", "Atributo de alias"),
    (
        "Alias filter (aliases in other entries; %d the user's DN)",
        "Filtro de alias (alias en otras entradas; %d el DN del usuario)",
    ),
    ("Alias delimiter", "Delimitador de alias"),
    ("Name attribute", "Atributo de nombre"),
    ("Synchronize every (e.g. 1h; empty: never)", "Sincronizar cada (p. ej. 1h; vacío: nunca)"),
    (
        "Remove users who left the directory (else only report them)",
        "Eliminar a los usuarios que dejaron el directorio (si no, solo se informa)",
    ),
    ("Save directory settings", "Guardar la configuración del directorio"),
    ("Checks", "Comprobaciones"),
    ("A user's primary address", "La dirección principal de un usuario"),
    ("An alias", "Un alias"),
    ("Check", "Comprobar"),
    ("Synchronize now", "Sincronizar ahora"),
    ("Directory (LDAP)", "Directorio (LDAP)"),
    ("Connection", "Conexión"),
    ("connected and bound", "conectado y autenticado"),
    ("User", "Usuario"),
    ("Alias", "Alias"),
    ("an alias of", "alias de"),
    ("New users", "Usuarios nuevos"),
    ("Names changed", "Nombres cambiados"),
    ("Aliases added", "Alias añadidos"),
    ("No longer in the directory", "Ya no están en el directorio"),
    (
        "Directory (LDAP): users are signed up on their first message, if the directory knows them",
        "Directorio (LDAP): los usuarios se dan de alta con su primer mensaje, si el directorio los conoce",
    ),
    ("Directory settings", "Configuración del directorio"),
    ("Directory settings saved.", "Configuración del directorio guardada."),
    (
        "Held by the antivirus: release only if you are sure it is safe.",
        "Retenido por el antivirus: libérelo solo si está seguro de que no es peligroso.",
    ),
    ("Delete", "Eliminar"),
    ("Message released.", "Mensaje liberado."),
    ("Message deleted.", "Mensaje eliminado."),
    ("Licenses in the pool", "Licencias contratadas"),
    ("Licenses in use", "Licencias en uso"),
    ("Licenses available", "Licencias disponibles"),
    ("Queue", "Cola"),
    ("recipients waiting", "destinatarios en espera"),
    ("Nodes", "Nodos"),
    ("Customers", "Clientes"),
    ("Last 24 hours", "Últimas 24 horas"),
    ("Last 30 days", "Últimos 30 días"),
    ("deferred", "aplazado"),
    ("other", "otro"),
    ("(no subject)", "(sin asunto)"),
    ("Attachments", "Adjuntos"),
    ("bytes", "bytes"),
    ("Links in this message (not followed)", "Enlaces del mensaje (no se siguen)"),
    ("Back to the quarantine", "Volver a la cuarentena"),
    ("Held message", "Mensaje retenido"),
    ("API tokens", "Tokens de API"),
    (
        "A token lets a script use the REST API as you: send it as Authorization: Bearer TOKEN.",
        "Un token permite a un script usar la API REST en su nombre: envíelo como Authorization: Bearer TOKEN.",
    ),
    ("You have no API tokens.", "No tiene tokens de API."),
    ("Made", "Creado"),
    ("what uses it", "qué lo usa"),
    ("Make a token", "Crear un token"),
    ("Token made. Copy it now: it is not shown again.", "Token creado. Cópielo ahora: no se vuelve a mostrar."),
    ("Scripts using the token", "Los scripts que usan el token"),
    ("stop working at once. This cannot be undone.", "dejan de funcionar al momento. No se puede deshacer."),
    ("Revoke token", "Revocar token"),
    ("Token revoked.", "Token revocado."),
    ("Customer", "Cliente"),
    ("Held", "Retenidos"),
    ("none", "ninguno"),
    ("No domains yet.", "Todavía no hay dominios."),
    ("All customers", "Todos los clientes"),
    ("Finish the set-up", "Termine la configuración"),
    (
        "[console] mx_hosts is not set: domains are told to point their MX records at this server's host name.",
        "[console] mx_hosts no está definido: a los dominios se les indica apuntar sus registros MX al nombre de este servidor.",
    ),
    (
        "[console] ip_ranges is not set: the SPF record and the downstream allow lists name no address of Moat's.",
        "[console] ip_ranges no está definido: el registro SPF y las listas de permitidos de los servidores no nombran ninguna dirección de Moat.",
    ),
    (
        "[console] public_url is not set: welcome messages send users to the console's listen address.",
        "[console] public_url no está definido: los mensajes de bienvenida envían a los usuarios a la dirección de escucha de la consola.",
    ),
    (
        "[server] hostname is not a fully qualified name: greetings, Received: headers and bounces carry it.",
        "[server] hostname no es un nombre completo: lo llevan los saludos, las cabeceras Received: y los rebotes.",
    ),
    (
        "No account exists yet. Make the first one on the server, then sign in with it:",
        "Todavía no existe ninguna cuenta. Cree la primera en el servidor y entre con ella:",
    ),
    ("The queue is empty.", "La cola está vacía."),
    ("Recipients", "Destinatarios"),
    ("attempts", "intentos"),
    ("queued", "en cola"),
    ("delivered", "entregado"),
    ("failed", "fallido"),
    ("being delivered by", "entregándose desde"),
    ("next attempt", "próximo intento"),
    ("Retry now", "Reintentar ahora"),
    (
        "Nothing to retry now: its recipients are being delivered or already done.",
        "Nada que reintentar ahora: sus destinatarios se están entregando o ya terminaron.",
    ),
    ("Retrying", "Reintentando"),
    ("recipient(s) due now", "destinatario(s) pendientes ahora"),
    ("This message will never be delivered to", "Este mensaje no se entregará nunca a"),
    ("Its sender is not told. This cannot be undone.", "No se avisa al remitente. No se puede deshacer."),
    ("Delete queued message", "Eliminar mensaje en cola"),
    ("Deleted from the queue:", "Eliminado de la cola:"),
    ("Node", "Nodo"),
    ("Started", "Iniciado"),
    ("Last heartbeat", "Último latido"),
    ("Delivering now", "Entregando ahora"),
    ("alive", "activo"),
    ("not responding", "no responde"),
    ("Messages today", "Mensajes de hoy"),
    ("No messages yet today.", "Todavía no hay mensajes hoy."),
    ("Messages today by verdict", "Mensajes de hoy por veredicto"),
    (
        "Mail from senders on the allow list skips the spam filters; mail from senders on the deny list is refused.",
        "El correo de remitentes de la lista de permitidos no pasa por los filtros de spam; el de remitentes de la lista de bloqueados se rechaza.",
    ),
    ("List", "Lista"),
    ("Sender, domain or IP", "Remitente, dominio o IP"),
    ("allow", "permitir"),
    ("deny", "bloquear"),
    ("Remove", "Quitar"),
    ("Add", "Añadir"),
    ("Search by address or name", "Buscar por dirección o nombre"),
    ("Search", "Buscar"),
    ("All domains", "Todos los dominios"),
    ("Export CSV", "Exportar CSV"),
    ("Address", "Dirección"),
    ("Full name", "Nombre completo"),
    ("Aliases", "Alias"),
    ("Delete alias", "Eliminar alias"),
    ("Previous", "Anterior"),
    ("Next", "Siguiente"),
    ("Create user", "Crear usuario"),
    ("Login (without domain)", "Usuario (sin dominio)"),
    ("Password (empty: generated)", "Contraseña (vacía: se genera)"),
    ("The domain's", "La del dominio"),
    ("Create alias", "Crear alias"),
    ("Alias (without domain)", "Alias (sin dominio)"),
    ("Alias domain", "Dominio del alias"),
    ("Of user (address)", "Del usuario (dirección)"),
    ("User created", "Usuario creado"),
    ("generated password", "contraseña generada"),
    ("Alias created", "Alias creado"),
    ("User deleted", "Usuario eliminado"),
    ("Alias deleted", "Alias eliminado"),
    ("Domain deleted.", "Dominio eliminado."),
    ("Domain admin created.", "Administrador de dominio creado."),
    ("Settings saved.", "Ajustes guardados."),
    ("Entry added.", "Entrada añadida."),
    ("Entry removed.", "Entrada quitada."),
    // Editing domains, users and admins.
    ("Role", "Rol"),
    ("all of the tenant's", "todos los del cliente"),
    ("Admins", "Administradores"),
    ("on", "activado"),
    ("off", "desactivado"),
    ("Details", "Datos"),
    ("Reset password", "Restablecer la contraseña"),
    ("New password (empty: generated)", "Nueva contraseña (vacía: generada)"),
    ("Also turn the second factor off (a lost phone)", "Desactivar también el segundo factor (un teléfono perdido)"),
    ("Remove admin", "Eliminar administrador"),
    (
        "can no longer sign in; its sessions and API tokens end. Its domains and users stay. This cannot be undone.",
        "ya no podrá iniciar sesión; sus sesiones y tokens de API terminan. Sus dominios y usuarios se quedan. No se puede deshacer.",
    ),
    ("Mail to", "El correo a"),
    ("no longer reaches", "deja de llegar a"),
    ("and is refused from then on.", "y se rechaza desde entonces."),
    ("Delete user", "Eliminar usuario"),
    ("Deleting this user also deletes", "Al eliminar este usuario también se eliminan"),
    ("no aliases", "ningún alias"),
    ("its aliases", "sus alias"),
    (
        "Mail for it is refused from then on; mail already held stays in the quarantine for admins. This cannot be undone.",
        "Su correo se rechaza desde entonces; el ya retenido sigue en la cuarentena para los administradores. No se puede deshacer.",
    ),
    (
        "Password reset. Copy the new password now: it is not shown again.",
        "Contraseña restablecida. Copie ahora la nueva contraseña: no se vuelve a mostrar.",
    ),
    ("Password reset.", "Contraseña restablecida."),
    ("Edit domain", "Editar dominio"),
    (
        "Max users is a whole number, or empty for no limit",
        "El máximo de usuarios es un número entero, o vacío sin límite",
    ),
    ("Domain saved.", "Dominio guardado."),
    ("User saved.", "Usuario guardado."),
    ("Admin saved.", "Administrador guardado."),
    ("Admin removed:", "Administrador eliminado:"),
    ("Domain admin", "Administrador de dominio"),
    ("Tenant admin", "Administrador de cliente"),
    // The quarantine's search and bulk actions; a message's journey.
    ("Sender, recipient or subject", "Remitente, destinatario o asunto"),
    ("Selected:", "Seleccionados:"),
    ("Release and allow sender", "Liberar y permitir el remitente"),
    ("Select", "Seleccionar"),
    ("Select messages first.", "Seleccione antes algún mensaje."),
    ("Messages deleted:", "Mensajes eliminados:"),
    ("Messages released and senders allowed:", "Mensajes liberados y remitentes permitidos:"),
    ("Messages released:", "Mensajes liberados:"),
    ("Not done:", "No se hizo:"),
    ("Layer", "Capa"),
    ("Stage", "Etapa"),
    ("Findings", "Hallazgos"),
    ("Decision", "Decisión"),
    ("Time", "Tiempo"),
    ("shadow", "en observación"),
    ("score only", "solo puntuación"),
    ("Delivery attempts", "Intentos de entrega"),
    ("No delivery attempt (yet).", "Ningún intento de entrega (todavía)."),
    ("When", "Cuándo"),
    ("Recipient", "Destinatario"),
    ("Result", "Resultado"),
    ("Reply", "Respuesta"),
    ("to be retried", "se reintentará"),
    // Alerts; the chain's saved versions.
    ("No alerts.", "No hay alertas."),
    ("Alerts", "Alertas"),
    ("Kind", "Tipo"),
    ("What happened", "Qué ocurrió"),
    ("A filter keeps failing", "Un filtro falla una y otra vez"),
    ("Sending suspended", "Envío suspendido"),
    ("Sign-ins locked", "Inicios de sesión bloqueados"),
    ("Other", "Otra"),
    ("Saved versions", "Versiones guardadas"),
    ("No version saved here yet.", "Aún no se ha guardado ninguna versión aquí."),
    ("Saved", "Guardada"),
    ("By", "Por"),
    ("Filters", "Filtros"),
    ("(the default chain)", "(la cadena predeterminada)"),
    ("live", "en uso"),
    ("Restore", "Restaurar"),
    ("restored as version", "restaurada como versión"),
    ("every tenant", "todos los clientes"),
    ("tenant", "cliente"),
    (
        "The most specific list decides: a user's, then its domain's, its tenant's, then every tenant's.",
        "Decide la lista más específica: la del usuario, después la de su dominio, la de su cliente y la de todos los clientes.",
    ),
    ("Every tenant", "Todos los clientes"),
    ("the default tenant", "el cliente predeterminado"),
    ("About these filters", "Acerca de estos filtros"),
    ("New customer", "Nuevo cliente"),
    (
        "These held messages are deleted and can never be released:",
        "Estos mensajes retenidos se eliminan y ya no podrán liberarse:",
    ),
    ("Delete held messages", "Eliminar mensajes retenidos"),
    ("Licenses (empty: unlimited)", "Licencias (vacío: ilimitadas)"),
    ("Tenant admin (optional)", "Administrador del cliente (opcional)"),
    ("Create customer", "Crear cliente"),
    ("Customer created.", "Cliente creado."),
    ("License pool saved.", "Licencias guardadas."),
    ("Tenant admin created:", "Administrador de cliente creado:"),
    ("License pool", "Licencias"),
    ("New tenant admin", "Nuevo administrador de cliente"),
    ("Create tenant admin", "Crear administrador de cliente"),
    ("Configuration", "Configuración"),
    ("This filter does not describe itself.", "Este filtro no se describe a sí mismo."),
    ("A user's own lists open from the user's page.", "Las listas de un usuario se abren desde su página."),
    ("a domain admin needs at least one domain", "un administrador de dominio necesita al menos un dominio"),
    (
        "a message without a sender (a bounce) cannot be allowed by sender",
        "un mensaje sin remitente (un rebote) no puede permitirse por remitente",
    ),
    ("a sender is allowed for incoming mail only", "un remitente solo se permite para el correo entrante"),
    (
        "a token's label is 1 to 64 characters (what uses it, say)",
        "la etiqueta de un token tiene de 1 a 64 caracteres (qué lo usa, por ejemplo)",
    ),
    (
        "say whose list: a user's address, a domain, tenant:NAME or *",
        "indique de quién es la lista: la dirección de un usuario, un dominio, tenant:NOMBRE o *",
    ),
    ("that version holds no chain", "esa versión no contiene ninguna cadena"),
    ("users have no second factor", "los usuarios no tienen segundo factor"),
    ("you may not view emails", "no puede ver los correos"),
    // Store-written verdicts and delivery states not named above.
    ("held", "retenido"),
    ("bounced", "rebotado"),
    ("partially delivered", "entregado en parte"),
    ("not delivered", "no entregado"),
    ("not accepted", "no aceptado"),
    ("queued (released)", "en cola (liberado)"),
    ("rejected at RCPT", "rechazado en RCPT"),
    ("deferred at RCPT", "aplazado en RCPT"),
    // Names that stay as they are.
    ("Active Directory", "Active Directory"),
    ("Lotus Domino", "Lotus Domino"),
    ("Full name, email, password", "Nombre completo, correo, contraseña"),
    ("Full name, email", "Nombre completo, correo"),
    ("Full name, email, password, alias1, alias2, …", "Nombre completo, correo, contraseña, alias1, alias2, …"),
    (
        "only the platform's operators keep the global lists",
        "solo los operadores de la plataforma llevan las listas globales",
    ),
    // The notices Moat mails (`moat-directory`'s notices).
    ("Moat: no licenses left ({tenant})", "Moat: sin licencias libres ({tenant})"),
    ("Moat: import of {file} finished", "Moat: importación de {file} terminada"),
    ("Welcome to your email protection", "Bienvenido a la protección de correo"),
    ("Moat: {count} message(s) held in quarantine", "Moat: {count} mensaje(s) en cuarentena"),
    ("Moat: directory synchronization ({scope})", "Moat: sincronización con el directorio ({scope})"),
    ("(the one your administrator gave you)", "(la que le dio su administrador)"),
    (
        "Hello {name},\n\nYour email now goes through a filter that protects you from spam, viruses and phishing. In the console you can see messages held in quarantine, release them, and choose senders to always accept or block.\n\n  Console: {console}\n  User: {address}\n  Password: {password}\n",
        "Hola {name}:\n\nSu correo pasa ahora por un filtro que lo protege del spam, los virus y el phishing. En la consola puede ver los mensajes retenidos en cuarentena, liberarlos y decidir qué remitentes se aceptan o se bloquean siempre.\n\n  Consola: {console}\n  Usuario: {address}\n  Contraseña: {password}\n",
    ),
    (
        "Moat synchronized the users of {scope} with your directory.",
        "Moat sincronizó los usuarios de {scope} con su directorio.",
    ),
    ("Users who left the directory, removed", "Usuarios que dejaron el directorio, eliminados"),
    ("Users no longer in the directory (not removed)", "Usuarios que ya no están en el directorio (no se eliminaron)"),
    (
        "These messages for you were held in quarantine as likely spam. If one is legitimate, release it in the console; the others will be deleted in time.",
        "Estos mensajes para usted se retuvieron en cuarentena como posible spam. Si alguno es legítimo, libérelo en la consola; los demás se borrarán solos.",
    ),
    ("score", "puntuación"),
    ("Console", "Consola"),
    (
        "A user could not be created in {domain}: {tenant} has no license left ({used} of {pool} in use).\n\nEach license covers one mailbox and up to 5 of its aliases. Ask your provider for more licenses, or delete users you no longer need.",
        "No se pudo crear un usuario en {domain}: las licencias de {tenant} están agotadas ({used} de {pool} en uso).\n\nCada licencia cubre un buzón y hasta 5 alias. Pida más licencias a su proveedor o elimine usuarios que ya no necesite.",
    ),
    (
        "Import of {file}: {imported} imported, {unchanged} already there, {failed} with errors.",
        "Importación de {file}: {imported} importados, {unchanged} ya existían, {failed} con errores.",
    ),
    ("Lines not imported:", "Líneas no importadas:"),
    ("line", "línea"),
    (
        "Generated passwords (give each to its user; they can change it in the console):",
        "Contraseñas generadas (entréguelas a cada usuario; podrán cambiarlas en la consola):",
    ),
    // A user import's per-line reasons (`moat-directory`'s import).
    ("not readable: {why}", "ilegible: {why}"),
    (
        "expected: full name, email[, password[, aliases…]]",
        "se esperaba: nombre completo, email[, contraseña[, alias…]]",
    ),
    ("{domain} is not one of this tenant's domains", "{domain} no es uno de los dominios de este cliente"),
    (
        "{domain} is an alias domain of {primary}: mailboxes belong to {primary}",
        "{domain} es un dominio alias de {primary}: los buzones pertenecen a {primary}",
    ),
    ("{address} is already an alias", "{address} ya es un alias"),
    ("alias {alias} already belongs to another user", "el alias {alias} ya pertenece a otro usuario"),
    (
        "alias {alias} is already delivered to {shadowed} through its alias domain",
        "el alias {alias} ya se entrega a {shadowed} a través de su dominio alias",
    ),
    ("no license left ({used} of {pool} in use)", "no quedan licencias ({used} de {pool} en uso)"),
    ("{domain} already has its maximum of {max} users", "{domain} ya tiene su máximo de {max} usuarios"),
    // The console's refusals with values.
    ("{what} is not available", "no está disponible: {what}"),
    (
        "too many failed sign-ins: try again in {minutes} minutes",
        "demasiados intentos fallidos: vuelva a intentarlo en {minutes} minutos",
    ),
    // Removing a trust-list entry.
    (
        "leaves this list: its mail is judged by the filters again (or by a less specific list).",
        "sale de esta lista: su correo vuelve a juzgarse por los filtros (o por una lista menos específica).",
    ),
    ("Remove a list entry", "Quitar una entrada de la lista"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_templates_in_both_languages() {
        assert_eq!(text(Language::Spanish, "Sign in"), "Iniciar sesión");
        assert_eq!(text(Language::English, "Sign in"), "Sign in");
        assert_eq!(text(Language::Spanish, "not in the table"), "not in the table", "English when there is no Spanish");
        assert_eq!(
            fill(Language::Spanish, "Moat: import of {file} finished", &[("file", "team.csv")]),
            "Moat: importación de team.csv terminada"
        );
        let mut seen = std::collections::HashSet::new();
        let twice: Vec<&str> = SPANISH.iter().map(|(en, _)| *en).filter(|en| !seen.insert(*en)).collect();
        assert!(twice.is_empty(), "translated twice: {twice:?}");
    }

    #[test]
    fn values_are_never_read_as_templates() {
        let filled = substitute(
            "{who} sent {file}: {count} {unknown}",
            &[("file", "{count}.csv"), ("who", "{file}"), ("count", "2")],
        );
        assert_eq!(filled, "{file} sent {count}.csv: 2 {unknown}");
        assert_eq!(substitute("a { b } c {", &[("b", "x")]), "a { b } c {", "stray braces stay");
    }

    #[test]
    fn languages_are_read_from_codes() {
        assert_eq!(Language::parse("es-MX"), Language::Spanish);
        assert_eq!(Language::parse("fr"), Language::English);
        assert_eq!(Language::Spanish.code(), "es");
    }
}
