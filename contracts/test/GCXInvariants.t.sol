// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {StakingRegistry} from "../src/StakingRegistry.sol";
import {GCXFixtures} from "./utils/GCXFixtures.sol";
import {GCXTokenHandler} from "./handlers/GCXTokenHandler.sol";
import {StakingHandler} from "./handlers/StakingHandler.sol";

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
