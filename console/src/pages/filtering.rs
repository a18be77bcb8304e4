//! Filtering: the tenant's chain as an ordered list (enable, shadow, fail policy, what it learns from,
//! configuration, removal), its thresholds and those of learning from confident verdicts, its saved versions
//! (each restorable), and the upload of a custom WebAssembly filter. Changes are checked by the gateway exactly as
//! `moat chain set` checks them, and running servers switch to the saved chain atomically.

use super::{PageResult, csrf, done, filled, frame, multipart_fields, notice};
use crate::i18n::tr;
use crate::session::Signed;
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{Form, Multipart, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use maud::html;
use moat_store::{ChainScope, Direction, Role, TenantId};
use serde::Deserialize;
use serde_json::Value;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/filtering", get(page).post(save))
        .route("/filtering/upload", post(upload))
        .route("/filtering/restore", post(restore))
}

#[derive(Deserialize, Default)]
struct Scope {
    tenant: Option<String>,
    direction: Option<String>,
    done: Option<String>,
}

/// Which chain the page edits: inbound (the default) or outbound (`direction=outbound`).
fn direction_of(requested: Option<&str>) -> Direction {
    requested.and_then(Direction::parse).unwrap_or_default()
}

/// The page's address for a tenant and direction.
fn page_url(tenant: Option<&str>, direction: Direction) -> String {
    format!("/filtering?tenant={}&direction={}", super::url_encode(tenant.unwrap_or_default()), direction.as_str())
}

/// The tenant whose chain the page edits: a tenant admin's own; a platform admin's choice (`None`: the
/// default chain every tenant without its own runs).
async fn tenant_of(
    state: &AppState,
    signed: &Signed,
    requested: Option<String>,
) -> Result<Option<(TenantId, String)>, AppError> {
    match signed.access.role() {
        Some(Role::Tenant(t)) => {
            let name =
                state.store.tenant_list().await?.into_iter().find(|x| x.id == t).map(|x| x.name).unwrap_or_default();
            Ok(Some((t, name)))
        }
        Some(Role::Platform) => match filled(&requested) {
            Some(name) => {
                let tenant = state.store.tenant_by_name(&name).await?.ok_or(AppError::NotFound)?;
                Ok(Some((tenant.id, tenant.name)))
            }
            None => Ok(None),
        },
        _ => Err(crate::ops::not_for_this_role()),
    }
}

/// The `direction` chain that applies: the tenant's own, else the default. (JSON, and whether it is the
/// tenant's.)
async fn live_chain(
    state: &AppState,
    direction: Direction,
    tenant: Option<TenantId>,
) -> Result<(Value, bool), AppError> {
    if let Some(t) = tenant
        && let Some(json) =
            state.store.chain_history(direction, ChainScope::Tenant(t)).await?.into_iter().next().and_then(|v| v.spec)
    {
        return Ok((serde_json::from_str(&json).unwrap_or(Value::Null), true));
    }
    let json = state.store.chain_history(direction, ChainScope::Default).await?.into_iter().next().and_then(|v| v.spec);
    Ok((json.and_then(|j| serde_json::from_str(&j).ok()).unwrap_or_else(|| serde_json::json!({"entry": []})), false))
}

async fn page(State(state): State<AppState>, signed: Signed, Query(q): Query<Scope>) -> PageResult {
    let direction = direction_of(q.direction.as_deref());
    render(&state, &signed, q.tenant, direction, q.done.as_deref(), None, StatusCode::OK).await
}

