// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {StakingRegistry} from "../src/StakingRegistry.sol";
import {IStakingRegistry} from "../src/interfaces/IStakingRegistry.sol";
import {GCXFixtures} from "./utils/GCXFixtures.sol";

/// @dev Uncapped burnable token, to reach the 128-bit stake bound.
contract FreeToken is ERC20Burnable {
    constructor() ERC20("Free", "FREE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @dev Token that re-enters the registry when the registry sends it out.
contract ReentrantToken is ERC20Burnable {
    StakingRegistry public registry;
    bool public armed;

    constructor() ERC20("Reenter", "RE") {}

    function setRegistry(StakingRegistry r) external {
        registry = r;
    }

    function arm() external {
        armed = true;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (armed && from == address(registry) && to != address(0)) {
            armed = false;
            registry.withdraw(StakingRegistry.Role.Provider);
        }
    }
}

contract StakingRegistryTest is GCXFixtures {
    StakingRegistry.Role internal constant PROVIDER = StakingRegistry.Role.Provider;
    StakingRegistry.Role internal constant GUARANTOR = StakingRegistry.Role.Guarantor;
    StakingRegistry.Role internal constant VERIFIER = StakingRegistry.Role.Verifier;

    event Staked(address indexed account, StakingRegistry.Role indexed role, uint256 amount, uint256 bonded);
    event UnbondRequested(
        address indexed account,
        StakingRegistry.Role indexed role,
        uint256 amount,
        uint256 unbonding,
        uint64 releaseAt
    );
    event Withdrawn(address indexed account, StakingRegistry.Role indexed role, uint256 amount);
    event Slashed(
        address indexed account,
        StakingRegistry.Role indexed role,
        uint256 amount,
        uint256 burned,
        uint256 rewarded,
        uint256 compensated
    );
    event MinStakeUpdated(StakingRegistry.Role indexed role, uint256 oldMin, uint256 newMin);
    event UnbondingDelayUpdated(uint64 oldDelay, uint64 newDelay);
    event SlashSplitUpdated(uint16 burnBps, uint16 rewardBps, uint16 compensationBps);

    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal challenger = makeAddr("challenger");
    address internal buyer = makeAddr("buyer");

    function setUp() public {
        _deployGCX();
    }

    function _stake(address who, StakingRegistry.Role role)
        internal
        view
        returns (uint256 b, uint256 u, uint64 r)
    {
        return registry.stakeOf(who, role);
    }

    // ------------------------------------------------------------------ constructor & admin

    function test_constructor_state() public view {
        assertEq(address(registry.token()), address(gcx));
        assertEq(registry.unbondingDelay(), UNBONDING_DELAY);
        assertEq(registry.slashBurnBps(), 5_000);
        assertEq(registry.slashRewardBps(), 2_000);
        assertEq(registry.slashCompensationBps(), 3_000);
        assertEq(registry.totalStaked(), 0);
        assertEq(registry.minStake(PROVIDER), 0);
        assertTrue(registry.hasRole(registry.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(registry.hasRole(registry.SLASHER_ROLE(), slasher));
    }

    function test_constructor_emitsConfig() public {
        vm.expectEmit(false, false, false, true);
        emit UnbondingDelayUpdated(0, 3 days);
        vm.expectEmit(false, false, false, true);
        emit SlashSplitUpdated(5_000, 2_000, 3_000);
        new StakingRegistry(gcx, admin, 3 days);
    }

    function test_constructor_revertsOnZeroToken() public {
        vm.expectRevert(StakingRegistry.ZeroAddress.selector);
        new StakingRegistry(IERC20(address(0)), admin, 1);
    }

    function test_constructor_revertsOnZeroAdmin() public {
        vm.expectRevert(StakingRegistry.ZeroAddress.selector);
        new StakingRegistry(gcx, address(0), 1);
    }

    function test_constructor_revertsOnLongDelay() public {
        vm.expectRevert(
            abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooLong.selector, 365 days + 1, 365 days)
        );
        new StakingRegistry(gcx, admin, 365 days + 1);
    }

    function test_setMinStake() public {
        vm.expectEmit(address(registry));
        emit MinStakeUpdated(GUARANTOR, 0, 500 ether);
        vm.prank(admin);
        registry.setMinStake(GUARANTOR, 500 ether);
        assertEq(registry.minStake(GUARANTOR), 500 ether);
        assertEq(registry.minStake(PROVIDER), 0);
    }

    function test_setMinStake_revertsForNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, registry.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(alice);
        registry.setMinStake(PROVIDER, 1);
    }

    function test_setUnbondingDelay() public {
        vm.expectEmit(address(registry));
        emit UnbondingDelayUpdated(UNBONDING_DELAY, 1 days);
        vm.prank(admin);
        registry.setUnbondingDelay(1 days);
        assertEq(registry.unbondingDelay(), 1 days);
    }

    /// Attack 2: `setUnbondingDelay(0)` let stake leave at once; it is refused even before any floor was raised.
    function test_setUnbondingDelay_zeroRefusedWithoutAFloor() public {
        assertEq(registry.minUnbondingDelay(), 0);
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooShort.selector, 0, 1));
        vm.prank(admin);
        registry.setUnbondingDelay(0);
        vm.prank(admin);
        registry.setUnbondingDelay(1);
        assertEq(registry.unbondingDelay(), 1);
    }

    function test_setUnbondingDelay_revertsAboveMax() public {
        vm.expectRevert(
            abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooLong.selector, 365 days + 1, 365 days)
        );
        vm.prank(admin);
        registry.setUnbondingDelay(365 days + 1);
    }

    function test_setUnbondingDelay_revertsForNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                slasher,
                registry.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(slasher);
        registry.setUnbondingDelay(1);
    }

    function test_setUnbondingDelay_doesNotMoveExistingRequests() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 10 ether);
        vm.prank(admin);
        registry.setUnbondingDelay(365 days);
        (,, uint64 releaseAt) = _stake(alice, PROVIDER);
        assertEq(releaseAt, block.timestamp + UNBONDING_DELAY);
    }

    function test_setSlashSplit() public {
        vm.expectEmit(address(registry));
        emit SlashSplitUpdated(10_000, 0, 0);
        vm.prank(admin);
        registry.setSlashSplit(10_000, 0, 0);
        assertEq(registry.slashBurnBps(), 10_000);
        assertEq(registry.slashRewardBps(), 0);
        assertEq(registry.slashCompensationBps(), 0);
    }

    function test_setSlashSplit_revertsOnBadSum() public {
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.InvalidSlashSplit.selector, 5_000, 5_000, 1));
        vm.prank(admin);
        registry.setSlashSplit(5_000, 5_000, 1);
    }

    function test_setSlashSplit_revertsOnZeroBurn() public {
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.InvalidSlashSplit.selector, 0, 5_000, 5_000));
        vm.prank(admin);
        registry.setSlashSplit(0, 5_000, 5_000);
    }

    function test_setSlashSplit_revertsForNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                slasher,
                registry.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(slasher);
        registry.setSlashSplit(10_000, 0, 0);
    }

    function test_grantSlasher_revertsForNonAdmin() public {
        bytes32 role = registry.SLASHER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector,
                slasher,
                registry.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(slasher);
        registry.grantRole(role, alice);
    }

    // ------------------------------------------------------------------ stake

    function test_stake() public {
        _fundGCX(alice, 100 ether);
        vm.startPrank(alice);
        gcx.approve(address(registry), 100 ether);
        vm.expectEmit(address(registry));
        emit Staked(alice, PROVIDER, 60 ether, 60 ether);
        registry.stake(PROVIDER, 60 ether);
        vm.expectEmit(address(registry));
        emit Staked(alice, PROVIDER, 40 ether, 100 ether);
        registry.stake(PROVIDER, 40 ether);
        vm.stopPrank();
        (uint256 b, uint256 u, uint64 r) = _stake(alice, PROVIDER);
        assertEq(b, 100 ether);
        assertEq(u, 0);
        assertEq(r, 0);
        assertEq(registry.totalStaked(), 100 ether);
        assertEq(gcx.balanceOf(address(registry)), 100 ether);
        assertEq(gcx.balanceOf(alice), 0);
    }

    function test_stake_rolesAreIndependent() public {
        _stakeAs(alice, PROVIDER, 1 ether);
        _stakeAs(alice, VERIFIER, 2 ether);
        (uint256 p,,) = _stake(alice, PROVIDER);
        (uint256 g,,) = _stake(alice, GUARANTOR);
        (uint256 v,,) = _stake(alice, VERIFIER);
        assertEq(p, 1 ether);
        assertEq(g, 0);
        assertEq(v, 2 ether);
        assertEq(registry.totalStaked(), 3 ether);
    }

    function test_stake_revertsOnZero() public {
        vm.expectRevert(StakingRegistry.ZeroAmount.selector);
        vm.prank(alice);
        registry.stake(PROVIDER, 0);
    }

    function test_stake_revertsWithoutAllowance() public {
        _fundGCX(alice, 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(registry), 0, 1 ether
            )
        );
        vm.prank(alice);
        registry.stake(PROVIDER, 1 ether);
    }

    function test_stake_revertsWithoutBalance() public {
        vm.startPrank(alice);
        gcx.approve(address(registry), 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 0, 1 ether)
        );
        registry.stake(PROVIDER, 1 ether);
        vm.stopPrank();
    }

    function test_stake_revertsAbove128Bits() public {
        FreeToken t = new FreeToken();
        StakingRegistry r = new StakingRegistry(t, admin, 1);
        uint256 big = uint256(type(uint128).max);
        t.mint(alice, big + 1);
        vm.startPrank(alice);
        t.approve(address(r), type(uint256).max);
        r.stake(PROVIDER, big);
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.AmountTooLarge.selector, 1));
        r.stake(PROVIDER, 1);
        vm.stopPrank();
    }

    function test_stake_invalidRoleReverts() public {
        _fundGCX(alice, 1 ether);
        vm.prank(alice);
        gcx.approve(address(registry), 1 ether);
        vm.prank(alice);
        (bool ok,) =
            address(registry).call(abi.encodeWithSignature("stake(uint8,uint256)", uint8(3), 1 ether));
        assertFalse(ok);
    }

    // ------------------------------------------------------------------ isActive

    function test_isActive() public {
        vm.prank(admin);
        registry.setMinStake(PROVIDER, 100 ether);
        assertFalse(registry.isActive(alice, PROVIDER));
        _stakeAs(alice, PROVIDER, 99 ether);
        assertFalse(registry.isActive(alice, PROVIDER));
        _stakeAs(alice, PROVIDER, 1 ether);
        assertTrue(registry.isActive(alice, PROVIDER));
        assertFalse(registry.isActive(alice, GUARANTOR));
        // unbonding stake does not count
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 1);
        assertFalse(registry.isActive(alice, PROVIDER));
        // raising the minimum deactivates, lowering reactivates
        vm.prank(admin);
        registry.setMinStake(PROVIDER, 50 ether);
        assertTrue(registry.isActive(alice, PROVIDER));
    }

    function test_isActive_zeroMinimumNeedsSomeStake() public {
        assertFalse(registry.isActive(alice, VERIFIER));
        _stakeAs(alice, VERIFIER, 1);
        assertTrue(registry.isActive(alice, VERIFIER));
    }

    // ------------------------------------------------------------------ unbond & withdraw

    function test_requestUnbond() public {
        _stakeAs(alice, GUARANTOR, 10 ether);
        uint64 releaseAt = uint64(block.timestamp) + UNBONDING_DELAY;
        vm.expectEmit(address(registry));
        emit UnbondRequested(alice, GUARANTOR, 4 ether, 4 ether, releaseAt);
        vm.prank(alice);
        registry.requestUnbond(GUARANTOR, 4 ether);
        (uint256 b, uint256 u, uint64 r) = _stake(alice, GUARANTOR);
        assertEq(b, 6 ether);
        assertEq(u, 4 ether);
        assertEq(r, releaseAt);
        assertEq(registry.totalStaked(), 10 ether);
    }

    function test_requestUnbond_restartsDelay() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 1 ether);
        skip(3 days);
        uint64 releaseAt = uint64(block.timestamp) + UNBONDING_DELAY;
        vm.expectEmit(address(registry));
        emit UnbondRequested(alice, PROVIDER, 2 ether, 3 ether, releaseAt);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 2 ether);
        (, uint256 u, uint64 r) = _stake(alice, PROVIDER);
        assertEq(u, 3 ether);
        assertEq(r, releaseAt);
    }

    function test_requestUnbond_revertsOnZero() public {
        vm.expectRevert(StakingRegistry.ZeroAmount.selector);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 0);
    }

    function test_requestUnbond_revertsAboveBonded() public {
        _stakeAs(alice, PROVIDER, 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(StakingRegistry.InsufficientBondedStake.selector, 1 ether, 2 ether)
        );
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 2 ether);
    }

    function test_withdraw_afterDelay() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 10 ether);
        skip(UNBONDING_DELAY); // exactly at releaseAt
        vm.expectEmit(address(registry));
        emit Withdrawn(alice, PROVIDER, 10 ether);
        vm.prank(alice);
        uint256 out = registry.withdraw(PROVIDER);
        assertEq(out, 10 ether);
        assertEq(gcx.balanceOf(alice), 10 ether);
        (uint256 b, uint256 u, uint64 r) = _stake(alice, PROVIDER);
        assertEq(b + u + r, 0);
        assertEq(registry.totalStaked(), 0);
    }

    function test_withdraw_revertsBeforeDelay() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 10 ether);
        skip(UNBONDING_DELAY - 1);
        uint64 releaseAt = uint64(block.timestamp) + 1;
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.UnbondingNotElapsed.selector, releaseAt));
        vm.prank(alice);
        registry.withdraw(PROVIDER);
    }

    function test_withdraw_revertsWhenNothingUnbonding() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        vm.expectRevert(StakingRegistry.NothingToWithdraw.selector);
        vm.prank(alice);
        registry.withdraw(PROVIDER);
    }

    function test_withdraw_revertsTwice() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 10 ether);
        skip(UNBONDING_DELAY);
        vm.startPrank(alice);
        registry.withdraw(PROVIDER);
        vm.expectRevert(StakingRegistry.NothingToWithdraw.selector);
        registry.withdraw(PROVIDER);
        vm.stopPrank();
    }

    function test_withdraw_reentrancyBlocked() public {
        ReentrantToken t = new ReentrantToken();
        StakingRegistry r = new StakingRegistry(t, admin, 0);
        t.setRegistry(r);
        t.mint(alice, 10 ether);
        vm.startPrank(alice);
        t.approve(address(r), 10 ether);
        r.stake(PROVIDER, 10 ether);
        r.requestUnbond(PROVIDER, 10 ether);
        vm.stopPrank();
        t.arm();
        vm.expectRevert(ReentrancyGuardTransient.ReentrancyGuardReentrantCall.selector);
        vm.prank(alice);
        r.withdraw(PROVIDER);
    }

    // ------------------------------------------------------------------ slash

    function test_slash_bondedSplit() public {
        _stakeAs(alice, PROVIDER, 100 ether);
        uint256 supply = gcx.totalSupply();
        vm.expectEmit(address(registry));
        emit Slashed(alice, PROVIDER, 10 ether, 5 ether, 2 ether, 3 ether);
        vm.prank(slasher);
        uint256 slashed = registry.slash(alice, PROVIDER, 10 ether, challenger, buyer);
        assertEq(slashed, 10 ether);
        (uint256 b, uint256 u,) = _stake(alice, PROVIDER);
        assertEq(b, 90 ether);
        assertEq(u, 0);
        assertEq(gcx.balanceOf(challenger), 2 ether);
        assertEq(gcx.balanceOf(buyer), 3 ether);
        assertEq(gcx.totalSupply(), supply - 5 ether);
        assertEq(registry.totalStaked(), 90 ether);
        assertEq(gcx.balanceOf(address(registry)), 90 ether);
    }

    function test_slash_bondedFirstThenUnbonding() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 4 ether);
        vm.prank(slasher);
        registry.slash(alice, PROVIDER, 7 ether, challenger, buyer);
        (uint256 b, uint256 u, uint64 r) = _stake(alice, PROVIDER);
        assertEq(b, 0);
        assertEq(u, 3 ether);
        assertEq(r, block.timestamp + UNBONDING_DELAY);
        assertEq(registry.totalStaked(), 3 ether);
    }

    function test_slash_clampsToAvailableAndClearsRelease() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, 4 ether);
        vm.expectEmit(address(registry));
        emit Slashed(alice, PROVIDER, 10 ether, 5 ether, 2 ether, 3 ether);
        vm.prank(slasher);
        uint256 slashed = registry.slash(alice, PROVIDER, 1_000 ether, challenger, buyer);
        assertEq(slashed, 10 ether);
        (uint256 b, uint256 u, uint64 r) = _stake(alice, PROVIDER);
        assertEq(b + u + r, 0);
        assertEq(registry.totalStaked(), 0);
        vm.expectRevert(StakingRegistry.NothingToWithdraw.selector);
        vm.prank(alice);
        registry.withdraw(PROVIDER);
    }

    function test_slash_nothingStakedSlashesZero() public {
        vm.expectEmit(address(registry));
        emit Slashed(alice, VERIFIER, 0, 0, 0, 0);
        vm.prank(slasher);
        assertEq(registry.slash(alice, VERIFIER, 1 ether, challenger, buyer), 0);
    }

    function test_slash_onlyTheGivenRole() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        _stakeAs(alice, GUARANTOR, 10 ether);
        vm.prank(slasher);
        registry.slash(alice, GUARANTOR, 10 ether, challenger, buyer);
        (uint256 p,,) = _stake(alice, PROVIDER);
        assertEq(p, 10 ether);
    }

    function test_slash_zeroRecipientsBurnTheirShare() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        uint256 supply = gcx.totalSupply();
        vm.expectEmit(address(registry));
        emit Slashed(alice, PROVIDER, 10 ether, 10 ether, 0, 0);
        vm.prank(slasher);
        registry.slash(alice, PROVIDER, 10 ether, address(0), address(0));
        assertEq(gcx.totalSupply(), supply - 10 ether);
    }

    function test_slash_roundingDustIsBurned() public {
        _stakeAs(alice, PROVIDER, 7);
        vm.expectEmit(address(registry));
        emit Slashed(alice, PROVIDER, 7, 4, 1, 2); // reward 7*0.2=1.4→1, compensation 7*0.3=2.1→2, burn 7-1-2=4
        vm.prank(slasher);
        registry.slash(alice, PROVIDER, 7, challenger, buyer);
    }

    function test_slash_revertsForNonSlasher() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        bytes32 role = registry.SLASHER_ROLE();
        address[3] memory who = [admin, alice, minter];
        for (uint256 i; i < who.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who[i], role)
            );
            vm.prank(who[i]);
            registry.slash(alice, PROVIDER, 1 ether, who[i], who[i]);
        }
    }

    function test_slash_revertsOnZeroAmount() public {
        vm.expectRevert(StakingRegistry.ZeroAmount.selector);
        vm.prank(slasher);
        registry.slash(alice, PROVIDER, 0, challenger, buyer);
    }

    function test_slash_revokedSlasherCannotSlash() public {
        _stakeAs(alice, PROVIDER, 10 ether);
        bytes32 role = registry.SLASHER_ROLE();
        vm.prank(admin);
        registry.revokeRole(role, slasher);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, slasher, role)
        );
        vm.prank(slasher);
        registry.slash(alice, PROVIDER, 1 ether, challenger, buyer);
    }

    /// The escrow and the verification game call through `IStakingRegistry` (role as `uint8`): same selector.
    function test_slash_viaIStakingRegistryInterface() public {
        _stakeAs(alice, VERIFIER, 10 ether);
        vm.prank(slasher);
        IStakingRegistry(address(registry)).slash(alice, uint8(VERIFIER), 1 ether, challenger, buyer);
        (uint256 b,,) = _stake(alice, VERIFIER);
        assertEq(b, 9 ether);
        assertEq(IStakingRegistry.slash.selector, StakingRegistry.slash.selector);
    }

    // ------------------------------------------------------------------ fuzz

    function testFuzz_stakeUnbondWithdraw(uint256 amount, uint256 unbond, uint64 delay, uint256 wait) public {
        amount = bound(amount, 1, CAP);
        unbond = bound(unbond, 1, amount);
        delay = uint64(bound(delay, 1, registry.MAX_UNBONDING_DELAY()));
        wait = bound(wait, 0, 2 * uint256(delay) + 1);
        vm.prank(admin);
        registry.setUnbondingDelay(delay);
        _stakeAs(alice, PROVIDER, amount);
        vm.prank(alice);
        registry.requestUnbond(PROVIDER, unbond);
        (uint256 b, uint256 u, uint64 r) = _stake(alice, PROVIDER);
        assertEq(b, amount - unbond);
        assertEq(u, unbond);
        assertEq(r, block.timestamp + delay);
        skip(wait);
        vm.prank(alice);
        if (wait < delay) {
            vm.expectRevert(abi.encodeWithSelector(StakingRegistry.UnbondingNotElapsed.selector, r));
            registry.withdraw(PROVIDER);
        } else {
            assertEq(registry.withdraw(PROVIDER), unbond);
            assertEq(gcx.balanceOf(alice), unbond);
        }
        assertEq(gcx.balanceOf(address(registry)), registry.totalStaked());
    }

    function testFuzz_slash(
        uint256 bonded,
        uint256 unbonding,
        uint256 amount,
        uint16 burnBps,
        uint16 rewardBps
    ) public {
        bonded = bound(bonded, 0, CAP / 2);
        unbonding = bound(unbonding, 0, CAP / 2);
        vm.assume(bonded + unbonding > 0);
        amount = bound(amount, 1, CAP);
        burnBps = uint16(bound(burnBps, 1, 10_000));
        rewardBps = uint16(bound(rewardBps, 0, 10_000 - burnBps));
        uint16 compBps = 10_000 - burnBps - rewardBps;
        vm.prank(admin);
        registry.setSlashSplit(burnBps, rewardBps, compBps);
        _stakeAs(alice, GUARANTOR, bonded + unbonding);
        if (unbonding > 0) {
            vm.prank(alice);
            registry.requestUnbond(GUARANTOR, unbonding);
        }
        uint256 supply = gcx.totalSupply();
        vm.prank(slasher);
        uint256 slashed = registry.slash(alice, GUARANTOR, amount, challenger, buyer);

        uint256 expected = amount < bonded + unbonding ? amount : bonded + unbonding;
        assertEq(slashed, expected);
        (uint256 b, uint256 u,) = _stake(alice, GUARANTOR);
        uint256 fromBonded = expected < bonded ? expected : bonded;
        assertEq(b, bonded - fromBonded);
        assertEq(u, unbonding - (expected - fromBonded));
        uint256 rewarded = gcx.balanceOf(challenger);
        uint256 compensated = gcx.balanceOf(buyer);
        assertEq(rewarded, (expected * rewardBps) / 10_000);
        assertEq(compensated, (expected * compBps) / 10_000);
        assertEq(supply - gcx.totalSupply(), expected - rewarded - compensated);
        assertEq(gcx.balanceOf(address(registry)), registry.totalStaked());
    }

    function testFuzz_setSlashSplit(uint16 a, uint16 b, uint16 c) public {
        vm.prank(admin);
        if (a == 0 || uint256(a) + b + c != 10_000) {
            vm.expectRevert(abi.encodeWithSelector(StakingRegistry.InvalidSlashSplit.selector, a, b, c));
            registry.setSlashSplit(a, b, c);
        } else {
            registry.setSlashSplit(a, b, c);
        }
    }

    function testFuzz_slash_rejectsAnyNonSlasher(address caller) public {
        vm.assume(caller != slasher);
        _stakeAs(alice, PROVIDER, 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, caller, registry.SLASHER_ROLE()
            )
        );
        vm.prank(caller);
        registry.slash(alice, PROVIDER, 1 ether, caller, caller);
    }

    // ------------------------------------------------------------------ locks (attack 2, registry side)

    /// Attack 2: a provider with stake backing a job unbonds and withdraws it before the challenge ends, so the
    /// slash takes nothing. Locked stake can neither be unbonded nor taken by a plain slash; slashLocked takes it.
    function test_attack2_lockedStakeCannotBeUnbondedOrWithdrawn() public {
        address locker = makeAddr("locker");
        bytes32 lockerRole = registry.LOCKER_ROLE();
        vm.prank(admin);
        registry.grantRole(lockerRole, locker);
        _stakeAs(alice, StakingRegistry.Role.Provider, 1_000 ether);
        vm.prank(locker);
        registry.lock(alice, StakingRegistry.Role.Provider, 600 ether);
        // no more locks than the stake covers
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.InsufficientBondedStake.selector, 400 ether, 401 ether));
        vm.prank(locker);
        registry.lock(alice, StakingRegistry.Role.Provider, 401 ether);
        // the attacker tries to unbond everything: only the unlocked 400 can leave
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.InsufficientBondedStake.selector, 400 ether, 1_000 ether));
        vm.prank(alice);
        registry.requestUnbond(StakingRegistry.Role.Provider, 1_000 ether);
        vm.prank(alice);
        registry.requestUnbond(StakingRegistry.Role.Provider, 400 ether);
        skip(UNBONDING_DELAY);
        vm.prank(alice);
        assertEq(registry.withdraw(StakingRegistry.Role.Provider), 400 ether);
        // a plain slash cannot take the locked stake either
        vm.prank(slasher);
        assertEq(registry.slash(alice, StakingRegistry.Role.Provider, 1_000 ether, challenger, buyer), 0);
        // the lost challenge slashes the whole lock
        vm.prank(locker);
        assertEq(registry.slashLocked(alice, StakingRegistry.Role.Provider, 600 ether, challenger, buyer), 600 ether);
        (uint256 b,,) = _stake(alice, StakingRegistry.Role.Provider);
        assertEq(b, 0);
        assertEq(registry.lockedOf(alice, StakingRegistry.Role.Provider), 0);
        assertGt(gcx.balanceOf(challenger), 0);
    }

    function test_unlock_releasesAndRevertsAboveLocked() public {
        address locker = makeAddr("locker");
        bytes32 lockerRole = registry.LOCKER_ROLE();
        vm.prank(admin);
        registry.grantRole(lockerRole, locker);
        _stakeAs(alice, StakingRegistry.Role.Provider, 100 ether);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, lockerRole));
        vm.prank(alice);
        registry.unlock(alice, StakingRegistry.Role.Provider, 1);
        vm.startPrank(locker);
        registry.lock(alice, StakingRegistry.Role.Provider, 60 ether);
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.InsufficientLockedStake.selector, 60 ether, 61 ether));
        registry.unlock(alice, StakingRegistry.Role.Provider, 61 ether);
        registry.unlock(alice, StakingRegistry.Role.Provider, 60 ether);
        vm.stopPrank();
        vm.prank(alice);
        registry.requestUnbond(StakingRegistry.Role.Provider, 100 ether);
    }

    /// Attack 2: `setUnbondingDelay(0)` was accepted. Once a locker registers its challenge window plus dispute
    /// as the floor, no shorter delay can be set, and a locker needing more than the delay is refused.
    function test_attack2_unbondingDelayFloor() public {
        address locker = makeAddr("locker");
        bytes32 lockerRole = registry.LOCKER_ROLE();
        vm.prank(admin);
        registry.grantRole(lockerRole, locker);
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooShort.selector, UNBONDING_DELAY, 30 days));
        vm.prank(locker);
        registry.raiseMinUnbondingDelay(30 days);
        vm.prank(locker);
        registry.raiseMinUnbondingDelay(5 days);
        assertEq(registry.minUnbondingDelay(), 5 days);
        vm.prank(locker);
        registry.raiseMinUnbondingDelay(1 days); // lowering is a no-op
        assertEq(registry.minUnbondingDelay(), 5 days);
        vm.startPrank(admin);
        vm.expectRevert(abi.encodeWithSelector(StakingRegistry.UnbondingDelayTooShort.selector, 0, 5 days));
        registry.setUnbondingDelay(0);
        registry.setUnbondingDelay(5 days);
        vm.stopPrank();
    }
}

