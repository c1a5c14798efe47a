//! The venue's named actors and their keys.
//!
//! Keys derive from the public test mnemonic that anvil and Hardhat use (`test test … junk`), at
//! `m/44'/60'/0'/0/i`, so the same addresses exist on the in-process chain and on an anvil node, and contract
//! addresses (which depend on sender and nonce) agree between the two. These keys are public: they must
//! never hold value on a real chain.

use alloy::{
    primitives::Address,
    signers::local::{coins_bip39::English, MnemonicBuilder, PrivateKeySigner},
};

/// The public development mnemonic (anvil's default).
pub const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// Number of oracle signer keys (independent Vigil nodes) the venue's Guardian is set up with.
pub const ORACLE_SIGNERS: usize = 5;
/// Signatures the venue's Guardian requires at genesis (3 of 5).
pub const ORACLE_THRESHOLD: usize = 3;

/// Derives the `index`-th key of the test mnemonic.
pub fn test_key(index: u32) -> PrivateKeySigner {
    MnemonicBuilder::<English>::default()
        .phrase(TEST_MNEMONIC)
        .index(index)
        .and_then(|b| b.build())
        .expect("the test mnemonic and a small index always derive a key")
}

/// Everyone who acts on the venue, with their keys.
#[derive(Debug, Clone)]
pub struct Actors {
    /// Deploys everything and bootstraps governance (index 0).
    pub deployer: PrivateKeySigner,
    /// The operations key that administers the reserve vault (index 1); stolen in the admin-key scenario.
    pub ops: PrivateKeySigner,
    /// Moves the price feeds (index 2).
    pub keeper: PrivateKeySigner,
    /// Provides AMM liquidity and holds governance votes (index 3).
    pub lp: PrivateKeySigner,
    /// Supplies stablecoins to the lending markets (index 4).
    pub lender: PrivateKeySigner,
    /// Borrows against WETH (index 5).
    pub borrower: PrivateKeySigner,
    /// Swaps on the AMM (index 6).
    pub trader: PrivateKeySigner,
    /// Writes covered calls (index 7).
    pub writer: PrivateKeySigner,
    /// Buys options and liquidates unhealthy positions (index 8).
    pub buyer: PrivateKeySigner,
    /// The attacker (index 9).
    pub attacker: PrivateKeySigner,
    /// The Guardian's oracle signers: independent Vigil nodes (indices 10..15).
    pub oracles: Vec<PrivateKeySigner>,
    /// A security council (index 15): one key here, a multisig in practice, as Aave's Guardian is. The venue
    /// hands it the Guardian's governance instead of the timelock only when [`crate::VenueConfig`] says so
    /// (the repeat-attack scenario, where it lifts a pause within minutes, which a 2-day timelock cannot).
    pub council: PrivateKeySigner,
}

impl Actors {
    /// The standard actors, from the test mnemonic.
    pub fn standard() -> Self {
        Self {
            deployer: test_key(0),
            ops: test_key(1),
            keeper: test_key(2),
            lp: test_key(3),
            lender: test_key(4),
            borrower: test_key(5),
            trader: test_key(6),
            writer: test_key(7),
            buyer: test_key(8),
            attacker: test_key(9),
            oracles: (10..10 + ORACLE_SIGNERS as u32).map(test_key).collect(),
            council: test_key(10 + ORACLE_SIGNERS as u32),
        }
    }

    /// Every key, for a wallet that signs for all actors.
    pub fn all_keys(&self) -> Vec<PrivateKeySigner> {
        let mut keys = vec![
            self.deployer.clone(),
            self.ops.clone(),
            self.keeper.clone(),
            self.lp.clone(),
            self.lender.clone(),
            self.borrower.clone(),
            self.trader.clone(),
            self.writer.clone(),
            self.buyer.clone(),
            self.attacker.clone(),
        ];
        keys.extend(self.oracles.iter().cloned());
        keys.push(self.council.clone());
        keys
    }

    /// Addresses of the oracle signers.
    pub fn oracle_addresses(&self) -> Vec<Address> {
        self.oracles.iter().map(|k| k.address()).collect()
    }
}
