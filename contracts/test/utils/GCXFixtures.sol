// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {GCXToken} from "../../src/GCXToken.sol";
import {StakingRegistry} from "../../src/StakingRegistry.sol";
import {MockUSD} from "../../src/mocks/MockUSD.sol";

/// @notice Shared deployment for GCX contract tests: a GCX token, a staking registry and a mock stablecoin, plus
///         helpers to fund accounts, stake and sign EIP-2612 permits. Any test contract can inherit it.
abstract contract GCXFixtures is Test {
    uint256 internal constant CAP = 1_000_000_000 ether;
    uint16 internal constant FEE_BURN_BPS = 2_000; // 20 %
    uint64 internal constant UNBONDING_DELAY = 7 days;

    bytes32 internal constant PERMIT_TYPEHASH =
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    address internal admin = makeAddr("admin");
    address internal minter = makeAddr("minter");
    address internal slasher = makeAddr("slasher");

    GCXToken internal gcx;
    StakingRegistry internal registry;
    MockUSD internal musd;

    function _deployGCX() internal {
        vm.warp(1_700_000_000);
        gcx = new GCXToken(admin, CAP, FEE_BURN_BPS);
        registry = new StakingRegistry(gcx, admin, UNBONDING_DELAY);
        musd = new MockUSD();
        vm.startPrank(admin);
        gcx.grantRole(gcx.MINTER_ROLE(), minter);
        registry.grantRole(registry.SLASHER_ROLE(), slasher);
        vm.stopPrank();
    }

    /// @dev Mint `amount` GCX to `to` (as the minter).
    function _fundGCX(address to, uint256 amount) internal {
        vm.prank(minter);
        gcx.mint(to, amount);
    }

    /// @dev Fund `who` with `amount` GCX, approve the registry and stake it for `role`.
    function _stakeAs(address who, StakingRegistry.Role role, uint256 amount) internal {
        _fundGCX(who, amount);
        vm.startPrank(who);
        gcx.approve(address(registry), amount);
        registry.stake(role, amount);
        vm.stopPrank();
    }

    /// @dev EIP-2612 signature by private key `pk` over a GCX permit.
    function _signPermit(uint256 pk, address spender, uint256 value, uint256 nonce, uint256 deadline)
        internal
        view
        returns (uint8 v, bytes32 r, bytes32 s)
    {
        return _signPermitFor(vm.addr(pk), pk, spender, value, nonce, deadline);
    }

    /// @dev Signature by key `pk` over a permit claiming to come from `owner` (a forgery when they differ).
    function _signPermitFor(
        address owner,
        uint256 pk,
        address spender,
        uint256 value,
        uint256 nonce,
        uint256 deadline
    ) internal view returns (uint8 v, bytes32 r, bytes32 s) {
        bytes32 structHash = keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, nonce, deadline));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", gcx.DOMAIN_SEPARATOR(), structHash));
        return vm.sign(pk, digest);
    }
}
