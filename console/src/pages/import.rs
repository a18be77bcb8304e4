//! Import users from a CSV/TXT file: the upload form, the jobs with their progress, one job's result.

use super::{PageResult, csrf, done, filled, frame, multipart_fields, notice};
use crate::i18n::tr;
use crate::ops;
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use maud::html;
use moat_store::{ImportJob, ImportStatus};

pub fn routes() -> Router<AppState> {
    Router::new().route("/import", get(page).post(upload)).route("/import/{id}", get(job))
}

fn status_word(job: &ImportJob, t: impl Fn(&'static str) -> &'static str) -> &'static str {
    match job.status {
        ImportStatus::Running => t("running"),
        ImportStatus::Finished => t("finished"),
        ImportStatus::Interrupted => t("interrupted"),
    }
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<super::domains::Done>) -> PageResult {
    render(&state, &signed, q.done.as_deref(), None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    signed: &Signed,
    done_message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let jobs = ops::import_jobs(&signed.access, state).await?;
    let domains = ops::visible_domains(&signed.access, state).await?;
    let tenants = match signed.access.is_platform() {
        true => Some(super::tenant_select(state, signed.language, None, "the default tenant").await?),
        false => None,
    };
    let body = html! {
        (notice(done_message, error))
        p { (t("One user per line, in one of these formats:")) }
        pre { (t("Full name, email, password")) "\n" (t("Full name, email")) "\n" (t("Full name, email, password, alias1, alias2, …")) }
        p { (t("Write every address with its domain and leave Domain empty, or every address without it and choose the domain. Missing passwords are generated. Importing the same file again changes nothing.")) }
        form #import method="post" action="/import" enctype="multipart/form-data" {
            (csrf(signed))
            label { (t("File (CSV or TXT)")) input type="file" name="file" accept=".csv,.txt,text/csv,text/plain" required; }
            label { (t("Domain")) select name="domain" {
                option value="" { (t("None: addresses have their domain")) }
                @for d in domains.iter().filter(|d| d.alias_of.is_none()) { option value=(d.name) { (d.name) } }
            } }
            @if let Some(tenants) = tenants { (tenants) }
            button type="submit" { (t("Import")) }
        }
        h2 { (t("Imports")) }
        table #imports {
            thead { tr { th { (t("File")) } th { (t("Status")) } th { (t("Progress")) } th { (t("Imported")) } th { (t("Unchanged")) } th { (t("Errors")) } } }
            tbody {
                @for j in &jobs {
                    tr {
                        td { a href=(format!("/import/{}", j.id)) { (j.file_name) } }
                        td { (status_word(j, t)) }
                        td { progress value=(j.processed) max=(j.total.max(1)) {} " " (j.processed) "/" (j.total) }
                        td { (j.imported()) } td { (j.unchanged) } td { (j.errors.len()) }
                    }
                }
            }
        }
    };
    let mut response = frame(signed, t("Import users"), body);
    *response.status_mut() = status;
    Ok(response)
}

async fn upload(State(state): State<AppState>, signed: Signed, form: Multipart) -> PageResult {
    let (fields, file) = multipart_fields(form).await?;
    signed.check(fields.get("csrf").map_or("", String::as_str))?;
    let t = |s| tr(signed.language, s);
    let Some((_, file_name, bytes)) = file else {
        return render(&state, &signed, None, Some(t("Choose a file to import.")), StatusCode::BAD_REQUEST).await;
    };
    let domain = filled(&fields.get("domain").cloned());
    let tenant = filled(&fields.get("tenant").cloned());
    match ops::start_import(&signed.access, &state, &file_name, bytes, domain, tenant).await {
        Ok(id) => Ok(done(&format!("/import/{id}"), t("Import started."))),
        Err(e @ (AppError::Import(_) | AppError::BadRequest(_) | AppError::NotFound)) => {
            render(&state, &signed, None, Some(&e.message_in(signed.language)), e.status()).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn job(
    State(state): State<AppState>,
    signed: Signed,
    super::Id(id): super::Id,
    Query(q): Query<super::domains::Done>,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let job = ops::import_job(&signed.access, &state, id).await?;
    let running = job.status == ImportStatus::Running;
    let body = html! {
        @if running { meta http-equiv="refresh" content="2"; }
        (notice(q.done.as_deref(), None))
        dl #import-result {
            dt { (t("Status")) } dd #import-status { (status_word(&job, t)) }
            dt { (t("Progress")) } dd { progress value=(job.processed) max=(job.total.max(1)) {} " " (job.processed) "/" (job.total) }
            dt { (t("Imported")) } dd #import-imported { (job.imported()) }
            dt { (t("Unchanged")) } dd #import-unchanged { (job.unchanged) }
            dt { (t("Errors")) } dd #import-errors { (job.errors.len()) }
        }
        @if !job.errors.is_empty() {
            table #import-line-errors {
                thead { tr { th { (t("Line")) } th { (t("Reason")) } } }
                tbody { @for e in &job.errors { tr { td { (e.line) } td { (e.reason) } } } }
            }
        }
        @if !running { p { (t("The result, with any generated passwords, was emailed to you.")) } }
    };
    Ok(frame(&signed, &job.file_name, body))
}