async fn render(
    state: &AppState,
    signed: &Signed,
    requested: Option<String>,
    direction: Direction,
    done_message: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let t = |s| tr(signed.language, s);
    let tenant = tenant_of(state, signed, requested).await?;
    let (chain, own) = live_chain(state, direction, tenant.as_ref().map(|x| x.0)).await?;
    let thresholds = chain
        .get("thresholds")
        .cloned()
        .unwrap_or_else(|| serde_json::json!({"tag": 5.0, "quarantine": 10.0, "reject": 15.0}));
    let entries = chain.get("entry").and_then(Value::as_array).cloned().unwrap_or_default();
    let tenant_name = tenant.as_ref().map(|x| x.1.clone()).unwrap_or_default();
    let scope = tenant.as_ref().map_or(ChainScope::Default, |x| ChainScope::Tenant(x.0));
    let history = state.store.chain_history(direction, scope).await?;
    let plugins: Vec<moat_store::PluginInfo> = state
        .store
        .plugin_list()
        .await?
        .into_iter()
        .filter(|p| p.owner.is_none() || p.owner == tenant.as_ref().map(|x| x.0))
        .collect();
    let num = |k: &str| thresholds.get(k).and_then(Value::as_f64).unwrap_or(0.0).to_string();
    let autolearn = chain.get("autolearn");
    let sure =
        |k: &str, default: f64| autolearn.and_then(|a| a.get(k)).and_then(Value::as_f64).unwrap_or(default).to_string();
    let body = html! {
        (notice(done_message, error))
        nav.tabs {
            @for (d, label) in [(Direction::Inbound, t("Incoming mail")), (Direction::Outbound, t("Outgoing mail"))] {
                @if d == direction { strong { (label) } } @else { a href=(page_url(Some(&tenant_name), d)) { (label) } }
                " "
            }
        }
        @if direction == Direction::Outbound {
            p.hint { (t("Runs on mail the customers' servers send through Moat: it judges what the message carries, not the client (the customer's own server).")) }
        }
        p { @if tenant.is_none() { (t("The default chain: every tenant without its own runs it.")) }
            @else if own { (t("This tenant's own chain.")) }
            @else { (t("This tenant runs the default chain; saving here gives it its own.")) } }
        @if signed.access.is_platform() {
            form.search method="get" action="/filtering" {
                input type="hidden" name="direction" value=(direction.as_str());
                (super::tenant_select(state, signed.language, Some(&tenant_name), "default chain").await?)
                button type="submit" { (t("Show")) }
            }
        }
        form #chain method="post" action="/filtering" {
            (csrf(signed))
            input type="hidden" name="tenant" value=(tenant_name);
            input type="hidden" name="direction" value=(direction.as_str());
            fieldset { legend { (t("Thresholds")) }
                label { (t("Tag at")) input name="tag" type="number" step="0.1" value=(num("tag")); }
                label { (t("Quarantine at")) input name="quarantine" type="number" step="0.1" value=(num("quarantine")); }
                label { (t("Reject at")) input name="reject" type="number" step="0.1" value=(num("reject")); }
            }
            fieldset #autolearn { legend { (t("Learning from confident verdicts")) }
                p.hint { (t("A filter set to learn from confident verdicts is taught spam when the other filters alone score at least the first value, and valid mail when the whole chain scores at most the second.")) }
                label { (t("Teach spam at")) input name="autolearn_spam" type="number" step="0.1" value=(sure("spam", 5.0)); }
                label { (t("Teach valid mail at")) input name="autolearn_ham" type="number" step="0.1" value=(sure("ham", -3.0)); }
            }
            table #chain-entries {
                thead { tr { th { (t("Order")) } th { (t("Filter")) } th { (t("Version")) } th { (t("Enabled")) } th { (t("Shadow")) } th { (t("On failure")) } th { (t("Learns")) } th { (t("Configuration (JSON)")) } th { (t("Remove")) } } }
                tbody {
                    @for (i, e) in entries.iter().enumerate() {
                        @let flag = |k: &str, default: bool| e.get(k).and_then(Value::as_bool).unwrap_or(default);
                        @let fail = e.get("fail").and_then(Value::as_str).unwrap_or("open");
                        @let learns = Learning::of(e);
                        tr {
                            td { input name=(format!("order{i}")) type="number" value=(i + 1) min="1" size="3"; }
                            td { (e.get("plugin").and_then(Value::as_str).unwrap_or("?")) }
                            td.version { (e.get("version").and_then(Value::as_str).unwrap_or("")) }
                            td { input type="checkbox" name=(format!("enabled{i}")) checked[flag("enabled", true)]; }
                            td { input type="checkbox" name=(format!("shadow{i}")) checked[flag("shadow", false)]; }
                            td { select name=(format!("fail{i}")) {
                                option value="open" selected[fail == "open"] { (t("open: let mail through")) }
                                option value="closed" selected[fail == "closed"] { (t("closed: retry later")) }
                            } }
                            td { select name=(format!("learns{i}")) aria-label=(format!("{} {}", t("Learns"), e.get("plugin").and_then(Value::as_str).unwrap_or("?"))) {
                                @for way in Learning::ALL {
                                    option value=(way.as_str()) selected[learns == way] { (t(way.label())) }
                                }
                            } }
                            td { textarea name=(format!("config{i}")) rows="2" cols="40" { (e.get("config").map(Value::to_string).unwrap_or_else(|| "{}".into())) } }
                            td { input type="checkbox" name=(format!("remove{i}")) aria-label=(format!("{} {}", t("Remove"), e.get("plugin").and_then(Value::as_str).unwrap_or("?"))); }
                        }
                    }
                }
            }
            button type="submit" { (t("Save chain")) }
        }
        h2 { (t("About these filters")) }
        dl #filter-about {
            @for e in &entries {
                @let name = e.get("plugin").and_then(Value::as_str).unwrap_or("?");
                @let version = e.get("version").and_then(Value::as_str);
                @let about = about_of(&plugins, name, version);
                dt { (name) }
                dd {
                    @match about {
                        Some((summary, help)) => {
                            (summary)
                            @if !help.is_empty() { details { summary { (t("Configuration")) } pre { (help) } } }
                        }
                        None => span.hint { (t("This filter does not describe itself.")) },
                    }
                }
            }
        }
        h2 { (t("Saved versions")) }
        @if history.is_empty() {
            p #history-none { (t("No version saved here yet.")) }
        } @else {
            table #chain-history {
                thead { tr { th { (t("Version")) } th { (t("Saved")) } th { (t("By")) } th { (t("Filters")) } th {} } }
                tbody { @for (i, v) in history.iter().enumerate() { tr {
                    td { (v.id) }
                    td { (crate::dates::shown(v.created_at)) }
                    td { (v.created_by) }
                    td { (filters_of(v.spec.as_deref()).unwrap_or_else(|| t("(the default chain)").into())) }
                    td {
                        @if i == 0 { (t("live")) }
                        @else if v.spec.is_some() {
                            form.inline method="post" action="/filtering/restore" {
                                (csrf(signed))
                                input type="hidden" name="tenant" value=(tenant_name);
                                input type="hidden" name="direction" value=(direction.as_str());
                                input type="hidden" name="version" value=(v.id);
                                button type="submit" { (t("Restore")) }
                            }
                        }
                    }
                } } }
            }
        }
        h2 { (t("Upload a custom filter")) }
        form #upload method="post" action="/filtering/upload" enctype="multipart/form-data" {
            (csrf(signed))
            input type="hidden" name="tenant" value=(tenant_name);
            input type="hidden" name="direction" value=(direction.as_str());
            label { (t("Component (.wasm, built for wasm32-wasip2)")) input type="file" name="wasm" accept=".wasm,application/wasm" required; }
            label { (t("Name")) input name="name" required pattern="[a-z0-9][a-z0-9-]*"; }
            label { (t("Version")) input name="version" value="0.1.0" required; }
            label.check { input type="checkbox" name="append" checked; (t("Add it to the end of the chain")) }
            button type="submit" { (t("Upload")) }
        }
    };
    let mut response = frame(signed, t("Filtering"), body);
    *response.status_mut() = status;
    Ok(response)
}

