//! Vigil's store: the cursor, findings, incidents and actions, in SQLite (bundled), with migrations.
//!
//! [`SqliteStore`] implements `vigil_core::Store`, the trait the node works through (a Postgres store can join
//! behind the same trait). Everything a block produced is written in one transaction together with the cursor
//! (`Store::commit_block`), the way reth saves a stage's checkpoint with its data: after a crash the store holds
//! either all of a block's results and the cursor at that block, or none of them and the cursor before it, so a
//! restarted engine neither skips nor repeats a block. Actions are recorded with their signed calldata before
//! they are sent; an action whose transaction was never seen on chain is sent again after a restart, and an
//! incident never takes the same action twice. Findings of orphaned blocks are marked retracted, never deleted.

use std::path::Path;

use alloy::primitives::{Bytes, B256};
use rusqlite::{params, Connection, OptionalExtension};
use rusqlite_migration::{Migrations, M};
use vigil_core::{Action, ActionKind, BlockRef, Finding, Incident, IncidentState, Scope, Severity, Store};

pub use vigil_core::store::{StoreError, StoredAction};

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            "CREATE TABLE cursor (id INTEGER PRIMARY KEY CHECK (id = 1), number INTEGER NOT NULL, hash BLOB NOT NULL);
         CREATE TABLE processed (seq INTEGER PRIMARY KEY AUTOINCREMENT, number INTEGER NOT NULL, hash BLOB NOT NULL);
         CREATE TABLE findings (
             id INTEGER PRIMARY KEY AUTOINCREMENT,
             block_number INTEGER NOT NULL,
             block_hash BLOB NOT NULL,
             detector TEXT NOT NULL,
             incident BLOB,
             severity TEXT NOT NULL,
             body TEXT NOT NULL,
             retracted INTEGER NOT NULL DEFAULT 0);
         CREATE INDEX findings_block ON findings (block_number);
         CREATE TABLE incidents (
             id BLOB PRIMARY KEY,
             protocol TEXT NOT NULL,
             target BLOB NOT NULL,
             scope BLOB NOT NULL,
             opened_number INTEGER NOT NULL,
             opened_hash BLOB NOT NULL);
         CREATE TABLE actions (
             incident BLOB NOT NULL,
             kind TEXT NOT NULL,
             block_number INTEGER NOT NULL,
             evidence BLOB NOT NULL,
             calldata BLOB,
             state TEXT NOT NULL,
             state_block INTEGER,
             PRIMARY KEY (incident, kind));",
        ),
        M::up(
            "CREATE TABLE failures (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 block_number INTEGER NOT NULL,
                 stage TEXT NOT NULL,
                 error TEXT NOT NULL,
                 at_unix INTEGER NOT NULL);",
        ),
        // Incidents end (issue 12): their state, severity and what was notified, as JSON / text.
        M::up(
            "ALTER TABLE incidents ADD COLUMN state TEXT NOT NULL DEFAULT '{\"state\":\"open\"}';
             ALTER TABLE incidents ADD COLUMN severity TEXT NOT NULL DEFAULT '\"info\"';
             ALTER TABLE incidents ADD COLUMN notified TEXT;",
        ),
        // The actions table is the outbox (issue 12): the block hash an action was decided at, delivery attempts
        // and the last error; state `retracted` for one whose block a reorg orphaned before it was carried out.
        M::up(
            "ALTER TABLE actions ADD COLUMN block_hash BLOB;
             ALTER TABLE actions ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
             ALTER TABLE actions ADD COLUMN last_error TEXT;",
        ),
    ])
}

/// The SQLite store.
pub struct SqliteStore {
    conn: Connection,
    path: String,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let name = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| backend(name.clone(), source))?;
        Self::init(conn, name)
    }

    /// An in-memory store (tests, the demo).
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|source| backend(":memory:".into(), source))?;
        Self::init(conn, ":memory:".into())
    }

    fn init(mut conn: Connection, path: String) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|source| backend(path.clone(), source))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(|source| backend(path.clone(), source))?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError::Migration { store: path.clone(), reason: e.to_string() })?;
        Ok(Self { conn, path })
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        backend(self.path.clone(), source)
    }
}

/// A SQLite failure of the database at `store`.
fn backend(store: String, source: rusqlite::Error) -> StoreError {
    StoreError::Backend { store, source: Box::new(source) }
}

