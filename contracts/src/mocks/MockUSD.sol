// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MockUSD — TEST STABLECOIN FOR LOCAL NETWORKS ONLY
/// @notice !!! NOT A REAL STABLECOIN. DO NOT DEPLOY OUTSIDE A LOCAL DEVNET (anvil) OR A TEST SUITE. !!!
///         Anyone can mint any amount to anyone through the public faucet {mint} (at most `MAX_MINT_PER_CALL`
///         per call, unlimited calls), so these tokens have no value. Six decimals, like USDC.
contract MockUSD is ERC20 {
    /// @notice Largest amount one {mint} call may create: 1 000 000 mUSD.
    uint256 public constant MAX_MINT_PER_CALL = 1_000_000 * 10 ** 6;

    /// @notice A faucet call asked for more than `MAX_MINT_PER_CALL`.
    error MintAmountTooLarge(uint256 amount, uint256 max);

    /// @notice Deploy the mock stablecoin (LOCAL NETWORKS ONLY).
    constructor() ERC20("Mock USD (local devnet only)", "mUSD") {}

    /// @notice Six decimals, as USDC.
    /// @return 6
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice PUBLIC FAUCET (LOCAL NETWORKS ONLY): mint `amount` to `to`, anyone may call.
    /// @param to Recipient (not the zero address).
    /// @param amount Amount in 6-decimal units (≤ `MAX_MINT_PER_CALL`).
    function mint(address to, uint256 amount) external {
        if (amount > MAX_MINT_PER_CALL) revert MintAmountTooLarge(amount, MAX_MINT_PER_CALL);
        _mint(to, amount);
    }
}
