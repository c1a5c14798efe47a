//! Native checks: the simple top-level terms of a condition (`value > 1e24`, `to != from`), decided without Rhai.

use super::*;

/// The type of a natively compared operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ty {
    Num,
    Addr,
    Bool,
}

pub(super) fn native_ty(t: &DynSolType) -> Option<Ty> {
    match t {
        DynSolType::Address => Some(Ty::Addr),
        DynSolType::Uint(_) | DynSolType::Int(_) => Some(Ty::Num),
        DynSolType::Bool => Some(Ty::Bool),
        _ => None,
    }
}

/// A view field read natively.
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    TxFrom,
    TxTo,
    TxCreated,
    TxValue,
    TxGas,
    TxGasUsed,
    TxStatus,
    TxNonce,
    TxIndex,
    TxInputLen,
    BlockNumber,
    BlockTimestamp,
    LogAddress,
    LogIndex,
    MsgFrom,
    MsgTo,
    MsgValue,
    MsgDepth,
    MsgReverted,
}

/// One side of a native comparison.
#[derive(Debug, Clone)]
pub(super) enum Operand {
    Field(Field),
    Param(usize),
    Num(f64),
    /// An address literal; `None` is `""` (the `to` of a creation, no created contract).
    Addr(Option<Address>),
    /// A string literal that no address's lowercase form equals.
    OtherStr,
    Bool(bool),
}

/// A value read natively.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Val {
    Num(f64),
    Addr(Option<Address>),
    NotAddr,
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// `left cmp right`, decided without Rhai, with Rhai's result.
#[derive(Debug, Clone)]
pub(super) struct Check {
    left: Operand,
    cmp: Cmp,
    right: Operand,
}

/// Resolves names in a rule's expressions to native operands.
pub(super) struct Resolver {
    pub(super) kind: &'static str,
    /// Parameter variables (names and `argN`) with their index and type; names bound twice are left out.
    pub(super) params: HashMap<String, (usize, Ty)>,
}

impl Resolver {
    pub(super) fn path(&self, path: &str) -> Option<(Operand, Ty)> {
        use Field::*;
        let (field, ty) = match (path, self.kind) {
            (_, "probe") if path.starts_with("tx.") => return None,
            ("tx.from", _) => (TxFrom, Ty::Addr),
            ("tx.to", _) => (TxTo, Ty::Addr),
            ("tx.created", _) => (TxCreated, Ty::Addr),
            ("tx.value", _) => (TxValue, Ty::Num),
            ("tx.gas", _) => (TxGas, Ty::Num),
            ("tx.gas_used", _) => (TxGasUsed, Ty::Num),
            ("tx.status", _) => (TxStatus, Ty::Bool),
            ("tx.nonce", _) => (TxNonce, Ty::Num),
            ("tx.index", _) => (TxIndex, Ty::Num),
            ("tx.input_len", _) => (TxInputLen, Ty::Num),
            ("block.number", _) => (BlockNumber, Ty::Num),
            ("block.timestamp", _) => (BlockTimestamp, Ty::Num),
            ("log.address", "event") => (LogAddress, Ty::Addr),
            ("log.index", "event") => (LogIndex, Ty::Num),
            ("msg.from" | "msg.sender", "call") => (MsgFrom, Ty::Addr),
            ("msg.to", "call") => (MsgTo, Ty::Addr),
            ("msg.value", "call") => (MsgValue, Ty::Num),
            ("msg.depth", "call") => (MsgDepth, Ty::Num),
            ("msg.reverted", "call") => (MsgReverted, Ty::Bool),
            _ => {
                let (i, ty) = self.params.get(path)?;
                return Some((Operand::Param(*i), *ty));
            }
        };
        Some((Operand::Field(field), ty))
    }

    /// A lone variable or field (`tx.from`, `value`), as `group_by` and `sum` often are.
    pub(super) fn operand(&self, src: &str) -> Option<(Operand, Ty)> {
        match lex(src)?.as_slice() {
            [Tok::Path(p)] => self.path(p),
            _ => None,
        }
    }

