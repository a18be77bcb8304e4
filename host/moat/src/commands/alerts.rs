use super::{open_store, time};
use crate::config::Config;

pub async fn show(config: &Config, limit: i64) -> anyhow::Result<()> {
    let alerts = open_store(config).await?.alerts(None, limit).await?;
    if alerts.is_empty() {
        println!("No alerts.");
    }
    for (tenant, kind, text, at) in alerts {
        let tenant = tenant.map_or_else(|| "-".into(), |t| t.0.to_string());
        println!("{}\ttenant {tenant}\t{kind}\t{text}", time(at));
    }
    Ok(())
}
