//! The shared, limited Rhai engine and the views of a match that expressions see (`tx`, `block`, `log`, `msg`).

use super::*;

/// A transaction, as expressions see it (`tx.from`, `tx.gas_used` …).
#[derive(Debug, Clone)]
pub(super) struct TxView {
    /// `tx.hash`.
    pub(super) hash: B256,
    /// `tx.index`.
    pub(super) index: i64,
    /// `tx.from`.
    pub(super) from: Address,
    /// `tx.to`.
    pub(super) to: Option<Address>,
    /// `tx.value`.
    pub(super) value: U256,
    /// `tx.gas`.
    pub(super) gas: u64,
    /// `tx.gas_used`.
    pub(super) gas_used: u64,
    /// `tx.status`.
    pub(super) status: bool,
    /// `tx.nonce`.
    pub(super) nonce: i64,
    /// `tx.created`.
    pub(super) created: Option<Address>,
    /// `tx.selector`.
    selector: Option<[u8; 4]>,
    /// `tx.input_len`.
    pub(super) input_len: usize,
}

impl TxView {
    pub(super) fn of(bundle: &Bundle, i: usize) -> Option<Self> {
        let t = bundle.transactions.get(i)?;
        let r = bundle.receipts.get(i).filter(|r| r.transaction_hash == t.hash);
        Some(Self {
            hash: t.hash,
            index: i as i64,
            from: t.from,
            to: t.to,
            value: t.value,
            gas: t.gas,
            gas_used: r.map_or(0, |r| r.gas_used),
            status: r.is_none_or(|r| r.status),
            nonce: t.nonce as i64,
            created: r.and_then(|r| r.contract_address),
            selector: t.input.get(..4).and_then(|s| s.try_into().ok()),
            input_len: t.input.len(),
        })
    }

    /// From a trace's top frame, for a transaction the bundle does not list.
    pub(super) fn of_frame(frame: &CallFrame, hash: Option<B256>, index: usize) -> Self {
        Self {
            hash: hash.unwrap_or_default(),
            index: index as i64,
            from: frame.from,
            to: if frame.typ.starts_with("CREATE") { None } else { frame.to },
            value: frame.value.unwrap_or_default(),
            gas: frame.gas.saturating_to(),
            gas_used: frame.gas_used.saturating_to(),
            status: frame.error.is_none(),
            nonce: -1,
            created: if frame.typ.starts_with("CREATE") { frame.to } else { None },
            selector: frame.input.get(..4).and_then(|s| s.try_into().ok()),
            input_len: frame.input.len(),
        }
    }
}

/// The matched log (`log.address` …).
#[derive(Debug, Clone)]
pub(super) struct LogView {
    /// `log.address`.
    pub(super) address: Address,
    /// `log.index`.
    pub(super) index: u64,
    /// `log.topic0`.
    pub(super) topic0: Option<B256>,
}

/// The matched call (`msg.from` …).
#[derive(Debug, Clone)]
pub(super) struct CallView {
    /// `msg.from`.
    pub(super) from: Address,
    /// `msg.to`.
    pub(super) to: Address,
    /// `msg.value`.
    pub(super) value: U256,
    /// `msg.depth`.
    pub(super) depth: i64,
    /// `msg.kind` (`CALL`, `DELEGATECALL` …).
    pub(super) kind: String,
    /// `msg.reverted`.
    pub(super) reverted: bool,
    /// `msg.gas_used`.
    pub(super) gas_used: u64,
}

pub(super) fn addr_str(a: &Address) -> String {
    hex::encode_prefixed(a)
}

pub(super) fn opt_addr_str(a: &Option<Address>) -> String {
    a.as_ref().map(addr_str).unwrap_or_default()
}

