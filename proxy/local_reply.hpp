#pragma once
// Locally generated responses (DECISIONS §4): status, `content-type: text/plain`, a one-sentence
// body naming the host/route/endpoint, ending with the access-log flag(s), e.g.
//   no virtual service "foo.bar" among this node's backends on port 8080 [NR]
//
// Thread-affinity: stateless.

#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "proxy/errors.hpp"

namespace outrigger::proxy {

/// Builds the reply for `e`. `sentence` has no trailing period or flag; `extra_flags` (e.g. URX)
/// are added to the flags of `e`. `keep_alive` sets the Connection header for `version`
/// (10 or 11). Returns the response; `flags_out` receives all flags for the access log.
[[nodiscard]] boost::beast::http::response<boost::beast::http::string_body>
make_local_reply(errc e, std::string_view sentence, std::uint32_t extra_flags, bool keep_alive,
                 std::uint32_t& flags_out);

/// The gRPC status a gRPC caller gets for a local reply (grpc/doc/statuscodes.md), following
/// Envoy's HTTP → gRPC mapping, refined where the cause is known: timeouts are
/// DEADLINE_EXCEEDED (4), size limits RESOURCE_EXHAUSTED (8), unknown routes UNIMPLEMENTED (12),
/// an unavailable upstream UNAVAILABLE (14).
[[nodiscard]] unsigned grpc_status_of(errc e);

/// `grpc-message` text: percent-encoded as the gRPC HTTP/2 protocol requires.
[[nodiscard]] std::string grpc_message(std::string_view sentence);

}  // namespace outrigger::proxy