async fn save_chain(
    state: &AppState,
    signed: &Signed,
    direction: Direction,
    tenant: Option<TenantId>,
    chain: Value,
) -> Result<i64, AppError> {
    let by = crate::pages::account_name(&signed.access);
    crate::ops::gateway(state)?
        .save_chain(direction, tenant, chain.to_string(), format!("console:{by}"))
        .await
        .map_err(AppError::from)
}

async fn save(State(state): State<AppState>, signed: Signed, Form(pairs): Form<Vec<(String, String)>>) -> PageResult {
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    signed.check(&get("csrf").unwrap_or_default())?;
    let t = |s| tr(signed.language, s);
    let requested = get("tenant");
    let direction = direction_of(get("direction").as_deref());
    let tenant = tenant_of(&state, &signed, requested.clone()).await?;
    let (mut chain, _) = live_chain(&state, direction, tenant.as_ref().map(|x| x.0)).await?;
    let edit = || -> Result<Value, String> {
        let number = |k: &str| -> Result<f64, String> {
            get(k).unwrap_or_default().trim().parse::<f64>().map_err(|_| format!("{k}: not a number"))
        };
        chain["thresholds"] = serde_json::json!({ "tag": number("tag")?, "quarantine": number("quarantine")?, "reject": number("reject")? });
        chain["autolearn"] = serde_json::json!({ "spam": number("autolearn_spam")?, "ham": number("autolearn_ham")? });
        let entries = chain.get("entry").and_then(Value::as_array).cloned().unwrap_or_default();
        let mut ordered = Vec::new();
        for (i, mut e) in entries.into_iter().enumerate() {
            let order: f64 = get(&format!("order{i}")).and_then(|o| o.trim().parse().ok()).unwrap_or((i + 1) as f64);
            e["enabled"] = Value::Bool(get(&format!("enabled{i}")).is_some());
            e["shadow"] = Value::Bool(get(&format!("shadow{i}")).is_some());
            e["fail"] = Value::String(
                if get(&format!("fail{i}")).as_deref() == Some("closed") { "closed" } else { "open" }.into(),
            );
            Learning::parse(get(&format!("learns{i}")).as_deref()).set(&mut e);
            let plugin = e.get("plugin").and_then(Value::as_str).unwrap_or("?").to_owned();
            let config = get(&format!("config{i}")).unwrap_or_else(|| "{}".into());
            e["config"] = serde_json::from_str(&config)
                .map_err(|err| format!("{plugin}: the configuration is not JSON: {err}"))?;
            if get(&format!("remove{i}")).is_none() {
                ordered.push((order, i, e));
            }
        }
        ordered.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        chain["entry"] = Value::Array(ordered.into_iter().map(|(_, _, e)| e).collect());
        Ok(chain)
    };
    let result = match edit() {
        Ok(chain) => save_chain(&state, &signed, direction, tenant.as_ref().map(|x| x.0), chain).await,
        Err(e) => Err(AppError::BadRequest(e)),
    };
    match result {
        Ok(version) => {
            Ok(done(&page_url(requested.as_deref(), direction), &format!("{} {version}", t("Chain saved, version"))))
        }
        Err(e) => {
            render(&state, &signed, requested, direction, None, Some(&e.message_in(signed.language)), e.status()).await
        }
    }
}

