// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {IJobSpecs} from "../../src/interfaces/IJobSpecs.sol";

/// @notice Minimal test double of the per-job spec registry (the real one is `JobSpecs`): `commit` stores the
///         hash (no buyer or escrow check), `publish` checks the preimage against it, exactly as the interface
///         states. Enough for the game and the adapter, which only read `isPublished` and `specFor`.
contract TestJobSpecs is IJobSpecs {
    mapping(bytes32 jobId => bytes32) internal _spec;
    mapping(bytes32 jobId => bool) internal _published;
    mapping(bytes32 jobId => Spec) internal _fields;

    error NoSpec(bytes32 jobId);
    error NotPreimage(bytes32 jobId);
    error NotPublished(bytes32 jobId);

    function commit(bytes32 jobId, bytes32 spec) external {
        _spec[jobId] = spec;
        emit SpecCommitted(jobId, msg.sender, spec);
    }

    function publish(
        bytes32 jobId,
        bytes32 programDigest,
        uint32 nOps,
        bytes32 skeletonRoot,
        bytes32[] calldata inputRoots
    ) external {
        bytes32 s = _spec[jobId];
        if (s == bytes32(0)) revert NoSpec(jobId);
        if (keccak256(abi.encode(programDigest, nOps, skeletonRoot, inputRoots)) != s) {
            revert NotPreimage(jobId);
        }
        _published[jobId] = true;
        _fields[jobId] = Spec(programDigest, nOps, skeletonRoot, inputRoots);
        emit SpecPublished(jobId, programDigest, nOps, skeletonRoot);
    }

    function specOf(bytes32 jobId) external view returns (bytes32) {
        return _spec[jobId];
    }

    function isPublished(bytes32 jobId) external view returns (bool) {
        return _published[jobId];
    }

    function specFor(bytes32 jobId) external view returns (Spec memory) {
        if (!_published[jobId]) revert NotPublished(jobId);
        return _fields[jobId];
    }
}
