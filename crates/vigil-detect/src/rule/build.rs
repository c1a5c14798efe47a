//! Building a rule: signatures and ABIs parsed, the matcher chosen, expressions and the title compiled, once.

use super::*;

/// Names the scope gives a decoded parameter.
#[derive(Debug)]
pub(super) struct Param {
    /// Its name in evidence: the ABI name, or `argN`.
    pub(super) label: String,
    /// Its ABI name when it can be a top-level variable (named, not reserved).
    pub(super) name: Option<String>,
    /// Variables to push: (name, exact decimal string instead of the value).
    pub(super) bindings: Vec<(String, bool)>,
    /// Its type, when natively comparable.
    pub(super) ty: Option<Ty>,
}

pub(super) const RESERVED: [&str; 12] =
    ["tx", "block", "log", "msg", "ev", "args", "ret", "group", "total", "matches", "above", "window_blocks"];

/// What a rule reads.
#[derive(Debug)]
pub(super) enum Matcher {
    Event {
        event: Box<DynSolEvent>,
        topic0: Option<B256>,
        topics: usize,
        indexed: Vec<bool>,
        /// The parameters' types when all are one word (the common case): read straight from topics and data.
        words: Option<Vec<DynSolType>>,
    },
    Call {
        call: Box<DynSolCall>,
        selector: [u8; 4],
        top: bool,
        internal: bool,
        /// The inputs' types when all are one word.
        words: Option<Vec<DynSolType>>,
    },
    Tx,
    Probe {
        probe: Probe,
        call: Box<DynSolCall>,
    },
}

impl Matcher {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Matcher::Event { .. } => "event",
            Matcher::Call { .. } => "call",
            Matcher::Tx => "transaction",
            Matcher::Probe { .. } => "probe",
        }
    }
}

/// A compiled `title`.
#[derive(Debug)]
pub(super) enum TitlePart {
    Text(String),
    Expr(Box<AST>),
}

pub(super) struct Builder<'a> {
    pub(super) cfg: &'a RuleConfig,
}