/// @notice Gas figures for the issue-4 targets. Preparation happens in `setUp` (its own transaction), so the
///         measured call in each test starts with cold storage, as a real transaction would. Figures exclude the
///         21 000 intrinsic gas and calldata of a transaction.
contract StakingRegistryGasTest is GCXFixtures {
    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal challenger = makeAddr("challenger");
    address internal buyer = makeAddr("buyer");

    function setUp() public {
        _deployGCX();
        _stakeAs(alice, StakingRegistry.Role.Provider, 10 ether); // alice already stakes: "warm" stake
        _fundGCX(alice, 10 ether);
        vm.prank(alice);
        gcx.approve(address(registry), 10 ether);
        _fundGCX(bob, 10 ether); // bob's first stake
        vm.prank(bob);
        gcx.approve(address(registry), 10 ether);
        _fundGCX(challenger, 1); // recipients that already hold GCX
        _fundGCX(buyer, 1);
    }

    function test_gas_stake_warm() public {
        vm.prank(alice);
        uint256 g = gasleft();
        registry.stake(StakingRegistry.Role.Provider, 1 ether);
        g -= gasleft();
        emit log_named_uint("gas: stake (account already staked for the role)", g);
        assertLe(g, 80_000);
    }

    function test_gas_stake_first() public {
        vm.prank(bob);
        uint256 g = gasleft();
        registry.stake(StakingRegistry.Role.Provider, 1 ether);
        g -= gasleft();
        emit log_named_uint("gas: stake (first for the account and role)", g);
        assertLe(g, 100_000);
    }

    function test_gas_slash() public {
        vm.prank(slasher);
        uint256 g = gasleft();
        registry.slash(alice, StakingRegistry.Role.Provider, 1 ether, challenger, buyer);
        g -= gasleft();
        emit log_named_uint("gas: slash (burn + reward + compensation)", g);
        assertLe(g, 80_000);
    }

    function test_gas_slash_freshRecipients() public {
        vm.prank(slasher);
        uint256 g = gasleft();
        registry.slash(alice, StakingRegistry.Role.Provider, 1 ether, makeAddr("c2"), makeAddr("b2"));
        g -= gasleft();
        emit log_named_uint("gas: slash (recipients held no GCX)", g);
        assertLe(g, 120_000);
    }

    function test_gas_slash_burnOnly() public {
        vm.prank(slasher);
        uint256 g = gasleft();
        registry.slash(alice, StakingRegistry.Role.Provider, 1 ether, address(0), address(0));
        g -= gasleft();
        emit log_named_uint("gas: slash (all burned)", g);
        assertLe(g, 80_000);
    }

    function test_gas_requestUnbond() public {
        vm.prank(alice);
        uint256 g = gasleft();
        registry.requestUnbond(StakingRegistry.Role.Provider, 1 ether);
        g -= gasleft();
        emit log_named_uint("gas: requestUnbond", g);
    }
}
