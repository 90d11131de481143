// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {GCXToken} from "../../src/GCXToken.sol";

/// @notice Drives GCXToken with random mints, transfers, burns, burnFroms, fee burns and admin changes among a
///         fixed set of actors, and keeps ghost totals of what was minted and burned.
contract GCXTokenHandler is Test {
    GCXToken public immutable gcx;
    address public immutable minter;
    address public immutable admin;
    address[] public actors;

    uint256 public ghostMinted;
    uint256 public ghostBurned;
    uint256 public ghostMintRejectedOverCap;

    constructor(GCXToken gcx_, address minter_, address admin_) {
        gcx = gcx_;
        minter = minter_;
        admin = admin_;
        for (uint256 i; i < 5; ++i) {
            actors.push(makeAddr(string.concat("actor", vm.toString(i))));
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function mint(uint256 actorSeed, uint256 amount) external {
        uint256 remaining = gcx.cap() - gcx.totalMinted();
        amount = bound(amount, 0, remaining + remaining / 10 + 1); // sometimes over the cap
        vm.prank(minter);
        try gcx.mint(_actor(actorSeed), amount) {
            ghostMinted += amount;
        } catch (bytes memory err) {
            assertEq(bytes4(err), GCXToken.IssuanceCapExceeded.selector);
            assertGt(amount, remaining);
            ++ghostMintRejectedOverCap;
        }
    }

    function transfer(uint256 fromSeed, uint256 toSeed, uint256 amount) external {
        address from = _actor(fromSeed);
        amount = bound(amount, 0, gcx.balanceOf(from));
        vm.prank(from);
        gcx.transfer(_actor(toSeed), amount);
    }

    function burn(uint256 actorSeed, uint256 amount) external {
        address from = _actor(actorSeed);
        amount = bound(amount, 0, gcx.balanceOf(from));
        vm.prank(from);
        gcx.burn(amount);
        ghostBurned += amount;
    }

    function burnFrom(uint256 ownerSeed, uint256 spenderSeed, uint256 amount) external {
        address owner = _actor(ownerSeed);
        address spender = _actor(spenderSeed);
        amount = bound(amount, 0, gcx.balanceOf(owner));
        vm.prank(owner);
        gcx.approve(spender, amount);
        vm.prank(spender);
        gcx.burnFrom(owner, amount);
        ghostBurned += amount;
    }

    function burnFee(uint256 actorSeed, uint256 fee) external {
        address from = _actor(actorSeed);
        uint256 bal = gcx.balanceOf(from);
        fee = bound(fee, 0, bal);
        vm.prank(from);
        uint256 burned = gcx.burnFee(fee);
        assertEq(burned, (fee * gcx.feeBurnBps()) / 10_000);
        ghostBurned += burned;
    }

    function setFeeBurnBps(uint16 bps) external {
        bps = uint16(bound(bps, 0, gcx.MAX_FEE_BURN_BPS()));
        vm.prank(admin);
        gcx.setFeeBurnBps(bps);
    }
}
