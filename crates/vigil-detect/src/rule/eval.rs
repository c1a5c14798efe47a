//! Evaluation of a match: the scope built, the condition decided (native terms, then Rhai), the aggregate fed, the
//! finding made.

use super::*;

/// Which views the rule's expressions mention.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Needs {
    /// `tx.…`.
    pub(super) tx: bool,
    /// `block.…`.
    pub(super) block: bool,
    /// `log.…`.
    pub(super) log: bool,
    /// `msg.…`.
    pub(super) call: bool,
    /// A decoded parameter by name.
    pub(super) named: bool,
    /// A probe's return values.
    pub(super) ret: bool,
}

/// One match: what the scope is built from.
pub(super) struct Hit<'a> {
    pub(super) target: Address,
    pub(super) tx: Option<TxView>,
    pub(super) log: Option<LogView>,
    pub(super) call: Option<CallView>,
    pub(super) values: &'a [DynSolValue],
}

impl Hit<'_> {
    pub(super) fn describe(&self) -> String {
        let mut s = String::new();
        if let Some(t) = &self.tx {
            let _ = write!(s, "tx {} (#{})", t.hash, t.index);
        }
        if let Some(l) = &self.log {
            let _ = write!(s, ", log {}", l.index);
        }
        if let Some(c) = &self.call {
            let _ = write!(s, ", call to {} at depth {}", c.to, c.depth);
        }
        if s.is_empty() {
            s.push_str("the probe's answer");
        }
        s
    }
}

/// Everything but the matcher: the compiled expressions, the finding's shape and the aggregation state.
pub(super) struct Eval {
    pub(super) cfg: RuleConfig,
    pub(super) what: String,
    pub(super) kind: &'static str,
    pub(super) params: Vec<Param>,
    pub(super) needs: Needs,
    pub(super) condition: Option<Condition>,
    pub(super) actor: Option<AST>,
    pub(super) title: Option<Vec<TitlePart>>,
    pub(super) agg: Option<Aggregator>,
    pub(super) scope: Scope<'static>,
    /// Matches whose condition held, since construction.
    pub(super) matches: u64,
}

/// Evaluates `ast` over `scope` with the shared engine.
pub(super) fn run(scope: &mut Scope<'static>, ast: &AST) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    ENGINE.eval_ast_with_scope::<Dynamic>(scope, ast)
}

impl Eval {
    pub(super) fn err(&self, block: BlockRef, field: &str, hit: &Hit, reason: impl std::fmt::Display) -> DetectorError {
        let reason = format!("rule \"{}\": `{field}` failed on {}: {reason}", self.cfg.name, hit.describe());
        DetectorError::new(&self.cfg.name, block, DetectorCause::Evaluation(reason))
    }

    /// Puts the match's values in scope, once per match.
    pub(super) fn fill(&mut self, filled: &mut bool, hit: &Hit, block: &BlockHeader) {
        if std::mem::replace(filled, true) {
            return;
        }
        let scope = &mut self.scope;
        scope.clear();
        for (p, v) in self.params.iter().zip(hit.values) {
            for (name, exact) in &p.bindings {
                if *exact {
                    if let Some(d) = decimal(v) {
                        scope.push_dynamic(name.clone(), d.into());
                    }
                } else {
                    scope.push_dynamic(name.clone(), to_dynamic(v));
                }
            }
        }
        if self.needs.named {
            let map: Map = self
                .params
                .iter()
                .zip(hit.values)
                .filter_map(|(p, v)| p.name.as_ref().map(|n| (n.as_str().into(), to_dynamic(v))))
                .collect();
            scope.push(if self.kind == "event" { "ev" } else { "args" }, map);
        }
        if self.needs.ret && self.kind == "probe" {
            let ret: Array = hit.values.iter().map(to_dynamic).collect();
            scope.push("ret", ret);
        }
        if self.needs.tx {
            if let Some(t) = &hit.tx {
                scope.push("tx", t.clone());
            }
        }
        if self.needs.block {
            scope.push("block", block.clone());
        }
        if self.needs.log {
            if let Some(l) = &hit.log {
                scope.push("log", l.clone());
            }
        }
        if self.needs.call {
            if let Some(c) = &hit.call {
                scope.push("msg", c.clone());
            }
        }
    }

