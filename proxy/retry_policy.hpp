#pragma once
// The single "retry this outcome?" decision of the attempt loop (STYLE §2.5, spec §10.9).
// Pure: no clocks, no I/O; exhaustively table-tested in tests/integration/dataplane/retry_table.cpp.
//
// Thread-affinity: stateless.

#include <chrono>
#include <cstdint>

#include "routing/snapshot.hpp"

namespace outrigger::proxy {

/// How one upstream attempt ended.
struct attempt_outcome {
    enum class kind_t {
        response,         // a response head arrived (status below)
        connect_error,    // connection could not be established (nothing was sent)
        reset,            // connection closed or reset before a response head
        per_try_timeout,  // the per-try deadline fired before a response head
    };
    kind_t kind = kind_t::response;
    unsigned status = 0;  // for `response`
    /// For `response`: the gRPC status of a "trailers-only" response (grpc-status in the head),
    /// -1 when there is none (spec §10.9 grpcRetryEvents).
    int grpc_status = -1;
};

/// What the attempt loop knows besides the outcome.
struct retry_state {
    std::uint32_t retries_done = 0;   // retries already made (attempts - 1)
    bool response_started = false;    // a response byte went downstream: never retry
    bool request_replayable = true;   // the request body is fully buffered (or absent)
};

/// True when `status` is one of the statuses the App Mesh `server-error` event lists.
[[nodiscard]] bool is_server_error_status(unsigned status) noexcept;

/// True when the outcome should be retried under `spec` given `state`. `spec == nullptr` or
/// `!spec->present` means no retries at all.
[[nodiscard]] bool should_retry(const routing::retry_spec* spec, attempt_outcome outcome,
                                const retry_state& state) noexcept;

/// Backoff before retry number `retries_done` (1 = first retry): Envoy's jittered exponential
/// backoff, uniform in [0, window) with window = 25 ms * 2^(retries_done - 1) capped at 250 ms.
/// `random` is a uniform 64-bit value (injected, so the function is table-testable).
[[nodiscard]] std::chrono::milliseconds retry_backoff(std::uint32_t retries_done,
                                                      std::uint64_t random) noexcept;

}  // namespace outrigger::proxy