    pub(super) fn side(&self, t: &Tok) -> Option<(Operand, Ty)> {
        Some(match t {
            Tok::Path(p) => self.path(p)?,
            Tok::Num(n) => (Operand::Num(*n), Ty::Num),
            Tok::Bool(b) => (Operand::Bool(*b), Ty::Bool),
            Tok::Str("") => (Operand::Addr(None), Ty::Addr),
            Tok::Str(s) => {
                let lower_address = s.len() == 42
                    && s.starts_with("0x")
                    && s[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
                match s.parse::<Address>() {
                    Ok(a) if lower_address => (Operand::Addr(Some(a)), Ty::Addr),
                    _ => (Operand::OtherStr, Ty::Addr),
                }
            }
            Tok::Not | Tok::Cmp(_) => return None,
        })
    }

    /// The native checks of a condition's top-level `&&` terms, and whether they are the whole condition.
    pub(super) fn checks(&self, src: &str) -> (Vec<Check>, bool) {
        let Some(terms) = conjuncts(src) else { return (Vec::new(), false) };
        let mut checks = Vec::new();
        for term in &terms {
            if let Some(c) = lex(term).and_then(|toks| self.check(&toks)) {
                checks.push(c);
            }
        }
        let all = checks.len() == terms.len();
        (checks, all)
    }

    pub(super) fn check(&self, toks: &[Tok]) -> Option<Check> {
        let (left, cmp, right, negated) = match toks {
            [Tok::Not, Tok::Path(_)] => (&toks[1], Cmp::Eq, &Tok::Bool(false), true),
            [Tok::Path(_)] => (&toks[0], Cmp::Eq, &Tok::Bool(true), true),
            [l, Tok::Cmp(c), r] => (l, *c, r, false),
            _ => return None,
        };
        if !matches!(left, Tok::Path(_)) && !matches!(right, Tok::Path(_)) {
            return None;
        }
        let (l, lt) = self.side(left)?;
        let (r, rt) = self.side(right)?;
        if negated && lt != Ty::Bool {
            return None;
        }
        let ok = match (lt, rt) {
            (Ty::Num, Ty::Num) => true,
            (Ty::Addr, Ty::Addr) | (Ty::Bool, Ty::Bool) => matches!(cmp, Cmp::Eq | Cmp::Ne),
            _ => false,
        };
        ok.then_some(Check { left: l, cmp, right: r })
    }
}

impl Operand {
    pub(super) fn value(&self, hit: &Hit, block: &BlockHeader) -> Option<Val> {
        use Field::*;
        let num = |v: u64| Val::Num(int(v) as f64);
        Some(match self {
            Operand::Num(n) => Val::Num(*n),
            Operand::Addr(a) => Val::Addr(*a),
            Operand::OtherStr => Val::NotAddr,
            Operand::Bool(b) => Val::Bool(*b),
            Operand::Param(i) => match hit.values.get(*i)? {
                DynSolValue::Address(a) => Val::Addr(Some(*a)),
                DynSolValue::Bool(b) => Val::Bool(*b),
                v @ (DynSolValue::Uint(..) | DynSolValue::Int(..)) => Val::Num(to_dynamic(v).as_float().ok()?),
                _ => return None,
            },
            Operand::Field(f) => match f {
                BlockNumber => num(block.number),
                BlockTimestamp => num(block.timestamp),
                LogAddress => Val::Addr(Some(hit.log.as_ref()?.address)),
                LogIndex => num(hit.log.as_ref()?.index),
                MsgFrom => Val::Addr(Some(hit.call.as_ref()?.from)),
                MsgTo => Val::Addr(Some(hit.call.as_ref()?.to)),
                MsgValue => Val::Num(f64::from(hit.call.as_ref()?.value)),
                MsgDepth => Val::Num(hit.call.as_ref()?.depth as f64),
                MsgReverted => Val::Bool(hit.call.as_ref()?.reverted),
                tx_field => {
                    let t = hit.tx.as_ref()?;
                    match tx_field {
                        TxFrom => Val::Addr(Some(t.from)),
                        TxTo => Val::Addr(t.to),
                        TxCreated => Val::Addr(t.created),
                        TxValue => Val::Num(f64::from(t.value)),
                        TxGas => num(t.gas),
                        TxGasUsed => num(t.gas_used),
                        TxStatus => Val::Bool(t.status),
                        TxNonce => Val::Num(t.nonce as f64),
                        TxIndex => Val::Num(t.index as f64),
                        _ => Val::Num(t.input_len as f64),
                    }
                }
            },
        })
    }
}

impl Check {
    /// `None` when a side cannot be read here (Rhai decides then).
    pub(super) fn eval(&self, hit: &Hit, block: &BlockHeader) -> Option<bool> {
        let (l, r) = (self.left.value(hit, block)?, self.right.value(hit, block)?);
        let ord = match (l, r) {
            (Val::Num(a), Val::Num(b)) => a.partial_cmp(&b),
            (Val::Addr(a), Val::Addr(b)) => return Some((a == b) == (self.cmp == Cmp::Eq)),
            (Val::Addr(_) | Val::NotAddr, Val::Addr(_) | Val::NotAddr) => return Some(self.cmp == Cmp::Ne),
            (Val::Bool(a), Val::Bool(b)) => return Some((a == b) == (self.cmp == Cmp::Eq)),
            _ => return None,
        };
        use std::cmp::Ordering::*;
        Some(match (self.cmp, ord) {
            (Cmp::Ne, None) => true,
            (_, None) => false,
            (Cmp::Eq, Some(o)) => o == Equal,
            (Cmp::Ne, Some(o)) => o != Equal,
            (Cmp::Lt, Some(o)) => o == Less,
            (Cmp::Le, Some(o)) => o != Greater,
            (Cmp::Gt, Some(o)) => o == Greater,
            (Cmp::Ge, Some(o)) => o != Less,
        })
    }
}

/// A token of a simple term.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    Path(&'a str),
    Num(f64),
    Str(&'a str),
    Bool(bool),
    Not,
    Cmp(Cmp),
}

/// Tokens of a simple term; `None` at anything else (calls, indexing, arithmetic, escapes …).
pub(super) fn lex(src: &str) -> Option<Vec<Tok<'_>>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let ident = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
    let ident_rest = |c: &u8| c.is_ascii_alphanumeric() || *c == b'_';
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if ident(i) {
            let start = i;
            while b.get(i).is_some_and(ident_rest) {
                i += 1;
            }
            if b.get(i) == Some(&b'.') && ident(i + 1) {
                i += 1;
                while b.get(i).is_some_and(ident_rest) {
                    i += 1;
                }
            }
            out.push(match &src[start..i] {
                "true" => Tok::Bool(true),
                "false" => Tok::Bool(false),
                p => Tok::Path(p),
            });
        } else if c.is_ascii_digit() || (c == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            i += 1;
            while let Some(&d) = b.get(i) {
                let exponent_sign = (d == b'-' || d == b'+') && matches!(b[i - 1], b'e' | b'E');
                if d.is_ascii_digit() || matches!(d, b'_' | b'.' | b'e' | b'E') || exponent_sign {
                    i += 1;
                } else {
                    break;
                }
            }
            out.push(Tok::Num(src[start..i].replace('_', "").parse().ok()?));
        } else if c == b'"' {
            let end = src[i + 1..].find('"')? + i + 1;
            let text = &src[i + 1..end];
            if text.contains('\\') {
                return None;
            }
            out.push(Tok::Str(text));
            i = end + 1;
        } else {
            let two = b.get(i + 1) == Some(&b'=');
            let tok = match (c, two) {
                (b'=', true) => Tok::Cmp(Cmp::Eq),
                (b'!', true) => Tok::Cmp(Cmp::Ne),
                (b'<', true) => Tok::Cmp(Cmp::Le),
                (b'>', true) => Tok::Cmp(Cmp::Ge),
                (b'<', false) => Tok::Cmp(Cmp::Lt),
                (b'>', false) => Tok::Cmp(Cmp::Gt),
                (b'!', false) => Tok::Not,
                _ => return None,
            };
            i += if two { 2 } else { 1 };
            out.push(tok);
        }
    }
    Some(out)
}

