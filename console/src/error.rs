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
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Directory(#[from] DirectoryError),
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Store(StoreError::Duplicate { .. }) => StatusCode::CONFLICT,
            AppError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::Directory(e) => match e {
                DirectoryError::Address(_)
                | DirectoryError::NestedAliasDomain { .. }
                | DirectoryError::OnAliasDomain { .. }
                | DirectoryError::Downstream { .. } => StatusCode::BAD_REQUEST,
                DirectoryError::UnknownDomain(_)
                | DirectoryError::UnknownTenant(_)
                | DirectoryError::UnknownMailbox(_) => StatusCode::NOT_FOUND,
                DirectoryError::MaxUsers { .. }
                | DirectoryError::LicensesExhausted { .. }
                | DirectoryError::ShadowedByAliasDomain { .. }
                | DirectoryError::Store(StoreError::Duplicate { .. }) => StatusCode::CONFLICT,
                DirectoryError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("console request failed: {self:?}");
            "internal error".to_string()
        } else if let AppError::Store(e @ StoreError::Duplicate { .. }) = &self {
            e.to_string()
        } else {
            self.to_string()
        };
        let mut response = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