    /// Whether the match's condition holds: native checks first, Rhai when they do not decide.
    pub(super) fn holds(&mut self, filled: &mut bool, hit: &Hit, block: &BlockHeader) -> Result<bool, DetectorError> {
        let Some(cond) = &self.condition else { return Ok(true) };
        let mut decided = cond.native_only;
        for c in &cond.checks {
            match c.eval(hit, block) {
                Some(false) => return Ok(false),
                Some(true) => {}
                None => decided = false,
            }
        }
        if decided {
            return Ok(true);
        }
        self.fill(filled, hit, block);
        let Some(cond) = &self.condition else { return Ok(true) };
        let n = block.block_ref();
        let v = run(&mut self.scope, &cond.ast).map_err(|e| self.err(n, "condition", hit, e))?;
        v.as_bool().map_err(|t| self.err(n, "condition", hit, format!("gave a {t} ({v}), not a boolean")))
    }

    pub(super) fn on_hit(
        &mut self,
        hit: Hit,
        block: &BlockHeader,
        block_ref: BlockRef,
        out: &mut Vec<Finding>,
    ) -> Result<(), DetectorError> {
        let mut filled = false;
        if !self.holds(&mut filled, &hit, block)? {
            return Ok(());
        }
        self.matches += 1;
        let Some(mut agg) = self.agg.take() else {
            let f = self.finding(&mut filled, &hit, block, block_ref, None)?;
            out.push(f);
            return Ok(());
        };
        let result = (|| {
            let key = match &agg.group_by {
                None => GroupKey::Addr(None),
                Some(Expr { native: Some(op), .. }) if op.value(&hit, block).is_some() => match op.value(&hit, block) {
                    Some(Val::Addr(a)) => GroupKey::Addr(a),
                    _ => GroupKey::Addr(None),
                },
                Some(g) => {
                    self.fill(&mut filled, &hit, block);
                    let v =
                        run(&mut self.scope, &g.ast).map_err(|e| self.err(block_ref, "aggregate.group_by", &hit, e))?;
                    GroupKey::from_text(if v.is_string() { v.into_string().unwrap_or_default() } else { v.to_string() })
                }
            };
            let amount = match &agg.sum {
                None => 1.0,
                Some(Expr { native: Some(op), .. }) if op.value(&hit, block).is_some() => match op.value(&hit, block) {
                    Some(Val::Num(x)) => x,
                    _ => 0.0,
                },
                Some(s) => {
                    self.fill(&mut filled, &hit, block);
                    let v = run(&mut self.scope, &s.ast).map_err(|e| self.err(block_ref, "aggregate.sum", &hit, e))?;
                    v.as_float().or_else(|_| v.as_int().map(|i| i as f64)).map_err(|t| {
                        self.err(block_ref, "aggregate.sum", &hit, format!("gave a {t} ({v}), not a number"))
                    })?
                }
            };
            if let Some((total, matches)) = agg.add(&key, amount) {
                let key = key.text();
                let info = json!({
                    "group": key,
                    "total": total,
                    "matches": matches,
                    "above": agg.above,
                    "window_blocks": agg.window_blocks,
                    "blocks_in_window": agg.blocks_in_window(block_ref.number),
                    "measure": if agg.sum.is_some() { "sum" } else { "count" },
                });
                self.fill(&mut filled, &hit, block);
                self.scope.push("group", key);
                self.scope.push("total", total);
                self.scope.push("matches", int(matches));
                self.scope.push("above", agg.above);
                self.scope.push("window_blocks", int(agg.window_blocks));
                let f = self.finding(&mut filled, &hit, block, block_ref, Some(info))?;
                out.push(f);
            }
            Ok(())
        })();
        self.agg = Some(agg);
        result
    }