impl Builder<'_> {
    pub(super) fn invalid(&self, field: &str, reason: impl Into<String>) -> RuleError {
        RuleError::Invalid { rule: self.cfg.name.clone(), field: field.to_string(), reason: reason.into() }
    }

    pub(super) fn signature_err(&self, field: &str, signature: &str, reason: impl ToString) -> RuleError {
        RuleError::Signature {
            rule: self.cfg.name.clone(),
            field: field.to_string(),
            signature: signature.to_string(),
            reason: reason.to_string(),
        }
    }

    pub(super) fn compile(&self, field: &str, src: &str) -> Result<AST, RuleError> {
        let ast = ENGINE.compile_expression(src).map_err(|e| {
            let at = match (e.1.line(), e.1.position()) {
                (Some(l), Some(p)) => format!("line {l}, position {p}"),
                (Some(l), None) => format!("line {l}"),
                _ => "at the end".to_string(),
            };
            RuleError::Syntax { rule: self.cfg.name.clone(), field: field.to_string(), message: e.0.to_string(), at }
        })?;
        // Anonymous functions are the only functions an expression can hold.
        if ast.iter_functions().next().is_some() {
            return Err(self
                .invalid(field, "closures (`|x| …`) are not allowed: the operation limit does not apply inside them"));
        }
        Ok(ast)
    }

    pub(super) fn title(&self, template: &str) -> Result<(Vec<TitlePart>, Vec<String>), RuleError> {
        let mut parts = Vec::new();
        let mut sources = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(i) = rest.find(['{', '}']) {
            text.push_str(&rest[..i]);
            let c = rest.as_bytes()[i];
            rest = &rest[i + 1..];
            if let Some(r) = rest.strip_prefix(c as char) {
                text.push(c as char);
                rest = r;
                continue;
            }
            if c == b'}' {
                return Err(self.invalid("title", "a `}` without its `{` (write `}}` for a brace)"));
            }
            let end = rest.find('}').ok_or_else(|| self.invalid("title", "a `{` without its `}`"))?;
            let src = rest[..end].trim();
            if src.is_empty() {
                return Err(self.invalid("title", "an empty `{}` placeholder"));
            }
            if !text.is_empty() {
                parts.push(TitlePart::Text(std::mem::take(&mut text)));
            }
            parts.push(TitlePart::Expr(Box::new(self.compile("title", src)?)));
            sources.push(src.to_string());
            rest = &rest[end + 1..];
        }
        text.push_str(rest);
        if !text.is_empty() {
            parts.push(TitlePart::Text(text));
        }
        Ok((parts, sources))
    }

    pub(super) fn load_abi(&self, path: &Path) -> Result<JsonAbi, RuleError> {
        let err = |reason: String| RuleError::AbiFile {
            rule: self.cfg.name.clone(),
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        if let Some(abi) = value.get_mut("abi") {
            value = abi.take();
        }
        serde_json::from_value(value).map_err(|e| err(format!("not a JSON ABI: {e}")))
    }

    pub(super) fn abi_item<'i, T>(
        &self,
        path: &Path,
        what: &'static str,
        wanted: &str,
        items: impl Iterator<Item = &'i T> + Clone,
        name: impl Fn(&T) -> &str,
        signature: impl Fn(&T) -> String,
    ) -> Result<&'i T, RuleError>
    where
        T: 'i,
    {
        let by_signature = wanted.contains('(');
        let found: Vec<&T> = items
            .clone()
            .filter(|it| if by_signature { signature(it) == wanted } else { name(it) == wanted })
            .collect();
        match found.as_slice() {
            [one] => Ok(*one),
            [] => {
                let mut known: Vec<String> = items.map(&signature).collect();
                known.sort();
                known.dedup();
                let known = if known.is_empty() {
                    format!("it has no {what}s")
                } else {
                    format!("its {what}s: {}", known.join(", "))
                };
                Err(RuleError::AbiItem {
                    rule: self.cfg.name.clone(),
                    path: path.display().to_string(),
                    what,
                    item: wanted.to_string(),
                    known,
                })
            }
            many => Err(self.invalid(
                if what == "event" { "event_name" } else { "function_name" },
                format!(
                    "`{wanted}` is overloaded in {}; name one by its signature: {}",
                    path.display(),
                    many.iter().map(|it| signature(it)).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    pub(super) fn matcher(&self) -> Result<(Matcher, Vec<Param>, String), RuleError> {
        let cfg = self.cfg;
        let chosen = [
            cfg.event.is_some(),
            cfg.function.is_some(),
            cfg.event_name.is_some(),
            cfg.function_name.is_some(),
            cfg.probe.is_some(),
        ];
        if chosen.iter().filter(|c| **c).count() > 1 {
            return Err(self.invalid(
                "event",
                "give at most one of `event`, `function`, `event_name`, `function_name` and `probe`",
            ));
        }
        if cfg.abi.is_some() && cfg.event_name.is_none() && cfg.function_name.is_none() {
            return Err(self.invalid("abi", "an ABI file needs `event_name` or `function_name`"));
        }
        if cfg.abi.is_none() && (cfg.event_name.is_some() || cfg.function_name.is_some()) {
            let field = if cfg.event_name.is_some() { "event_name" } else { "function_name" };
            return Err(self.invalid(field, "needs `abi`, the JSON ABI file to take it from"));
        }
        if cfg.calls.is_some() && cfg.function.is_none() && cfg.function_name.is_none() {
            return Err(self.invalid("calls", "only function rules read calls"));
        }
        if cfg.include_failed && cfg.function.is_none() && cfg.function_name.is_none() {
            return Err(self.invalid("include_failed", "only function rules read calls in failed transactions"));
        }
        let abi = cfg.abi.as_ref().map(|p| self.load_abi(p).map(|a| (p, a))).transpose()?;

        let event = match (&cfg.event, &cfg.event_name, &abi) {
            (Some(sig), _, _) => {
                Some(Event::parse(sig).map_err(|e| self.signature_err("event", sig, e))?).map(|e| (e, "event"))
            }
            (None, Some(name), Some((path, abi))) => Some((
                self.abi_item(path, "event", name, abi.events(), |e| &e.name, |e| e.signature())?.clone(),
                "event_name",
            )),
            _ => None,
        };
        if let Some((event, field)) = event {
            let sig = event.full_signature();
            let mut indexed_types = Vec::new();
            let mut body = Vec::new();
            let mut indexed = Vec::new();
            let mut types = Vec::new();
            let mut all = Vec::new();
            for p in &event.inputs {
                let ty: DynSolType = p.resolve().map_err(|e| self.signature_err(field, &sig, e))?;
                indexed.push(p.indexed);
                types.push(native_ty(&ty));
                all.push(ty.clone());
                if p.indexed {
                    indexed_types.push(ty)
                } else {
                    body.push(ty)
                }
            }
            let topic0 = (!event.anonymous).then(|| event.selector());
            let topics = indexed_types.len() + topic0.is_some() as usize;
            let dyn_event = DynSolEvent::new(topic0, indexed_types, DynSolType::Tuple(body))
                .ok_or_else(|| self.signature_err(field, &sig, "more than 4 topics"))?;
            let params = self.params(event.inputs.iter().map(|p| p.name.as_str()).zip(types), true);
            return Ok((
                Matcher::Event { event: Box::new(dyn_event), topic0, topics, indexed, words: one_word_types(all) },
                params,
                format!("{} event", event.name),
            ));
        }

        let function = match (&cfg.function, &cfg.function_name, &abi) {
            (Some(sig), _, _) => {
                Some((Function::parse(sig).map_err(|e| self.signature_err("function", sig, e))?, "function"))
            }
            (None, Some(name), Some((path, abi))) => Some((
                self.abi_item(path, "function", name, abi.functions(), |f| &f.name, |f| f.signature())?.clone(),
                "function_name",
            )),
            _ => None,
        };
        if let Some((function, field)) = function {
            let call: DynSolCall =
                function.resolve().map_err(|e| self.signature_err(field, &function.full_signature(), e))?;
            let sites = cfg.calls.unwrap_or_default();
            let words = one_word_types(call.types().to_vec());
            let types = call.types().iter().map(native_ty);
            let params = self.params(function.inputs.iter().map(|p| p.name.as_str()).zip(types), true);
            return Ok((
                Matcher::Call {
                    call: Box::new(call),
                    selector: function.selector().0,
                    top: sites != CallSites::Internal,
                    internal: sites != CallSites::Top,
                    words,
                },
                params,
                format!("{} call", function.name),
            ));
        }

        if let Some(p) = &cfg.probe {
            if !cfg.address.is_empty() {
                return Err(self.invalid("address", "probe rules read `probe.to`; `address` does not apply"));
            }
            let compiled = crate::probe::compile(p.to, &p.function, &p.args).map_err(|e| match e {
                crate::probe::ProbeError::Function(reason) => self.signature_err("probe.function", &p.function, reason),
                crate::probe::ProbeError::Args(reason) => self.invalid("probe.args", reason),
            })?;
            let function = compiled.function;
            if function.outputs.is_empty() {
                return Err(self.signature_err(
                    "probe.function",
                    &p.function,
                    "it declares no returns (write e.g. `totalAssets() returns (uint256)`)",
                ));
            }
            let call: DynSolCall =
                function.resolve().map_err(|e| self.signature_err("probe.function", &p.function, e))?;
            let types = call.returns().types().iter().map(native_ty);
            let params = self.params(function.outputs.iter().map(|p| p.name.as_str()).zip(types), false);
            return Ok((
                Matcher::Probe { probe: compiled.probe, call: Box::new(call) },
                params,
                format!("{} probe", function.name),
            ));
        }
        Ok((Matcher::Tx, Vec::new(), "transaction".to_string()))
    }

    /// The parameters' names; `bindings` are filled once the rule's identifiers are known.
    pub(super) fn params<'n>(
        &self,
        names: impl Iterator<Item = (&'n str, Option<Ty>)>,
        positional: bool,
    ) -> Vec<Param> {
        names
            .enumerate()
            .map(|(i, (n, ty))| {
                let usable = !n.is_empty() && !RESERVED.contains(&n);
                let mut bindings = Vec::new();
                if usable {
                    bindings.push((n.to_string(), false));
                    bindings.push((format!("{n}_str"), true));
                }
                if positional {
                    bindings.push((format!("arg{i}"), false));
                    bindings.push((format!("arg{i}_str"), true));
                }
                Param {
                    label: if n.is_empty() { format!("arg{i}") } else { n.to_string() },
                    name: (!n.is_empty()).then(|| n.to_string()),
                    bindings,
                    ty,
                }
            })
            .collect()
    }
}
