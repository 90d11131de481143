// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {Test} from "forge-std/Test.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {GCXToken} from "../src/GCXToken.sol";
import {MockUSD} from "../src/mocks/MockUSD.sol";
import {GCXFixtures} from "./utils/GCXFixtures.sol";

contract GCXTokenTest is GCXFixtures {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event FeeBurnBpsUpdated(uint16 oldBps, uint16 newBps);
    event FeeBurned(address indexed payer, uint256 fee, uint256 burned);

    address internal alice;
    uint256 internal alicePk;
    address internal bob = makeAddr("bob");

    function setUp() public {
        _deployGCX();
        (alice, alicePk) = makeAddrAndKey("alice");
    }

    // ------------------------------------------------------------------ constructor

    function test_constructor_setsMetadataAndRoles() public view {
        assertEq(gcx.name(), "GCX Token");
        assertEq(gcx.symbol(), "GCX");
        assertEq(gcx.decimals(), 18);
        assertEq(gcx.cap(), CAP);
        assertEq(gcx.feeBurnBps(), FEE_BURN_BPS);
        assertEq(gcx.totalSupply(), 0);
        assertEq(gcx.totalMinted(), 0);
        assertEq(gcx.totalBurned(), 0);
        assertTrue(gcx.hasRole(gcx.DEFAULT_ADMIN_ROLE(), admin));
        assertTrue(gcx.hasRole(gcx.MINTER_ROLE(), minter));
        assertFalse(gcx.hasRole(gcx.MINTER_ROLE(), admin));
    }

    function test_constructor_emitsFeeBurnBps() public {
        vm.expectEmit(address(0x0), 0); // any emitter: the address is not known before deployment
        emit FeeBurnBpsUpdated(0, 123);
        new GCXToken(admin, CAP, 123);
    }

    function test_constructor_revertsOnZeroAdmin() public {
        vm.expectRevert(GCXToken.ZeroAddress.selector);
        new GCXToken(address(0), CAP, 0);
    }

    function test_constructor_revertsOnZeroCap() public {
        vm.expectRevert(abi.encodeWithSelector(GCXToken.InvalidCap.selector, 0));
        new GCXToken(admin, 0, 0);
    }

    function test_constructor_revertsOnCapAbove128Bits() public {
        uint256 tooBig = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(GCXToken.InvalidCap.selector, tooBig));
        new GCXToken(admin, tooBig, 0);
    }

    function test_constructor_acceptsMaxCap() public {
        GCXToken t = new GCXToken(admin, type(uint128).max, 0);
        assertEq(t.cap(), type(uint128).max);
    }

    function test_constructor_revertsOnFeeBurnTooHigh() public {
        vm.expectRevert(abi.encodeWithSelector(GCXToken.FeeBurnBpsTooHigh.selector, 5_001, 5_000));
        new GCXToken(admin, CAP, 5_001);
    }

    // ------------------------------------------------------------------ mint

    function test_mint_byMinter() public {
        vm.expectEmit(address(gcx));
        emit Transfer(address(0), alice, 100 ether);
        vm.prank(minter);
        gcx.mint(alice, 100 ether);
        assertEq(gcx.balanceOf(alice), 100 ether);
        assertEq(gcx.totalSupply(), 100 ether);
        assertEq(gcx.totalMinted(), 100 ether);
    }

    function test_mint_revertsForNonMinter() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, admin, gcx.MINTER_ROLE()
            )
        );
        vm.prank(admin);
        gcx.mint(alice, 1);
    }

    function test_mint_revertsToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        vm.prank(minter);
        gcx.mint(address(0), 1);
    }

    function test_mint_upToCapExactly() public {
        _fundGCX(alice, CAP);
        assertEq(gcx.totalSupply(), CAP);
        vm.expectRevert(abi.encodeWithSelector(GCXToken.IssuanceCapExceeded.selector, 1, 0));
        vm.prank(minter);
        gcx.mint(alice, 1);
    }

    function test_mint_revertsAboveCap() public {
        _fundGCX(alice, CAP - 10);
        vm.expectRevert(abi.encodeWithSelector(GCXToken.IssuanceCapExceeded.selector, 11, 10));
        vm.prank(minter);
        gcx.mint(alice, 11);
    }

    function test_mint_burnedTokensAreNotReissuable() public {
        _fundGCX(alice, CAP);
        vm.prank(alice);
        gcx.burn(1 ether);
        assertEq(gcx.totalSupply(), CAP - 1 ether);
        vm.expectRevert(abi.encodeWithSelector(GCXToken.IssuanceCapExceeded.selector, 1, 0));
        vm.prank(minter);
        gcx.mint(alice, 1);
    }

    function test_mint_revokedMinterCannotMint() public {
        bytes32 role = gcx.MINTER_ROLE();
        vm.prank(admin);
        gcx.revokeRole(role, minter);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, minter, role)
        );
        vm.prank(minter);
        gcx.mint(alice, 1);
    }

    function test_grantRole_revertsForNonAdmin() public {
        bytes32 role = gcx.MINTER_ROLE();
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, minter, gcx.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(minter);
        gcx.grantRole(role, alice);
    }

    // ------------------------------------------------------------------ burn

    function test_burn_updatesCounters() public {
        _fundGCX(alice, 10 ether);
        vm.expectEmit(address(gcx));
        emit Transfer(alice, address(0), 4 ether);
        vm.prank(alice);
        gcx.burn(4 ether);
        assertEq(gcx.balanceOf(alice), 6 ether);
        assertEq(gcx.totalSupply(), 6 ether);
        assertEq(gcx.totalBurned(), 4 ether);
        assertEq(gcx.totalMinted(), 10 ether);
    }

    function test_burn_revertsAboveBalance() public {
        _fundGCX(alice, 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientBalance.selector, alice, 1 ether, 1 ether + 1
            )
        );
        vm.prank(alice);
        gcx.burn(1 ether + 1);
    }

    function test_burnFrom_withAllowance() public {
        _fundGCX(alice, 10 ether);
        vm.prank(alice);
        gcx.approve(bob, 3 ether);
        vm.prank(bob);
        gcx.burnFrom(alice, 3 ether);
        assertEq(gcx.balanceOf(alice), 7 ether);
        assertEq(gcx.allowance(alice, bob), 0);
        assertEq(gcx.totalBurned(), 3 ether);
    }

    function test_burnFrom_revertsWithoutAllowance() public {
        _fundGCX(alice, 10 ether);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, bob, 0, 1));
        vm.prank(bob);
        gcx.burnFrom(alice, 1);
    }

    // ------------------------------------------------------------------ fee burn

    function test_setFeeBurnBps_byAdmin() public {
        vm.expectEmit(address(gcx));
        emit FeeBurnBpsUpdated(FEE_BURN_BPS, 5_000);
        vm.prank(admin);
        gcx.setFeeBurnBps(5_000);
        assertEq(gcx.feeBurnBps(), 5_000);
    }

    function test_setFeeBurnBps_revertsForNonAdmin() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, minter, gcx.DEFAULT_ADMIN_ROLE()
            )
        );
        vm.prank(minter);
        gcx.setFeeBurnBps(1);
    }

    function test_setFeeBurnBps_revertsAboveMax() public {
        vm.expectRevert(abi.encodeWithSelector(GCXToken.FeeBurnBpsTooHigh.selector, 5_001, 5_000));
        vm.prank(admin);
        gcx.setFeeBurnBps(5_001);
    }

    function test_feeBurnShare() public view {
        assertEq(gcx.feeBurnShare(100 ether), 20 ether);
        assertEq(gcx.feeBurnShare(4), 0); // 4 * 2000 / 10000 rounds down
        assertEq(gcx.feeBurnShare(0), 0);
    }

    function test_burnFee_burnsShareFromCaller() public {
        _fundGCX(alice, 100 ether);
        vm.expectEmit(address(gcx));
        emit FeeBurned(alice, 50 ether, 10 ether);
        vm.prank(alice);
        uint256 burned = gcx.burnFee(50 ether);
        assertEq(burned, 10 ether);
        assertEq(gcx.balanceOf(alice), 90 ether);
        assertEq(gcx.totalBurned(), 10 ether);
    }

    function test_burnFee_zeroShareBurnsNothing() public {
        vm.prank(admin);
        gcx.setFeeBurnBps(0);
        vm.expectEmit(address(gcx));
        emit FeeBurned(alice, 50 ether, 0);
        vm.prank(alice); // holds nothing: a zero share must not touch the balance
        assertEq(gcx.burnFee(50 ether), 0);
        assertEq(gcx.totalBurned(), 0);
    }

    function test_burnFee_revertsWhenShareExceedsBalance() public {
        _fundGCX(alice, 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 1 ether, 2 ether)
        );
        vm.prank(alice);
        gcx.burnFee(10 ether);
    }

    // ------------------------------------------------------------------ permit

    function test_permit_setsAllowanceAndNonce() public {
        uint256 deadline = block.timestamp + 1 hours;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(alicePk, bob, 5 ether, 0, deadline);
        vm.expectEmit(address(gcx));
        emit Approval(alice, bob, 5 ether);
        gcx.permit(alice, bob, 5 ether, deadline, v, r, s);
        assertEq(gcx.allowance(alice, bob), 5 ether);
        assertEq(gcx.nonces(alice), 1);
    }

    function test_permit_thenTransferFrom() public {
        _fundGCX(alice, 5 ether);
        uint256 deadline = block.timestamp;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(alicePk, bob, 5 ether, 0, deadline);
        vm.startPrank(bob);
        gcx.permit(alice, bob, 5 ether, deadline, v, r, s);
        gcx.transferFrom(alice, bob, 5 ether);
        vm.stopPrank();
        assertEq(gcx.balanceOf(bob), 5 ether);
    }

    function test_permit_revertsWhenExpired() public {
        uint256 deadline = block.timestamp - 1;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(alicePk, bob, 1, 0, deadline);
        vm.expectRevert(abi.encodeWithSelector(ERC20Permit.ERC2612ExpiredSignature.selector, deadline));
        gcx.permit(alice, bob, 1, deadline, v, r, s);
    }

    function test_permit_revertsOnWrongSigner() public {
        (, uint256 otherPk) = makeAddrAndKey("mallory");
        uint256 deadline = block.timestamp + 1;
        (uint8 v, bytes32 r, bytes32 s) = _signPermitFor(alice, otherPk, bob, 1, 0, deadline);
        vm.expectRevert(
            abi.encodeWithSelector(ERC20Permit.ERC2612InvalidSigner.selector, vm.addr(otherPk), alice)
        );
        gcx.permit(alice, bob, 1, deadline, v, r, s);
    }

    function test_permit_revertsOnReplay() public {
        uint256 deadline = block.timestamp + 1;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(alicePk, bob, 1, 0, deadline);
        gcx.permit(alice, bob, 1, deadline, v, r, s);
        vm.expectPartialRevert(ERC20Permit.ERC2612InvalidSigner.selector); // recovered signer is not alice
        gcx.permit(alice, bob, 1, deadline, v, r, s);
    }

    function test_supportsInterface() public view {
        assertTrue(gcx.supportsInterface(type(IAccessControl).interfaceId));
        assertTrue(gcx.supportsInterface(type(IERC165).interfaceId));
        assertFalse(gcx.supportsInterface(0xffffffff));
    }

    // ------------------------------------------------------------------ fuzz

    function testFuzz_mint_withinCap(uint256 a, uint256 b) public {
        a = bound(a, 0, CAP);
        b = bound(b, 0, CAP);
        _fundGCX(alice, a);
        if (b > CAP - a) {
            vm.expectRevert(abi.encodeWithSelector(GCXToken.IssuanceCapExceeded.selector, b, CAP - a));
            vm.prank(minter);
            gcx.mint(bob, b);
        } else {
            _fundGCX(bob, b);
            assertEq(gcx.totalSupply(), a + b);
        }
        assertLe(gcx.totalMinted(), CAP);
    }

    function testFuzz_burnFee(uint256 fee, uint16 bps) public {
        bps = uint16(bound(bps, 0, gcx.MAX_FEE_BURN_BPS()));
        fee = bound(fee, 0, CAP);
        vm.prank(admin);
        gcx.setFeeBurnBps(bps);
        _fundGCX(alice, fee);
        vm.prank(alice);
        uint256 burned = gcx.burnFee(fee);
        assertEq(burned, (fee * bps) / 10_000);
        assertLe(burned * 2, fee); // never more than half
        assertEq(gcx.balanceOf(alice), fee - burned);
        assertEq(gcx.totalSupply(), gcx.totalMinted() - gcx.totalBurned());
    }

    function testFuzz_permit(uint256 value, uint256 deadlineOffset, uint256 pk) public {
        pk = bound(pk, 1, 2 ** 128);
        deadlineOffset = bound(deadlineOffset, 0, 365 days);
        address owner = vm.addr(pk);
        uint256 deadline = block.timestamp + deadlineOffset;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(pk, bob, value, 0, deadline);
        gcx.permit(owner, bob, value, deadline, v, r, s);
        assertEq(gcx.allowance(owner, bob), value);
        assertEq(gcx.nonces(owner), 1);
    }

    function testFuzz_setFeeBurnBps(uint16 bps) public {
        vm.prank(admin);
        if (bps > 5_000) {
            vm.expectRevert(abi.encodeWithSelector(GCXToken.FeeBurnBpsTooHigh.selector, bps, 5_000));
            gcx.setFeeBurnBps(bps);
        } else {
            gcx.setFeeBurnBps(bps);
            assertEq(gcx.feeBurnBps(), bps);
        }
    }
}

