//! [`NodeBackend`]: the venue's transactions sent to a real node over JSON-RPC (anvil in tests).
//!
//! Transactions are signed locally with the actors' keys (alloy's `EthereumWallet`), sent with
//! `eth_sendRawTransaction`, and followed to their receipt; a revert found while estimating gas or in the receipt
//! is an [`ExecError::Reverted`] carrying the node's revert data. Test-chain controls (`advance`, `set_balance`)
//! use anvil's methods. Calls block on a private tokio runtime, so the backend can be driven from plain code.

use alloy::{
    eips::BlockId,
    network::{EthereumWallet, TransactionBuilder},
    primitives::{Address, Bytes, U256},
    providers::{ext::AnvilApi, DynProvider, Provider, ProviderBuilder},
    rpc::types::TransactionRequest,
    signers::local::PrivateKeySigner,
    transports::{RpcError, TransportErrorKind},
};

use crate::backend::{call_name, Backend, ExecError, Reader};
use crate::evm::CHAIN_ID;

/// The anvil binary: `VIGIL_ANVIL` if set, else the one the pinned npm package installs under
/// `contracts/node_modules` (`npm ci --prefix contracts`; the test command does it).
pub fn anvil_path() -> Result<std::path::PathBuf, String> {
    if let Ok(p) = std::env::var("VIGIL_ANVIL") {
        return Ok(p.into());
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "anvil not found at {}: run `npm ci --prefix contracts` (scripts/test.sh does) or set VIGIL_ANVIL",
            p.display()
        ))
    }
}

/// anvil as the tests run it: the binary of [`anvil_path`], bound to 127.0.0.1, with the proving ground's chain
/// id and the public test mnemonic. Add arguments, then `try_spawn`.
pub fn anvil() -> Result<alloy::node_bindings::Anvil, String> {
    Ok(alloy::node_bindings::Anvil::at(anvil_path()?)
        .arg("--host")
        .arg("127.0.0.1")
        .chain_id(CHAIN_ID)
        .mnemonic(crate::actors::TEST_MNEMONIC))
}

/// A node reached over HTTP JSON-RPC.
pub struct NodeBackend {
    rt: tokio::runtime::Runtime,
    provider: DynProvider,
}

impl NodeBackend {
    /// Connects to `url`, checks that it answers with the proving ground's chain id ([`CHAIN_ID`]), and signs
    /// for `signers`.
    pub fn connect(url: &str, signers: &[PrivateKeySigner]) -> Result<Self, ExecError> {
        let url =
            url.parse().map_err(|e| ExecError::Rpc { what: format!("endpoint {url}"), reason: format!("{e}") })?;
        let mut wallet = EthereumWallet::default();
        for s in signers {
            wallet.register_signer(s.clone());
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ExecError::Rpc { what: "tokio runtime".into(), reason: e.to_string() })?;
        let provider = ProviderBuilder::new().wallet(wallet).connect_http(url).erased();
        let chain_id = rt.block_on(provider.get_chain_id()).map_err(|e| ExecError::Rpc {
            what: "eth_chainId".into(),
            reason: format!("cannot reach the node: {e}"),
        })?;
        if chain_id != CHAIN_ID {
            return Err(ExecError::Rpc {
                what: "eth_chainId".into(),
                reason: format!(
                    "the node's chain id is {chain_id}, the venue's keys and Guardian domain expect {CHAIN_ID} \
                     (start anvil with --chain-id {CHAIN_ID})"
                ),
            });
        }
        Ok(Self { rt, provider })
    }

    /// The provider, for reads the trait does not cover.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// Runs a future on the backend's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }

    fn submit(&mut self, tx: TransactionRequest, what: String) -> Result<Option<Address>, ExecError> {
        let provider = self.provider.clone();
        self.rt.block_on(async move {
            // Headroom over the estimate, as the node gives its own transactions: anvil mines on demand at wall-clock
            // time, so the block a transaction lands in may have a later timestamp than the one it was estimated on,
            // and the pair's TWAP accumulators then take a branch the estimate did not.
            // A loaded machine (CI) widens that gap: 1.5× and 50,000 more.
            let gas = provider.estimate_gas(tx.clone()).await.map_err(|e| rpc_error(&what, e))?;
            let limit = gas * 3 / 2 + 50_000;
            let tx = tx.with_gas_limit(limit);
            let pending = provider.send_transaction(tx).await.map_err(|e| rpc_error(&what, e))?;
            let receipt = pending
                .get_receipt()
                .await
                .map_err(|e| ExecError::Rpc { what: what.clone(), reason: format!("no receipt: {e}") })?;
            if !receipt.status() {
                // The receipt carries no revert data; the gas says whether it ran out.
                let what = format!("{what} (mined and reverted: gas used {} of {limit})", receipt.gas_used);
                return Err(ExecError::Reverted { what, data: Bytes::new() });
            }
            Ok(receipt.contract_address)
        })
    }
}

/// A node error that carries revert data is a revert; anything else is an RPC failure.
fn rpc_error(what: &str, e: RpcError<TransportErrorKind>) -> ExecError {
    if let Some(data) = e.as_error_resp().and_then(|r| r.as_revert_data()) {
        return ExecError::Reverted { what: what.to_string(), data };
    }
    ExecError::Rpc { what: what.to_string(), reason: e.to_string() }
}

impl Reader for NodeBackend {
    fn call(&mut self, to: Address, data: Bytes) -> Result<Bytes, ExecError> {
        let what = call_name(&data, to);
        let tx = TransactionRequest::default().with_to(to).with_input(data);
        let provider = self.provider.clone();
        self.rt
            .block_on(async move { provider.call(tx).block(BlockId::latest()).await.map_err(|e| rpc_error(&what, e)) })
    }

    fn timestamp(&mut self) -> Result<u64, ExecError> {
        let provider = self.provider.clone();
        self.rt.block_on(async move {
            let block = provider
                .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
                .await
                .map_err(|e| ExecError::Rpc { what: "eth_getBlockByNumber".into(), reason: e.to_string() })?
                .ok_or_else(|| ExecError::Rpc {
                    what: "eth_getBlockByNumber".into(),
                    reason: "no latest block".into(),
                })?;
            Ok(block.header.timestamp)
        })
    }

    fn nonce(&mut self, who: Address) -> Result<u64, ExecError> {
        let provider = self.provider.clone();
        self.rt.block_on(async move {
            provider
                .get_transaction_count(who)
                .await
                .map_err(|e| ExecError::Rpc { what: "eth_getTransactionCount".into(), reason: e.to_string() })
        })
    }
}

impl Backend for NodeBackend {
    fn deploy(&mut self, from: Address, initcode: Bytes) -> Result<Address, ExecError> {
        let tx = TransactionRequest::default().with_from(from).with_deploy_code(initcode);
        self.submit(tx, "contract creation".into())?.ok_or_else(|| ExecError::Invalid {
            what: "contract creation".into(),
            reason: "the receipt names no contract address".into(),
        })
    }

    fn send(&mut self, from: Address, to: Address, data: Bytes, value: U256) -> Result<(), ExecError> {
        let what = call_name(&data, to);
        let tx = TransactionRequest::default().with_from(from).with_to(to).with_input(data).with_value(value);
        self.submit(tx, what).map(|_| ())
    }

    fn advance(&mut self, blocks: u64, seconds_per_block: u64) -> Result<(), ExecError> {
        let provider = self.provider.clone();
        self.rt.block_on(async move {
            provider
                .anvil_mine(Some(blocks), Some(seconds_per_block))
                .await
                .map_err(|e| ExecError::Rpc { what: "anvil_mine".into(), reason: e.to_string() })
        })
    }

    fn set_balance(&mut self, who: Address, wei: U256) -> Result<(), ExecError> {
        let provider = self.provider.clone();
        self.rt.block_on(async move {
            provider
                .anvil_set_balance(who, wei)
                .await
                .map_err(|e| ExecError::Rpc { what: "anvil_setBalance".into(), reason: e.to_string() })
        })
    }
}
