// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {StakingRegistry} from "../src/StakingRegistry.sol";
import {GCXFixtures} from "./utils/GCXFixtures.sol";
import {GCXTokenHandler} from "./handlers/GCXTokenHandler.sol";
import {StakingHandler} from "./handlers/StakingHandler.sol";
import {LockedStakeHandler} from "./handlers/LockedStakeHandler.sol";
import {JobEscrow} from "../src/JobEscrow.sol";
import {IStakingRegistry} from "../src/interfaces/IStakingRegistry.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @notice Token conservation: supply = minted − burned, issuance within the cap, balances sum to the supply.
contract GCXTokenInvariantTest is GCXFixtures {
    GCXTokenHandler internal handler;

    function setUp() public {
        _deployGCX();
        handler = new GCXTokenHandler(gcx, minter, admin);
        targetContract(address(handler));
    }

    /// @dev One invariant function = one fuzz campaign (64 runs x 64 calls, checked after every call); the
    ///      properties share a campaign to keep `forge test` fast. Each assertion names its property.
    function invariant_tokenConservation() public view {
        // supply = minted - burned
        assertEq(
            gcx.totalSupply(), handler.ghostMinted() - handler.ghostBurned(), "supply != minted - burned"
        );
        assertEq(gcx.totalSupply(), uint256(gcx.totalMinted()) - gcx.totalBurned(), "supply != counters");
        assertEq(gcx.totalMinted(), handler.ghostMinted(), "totalMinted != ghost");
        assertEq(gcx.totalBurned(), handler.ghostBurned(), "totalBurned != ghost");
        // issuance within the cap
        assertLe(gcx.totalMinted(), gcx.cap(), "minted > cap");
        // balances sum to supply
        uint256 sum;
        for (uint256 i; i < handler.actorCount(); ++i) {
            sum += gcx.balanceOf(handler.actors(i));
        }
        assertEq(sum, gcx.totalSupply(), "balances != supply");
        // fee-burn share within its bound
        assertLe(gcx.feeBurnBps(), gcx.MAX_FEE_BURN_BPS(), "feeBurnBps > max");
    }
}

/// @notice Stake accounting and slashing authority.
contract StakingInvariantTest is GCXFixtures {
    StakingHandler internal handler;

    function setUp() public {
        _deployGCX();
        handler = new StakingHandler(gcx, registry, minter, slasher);
        bytes32 lockerRole = registry.LOCKER_ROLE();
        vm.prank(admin);
        registry.grantRole(lockerRole, address(handler));
        targetContract(address(handler));
    }

    function _sumStakes() internal view returns (uint256 sum) {
        for (uint256 i; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            for (uint8 r; r < 3; ++r) {
                (uint256 b, uint256 u,) = registry.stakeOf(a, StakingRegistry.Role(r));
                sum += b + u;
            }
        }
    }

    /// @dev All staking properties share one fuzz campaign (see the token test above).
    function invariant_stakeAccounting() public view {
        // Sum of all stakes <= the registry's token balance; equal except for tokens sent to it directly.
        uint256 sum;
        for (uint256 i; i < handler.actorCount(); ++i) {
            address a = handler.actors(i);
            for (uint8 r; r < 3; ++r) {
                (uint256 b, uint256 u, uint64 rel) = registry.stakeOf(a, StakingRegistry.Role(r));
                // per (account, role): bonded + unbonding = staked - withdrawn - slashed
                assertEq(b + u, handler.ghostStake(a, r), "bonded + unbonding != ghost");
                if (u == 0) assertEq(rel, 0, "releaseAt without unbonding stake");
                // locks never exceed the bonded stake
                assertLe(registry.lockedOf(a, StakingRegistry.Role(r)), b, "locked > bonded");
                sum += b + u;
            }
        }
        uint256 bal = gcx.balanceOf(address(registry));
        assertEq(sum, registry.totalStaked(), "sum of stakes != totalStaked");
        assertEq(registry.totalStaked(), handler.ghostStaked(), "totalStaked != ghost");
        assertLe(sum, bal, "stakes > registry balance");
        assertEq(bal, sum + handler.ghostDonated(), "registry balance != stakes + donations");
        // Nobody without SLASHER_ROLE ever slashed.
        assertEq(handler.ghostUnauthorizedSlashSucceeded(), 0, "unauthorized slash succeeded");
        // Token conservation across staking: supply = minted - burned, burns only through slashes.
        assertEq(
            gcx.totalSupply(),
            handler.ghostMinted() - handler.ghostBurnedBySlash(),
            "supply != minted - burned"
        );
        assertEq(gcx.totalBurned(), handler.ghostBurnedBySlash(), "burns outside slashes");
        assertLe(handler.ghostBurnedBySlash(), handler.ghostSlashed(), "burned more than slashed");
    }
}

