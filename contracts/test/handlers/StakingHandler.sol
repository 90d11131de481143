// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {GCXToken} from "../../src/GCXToken.sol";
import {StakingRegistry} from "../../src/StakingRegistry.sol";

/// @notice Drives StakingRegistry with random stakes, unbonds, withdrawals, time jumps, slashes by the authorized
///         slasher, slash attempts from random senders (which must all fail), and direct token donations to the
///         registry. Keeps ghost accounting per (actor, role).
contract StakingHandler is Test {
    GCXToken public immutable gcx;
    StakingRegistry public immutable registry;
    address public immutable minter;
    address public immutable slasher;
    address[] public actors;

    mapping(address => mapping(uint8 => uint256)) public ghostStake; // bonded + unbonding
    uint256 public ghostStaked; // sum of ghostStake
    uint256 public ghostDonated; // sent to the registry outside stake()
    uint256 public ghostSlashed;
    uint256 public ghostBurnedBySlash;
    uint256 public ghostUnauthorizedSlashSucceeded;
    uint256 public ghostUnauthorizedSlashAttempts;
    uint256 public ghostMinted;

    constructor(GCXToken gcx_, StakingRegistry registry_, address minter_, address slasher_) {
        gcx = gcx_;
        registry = registry_;
        minter = minter_;
        slasher = slasher_;
        for (uint256 i; i < 4; ++i) {
            actors.push(makeAddr(string.concat("staker", vm.toString(i))));
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function _role(uint256 seed) internal pure returns (StakingRegistry.Role) {
        return StakingRegistry.Role(seed % 3);
    }

    function _mint(address to, uint256 amount) internal {
        vm.prank(minter);
        gcx.mint(to, amount);
        ghostMinted += amount;
    }

    function stake(uint256 actorSeed, uint256 roleSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        StakingRegistry.Role role = _role(roleSeed);
        amount = bound(amount, 1, 1_000_000 ether);
        _mint(a, amount);
        vm.startPrank(a);
        gcx.approve(address(registry), amount);
        registry.stake(role, amount);
        vm.stopPrank();
        ghostStake[a][uint8(role)] += amount;
        ghostStaked += amount;
    }

    function requestUnbond(uint256 actorSeed, uint256 roleSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        StakingRegistry.Role role = _role(roleSeed);
        (uint256 bonded,,) = registry.stakeOf(a, role);
        if (bonded == 0) return;
        amount = bound(amount, 1, bonded);
        vm.prank(a);
        registry.requestUnbond(role, amount);
    }

    function withdraw(uint256 actorSeed, uint256 roleSeed) external {
        address a = _actor(actorSeed);
        StakingRegistry.Role role = _role(roleSeed);
        (, uint256 unbonding, uint64 releaseAt) = registry.stakeOf(a, role);
        if (unbonding == 0 || block.timestamp < releaseAt) return;
        uint256 before = gcx.balanceOf(a);
        vm.prank(a);
        uint256 out = registry.withdraw(role);
        assertEq(out, unbonding);
        assertEq(gcx.balanceOf(a), before + unbonding);
        ghostStake[a][uint8(role)] -= out;
        ghostStaked -= out;
    }

    function warp(uint256 secs) external {
        skip(bound(secs, 0, 10 days));
    }

    function slash(uint256 actorSeed, uint256 roleSeed, uint256 amount, bool burnAll) external {
        address a = _actor(actorSeed);
        StakingRegistry.Role role = _role(roleSeed);
        amount = bound(amount, 1, 2_000_000 ether);
        uint256 supply = gcx.totalSupply();
        address rewardTo = burnAll ? address(0) : makeAddr("challenger");
        address compensateTo = burnAll ? address(0) : makeAddr("buyer");
        vm.prank(slasher);
        uint256 slashed = registry.slash(a, role, amount, rewardTo, compensateTo);
        uint256 had = ghostStake[a][uint8(role)] - registry.lockedOf(a, role); // locked stake is out of reach
        assertEq(slashed, amount < had ? amount : had);
        ghostStake[a][uint8(role)] -= slashed;
        ghostStaked -= slashed;
        ghostSlashed += slashed;
        ghostBurnedBySlash += supply - gcx.totalSupply();
    }

    /// Anyone else tries to slash; it must revert. A success is counted and fails the invariant.
    function slashFromRandomSender(address sender, uint256 actorSeed, uint256 roleSeed, uint256 amount)
        external
    {
        if (sender == slasher) return;
        amount = bound(amount, 1, 2_000_000 ether);
        ++ghostUnauthorizedSlashAttempts;
        vm.prank(sender);
        try registry.slash(_actor(actorSeed), _role(roleSeed), amount, sender, sender) {
            ++ghostUnauthorizedSlashSucceeded;
        } catch {}
    }

    /// The locker (the handler itself, granted LOCKER_ROLE by the test) locks part of an actor's free stake.
    function lock(uint256 actorSeed, uint256 roleSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        StakingRegistry.Role role = _role(roleSeed);
        (uint256 bonded,,) = registry.stakeOf(a, role);
        uint256 free = bonded - registry.lockedOf(a, role);
        if (free == 0) return;
        registry.lock(a, role, bound(amount, 1, free));
    }

    function unlock(uint256 actorSeed, uint256 roleSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        StakingRegistry.Role role = _role(roleSeed);
        uint256 locked = registry.lockedOf(a, role);
        if (locked == 0) return;
        registry.unlock(a, role, bound(amount, 1, locked));
    }

    function slashLocked(uint256 actorSeed, uint256 roleSeed, uint256 amount) external {
        address a = _actor(actorSeed);
        StakingRegistry.Role role = _role(roleSeed);
        uint256 locked = registry.lockedOf(a, role);
        if (locked == 0) return;
        amount = bound(amount, 1, locked);
        uint256 supply = gcx.totalSupply();
        registry.slashLocked(a, role, amount, makeAddr("challenger"), makeAddr("buyer"));
        ghostStake[a][uint8(role)] -= amount;
        ghostStaked -= amount;
        ghostSlashed += amount;
        ghostBurnedBySlash += supply - gcx.totalSupply();
    }

    function donate(uint256 amount) external {
        amount = bound(amount, 1, 1_000 ether);
        _mint(address(this), amount);
        gcx.transfer(address(registry), amount);
        ghostDonated += amount;
    }
}
