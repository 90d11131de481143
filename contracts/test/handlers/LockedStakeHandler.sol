// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {GCXToken} from "../../src/GCXToken.sol";
import {StakingRegistry} from "../../src/StakingRegistry.sol";
import {JobEscrow} from "../../src/JobEscrow.sol";
import {MockUSD} from "../../src/mocks/MockUSD.sol";

/// @notice Drives JobEscrow and the real StakingRegistry together: providers stake, unbond (also trying to unbond
///         more than their free stake), withdraw; buyers open jobs (also beyond what the provider's stake covers);
///         jobs are submitted, finalized, refunded, challenged, resolved either way and timed out. Ghosts track the
///         lock each job took, the providers' stakes and the tokens minted and burned.
contract LockedStakeHandler is Test {
    StakingRegistry.Role internal constant P = StakingRegistry.Role.Provider;

    GCXToken public immutable gcx;
    StakingRegistry public immutable registry;
    JobEscrow public immutable escrow;
    MockUSD public immutable usd;
    address public immutable minter;
    address public immutable game;

    address[] public providers;
    address[] internal buyers;
    bytes32[] public ids;
    mapping(bytes32 => uint256) public ghostLockOf; // the lock each job took at open
    mapping(address => uint256) public ghostStake; // bonded + unbonding per provider
    uint256 public ghostMinted;
    uint256 public ghostBurned;
    uint256 public ghostUsdLive;
    uint256 public ghostOverLockOpened; // jobs opened although the free stake could not cover their lock
    uint256 public ghostLockedStakeUnbonded; // unbond requests above the free stake that succeeded
    uint256 public ghostOverLockRefused; // positive control: refusals seen
    uint256 internal nonce;

    constructor(GCXToken gcx_, StakingRegistry registry_, JobEscrow escrow_, MockUSD usd_, address minter_, address game_)
    {
        gcx = gcx_;
        registry = registry_;
        escrow = escrow_;
        usd = usd_;
        minter = minter_;
        game = game_;
        for (uint256 i; i < 3; ++i) {
            providers.push(makeAddr(string.concat("lockProvider", vm.toString(i))));
            address b = makeAddr(string.concat("lockBuyer", vm.toString(i)));
            buyers.push(b);
            usd.mint(b, 1e12); // the faucet limit; covers 500 of the largest jobs per buyer
            vm.prank(b);
            usd.approve(address(escrow_), type(uint256).max);
        }
        for (uint256 i; i < providers.length; ++i) {
            _stake(providers[i], 1_000 ether); // every provider starts active, with room for a few jobs
        }
    }

    function providerCount() external view returns (uint256) {
        return providers.length;
    }

    function jobCount() external view returns (uint256) {
        return ids.length;
    }

    function _provider(uint256 seed) internal view returns (address) {
        return providers[seed % providers.length];
    }

    function _free(address p) internal view returns (uint256) {
        (uint256 bonded,,) = registry.stakeOf(p, P);
        return bonded - registry.lockedOf(p, P);
    }

    function _burnedSince(uint256 supply) internal {
        ghostBurned += supply - gcx.totalSupply();
    }

    // ---------------------------------------------------------------- staking

    function stake(uint256 seed, uint256 amount) external {
        _stake(_provider(seed), bound(amount, 1 ether, 2_000 ether));
    }

    function _stake(address p, uint256 amount) internal {
        vm.prank(minter);
        gcx.mint(p, amount);
        ghostMinted += amount;
        vm.startPrank(p);
        gcx.approve(address(registry), amount);
        registry.stake(P, amount);
        vm.stopPrank();
        ghostStake[p] += amount;
    }

    /// Unbond any amount up to the whole bonded stake: more than the free part must be refused.
    function requestUnbond(uint256 seed, uint256 amount) external {
        address p = _provider(seed);
        (uint256 bonded,,) = registry.stakeOf(p, P);
        if (bonded == 0) return;
        amount = bound(amount, 1, bonded);
        uint256 free = _free(p);
        vm.prank(p);
        try registry.requestUnbond(P, amount) {
            if (amount > free) ++ghostLockedStakeUnbonded;
        } catch {}
    }

    function withdraw(uint256 seed) external {
        address p = _provider(seed);
        (, uint256 unbonding, uint64 releaseAt) = registry.stakeOf(p, P);
        if (unbonding == 0 || block.timestamp < releaseAt) return;
        vm.prank(p);
        uint256 out = registry.withdraw(P);
        ghostStake[p] -= out;
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 1, 12 hours));
    }

    // ---------------------------------------------------------------- jobs

    function open(uint256 b, uint256 p, uint256 amount, uint256 window, uint256 submitIn) external {
        address buyer = buyers[b % buyers.length];
        address provider = _provider(p);
        if (!registry.isActive(provider, P)) return;
        bytes32 id = escrow.jobIdFor(buyer, uint96(nonce++));
        amount = bound(amount, 1, 2_000e6);
        uint40 by = uint40(block.timestamp + bound(submitIn, 0, 1 days));
        window = bound(window, 60, 1 days);
        uint256 lockAmount = escrow.lockAmountFor(amount);
        bool covered = _free(provider) >= lockAmount;
        vm.prank(buyer);
        try escrow.open(id, provider, amount, uint32(window), by) {
            if (!covered) ++ghostOverLockOpened;
            ids.push(id);
            ghostLockOf[id] = lockAmount;
            ghostUsdLive += amount;
        } catch (bytes memory reason) {
            assertTrue(!covered, "a covered job was refused");
            assertEq(bytes4(reason), JobEscrow.InsufficientFreeStake.selector, "wrong refusal");
            ++ghostOverLockRefused;
        }
    }

    function _job(uint256 seed) internal view returns (bytes32 id, JobEscrow.Job memory j) {
        if (ids.length == 0) return (bytes32(0), j);
        id = ids[seed % ids.length];
        j = escrow.getJob(id);
    }

    function submit(uint256 seed) external {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Open || block.timestamp > j.deadline) return;
        if (!registry.isActive(j.provider, P)) return;
        vm.prank(j.provider);
        escrow.submitResult(id, keccak256(abi.encode(id)));
    }

    function finalize(uint256 seed) external {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Submitted || block.timestamp < j.deadline) return;
        escrow.finalize(id);
        ghostUsdLive -= j.amount;
    }

    function refund(uint256 seed) external {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Open || block.timestamp <= j.deadline) return;
        escrow.refund(id);
        ghostUsdLive -= j.amount;
    }

    function challenge(uint256 seed) external {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Submitted || block.timestamp >= j.deadline) return;
        vm.prank(game);
        escrow.markChallenged(id, makeAddr("challenger"));
    }

    function resolve(uint256 seed, bool providerWon) external {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Challenged) return;
        uint256 supply = gcx.totalSupply();
        vm.prank(game);
        escrow.resolve(id, providerWon);
        _burnedSince(supply);
        ghostUsdLive -= j.amount;
        if (!providerWon) ghostStake[j.provider] -= ghostLockOf[id];
    }

    function timeoutDispute(uint256 seed) external {
        (bytes32 id, JobEscrow.Job memory j) = _job(seed);
        if (j.state != JobEscrow.State.Challenged || block.timestamp < escrow.disputeDeadlineOf(id)) return;
        escrow.timeoutDispute(id);
        ghostUsdLive -= j.amount;
    }

    function distributeFees() external {
        escrow.distributeFees();
    }

    // ---------------------------------------------------------------- checks

    function _live(JobEscrow.State s) internal pure returns (bool) {
        return s == JobEscrow.State.Open || s == JobEscrow.State.Submitted || s == JobEscrow.State.Challenged;
    }

    /// Per provider: the sum of its live jobs' locks (as the escrow records them, and as they were taken) equals
    /// what the registry holds locked; ended jobs hold no lock; the escrow's live-lock count is right.
    function checkLocks() external view {
        uint256 live;
        for (uint256 k; k < providers.length; ++k) {
            address p = providers[k];
            uint256 sum;
            for (uint256 i; i < ids.length; ++i) {
                JobEscrow.Job memory j = escrow.getJob(ids[i]);
                uint256 l = escrow.stakeLockOf(ids[i]);
                if (j.provider != p) continue;
                if (_live(j.state)) {
                    assertEq(l, ghostLockOf[ids[i]], "a live job's lock changed");
                    sum += l;
                    ++live;
                } else {
                    assertEq(l, 0, "an ended job still holds a lock");
                }
            }
            assertEq(sum, registry.lockedOf(p, P), "sum of job locks != registry lock");
        }
        assertEq(live, escrow.lockedJobs(), "lockedJobs != live jobs");
    }
}