/// The top-level `&&` terms of an expression; `None` when it has a top-level operator of lower or equal
/// precedence that is not `&&` (`||`, `|`, `&`, `^`, `??`), or an `if`/`switch`.
pub(super) fn conjuncts(src: &str) -> Option<Vec<&str>> {
    if identifiers(src).any(|w| w == "if" || w == "switch") {
        return None;
    }
    let b = src.as_bytes();
    let mut depth = 0i32;
    let (mut i, mut start) = (0, 0);
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'`' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' | b'}' => depth -= 1,
            b'&' if depth == 0 => {
                if b.get(i + 1) != Some(&b'&') {
                    return None;
                }
                out.push(&src[start..i]);
                i += 2;
                start = i;
                continue;
            }
            b'|' | b'^' | b'?' if depth == 0 => return None,
            _ => {}
        }
        i += 1;
    }
    out.push(&src[start..]);
    Some(out)
}

/// A compiled `group_by` or `sum`, with its native form when it is a lone field or parameter.
#[derive(Debug)]
pub(super) struct Expr {
    pub(super) ast: AST,
    pub(super) native: Option<Operand>,
}

/// A compiled condition with the native checks of its simple terms.
#[derive(Debug)]
pub(super) struct Condition {
    pub(super) ast: AST,
    pub(super) checks: Vec<Check>,
    /// The checks are the whole condition: Rhai is not needed when they all decide.
    pub(super) native_only: bool,
}