pub(super) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The shared, limited engine: expressions only, no `eval`/`print`/`debug`, bounded operations and sizes.
pub(super) static ENGINE: LazyLock<Engine> = LazyLock::new(|| {
    let mut e = Engine::new();
    e.set_optimization_level(OptimizationLevel::Simple);
    e.set_max_operations(MAX_OPERATIONS);
    e.set_max_expr_depths(64, 32);
    e.set_max_call_levels(16);
    e.set_max_string_size(16 * 1024);
    e.set_max_array_size(4 * 1024);
    e.set_max_map_size(1024);
    for symbol in ["eval", "print", "debug"] {
        e.disable_symbol(symbol);
    }
    e.on_print(|_| {});
    e.on_debug(|_, _, _| {});
    e.register_type_with_name::<TxView>("Tx")
        .register_get("hash", |t: &mut TxView| hex::encode_prefixed(t.hash))
        .register_get("index", |t: &mut TxView| t.index)
        .register_get("from", |t: &mut TxView| addr_str(&t.from))
        .register_get("to", |t: &mut TxView| opt_addr_str(&t.to))
        .register_get("value", |t: &mut TxView| f64::from(t.value))
        .register_get("value_str", |t: &mut TxView| t.value.to_string())
        .register_get("gas", |t: &mut TxView| int(t.gas))
        .register_get("gas_used", |t: &mut TxView| int(t.gas_used))
        .register_get("status", |t: &mut TxView| t.status)
        .register_get("nonce", |t: &mut TxView| t.nonce)
        .register_get("created", |t: &mut TxView| opt_addr_str(&t.created))
        .register_get("selector", |t: &mut TxView| t.selector.map(hex::encode_prefixed).unwrap_or_default())
        .register_get("input_len", |t: &mut TxView| t.input_len as i64);
    e.register_type_with_name::<BlockHeader>("Block")
        .register_get("number", |b: &mut BlockHeader| int(b.number))
        .register_get("timestamp", |b: &mut BlockHeader| int(b.timestamp))
        .register_get("hash", |b: &mut BlockHeader| hex::encode_prefixed(b.hash))
        .register_get("miner", |b: &mut BlockHeader| addr_str(&b.miner))
        .register_get("gas_used", |b: &mut BlockHeader| int(b.gas_used))
        .register_get("gas_limit", |b: &mut BlockHeader| int(b.gas_limit))
        .register_get("base_fee", |b: &mut BlockHeader| int(b.base_fee_per_gas.unwrap_or_default()));
    e.register_type_with_name::<LogView>("Log")
        .register_get("address", |l: &mut LogView| addr_str(&l.address))
        .register_get("index", |l: &mut LogView| int(l.index))
        .register_get("topic0", |l: &mut LogView| l.topic0.map(hex::encode_prefixed).unwrap_or_default());
    e.register_type_with_name::<CallView>("Call")
        .register_get("from", |c: &mut CallView| addr_str(&c.from))
        .register_get("sender", |c: &mut CallView| addr_str(&c.from))
        .register_get("to", |c: &mut CallView| addr_str(&c.to))
        .register_get("value", |c: &mut CallView| f64::from(c.value))
        .register_get("value_str", |c: &mut CallView| c.value.to_string())
        .register_get("depth", |c: &mut CallView| c.depth)
        .register_get("kind", |c: &mut CallView| c.kind.clone())
        .register_get("reverted", |c: &mut CallView| c.reverted)
        .register_get("gas_used", |c: &mut CallView| int(c.gas_used));
    e
});

/// A decoded ABI value as expressions see it.
pub(super) fn to_dynamic(v: &DynSolValue) -> Dynamic {
    if let Some(text) = text(v) {
        return text.into();
    }
    match v {
        DynSolValue::Uint(u, _) => f64::from(*u).into(),
        DynSolValue::Int(i, _) => {
            let (sign, abs) = i.into_sign_and_abs();
            let f = f64::from(abs);
            (if sign.is_negative() { -f } else { f }).into()
        }
        DynSolValue::Bool(b) => (*b).into(),
        other => match items(other) {
            Some(items) => Dynamic::from_array(items.iter().map(to_dynamic).collect()),
            None => Dynamic::UNIT,
        },
    }
}

/// The text of an address, bytes, function or string value, as rules and evidence both show it (hex with `0x`).
fn text(v: &DynSolValue) -> Option<String> {
    Some(match v {
        DynSolValue::Address(a) => addr_str(a),
        DynSolValue::FixedBytes(w, size) => hex::encode_prefixed(&w[..(*size).min(32)]),
        DynSolValue::Bytes(b) => hex::encode_prefixed(b),
        DynSolValue::Function(f) => hex::encode_prefixed(f),
        DynSolValue::String(s) => s.clone(),
        _ => return None,
    })
}

/// The elements of an array, fixed array or tuple value.
fn items(v: &DynSolValue) -> Option<&[DynSolValue]> {
    v.as_fixed_seq().or_else(|| v.as_array())
}

/// The exact decimal string of an integer value.
pub(super) fn decimal(v: &DynSolValue) -> Option<String> {
    match v {
        DynSolValue::Uint(u, _) => Some(u.to_string()),
        DynSolValue::Int(i, _) => Some(i.to_string()),
        _ => None,
    }
}

/// A decoded ABI value as evidence (numbers as exact decimal strings).
pub(super) fn to_json(v: &DynSolValue) -> serde_json::Value {
    if let Some(text) = text(v) {
        return text.into();
    }
    match v {
        DynSolValue::Uint(..) | DynSolValue::Int(..) => decimal(v).unwrap_or_default().into(),
        DynSolValue::Bool(b) => (*b).into(),
        other => match items(other) {
            Some(items) => items.iter().map(to_json).collect::<Vec<_>>().into(),
            None => serde_json::Value::Null,
        },
    }
}

/// Identifiers an expression mentions (a superset: words in string literals count too).
pub(super) fn identifiers(src: &str) -> impl Iterator<Item = &str> {
    src.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_'))
}
