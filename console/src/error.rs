use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What a request can fail with. Details of internal failures go to the log, never to the client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required: send Authorization: Bearer <token> (moat token create ADMIN)")]
    Unauthenticated,
    #[error("not found")]
    NotFound,
    #[error("internal error")]
    Internal(#[from] moat_store::StoreError),
    #[error("internal error")]
    Directory(#[from] moat_directory::DirectoryError),
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = match &self {
            AppError::Unauthenticated => StatusCode::UNAUTHORIZED,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Internal(e) => {
                tracing::error!("console request failed: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            AppError::Directory(e) => {
                tracing::error!("console request failed: {e}");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let body = axum::Json(serde_json::json!({ "error": self.to_string() }));
        let mut response = (status, body).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        }
        response
    }
}
