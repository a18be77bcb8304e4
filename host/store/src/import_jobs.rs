use crate::{AdminId, Result, Store, StoreError, TenantId};
use serde::{Deserialize, Serialize};
use sqlx::Row;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportStatus {
    Running,
    Finished,
    /// Moat stopped while the job ran: the lines before `processed` are in, the rest are not.
    Interrupted,
}

impl ImportStatus {
    fn as_str(self) -> &'static str {
        match self {
            ImportStatus::Running => "running",
            ImportStatus::Finished => "finished",
            ImportStatus::Interrupted => "interrupted",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "running" => ImportStatus::Running,
            "finished" => ImportStatus::Finished,
            _ => ImportStatus::Interrupted,
        }
    }
}

/// A line that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImportLineError {
    pub line: usize,
    pub reason: String,
}

/// A background import of users and its progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportJob {
    pub id: i64,
    pub tenant: TenantId,
    pub admin: Option<AdminId>,
    pub file_name: String,
    pub status: ImportStatus,
    /// Lines holding a user (blank lines and comments not counted).
    pub total: i64,
    /// Lines dealt with so far: imported, unchanged or failed.
    pub processed: i64,
    /// Lines already imported before (a re-import), left as they were.
    pub unchanged: i64,
    pub errors: Vec<ImportLineError>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
}

impl ImportJob {
    pub fn imported(&self) -> i64 {
        self.processed - self.unchanged - self.errors.len() as i64
    }
}

const COLUMNS: &str =
    "id, tenant_id, admin_id, file_name, status, total, processed, unchanged, errors, started_at, finished_at";

fn from_row(r: &sqlx::any::AnyRow) -> ImportJob {
    ImportJob {
        id: r.get("id"),
        tenant: TenantId(r.get("tenant_id")),
        admin: r.get::<Option<i64>, _>("admin_id").map(AdminId),
        file_name: r.get("file_name"),
        status: ImportStatus::parse(r.get::<&str, _>("status")),
        total: r.get("total"),
        processed: r.get("processed"),
        unchanged: r.get("unchanged"),
        errors: serde_json::from_str(r.get::<&str, _>("errors")).unwrap_or_default(),
        started_at: r.get("started_at"),
        finished_at: r.get("finished_at"),
    }
}

impl Store {
    pub async fn import_job_add(
        &self,
        tenant: TenantId,
        admin: Option<AdminId>,
        file_name: &str,
        total: i64,
        now: i64,
    ) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO import_jobs (tenant_id, admin_id, file_name, status, total, processed, created, \
             unchanged, errors, started_at) VALUES ($1, $2, $3, 'running', $4, 0, 0, 0, '[]', $5) RETURNING id",
        )
        .bind(tenant.0)
        .bind(admin.map(|a| a.0))
        .bind(file_name)
        .bind(total)
        .bind(now)
        .fetch_one(self.writer())
        .await?)
    }

    /// Records progress; with `finished_at` the job is over.
    pub async fn import_job_update(&self, job: &ImportJob) -> Result<()> {
        sqlx::query(
            "UPDATE import_jobs SET status = $2, processed = $3, created = $4, unchanged = $5, errors = $6, \
             finished_at = $7 WHERE id = $1",
        )
        .bind(job.id)
        .bind(job.status.as_str())
        .bind(job.processed)
        .bind(job.imported())
        .bind(job.unchanged)
        .bind(serde_json::to_string(&job.errors).expect("plain data"))
        .bind(job.finished_at)
        .execute(self.writer())
        .await?;
        Ok(())
    }

    pub async fn import_job_get(&self, id: i64) -> Result<ImportJob> {
        let sql = format!("SELECT {COLUMNS} FROM import_jobs WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(from_row).ok_or_else(|| StoreError::NotFound { what: format!("import #{id}") })
    }

    /// The newest jobs of a tenant (every tenant's with `None`).
    pub async fn import_jobs(&self, tenant: Option<TenantId>, limit: i64) -> Result<Vec<ImportJob>> {
        let sql =
            format!("SELECT {COLUMNS} FROM import_jobs WHERE ($1 = 0 OR tenant_id = $1) ORDER BY id DESC LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant.map_or(0, |t| t.0))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(from_row).collect())
    }

    /// At start-up: jobs a previous process left running will not go on.
    pub async fn import_jobs_interrupt(&self, now: i64) -> Result<u64> {
        let done =
            sqlx::query("UPDATE import_jobs SET status = 'interrupted', finished_at = $1 WHERE status = 'running'")
                .bind(now)
                .execute(self.writer())
                .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::stores;

    #[tokio::test]
    async fn import_jobs_record_progress_and_interruption() {
        for (store, _dir) in stores().await {
            let id = store.import_job_add(TenantId(1), None, "users.csv", 3, 10).await.unwrap();
            let mut job = store.import_job_get(id).await.unwrap();
            assert_eq!((job.status, job.processed, job.total), (ImportStatus::Running, 0, 3));
            job.processed = 2;
            job.unchanged = 1;
            job.errors.push(ImportLineError { line: 2, reason: "bad address".into() });
            store.import_job_update(&job).await.unwrap();
            let read = store.import_job_get(id).await.unwrap();
            assert_eq!(read, job);
            assert_eq!(read.imported(), 0);
            assert_eq!(store.import_jobs_interrupt(20).await.unwrap(), 1);
            let read = store.import_job_get(id).await.unwrap();
            assert_eq!((read.status, read.finished_at), (ImportStatus::Interrupted, Some(20)));
            assert_eq!(store.import_jobs(Some(TenantId(1)), 5).await.unwrap().len(), 1);
            assert!(store.import_jobs(Some(TenantId(2)), 5).await.unwrap().is_empty());
        }
    }
}