/// What a chain entry learns from, as the chain file says it with two flags (`learn_verdicts`, `autolearn`)
/// that exclude each other: one choice on the page.
#[derive(Clone, Copy, PartialEq)]
enum Learning {
    Nothing,
    EveryVerdict,
    Confident,
}

impl Learning {
    const ALL: [Learning; 3] = [Learning::Nothing, Learning::Confident, Learning::EveryVerdict];

    fn of(entry: &Value) -> Self {
        let flag = |k: &str| entry.get(k).and_then(Value::as_bool).unwrap_or(false);
        if flag("autolearn") {
            Learning::Confident
        } else if flag("learn_verdicts") {
            Learning::EveryVerdict
        } else {
            Learning::Nothing
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Learning::Nothing => "nothing",
            Learning::EveryVerdict => "every",
            Learning::Confident => "confident",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Learning::Nothing => "nothing",
            Learning::EveryVerdict => "every verdict",
            Learning::Confident => "confident verdicts",
        }
    }

    /// An unknown value (a hand-made form) learns nothing.
    fn parse(value: Option<&str>) -> Self {
        Learning::ALL.into_iter().find(|w| Some(w.as_str()) == value).unwrap_or(Learning::Nothing)
    }

    fn set(self, entry: &mut Value) {
        entry["autolearn"] = Value::Bool(self == Learning::Confident);
        entry["learn_verdicts"] = Value::Bool(self == Learning::EveryVerdict);
    }
}

/// What a chain entry's plugin says about itself (summary, configuration help): the registered version the
/// entry names, else the newest of that name the chain may use.
fn about_of(plugins: &[moat_store::PluginInfo], name: &str, version: Option<&str>) -> Option<(String, String)> {
    let of_name = || plugins.iter().filter(|p| p.name == name);
    // `plugin_list` is oldest first: the newest is the last of its name.
    let plugin = version.and_then(|v| of_name().find(|p| p.version == v)).or_else(|| of_name().next_back())?;
    Some((plugin.summary.clone()?, plugin.configuration_help.clone().unwrap_or_default()))
}