/// Writes findings (each with the incident it joined, at block `at`, or at the block it names), incidents and
/// actions within `tx`: what [`Store::commit_block`] and [`Store::commit_screened`] share.
fn write_results(
    tx: &rusqlite::Transaction<'_>,
    at: Option<BlockRef>,
    findings: &[(Finding, B256)],
    incidents: &[&Incident],
    actions: &[(Action, Option<Bytes>)],
) -> Result<(), rusqlite::Error> {
    for (f, incident) in findings {
        let block = at.unwrap_or(f.block);
        let body = serde_json::to_string(f).unwrap_or_default();
        tx.execute(
                "INSERT INTO findings (block_number, block_hash, detector, incident, severity, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![block.number as i64, block.hash.as_slice(), f.detector, incident.as_slice(), f.severity.to_string(), body],
            )
            ?;
    }
    for i in incidents {
        tx.execute(
            "INSERT INTO incidents (id, protocol, target, scope, opened_number, opened_hash, state, severity, notified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT (id) DO UPDATE SET state = ?7, severity = ?8, notified = ?9",
            params![
                i.id.as_slice(),
                i.protocol,
                i.scope.target.as_slice(),
                i.scope.id.to_be_bytes::<32>().as_slice(),
                i.opened_at.number as i64,
                i.opened_at.hash.as_slice(),
                serde_json::to_string(&i.state).unwrap_or_default(),
                serde_json::to_string(&i.severity).unwrap_or_default(),
                i.notified.map(|s| serde_json::to_string(&s).unwrap_or_default()),
            ],
        )?;
    }
    for (a, calldata) in actions {
        let kind = serde_json::to_string(&a.kind).unwrap_or_default();
        // Recorded once per (incident, kind); one retracted by a reorg is planned again by the replacement.
        tx.execute(
            "INSERT INTO actions (incident, kind, block_number, block_hash, evidence, calldata, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'planned')
                 ON CONFLICT (incident, kind) DO UPDATE SET block_number = ?3, block_hash = ?4, evidence = ?5,
                     calldata = ?6, state = 'planned', state_block = NULL, attempts = 0, last_error = NULL
                 WHERE actions.state = 'retracted'",
            params![
                a.incident.as_slice(),
                kind,
                a.block.number as i64,
                a.block.hash.as_slice(),
                a.evidence_hash.as_slice(),
                calldata.as_ref().map(|c| c.to_vec())
            ],
        )?;
    }
    Ok(())
}

impl Store for SqliteStore {
    fn cursor(&self) -> Result<Option<BlockRef>, StoreError> {
        self.conn
            .query_row("SELECT number, hash FROM cursor WHERE id = 1", [], |r| {
                Ok(BlockRef { number: r.get::<_, i64>(0)? as u64, hash: B256::from_slice(&r.get::<_, Vec<u8>>(1)?) })
            })
            .optional()
            .map_err(|e| self.sql(e))
    }

