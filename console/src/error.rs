use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use moat_directory::DirectoryError;
use moat_store::StoreError;

/// What a request can fail with. An admin's mistake is answered in the directory's own words; internal
/// failures are logged and answered "internal error", never with their details.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required: send Authorization: Bearer <token> (moat token create ADMIN)")]
    Unauthenticated,
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("too many failed sign-ins: try again in {0} minutes")]
    Throttled(i64),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Import(#[from] moat_directory::ImportError),
    #[error("{0}")]
    Password(#[from] moat_directory::PasswordError),
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Directory(#[from] DirectoryError),
}

/// A typed value the caller wrote wrong (a name, a date) is a bad request, in its own words.
impl From<moat_directory::BadAccountName> for AppError {
    fn from(e: moat_directory::BadAccountName) -> Self {
        AppError::BadRequest(e.to_string())
    }
}

impl From<crate::dates::NotADate> for AppError {
    fn from(e: crate::dates::NotADate) -> Self {
        AppError::BadRequest(e.to_string())
    }
}

impl From<crate::GatewayError> for AppError {
    fn from(e: crate::GatewayError) -> Self {
        match e {
            crate::GatewayError::Refused(why) => AppError::BadRequest(why),
            crate::GatewayError::Unavailable(why) => AppError::Unavailable(why),
        }
    }
}

impl AppError {
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Import(moat_directory::ImportError::Directory(e)) => directory_status(e),
            AppError::Import(_) => StatusCode::BAD_REQUEST,
            AppError::Password(_) => StatusCode::BAD_REQUEST,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Store(StoreError::Duplicate { .. }) => StatusCode::CONFLICT,
            AppError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Directory(e) => directory_status(e),
        }
    }

    /// [`Self::public_message`] in the console's `language`: the directory's refusals and the console's own
    /// fixed texts are translated; a text built from values it does not know stays English.
    pub fn message_in(&self, language: moat_directory::Language) -> String {
        use moat_directory::Localized;
        if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            return crate::i18n::tr_text(language, &self.public_message());
        }
        if let Some(what) = self.duplicate() {
            return moat_i18n::fill(language, "{what} is not available", &[("what", what)]);
        }
        match self {
            AppError::Directory(e) => e.in_language(language),
            AppError::Import(e) => e.in_language(language),
            AppError::Password(e) => e.in_language(language),
            AppError::Store(e) => e.in_language(language),
            AppError::Throttled(minutes) => moat_i18n::fill(
                language,
                "too many failed sign-ins: try again in {minutes} minutes",
                &[("minutes", &minutes.to_string())],
            ),
            _ => crate::i18n::tr_text(language, &self.public_message()),
        }
    }

    /// The text shown to the caller: the error itself, or "internal error" for what is not theirs to see.
    pub fn public_message(&self) -> String {
        if self.status() == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("console request failed: {self:?}");
            "internal error".to_string()
        } else if let Some(what) = self.duplicate() {
            // Names are unique across tenants: "already exists" would confirm another tenant's admin or domain.
            format!("{what} is not available")
        } else {
            self.to_string()
        }
    }
}

impl AppError {
    /// What a refused duplicate names (an account, a domain, a mailbox), if this is one.
    fn duplicate(&self) -> Option<&str> {
        match self {
            AppError::Store(StoreError::Duplicate { what })
            | AppError::Directory(DirectoryError::Store(StoreError::Duplicate { what })) => Some(what),
            _ => None,
        }
    }
}

fn directory_status(e: &DirectoryError) -> StatusCode {
    match e {
        DirectoryError::Address(_)
        | DirectoryError::ListEntry(_)
        | DirectoryError::NestedAliasDomain { .. }
        | DirectoryError::OnAliasDomain { .. }
        | DirectoryError::Downstream { .. }
        | DirectoryError::NoDownstream(_)
        | DirectoryError::Ldap(_)
        | DirectoryError::FullName(_)
        | DirectoryError::TenantName(_)
        | DirectoryError::LicensePool(_)
        | DirectoryError::SignupCheck { .. } => StatusCode::BAD_REQUEST,
        DirectoryError::UnknownDomain(_) | DirectoryError::UnknownTenant(_) | DirectoryError::UnknownMailbox(_) => {
            StatusCode::NOT_FOUND
        }
        DirectoryError::MaxUsers { .. }
        | DirectoryError::MaxUsersBelowUsers { .. }
        | DirectoryError::AddressTaken(_)
        | DirectoryError::LicensesExhausted { .. }
        | DirectoryError::ShadowedByAliasDomain { .. }
        | DirectoryError::NotAvailable(_)
        | DirectoryError::Store(StoreError::Duplicate { .. }) => StatusCode::CONFLICT,
        DirectoryError::Store(_) | DirectoryError::Dkim(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Every API error's body.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for a person to read (in English).
    pub error: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = self.public_message();
        let mut response = (status, axum::Json(ErrorBody { error: message })).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
