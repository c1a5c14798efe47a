//! The one probe declaration every detector that reads state shares (rules' `probe`, the series detectors'
//! calls): `{ to = "0x…", function = "balanceOf(address) returns (uint256)", args = ["0x…"] }`.
//!
//! `function` is a Solidity signature with its return types, parsed once with [`Function::parse`]; `args` are its
//! arguments, one per input, as strings, integers or booleans (`"0xabc…"`, `1`, `"1000000000000000000000"`,
//! `true`), coerced to the input types ([`DynSolType::coerce_str`]). [`compile`] checks both and encodes the
//! calldata of the [`Probe`]: a bad signature or argument is refused when the detector is built, never at a block.

use alloy::{
    dyn_abi::{DynSolType, JsonAbiExt, Specifier},
    json_abi::Function,
    primitives::Address,
};
use serde::Deserialize;
use vigil_core::Probe;

/// One probe argument.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ProbeArg {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Anything else, as text (`"0x…"`, `"1000000000000000000000"`).
    Text(String),
}

impl std::fmt::Display for ProbeArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeArg::Bool(b) => write!(f, "{b}"),
            ProbeArg::Int(n) => write!(f, "{n}"),
            ProbeArg::Text(s) => f.write_str(s),
        }
    }
}

/// A declared call, compiled.
#[derive(Debug, Clone)]
pub struct CompiledCall {
    /// The state read, calldata encoded.
    pub probe: Probe,
    /// The function, parsed (its outputs decode the answer).
    pub function: Function,
}

/// What is wrong with a declared call: the key at fault and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// `function` does not parse, or one of its types is not a Solidity type.
    #[error("{0}")]
    Function(String),
    /// `args` do not match the inputs.
    #[error("{0}")]
    Args(String),
}

/// Compiles a call of `function` on `to` with `args`.
pub fn compile(to: Address, function: &str, args: &[ProbeArg]) -> Result<CompiledCall, ProbeError> {
    let parsed = Function::parse(function).map_err(|e| ProbeError::Function(e.to_string()))?;
    if args.len() != parsed.inputs.len() {
        let (wanted, given) = (parsed.inputs.len(), args.len());
        return Err(ProbeError::Args(format!("`{}` takes {wanted} argument(s), {given} given", parsed.signature())));
    }
    let mut values = Vec::with_capacity(args.len());
    for (i, (param, arg)) in parsed.inputs.iter().zip(args).enumerate() {
        let ty: DynSolType = param.resolve().map_err(|e| ProbeError::Function(format!("parameter {i}: {e}")))?;
        let value = ty.coerce_str(&arg.to_string());
        values.push(
            value
                .map_err(|e| ProbeError::Args(format!("argument {i} `{arg}` is not a {}: {e}", ty.sol_type_name())))?,
        );
    }
    let data = parsed.abi_encode_input(&values).map_err(|e| ProbeError::Args(e.to_string()))?;
    Ok(CompiledCall { probe: Probe { to, data: data.into() }, function: parsed })
}

#[cfg(test)]
mod tests {
    use alloy::{primitives::address, sol_types::SolCall};
    use vigil_contracts::IERC20;

    use super::*;

    const TOKEN: Address = address!("00000000000000000000000000000000000000aa");
    const HOLDER: Address = address!("00000000000000000000000000000000000000bb");

    #[test]
    fn a_call_compiles_to_the_bindings_calldata_and_bad_declarations_name_their_key() {
        let args = [ProbeArg::Text(HOLDER.to_string())];
        let c = compile(TOKEN, "balanceOf(address) returns (uint256)", &args).unwrap();
        assert_eq!(c.probe, Probe { to: TOKEN, data: IERC20::balanceOfCall { account: HOLDER }.abi_encode().into() });
        assert_eq!(c.function.outputs.len(), 1);
        let int = compile(TOKEN, "market(uint256) returns (bool)", &[ProbeArg::Int(2)]).unwrap();
        let text = compile(TOKEN, "market(uint256) returns (bool)", &[ProbeArg::Text("2".into())]).unwrap();
        assert_eq!(int.probe, text.probe, "an integer and its text are the same argument");
        assert!(matches!(compile(TOKEN, "balanceOf(address", &args), Err(ProbeError::Function(_))));
        assert_eq!(
            compile(TOKEN, "balanceOf(address) returns (uint256)", &[]).unwrap_err(),
            ProbeError::Args("`balanceOf(address)` takes 1 argument(s), 0 given".into())
        );
        let e = compile(TOKEN, "balanceOf(address) returns (uint256)", &[ProbeArg::Bool(true)]).unwrap_err();
        assert!(e.to_string().starts_with("argument 0 `true` is not a address"), "{e}");
    }
}