    fn commit_block(
        &mut self,
        block: BlockRef,
        findings: &[(Finding, B256)],
        incidents: &[&Incident],
        actions: &[(Action, Option<Bytes>)],
    ) -> Result<(), StoreError> {
        if let Some(cursor) = self.cursor()? {
            if block.number != cursor.number + 1 && block.number > cursor.number {
                return Err(StoreError::OutOfOrder {
                    store: self.path.clone(),
                    cursor: cursor.number,
                    got: block.number,
                });
            }
        }
        let path = self.path.clone();
        let sql = |source| backend(path.clone(), source);
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO processed (number, hash) VALUES (?1, ?2)",
            params![block.number as i64, block.hash.as_slice()],
        )
        .map_err(sql)?;
        write_results(&tx, Some(block), findings, incidents, actions).map_err(sql)?;
        tx.execute(
            "INSERT INTO cursor (id, number, hash) VALUES (1, ?1, ?2) ON CONFLICT (id) DO UPDATE SET number = ?1, hash = ?2",
            params![block.number as i64, block.hash.as_slice()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    fn commit_screened(
        &mut self,
        findings: &[(Finding, B256)],
        incidents: &[&Incident],
        actions: &[(Action, Option<Bytes>)],
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| backend(path.clone(), source);
        let tx = self.conn.transaction().map_err(sql)?;
        write_results(&tx, None, findings, incidents, actions).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    fn set_action_state(&self, incident: B256, kind: &ActionKind, state: &str, block: u64) -> Result<(), StoreError> {
        let kind = serde_json::to_string(kind).unwrap_or_default();
        self.conn
            .execute(
                "UPDATE actions SET state = ?1, state_block = ?2 WHERE incident = ?3 AND kind = ?4",
                params![state, block as i64, incident.as_slice(), kind],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    fn record_attempt(&self, incident: B256, kind: &ActionKind, error: Option<&str>) -> Result<(), StoreError> {
        let kind = serde_json::to_string(kind).unwrap_or_default();
        self.conn
            .execute(
                "UPDATE actions SET attempts = attempts + 1, last_error = ?1 WHERE incident = ?2 AND kind = ?3",
                params![error, incident.as_slice(), kind],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    fn actions(&self) -> Result<Vec<StoredAction>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT incident, kind, block_number, calldata, state, state_block, block_hash, evidence, attempts, last_error
                 FROM actions ORDER BY block_number, rowid",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<Vec<u8>>>(6)?,
                    r.get::<_, Vec<u8>>(7)?,
                    r.get::<_, i64>(8)?,
                    r.get::<_, Option<String>>(9)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (incident, kind, block, calldata, state, state_block, block_hash, evidence, attempts, last_error) =
                row.map_err(|e| self.sql(e))?;
            let kind: ActionKind = serde_json::from_str(&kind).map_err(|e| StoreError::Corrupt {
                store: self.path.clone(),
                table: "actions",
                reason: format!("kind `{kind}`: {e}"),
            })?;
            out.push(StoredAction {
                incident: B256::from_slice(&incident),
                kind,
                block: block as u64,
                calldata: calldata.map(Bytes::from),
                state,
                state_block: state_block.map(|b| b as u64),
                block_hash: block_hash.map(|h| B256::from_slice(&h)).unwrap_or_default(),
                evidence_hash: B256::from_slice(&evidence),
                attempts: attempts as u64,
                last_error,
            });
        }
        Ok(out)
    }

    fn incidents(&self) -> Result<Vec<Incident>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, protocol, target, scope, opened_number, opened_hash, state, severity, notified
                 FROM incidents ORDER BY opened_number, rowid",
            )
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    B256::from_slice(&r.get::<_, Vec<u8>>(0)?),
                    r.get::<_, String>(1)?,
                    Scope {
                        target: alloy::primitives::Address::from_slice(&r.get::<_, Vec<u8>>(2)?),
                        id: alloy::primitives::U256::from_be_slice(&r.get::<_, Vec<u8>>(3)?),
                    },
                    BlockRef { number: r.get::<_, i64>(4)? as u64, hash: B256::from_slice(&r.get::<_, Vec<u8>>(5)?) },
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, Option<String>>(8)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, protocol, scope, opened_at, state, severity, notified) = row.map_err(|e| self.sql(e))?;
            let corrupt = |what: &str, value: &str, e: &dyn std::fmt::Display| StoreError::Corrupt {
                store: self.path.clone(),
                table: "incidents",
                reason: format!("incident {id}: {what} `{value}`: {e}"),
            };
            let state: IncidentState = serde_json::from_str(&state).map_err(|e| corrupt("state", &state, &e))?;
            let severity: Severity = serde_json::from_str(&severity).map_err(|e| corrupt("severity", &severity, &e))?;
            let notified = match notified {
                Some(n) => Some(serde_json::from_str::<Severity>(&n).map_err(|e| corrupt("notified", &n, &e))?),
                None => None,
            };
            out.push(Incident {
                id,
                protocol,
                scope,
                opened_at,
                severity,
                state,
                notified,
                last_finding: opened_at.number,
                findings: Vec::new(),
                earlier: 0,
                actions: Default::default(),
                suppressed: 0,
            });
        }
        Ok(out)
    }

    fn processed(&self) -> Result<Vec<(u64, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT number, COUNT(*) FROM processed GROUP BY number ORDER BY number")
            .map_err(|e| self.sql(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)))
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    fn recent_blocks(&self, limit: u64) -> Result<Vec<BlockRef>, StoreError> {
        let Some(cursor) = self.cursor()? else { return Ok(Vec::new()) };
        let mut stmt = self
            .conn
            .prepare(
                "SELECT number, hash FROM processed WHERE seq IN
                   (SELECT MAX(seq) FROM processed WHERE number <= ?1 AND number > ?2 GROUP BY number)
                 ORDER BY number",
            )
            .map_err(|e| self.sql(e))?;
        let floor = cursor.number as i64 - limit as i64;
        let rows = stmt
            .query_map(params![cursor.number as i64, floor], |r| {
                Ok(BlockRef { number: r.get::<_, i64>(0)? as u64, hash: B256::from_slice(&r.get::<_, Vec<u8>>(1)?) })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    fn record_failure(&self, block: u64, stage: &str, error: &str) -> Result<(), StoreError> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        self.conn
            .execute(
                "INSERT INTO failures (block_number, stage, error, at_unix) VALUES (?1, ?2, ?3, ?4)",
                params![block as i64, stage, error, now as i64],
            )
            .map_err(|e| self.sql(e))?;
        Ok(())
    }

    fn failures(&self) -> Result<Vec<(u64, String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT block_number, stage, error FROM failures ORDER BY id")
            .map_err(|e| self.sql(e))?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))).map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    fn findings(&self) -> Result<Vec<(Finding, bool)>, StoreError> {
        let mut stmt =
            self.conn.prepare("SELECT body, retracted FROM findings ORDER BY id").map_err(|e| self.sql(e))?;
        let rows =
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(|e| self.sql(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (body, retracted) = row.map_err(|e| self.sql(e))?;
            let f: Finding = serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
                store: self.path.clone(),
                table: "findings",
                reason: e.to_string(),
            })?;
            out.push((f, retracted != 0));
        }
        Ok(out)
    }