/// The filters of a saved chain, in order ("rules, bayes"); `None` for a version that cleared the scope.
fn filters_of(spec: Option<&str>) -> Option<String> {
    let chain: Value = serde_json::from_str(spec?).ok()?;
    let names: Vec<&str> = chain
        .get("entry")
        .and_then(Value::as_array)
        .map(|entries| entries.iter().map(|e| e.get("plugin").and_then(Value::as_str).unwrap_or("?")).collect())
        .unwrap_or_default();
    Some(if names.is_empty() { "—".into() } else { names.join(", ") })
}

#[derive(Deserialize)]
struct RestoreForm {
    csrf: String,
    tenant: Option<String>,
    direction: Option<String>,
    version: i64,
}

/// Saves an earlier version again, as the newest (checked like any save: a filter it names may be gone).
async fn restore(State(state): State<AppState>, signed: Signed, Form(form): Form<RestoreForm>) -> PageResult {
    signed.check(&form.csrf)?;
    let t = |s| tr(signed.language, s);
    let direction = direction_of(form.direction.as_deref());
    let tenant = tenant_of(&state, &signed, form.tenant.clone()).await?;
    let scope = tenant.as_ref().map_or(ChainScope::Default, |x| ChainScope::Tenant(x.0));
    let version = state
        .store
        .chain_history(direction, scope)
        .await?
        .into_iter()
        .find(|v| v.id == form.version)
        .ok_or(AppError::NotFound)?;
    let chain: Value = version
        .spec
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .ok_or_else(|| AppError::BadRequest("that version holds no chain".into()))?;
    match save_chain(&state, &signed, direction, tenant.as_ref().map(|x| x.0), chain).await {
        Ok(saved) => {
            let message = format!("{} {} {} {saved}", t("Version"), form.version, t("restored as version"));
            Ok(done(&page_url(form.tenant.as_deref(), direction), &message))
        }
        Err(e) => {
            let refusal = e.message_in(signed.language);
            render(&state, &signed, form.tenant, direction, None, Some(&refusal), e.status()).await
        }
    }
}

async fn upload(State(state): State<AppState>, signed: Signed, form: Multipart) -> PageResult {
    let (fields, file) = multipart_fields(form).await?;
    signed.check(fields.get("csrf").map_or("", String::as_str))?;
    let t = |s| tr(signed.language, s);
    let requested = fields.get("tenant").cloned();
    let direction = direction_of(fields.get("direction").map(String::as_str));
    let tenant = tenant_of(&state, &signed, requested.clone()).await?;
    let Some((_, _, wasm)) = file else {
        let refusal = Some(t("Choose a .wasm file."));
        return render(&state, &signed, requested, direction, None, refusal, StatusCode::BAD_REQUEST).await;
    };
    let name = fields.get("name").map(|s| s.trim().to_owned()).unwrap_or_default();
    let version = fields.get("version").map(|s| s.trim().to_owned()).unwrap_or_default();
    let registered =
        match crate::ops::gateway(&state)?.register_plugin(tenant.as_ref().map(|x| x.0), &name, &version, wasm).await {
            Ok(p) => p,
            Err(e) => {
                let (refusal, status) = (e.to_string(), AppError::from(e).status());
                return render(&state, &signed, requested, direction, None, Some(&refusal), status).await;
            }
        };
    if fields.contains_key("append") {
        let (mut chain, _) = live_chain(&state, direction, tenant.as_ref().map(|x| x.0)).await?;
        let entry = serde_json::json!({ "plugin": registered.name, "version": registered.version });
        match chain.get_mut("entry").and_then(Value::as_array_mut) {
            Some(entries) => entries.push(entry),
            None => chain["entry"] = Value::Array(vec![entry]),
        }
        if let Err(e) = save_chain(&state, &signed, direction, tenant.as_ref().map(|x| x.0), chain).await {
            let refusal = e.message_in(signed.language);
            return render(&state, &signed, requested, direction, None, Some(&refusal), e.status()).await;
        }
    }
    let message = format!("{} {} {}", t("Filter uploaded:"), registered.name, registered.version);
    Ok(done(&page_url(requested.as_deref(), direction), &message))
}