/// @notice Gas figures: preparation in `setUp` (its own transaction), so each measured call starts cold. Figures
///         exclude the 21 000 intrinsic gas and calldata of a transaction.
contract GCXTokenGasTest is GCXFixtures {
    address internal alice;
    uint256 internal alicePk;
    address internal bob = makeAddr("bob");
    address internal escrow = makeAddr("escrow");

    function setUp() public {
        _deployGCX();
        (alice, alicePk) = makeAddrAndKey("alice");
        _fundGCX(alice, 1 ether);
        _fundGCX(escrow, 100 ether);
    }

    function test_gas_mint_existingHolder() public {
        vm.prank(minter);
        uint256 g = gasleft();
        gcx.mint(alice, 1 ether);
        g -= gasleft();
        emit log_named_uint("gas: mint (existing holder)", g);
        assertLt(g, 80_000);
    }

    function test_gas_mint_newHolder() public {
        vm.prank(minter);
        uint256 g = gasleft();
        gcx.mint(bob, 1 ether);
        g -= gasleft();
        emit log_named_uint("gas: mint (new holder)", g);
        assertLt(g, 80_000);
    }

    function test_gas_permit() public {
        uint256 deadline = block.timestamp + 1;
        (uint8 v, bytes32 r, bytes32 s) = _signPermit(alicePk, bob, 1 ether, 0, deadline);
        uint256 g = gasleft();
        gcx.permit(alice, bob, 1 ether, deadline, v, r, s);
        g -= gasleft();
        emit log_named_uint("gas: permit", g);
        assertLt(g, 80_000);
    }

    function test_gas_burnFee() public {
        vm.prank(escrow);
        uint256 g = gasleft();
        gcx.burnFee(10 ether);
        g -= gasleft();
        emit log_named_uint("gas: burnFee", g);
        assertLt(g, 50_000);
    }
}