    pub(super) fn finding(
        &mut self,
        filled: &mut bool,
        hit: &Hit,
        block: &BlockHeader,
        block_ref: BlockRef,
        agg: Option<serde_json::Value>,
    ) -> Result<Finding, DetectorError> {
        if self.title.is_some() || self.actor.is_some() {
            self.fill(filled, hit, block);
        }
        let title = match &self.title {
            None => match &agg {
                None => format!("{}: {} on {}", self.cfg.name, self.what, addr_str(&hit.target)),
                Some(a) => format!(
                    "{}: windowed {} of {} matches {} above {} over {} blocks{}",
                    self.cfg.name,
                    a["measure"].as_str().unwrap_or("total"),
                    self.what,
                    num(a["total"].as_f64()),
                    num(a["above"].as_f64()),
                    a["window_blocks"],
                    a["group"].as_str().filter(|g| !g.is_empty()).map(|g| format!(" for {g}")).unwrap_or_default()
                ),
            },
            Some(parts) => {
                let mut s = String::new();
                for p in parts {
                    match p {
                        TitlePart::Text(t) => s.push_str(t),
                        TitlePart::Expr(ast) => match run(&mut self.scope, ast) {
                            Ok(v) => {
                                let _ = write!(s, "{v}");
                            }
                            Err(e) => return Err(self.err(block_ref, "title", hit, e)),
                        },
                    }
                }
                s
            }
        };
        let actor =
            match &self.actor {
                None => hit.tx.as_ref().map(|t| t.from),
                Some(ast) => {
                    let v = run(&mut self.scope, ast).map_err(|e| self.err(block_ref, "actor", hit, e))?;
                    let text = v.to_string();
                    Some(text.parse::<Address>().map_err(|e| {
                        self.err(block_ref, "actor", hit, format!("gave \"{text}\", not an address: {e}"))
                    })?)
                }
            };
        let values: serde_json::Map<String, serde_json::Value> =
            self.params.iter().zip(hit.values).map(|(p, v)| (p.label.clone(), to_json(v))).collect();
        let mut evidence = json!({
            "rule": self.cfg.name,
            "match": self.kind,
            "what": self.what,
            "contract": addr_str(&hit.target),
            "values": values,
        });
        if let Some(t) = &hit.tx {
            evidence["tx"] = json!({"hash": t.hash, "index": t.index, "from": addr_str(&t.from), "to": opt_addr_str(&t.to), "status": t.status});
        }
        if let Some(l) = &hit.log {
            evidence["log_index"] = json!(l.index);
        }
        if let Some(c) = &hit.call {
            evidence["call"] = json!({"from": addr_str(&c.from), "to": addr_str(&c.to), "depth": c.depth, "kind": c.kind, "value": c.value.to_string()});
        }
        if let Some(a) = agg {
            evidence["aggregate"] = a;
        }
        let scope = self.cfg.scope.as_ref();
        let mut labels: std::collections::BTreeMap<String, String> =
            [("rule".to_string(), self.cfg.name.clone())].into_iter().collect();
        if let Some(a) = actor {
            labels.insert(LABEL_ACTOR.to_string(), a.to_string());
        }
        if let Some(s) = self.cfg.stage {
            labels.insert(LABEL_STAGE.to_string(), s.as_str().to_string());
        }
        Ok(Finding {
            detector: self.cfg.name.clone(),
            protocol: self.cfg.protocol.clone(),
            scope: GuardianScope::segment(
                scope.and_then(|s| s.target).unwrap_or(hit.target),
                scope.map_or(0, |s| s.id),
            ),
            severity: self.cfg.severity,
            kind: self.cfg.kind,
            block: block_ref,
            tx: hit.tx.as_ref().map(|t| t.hash).filter(|h| !h.is_zero()),
            title,
            evidence,
            labels,
        })
    }
}

/// A number for a title: integral values without a fraction.
pub(super) fn num(v: Option<f64>) -> String {
    match v {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        Some(f) => format!("{f}"),
        None => "?".to_string(),
    }
}

/// `types` when every one is a single ABI word.
pub(super) fn one_word_types(types: Vec<DynSolType>) -> Option<Vec<DynSolType>> {
    types
        .iter()
        .all(|t| {
            matches!(
                t,
                DynSolType::Address
                    | DynSolType::Uint(_)
                    | DynSolType::Int(_)
                    | DynSolType::Bool
                    | DynSolType::FixedBytes(_)
            )
        })
        .then_some(types)
}

/// A one-word value, decoded by alloy from the word alone (what its log and calldata decoders do per word).
pub(super) fn word_value(ty: &DynSolType, w: B256) -> DynSolValue {
    ty.detokenize(DynToken::Word(w)).unwrap_or(DynSolValue::FixedBytes(w, 32))
}

/// The first 8 bytes of a word, as an integer.
pub(super) fn prefix(w: &B256) -> u64 {
    u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]])
}

pub(super) fn address_ok(filter: &[Address], a: Address) -> bool {
    filter.is_empty() || filter.contains(&a)
}