    fn revert_to(&mut self, ancestor: BlockRef) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| backend(path.clone(), source);
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute("UPDATE findings SET retracted = 1 WHERE block_number > ?1", params![ancestor.number as i64])
            .map_err(sql)?;
        tx.execute(
            "UPDATE actions SET state = 'retracted', state_block = ?1 WHERE block_number > ?1 AND state = 'planned'",
            params![ancestor.number as i64],
        )
        .map_err(sql)?;
        tx.execute(
            "UPDATE cursor SET number = ?1, hash = ?2 WHERE id = 1",
            params![ancestor.number as i64, ancestor.hash.as_slice()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::Address;
    use vigil_core::{FindingKind, Severity};

    fn block(n: u64) -> BlockRef {
        BlockRef { number: n, hash: B256::repeat_byte(n as u8) }
    }

    fn finding(n: u64) -> Finding {
        Finding {
            detector: "d".into(),
            protocol: "p".into(),
            scope: Scope::segment(Address::repeat_byte(1), 2),
            severity: Severity::Critical,
            kind: FindingKind::Exploit,
            block: block(n),
            tx: None,
            title: "t".into(),
            evidence: serde_json::json!({"x": 1}),
            labels: Default::default(),
        }
    }

    #[test]
    fn a_block_commits_with_the_cursor_and_survives_reopening() {
        let dir = std::env::temp_dir().join(format!("vigil-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vigil.sqlite");
        {
            let mut s = SqliteStore::open(&path).unwrap();
            assert_eq!(s.cursor().unwrap(), None);
            let a = Action {
                incident: B256::repeat_byte(9),
                kind: ActionKind::Pause { scope: Scope::segment(Address::repeat_byte(1), 2) },
                block: block(1),
                evidence_hash: B256::ZERO,
            };
            s.commit_block(
                block(1),
                &[(finding(1), B256::repeat_byte(9))],
                &[],
                &[(a.clone(), Some(Bytes::from(vec![1, 2])))],
            )
            .unwrap();
            s.set_action_state(a.incident, &a.kind, "landed", 2).unwrap();
            s.commit_block(block(2), &[], &[], &[]).unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.cursor().unwrap(), Some(block(2)));
        let actions = s.actions().unwrap();
        assert_eq!(actions.len(), 1);
        assert_eq!((actions[0].state.as_str(), actions[0].state_block), ("landed", Some(2)));
        assert_eq!(actions[0].calldata, Some(Bytes::from(vec![1, 2])));
        assert_eq!(s.processed().unwrap(), vec![(1, 1), (2, 1)]);
        let err = s.commit_block(block(5), &[], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("block #5 committed after #2"), "{err}");
        s.revert_to(block(0)).unwrap();
        assert!(s.findings().unwrap().iter().all(|(_, retracted)| *retracted));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn an_incident_state_is_updated_in_place_and_restored() {
        let mut s = SqliteStore::in_memory().unwrap();
        let mut incident = Incident {
            id: B256::repeat_byte(3),
            protocol: "p".into(),
            scope: Scope::segment(Address::repeat_byte(1), 2),
            opened_at: block(1),
            severity: Severity::Medium,
            state: IncidentState::Open,
            notified: Some(Severity::Medium),
            last_finding: 1,
            findings: Vec::new(),
            earlier: 0,
            actions: Default::default(),
            suppressed: 0,
        };
        s.commit_block(block(1), &[], &[&incident], &[]).unwrap();
        incident.severity = Severity::Critical;
        incident.state = IncidentState::Resolved { block: 2, reason: vigil_core::Resolution::Unpaused };
        s.commit_block(block(2), &[], &[&incident], &[]).unwrap();
        let stored = s.incidents().unwrap();
        assert_eq!(stored.len(), 1, "updated, not inserted again");
        assert_eq!(
            (stored[0].state, stored[0].severity, stored[0].notified),
            (incident.state, Severity::Critical, Some(Severity::Medium))
        );
        assert_eq!(stored[0].opened_at, block(1));
        s.conn.execute("UPDATE incidents SET state = 'closed'", []).unwrap();
        let err = s.incidents().unwrap_err().to_string();
        assert!(err.contains("table incidents") && err.contains("state `closed`"), "{err}");
    }

    #[test]
    fn a_reorg_retracts_planned_actions_and_the_replacement_plans_them_again() {
        let mut s = SqliteStore::in_memory().unwrap();
        let notify = |b: BlockRef| Action {
            incident: B256::repeat_byte(4),
            kind: ActionKind::Notify,
            block: b,
            evidence_hash: B256::repeat_byte(b.number as u8),
        };
        let sent = Action {
            kind: ActionKind::Pause { scope: Scope::segment(Address::repeat_byte(1), 2) },
            ..notify(block(2))
        };
        s.commit_block(block(1), &[], &[], &[]).unwrap();
        s.commit_block(block(2), &[], &[], &[(notify(block(2)), None), (sent.clone(), None)]).unwrap();
        s.set_action_state(sent.incident, &sent.kind, "sent", 2).unwrap();
        s.record_attempt(sent.incident, &sent.kind, Some("timeout")).unwrap();
        s.revert_to(block(1)).unwrap();
        let states: Vec<_> = s.actions().unwrap().into_iter().map(|a| (a.state, a.attempts, a.last_error)).collect();
        assert_eq!(
            states,
            [("retracted".into(), 0, None), ("sent".into(), 1, Some("timeout".into()))],
            "what went out stays"
        );
        // The replacement block 2' (another hash) plans the notification again, with its own block and evidence.
        let replacement = BlockRef { number: 2, hash: B256::repeat_byte(0xee) };
        s.commit_block(replacement, &[], &[], &[(notify(replacement), None), (sent, None)]).unwrap();
        let actions = s.actions().unwrap();
        assert_eq!((actions[0].state.as_str(), actions[0].block_hash), ("planned", replacement.hash));
        assert_eq!(actions[1].state, "sent", "a carried-out action is not planned twice");
    }

    #[test]
    fn a_screened_transactions_results_are_kept_without_moving_the_cursor() {
        let mut s = SqliteStore::in_memory().unwrap();
        s.commit_block(block(1), &[], &[], &[]).unwrap();
        // Screening a pending transaction on block 1's state: its finding names the simulated block 2.
        let pause = Action {
            incident: B256::repeat_byte(9),
            kind: ActionKind::Pause { scope: Scope::segment(Address::repeat_byte(1), 2) },
            block: block(2),
            evidence_hash: B256::ZERO,
        };
        s.commit_screened(&[(finding(2), pause.incident)], &[], &[(pause.clone(), Some(Bytes::from(vec![7])))])
            .unwrap();
        assert_eq!(s.cursor().unwrap(), Some(block(1)), "the pending transaction is in no block yet");
        assert_eq!(s.processed().unwrap(), vec![(1, 1)]);
        let found = s.findings().unwrap();
        assert_eq!((found.len(), found[0].0.block, found[0].1), (1, block(2), false));
        assert_eq!(s.actions().unwrap()[0].calldata, Some(Bytes::from(vec![7])));
        // The real block 2 follows as any block; a reorg below it retracts the screened finding too.
        s.commit_block(block(2), &[], &[], &[]).unwrap();
        s.revert_to(block(1)).unwrap();
        assert!(s.findings().unwrap()[0].1, "retracted with the block it was simulated as");
    }
}