/// @notice Stake at risk: JobEscrow's per-job locks against the real StakingRegistry under random job lifecycles
///         and random staking, unbonding and withdrawals.
contract EscrowStakeInvariantTest is GCXFixtures {
    JobEscrow internal escrow;
    LockedStakeHandler internal handler;

    function setUp() public {
        _deployGCX();
        address game = makeAddr("game");
        escrow = new JobEscrow(IERC20(address(musd)), admin, makeAddr("treasury"), makeAddr("sink"), 100, 2_000, 60);
        vm.startPrank(admin);
        escrow.grantRole(escrow.CHALLENGER_GAME_ROLE(), game);
        registry.grantRole(registry.LOCKER_ROLE(), address(escrow));
        escrow.setSlashParams(IStakingRegistry(address(registry)), uint8(StakingRegistry.Role.Provider));
        escrow.setMaxDisputeDuration(1 days);
        vm.stopPrank();
        handler = new LockedStakeHandler(gcx, registry, escrow, musd, minter, game);
        targetContract(address(handler));
    }

    /// Positive control: a deterministic run through every end of a job (a refused over-lock, a lost challenge,
    /// a finalize) keeps the invariant, and a registry lock that disagrees with the escrow's fails the check.
    function test_lockChecksHoldAndCatchAMismatch() public {
        handler.open(0, 0, 1_000e6, 60, 1 hours); // locks 1,000 GCX: all of provider 0's stake
        handler.open(1, 0, 1, 60, 1 hours); // refused: nothing free
        assertEq(handler.ghostOverLockRefused(), 1);
        handler.open(0, 1, 10e6, 60, 1 hours);
        handler.submit(0);
        handler.submit(1);
        handler.challenge(0);
        handler.resolve(0, false); // slashes provider 0's 1,000 GCX lock
        assertGt(handler.ghostBurned(), 0);
        handler.warp(60);
        handler.finalize(1);
        invariant_lockedStake();
        handler.open(2, 1, 10e6, 60, 1 hours);
        address p = handler.providers(1);
        vm.mockCall(
            address(registry),
            abi.encodeCall(StakingRegistry.lockedOf, (p, StakingRegistry.Role.Provider)),
            abi.encode(uint256(10 ether) + 1)
        );
        vm.expectRevert(bytes("sum of job locks != registry lock: 10000000000000000000 != 10000000000000000001"));
        handler.checkLocks();
    }

    /// All lock properties share one fuzz campaign (see the token test above).
    function invariant_lockedStake() public view {
        uint256 sum;
        for (uint256 i; i < handler.providerCount(); ++i) {
            address p = handler.providers(i);
            (uint256 b, uint256 u,) = registry.stakeOf(p, StakingRegistry.Role.Provider);
            // locks never exceed the bonded stake
            assertLe(registry.lockedOf(p, StakingRegistry.Role.Provider), b, "locked > bonded");
            // bonded + unbonding = staked - withdrawn - slashed locks
            assertEq(b + u, handler.ghostStake(p), "stake != ghost");
            sum += b + u;
        }
        // sum of per-job locks = registry lock per provider; ended jobs hold none
        handler.checkLocks();
        // no job opened beyond its provider's free stake; no locked stake was unbonded
        assertEq(handler.ghostOverLockOpened(), 0, "a job opened beyond the free stake");
        assertEq(handler.ghostLockedStakeUnbonded(), 0, "locked stake was unbonded");
        // GCX conservation: the registry holds exactly the stakes; supply = minted - burned by slashes
        assertEq(sum, registry.totalStaked(), "sum of stakes != totalStaked");
        assertEq(gcx.balanceOf(address(registry)), registry.totalStaked(), "registry balance != stakes");
        assertEq(gcx.totalSupply(), handler.ghostMinted() - handler.ghostBurned(), "supply != minted - burned");
        // stablecoin conservation: the escrow holds the live jobs' payments and the undistributed fees
        assertEq(
            musd.balanceOf(address(escrow)),
            handler.ghostUsdLive() + escrow.pendingFees() + escrow.pendingBurn(),
            "escrow balance != live payments + fees"
        );
    }
}
