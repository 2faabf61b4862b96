#pragma once
// Counters of the resilience features, one struct per worker (plain integers, STYLE §3.5),
// summed by the server after the workers stopped and printed by `outrigger run` at exit. The
// metrics endpoint (operations issue) can export the same fields.
//
// Thread-affinity: worker-local while running; read by the control thread after `join`.

#include <cstdint>

namespace outrigger::proxy {

struct resilience_counters {
    std::uint64_t retries = 0;           // attempts after the first, by retry policy
    std::uint64_t reused_retries = 0;    // free retries after a reused pooled connection failed
    std::uint64_t ejections = 0;         // outlier ejections
    std::uint64_t unhealthy_skips = 0;   // endpoint choices that skipped an unhealthy/ejected host
    std::uint64_t not_replayable = 0;    // retries refused because the body was streamed
    std::uint64_t overflows = 0;         // 503 UO (ingress pool limits)

    resilience_counters& operator+=(const resilience_counters& o) {
        retries += o.retries;
        reused_retries += o.reused_retries;
        ejections += o.ejections;
        unhealthy_skips += o.unhealthy_skips;
        not_replayable += o.not_replayable;
        overflows += o.overflows;
        return *this;
    }
};

}  // namespace outrigger::proxy
