// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {console} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {GCXFixtures} from "../utils/GCXFixtures.sol";
import {StakingRegistry} from "../../src/StakingRegistry.sol";
import {JobEscrow} from "../../src/JobEscrow.sol";
import {VerificationGame} from "../../src/VerificationGame.sol";
import {IChallengeHook} from "../../src/interfaces/IChallengeHook.sol";
import {IOneStep} from "../../src/interfaces/IOneStep.sol";
import {IGcxTpOneStep} from "../../src/interfaces/IGcxTpOneStep.sol";
import {IJobSpecs} from "../../src/interfaces/IJobSpecs.sol";
import {IStakingRegistry} from "../../src/interfaces/IStakingRegistry.sol";
import {GcxTpOneStep} from "../../src/gcxtp/GcxTpOneStep.sol";
import {GcxTpGameStep} from "../../src/gcxtp/GcxTpGameStep.sol";
import {TestJobSpecs} from "../game/TestJobSpecs.sol";

/// @notice Gas of whole disputes with the real one-step prover behind the GCX-TP adapter (the real
///         VerificationGame, GcxTpGameStep, GcxTpOneStep, JobEscrow and StakingRegistry) when the disputed op has
///         16 KiB output rows: ops ∈ {1, 16, 256} × rows ∈ {64, 4096}, the last op `add(a, b)` of two
///         int32[rows, 4096] program inputs (so `revealRow` carries a 16 KiB row and `step` two 16 KiB operand
///         rows), wrong in the last element of its last row (the deepest path). The moves are Python's honest
///         strategies on real runs (tests/gcx/game/vectors/game-gas-v1.json, from `build_gas` in
///         tests/gcx/game/game_vectors_gen.py). Figures for docs/verification.md ("Gas") come from
///         `forge test --match-path test/gcxtp/GcxTpGameGas.t.sol --isolate -vv`; "tx" is a transaction's gas under
///         EIP-7623, `21000 + max(4·tokens + exec, 10·tokens)`. Targets: every one-step transaction (`revealRow`,
///         `step`) ≤ 1.5 M, every transaction < 16,777,216 (EIP-7825's cap), a whole 256 × 4096 dispute ≤ 5 M.
contract GcxTpGameGasTest is GCXFixtures {
    JobEscrow internal escrow;
    VerificationGame internal game;
    GcxTpOneStep internal prover;
    TestJobSpecs internal specs;
    GcxTpGameStep internal adapter;
    bool internal isolated;

    address internal buyer = makeAddr("buyer");
    address internal provider = makeAddr("provider");
    address internal challenger = makeAddr("challenger");
    StakingRegistry.Role internal constant P = StakingRegistry.Role.Provider;
    uint256 internal constant AMOUNT = 1_000e6;
    uint256 internal constant TX_CAP = 16_777_216;
    uint256 internal constant ONE_STEP_TARGET = 1_500_000;
    uint256 internal constant DISPUTE_TARGET = 5_000_000;

    struct Tally {
        uint256 tx; // the whole dispute's transaction gas, `open` included
        uint256 maxRevealRow;
        uint256 maxStep;
        uint256 maxTx;
    }

    function setUp() public {
        _deployGCX();
        escrow = new JobEscrow(
            IERC20(address(musd)), admin, makeAddr("treasury"), makeAddr("feeSink"), 100, 2_000, 60
        );
        prover = new GcxTpOneStep();
        specs = new TestJobSpecs();
        adapter = new GcxTpGameStep(IGcxTpOneStep(address(prover)), IJobSpecs(address(specs)));
        game = new VerificationGame(
            IChallengeHook(address(escrow)), IOneStep(address(adapter)), admin, makeAddr("burn")
        );
        vm.startPrank(admin);
        escrow.grantRole(escrow.CHALLENGER_GAME_ROLE(), address(game));
        registry.grantRole(registry.LOCKER_ROLE(), address(escrow));
        escrow.setSlashParams(IStakingRegistry(address(registry)), uint8(P));
        vm.stopPrank();
        _stakeAs(provider, P, 100_000 ether);
        musd.mint(buyer, 1_000_000e6);
        vm.prank(buyer);
        musd.approve(address(escrow), type(uint256).max);
        GasPoke2 p = new GasPoke2();
        p.poke();
        isolated = vm.lastCallGas().gasTotalUsed >= 21_000;
    }

    function _s(uint256 i, string memory rest) internal pure returns (string memory) {
        return string.concat(".scenarios[", vm.toString(i), "]", rest);
    }

    function _m(uint256 i, uint256 m, string memory field) internal pure returns (string memory) {
        return _s(i, string.concat(".moves[", vm.toString(m), "].", field));
    }

    /// @dev Open job 1 with scenario `i`'s result root, commit and publish its spec.
    function _job(string memory json, uint256 i) internal returns (bytes32 jobId) {
        jobId = escrow.jobIdFor(buyer, 1);
        vm.prank(buyer);
        escrow.open(jobId, provider, AMOUNT, 1 days, uint40(block.timestamp + 1 hours));
        vm.prank(provider);
        escrow.submitResult(jobId, vm.parseJsonBytes32(json, _s(i, ".result_root")));
        specs.commit(jobId, vm.parseJsonBytes32(json, _s(i, ".spec.hash")));
        specs.publish(
            jobId,
            vm.parseJsonBytes32(json, _s(i, ".spec.program_digest")),
            uint32(vm.parseJsonUint(json, _s(i, ".spec.n_ops"))),
            vm.parseJsonBytes32(json, _s(i, ".spec.skeleton_root")),
            vm.parseJsonBytes32Array(json, _s(i, ".spec.input_roots"))
        );
    }

    /// @dev Send `data` from `from` with `value`; returns its execution gas and its transaction gas (EIP-7623).
    ///      Isolated (`--isolate`), every call is its own transaction with cold storage, as on chain; otherwise the
    ///      execution figure is warm (lower) and the asserts still hold.
    function _send(address from, bytes memory data, uint256 value)
        internal
        returns (uint256 exec, uint256 txGas)
    {
        vm.warp(block.timestamp + 12);
        vm.prank(from);
        (bool ok, bytes memory ret) = address(game).call{value: value}(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 32), mload(ret))
            }
        }
        uint256 total = vm.lastCallGas().gasTotalUsed;
        uint256 tokens;
        for (uint256 b = 0; b < data.length; ++b) {
            tokens += data[b] == 0 ? 1 : 4;
        }
        exec = isolated ? total - 21_000 - 4 * tokens : total;
        uint256 std = 21_000 + 4 * tokens + exec;
        uint256 floor = 21_000 + 10 * tokens;
        txGas = std > floor ? std : floor;
        assertLt(txGas, TX_CAP, "a transaction under the 16.7 M cap");
    }

    /// @dev Play scenario `i` (named `name`) to the end, log every move's gas, assert the per-move targets and
    ///      the outcome (the wrong provider loses); returns the tally.
    function _play(uint256 i, string memory name) internal returns (Tally memory t) {
        // Read in memory (a 700 KB string in storage would cost the test itself millions of gas a parse).
        string memory json =
            vm.readFile(string.concat(vm.projectRoot(), "/../tests/gcx/game/vectors/game-gas-v1.json"));
        assertEq(vm.parseJsonString(json, _s(i, ".name")), name, "scenario order");
        console.log(string.concat(name, ": move, calldata bytes, exec, tx"));
        bytes32 jobId = _job(json, i);
        uint256 b = game.bond();
        vm.deal(challenger, b);
        (uint256 e0, uint256 g0) = _send(challenger, abi.encodeCall(VerificationGame.open, (jobId)), b);
        console.log("  open", uint256(36), e0, g0);
        t.tx = g0;
        t.maxTx = g0;
        uint256 id = game.disputeCount();
        uint256 n = vm.parseJsonUint(json, _s(i, ".n_moves"));
        for (uint256 m = 0; m < n; ++m) {
            _move(json, t, i, m);
        }
        console.log("  whole dispute: moves (with open), tx gas", n + 1, t.tx);
        assertEq(
            uint8(game.getDispute(id).phase), uint8(VerificationGame.Phase.ChallengerWon), "provider loses"
        );
        assertEq(game.credit(challenger), game.getDispute(id).bond, "bond back to the challenger");
        assertGt(t.maxStep, 0, "the dispute ended in a step");
    }

    /// @dev Send move `m` of scenario `i`, add it to `t`, assert the one-step target on `revealRow` and `step`.
    function _move(string memory json, Tally memory t, uint256 i, uint256 m) internal {
        string memory fn = vm.parseJsonString(json, _m(i, m, "fn"));
        bytes memory data = vm.parseJsonBytes(json, _m(i, m, "data"));
        address from = keccak256(bytes(vm.parseJsonString(json, _m(i, m, "side")))) == keccak256("provider")
            ? provider
            : challenger;
        (uint256 exec, uint256 txGas) = _send(from, data, 0);
        t.tx += txGas;
        if (txGas > t.maxTx) t.maxTx = txGas;
        bytes32 f = keccak256(bytes(fn));
        if (f == keccak256("revealRow")) {
            if (txGas > t.maxRevealRow) t.maxRevealRow = txGas;
            assertLe(txGas, ONE_STEP_TARGET, "revealRow over 1.5 M gas");
            assertGt(data.length, 16_384, "revealRow carries a 16 KiB row");
        } else if (f == keccak256("step")) {
            if (txGas > t.maxStep) t.maxStep = txGas;
            assertLe(txGas, ONE_STEP_TARGET, "step over 1.5 M gas");
            assertGt(data.length, 2 * 16_384, "step carries two 16 KiB operand rows");
        }
        console.log(string.concat("  ", fn), data.length, exec, txGas);
    }

    function test_gas_ops1_rows64() public {
        _play(0, "wide_ops1_rows64");
    }

    function test_gas_ops1_rows4096() public {
        _play(1, "wide_ops1_rows4096");
    }

    function test_gas_ops16_rows64() public {
        _play(2, "wide_ops16_rows64");
    }

    function test_gas_ops16_rows4096() public {
        _play(3, "wide_ops16_rows4096");
    }

    function test_gas_ops256_rows64() public {
        _play(4, "wide_ops256_rows64");
    }

    /// The issue's target shape: a whole dispute (both sides, every transaction, `open` included) ≤ 5 M gas.
    function test_gas_ops256_rows4096() public {
        Tally memory t = _play(5, "wide_ops256_rows4096");
        assertLe(t.tx, DISPUTE_TARGET, "a whole 256 x 4096 dispute over 5 M gas");
    }
}

/// @dev A state change whose gas tells whether calls are isolated transactions.
contract GasPoke2 {
    uint256 public x = 1;

    /// @dev ≈ 5,000 gas of execution (a non-zero slot rewritten): far below 21,000 unless isolated.
    function poke() external {
        x = 2;
    }
}
