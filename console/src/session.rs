//! Console sessions: a random 256-bit cookie (HttpOnly, SameSite=Strict, `Secure` when configured), of
//! which the store keeps only a SHA-256; a CSRF token per session that every form carries back.

use crate::access::Access;
use crate::{AppError, AppState};
use axum::extract::FromRequestParts;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use moat_directory::{Language, token_digest};
use moat_store::{Principal, Session};

pub const SESSION_COOKIE: &str = "moat_session";
/// Before sign-in there is no session: the login form's CSRF token is a double-submit cookie.
pub const LOGIN_COOKIE: &str = "moat_login";
/// Sessions end after 8 hours.
const LIFETIME: i64 = 8 * 3600;

pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age: i64) -> (axum::http::HeaderName, HeaderValue) {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}");
    (SET_COOKIE, HeaderValue::from_str(&cookie).expect("cookie of hex digits"))
}

/// Starts a session; returns the cookie to set.
pub async fn open(
    state: &AppState,
    principal: Principal,
    awaiting_totp: bool,
) -> Result<(axum::http::HeaderName, HeaderValue), AppError> {
    let id = random_token();
    let now = crate::now();
    let session = Session { principal, csrf_token: random_token(), awaiting_totp, expires_at: now + LIFETIME };
    state.store.session_add(&token_digest(&id), &session, now).await?;
    // Expired sessions go now and then, on sign-in.
    let _ = state.store.sessions_purge(now).await;
    Ok(set_cookie(state, SESSION_COOKIE, &id, LIFETIME))
}

/// Equal in constant time (CSRF tokens).
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request from a signed-in account (password and, when on, second factor).
pub struct Signed {
    pub access: Access,
    pub csrf: String,
    pub session_hash: String,
    pub language: Language,
    /// The page asked for, so the navigation can mark where the admin is.
    pub path: String,
}

impl Signed {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check(&self, csrf: &str) -> Result<(), AppError> {
        if same(csrf, &self.csrf) {
            Ok(())
        } else {
            Err(AppError::Forbidden("the form expired; reload the page".into()))
        }
    }
}

/// A session whose password is checked but whose TOTP code is still to come.
pub struct AwaitingTotp {
    pub session_hash: String,
    pub csrf: String,
    pub principal: Principal,
}

/// Not signed in: pages send the browser to the sign-in page.
pub struct ToLogin;

impl IntoResponse for ToLogin {
    fn into_response(self) -> Response {
        Redirect::to("/login").into_response()
    }
}

/// Where the signed-in account's language is left for the page's error answer, which is rendered without it
/// (`?` turns any failure into a `Failure`): the pages' middleware puts one in each request.
#[derive(Clone, Default)]
pub struct LanguageSlot(pub std::sync::Arc<std::sync::OnceLock<Language>>);

async fn session_of(parts: &Parts, state: &AppState) -> Option<(String, Session)> {
    let id = cookie(&parts.headers, SESSION_COOKIE)?;
    let hash = token_digest(&id);
    let session = state.store.session_get(&hash, crate::now()).await.ok()??;
    Some((hash, session))
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || ToLogin.into_response();
        let (session_hash, session) = session_of(parts, state).await.ok_or_else(to_login)?;
        if session.awaiting_totp {
            return Err(Redirect::to("/login/totp").into_response());
        }
        let access = match session.principal {
            Principal::Admin(id) => match state.store.admin_by_id(id).await {
                Ok(Some(admin)) => {
                    Access::of_admin(&state.store, admin).await.map_err(|e| AppError::from(e).into_response())?
                }
                _ => return Err(to_login()),
            },
            Principal::User(id) => match state.store.mailbox_by_id(id).await {
                Ok(Some(mailbox)) => {
                    Access::of_user(&state.store, mailbox).await.map_err(|e| AppError::from(e).into_response())?
                }
                _ => return Err(to_login()),
            },
        };
        let language = Language::parse(access.language());
        if let Some(slot) = parts.extensions.get::<LanguageSlot>() {
            let _ = slot.0.set(language);
        }
        let path = parts.uri.path().to_owned();
        Ok(Signed { access, csrf: session.csrf_token, session_hash, language, path })
    }
}

impl FromRequestParts<AppState> for AwaitingTotp {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_of(parts, state).await {
            Some((session_hash, session)) if session.awaiting_totp => {
                Ok(AwaitingTotp { session_hash, csrf: session.csrf_token, principal: session.principal })
            }
            Some(_) => Err(Redirect::to("/").into_response()),
            None => Err(ToLogin.into_response()),
        }
    }
}

/// The client's address, for login throttling ("unknown" when the server does not pass it, as in tests).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip =
            parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip().to_string());
        Ok(ClientIp(ip.unwrap_or_else(|| "unknown".into())))
    }
}
