// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

/// @title IChallengeHook
/// @notice The surface a dispute contract (the future Truebit-style `VerificationGame`) uses to freeze and settle
///         an escrowed job. The game holds `CHALLENGER_GAME_ROLE` on the escrow. It reads the job it disputes
///         with {challengeInfo}, freezes it with {markChallenged} while the challenge window is open, and ends it
///         with {resolve} once the game has a winner.
interface IChallengeHook {
    /// @notice Freeze job `jobId` (state Submitted → Challenged). Only while its challenge window is open.
    /// @param jobId The job.
    /// @param challenger The party that opened the dispute; receives the reward share if the provider is slashed.
    function markChallenged(bytes32 jobId, address challenger) external;

    /// @notice End the dispute on job `jobId` (state Challenged → Finalized or Refunded).
    /// @param jobId The job.
    /// @param providerWon True: the provider is paid as in a normal finalize. False: the buyer is refunded in full
    ///        and the provider's stake is slashed.
    function resolve(bytes32 jobId, bool providerWon) external;

    /// @notice End the dispute on job `jobId` against its provider (state Challenged → Refunded), like
    ///         `resolve(jobId, false)`, with the slash's reward share paid to `challenger`: the game's first
    ///         successful challenger, which need not be the one that opened the first dispute.
    /// @param jobId The job.
    /// @param challenger The bonded challenger that won (non-zero).
    function resolveAgainstProvider(bytes32 jobId, address challenger) external;

    /// @notice When the escrow's backstop {timeoutDispute} becomes callable for job `jobId` (zero before it is
    ///         challenged). A game must end every dispute on the job before then.
    function disputeDeadlineOf(bytes32 jobId) external view returns (uint256);

    /// @notice What a dispute contract needs to know about job `jobId`.
    /// @return provider The provider that posted the result.
    /// @return buyer The buyer that paid for the job.
    /// @return resultRoot The result root the provider committed to (zero before submission).
    /// @return challengeDeadline The end of the challenge window (exclusive); zero before submission.
    /// @return state The job state as the escrow's `State` enum value (see `JobEscrow`).
    function challengeInfo(bytes32 jobId)
        external
        view
        returns (address provider, address buyer, bytes32 resultRoot, uint64 challengeDeadline, uint8 state);
}