contract MockUSDTest is Test {
    MockUSD internal musd;

    function setUp() public {
        musd = new MockUSD();
    }

    function test_metadata() public view {
        assertEq(musd.decimals(), 6);
        assertEq(musd.symbol(), "mUSD");
        assertEq(musd.MAX_MINT_PER_CALL(), 1_000_000e6);
    }

    function test_mint_anyoneUpToCap() public {
        vm.prank(address(0xBEEF));
        musd.mint(address(this), 1_000_000e6);
        assertEq(musd.balanceOf(address(this)), 1_000_000e6);
    }

    function test_mint_revertsAboveCap() public {
        vm.expectRevert(
            abi.encodeWithSelector(MockUSD.MintAmountTooLarge.selector, 1_000_000e6 + 1, 1_000_000e6)
        );
        musd.mint(address(this), 1_000_000e6 + 1);
    }

    function test_mint_revertsToZeroAddress() public {
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InvalidReceiver.selector, address(0)));
        musd.mint(address(0), 1);
    }

    function testFuzz_mint(address to, uint256 amount) public {
        vm.assume(to != address(0));
        amount = bound(amount, 0, musd.MAX_MINT_PER_CALL());
        musd.mint(to, amount);
        assertEq(musd.balanceOf(to), amount);
    }
}
