#pragma once
// Envoy access-log format strings (`%COMMAND%` operators), parsed once into a list of operations
// and rendered per request without any lookup by name (STYLE §4.3). Pure: no I/O, no clock, no
// globals — unit-tested and meant to be fuzzed (`parse_format` takes untrusted config text).
//
// Supported operators (Envoy's meaning): START_TIME[(strftime, plus %1f..%9f / %f)], REQ(X?Y):Z,
// RESP(X?Y):Z, PROTOCOL, RESPONSE_CODE, RESPONSE_FLAGS, BYTES_RECEIVED, BYTES_SENT, DURATION,
// RESPONSE_DURATION, UPSTREAM_HOST, UPSTREAM_CLUSTER, DOWNSTREAM_REMOTE_ADDRESS,
// DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT, REQUEST_DURATION, UPSTREAM_ATTEMPTS (ours: attempts made
// upstream, retries included), ROUTE_NAME, VIRTUAL_SERVICE (ours), LISTENER (ours: egress/ingress),
// GATEWAY_ROUTE (ours: the namespace/name of the GatewayRoute that matched, gateway mode),
// REQUESTED_SERVER_NAME (the TLS SNI: of a passthrough ClientHello, or of an inbound handshake),
// DOWNSTREAM_LOCAL_ADDRESS (where the client connected: the original destination when redirected).
// `%%` is a literal percent sign. Pseudo-headers `:method`, `:path`, `:authority`, `:scheme` work
// in REQ(). A value that is absent prints `-` in text and `null` in JSON.
//
// Thread-affinity: a compiled `log_format` is immutable and shared between workers.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace outrigger::proxy {

/// Envoy's default text format (spec §6.6), with the trailing newline.
inline constexpr std::string_view envoy_default_format =
    "[%START_TIME%] \"%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%\" "
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% "
    "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% \"%REQ(X-FORWARDED-FOR)%\" \"%REQ(USER-AGENT)%\" "
    "\"%REQ(X-REQUEST-ID)%\" \"%REQ(:AUTHORITY)%\" \"%UPSTREAM_HOST%\"\n";

enum class log_op_kind : std::uint8_t {
    literal,
    start_time,
    req_header,
    resp_header,
    protocol,
    response_code,
    response_flags,
    bytes_received,
    bytes_sent,
    duration,
    response_duration,
    request_duration,
    upstream_host,
    upstream_cluster,
    downstream_remote_address,
    downstream_remote_address_without_port,
    upstream_attempts,
    route_name,
    virtual_service,
    gateway_route,
    listener,
    requested_server_name,
    downstream_local_address,
    grpc_status,  // text: "" (CAMEL_STRING, Envoy's default), "SNAKE_STRING" or "NUMBER"
};

struct log_op {
    log_op_kind kind = log_op_kind::literal;
    std::string text;      // literal text; header name (lower-case); START_TIME format
    std::string fallback;  // REQ(X?Y): the Y header (lower-case), empty if none
    std::size_t max_len = 0;  // REQ(...):Z truncation; 0 = no explicit limit
};

struct log_format {
    bool json = false;
    std::vector<log_op> text;  // text format
    /// JSON format: key → ops of its value (in the given key order).
    std::vector<std::pair<std::string, std::vector<log_op>>> fields;
    /// Some RESP(...) operator names a real response header (not only the synthesised
    /// x-envoy-upstream-service-time): the data path must keep a copy of the response head.
    bool wants_response_headers = false;
};

struct format_parse_error {
    std::size_t offset = 0;
    std::string message;
};

/// Parses one operator string. Returns false with `err` set on an unknown operator, an
/// unterminated `%`, a malformed REQ()/RESP() argument or truncation length. `out` is replaced.
bool parse_format_ops(std::string_view text, std::vector<log_op>& out, format_parse_error& err);

/// A text format (a newline is appended when the string does not end in one, as Envoy does for
/// its file sink).
std::shared_ptr<const log_format> parse_text_format(std::string_view text, format_parse_error& err);
/// A JSON format from key → operator string pairs.
std::shared_ptr<const log_format> parse_json_format(
    const std::vector<std::pair<std::string, std::string>>& fields, format_parse_error& err);

/// Looks up a header by lower-case name (pseudo-headers included); returns nullopt when absent.
class header_source {
public:
    virtual ~header_source() = default;
    [[nodiscard]] virtual std::optional<std::string_view> find(std::string_view lower_name) const = 0;
};

/// Everything an operator can print about one request. Views must outlive `render`.
struct log_record {
    std::chrono::system_clock::time_point start{};
    std::string_view protocol;  // "HTTP/1.1"
    unsigned status = 0;        // 0: no response
    std::string_view flags;     // formatted ("UF,URX" or "-")
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    std::optional<std::chrono::microseconds> duration;
    std::optional<std::chrono::microseconds> response_duration;  // to the first upstream byte
    std::optional<std::chrono::microseconds> request_duration;   // to the last request byte
    std::string_view upstream_host;      // "addr:port" or empty
    std::string_view upstream_cluster;   // empty when none
    std::string_view downstream_remote;  // "addr:port"
    std::uint32_t attempts = 0;
    std::string_view route_name;
    std::string_view virtual_service;
    std::string_view gateway_route;  // gateway mode: the GatewayRoute that matched
    std::string_view listener;
    std::string_view requested_server_name;  // TLS SNI, empty when none
    std::string_view downstream_local;       // "addr:port", empty when unknown
    /// The call's gRPC status (trailers, trailers-only head, or the local reply's); -1: none
    /// (not a gRPC response).
    int grpc_status = -1;
    const header_source* request = nullptr;
    const header_source* response = nullptr;
};

/// Longest value one operator prints (bounded lines, STYLE §4.11).
inline constexpr std::size_t max_value_len = 4096;

/// Appends one rendered line (text, or a JSON object followed by '\n') to `out`.
void render(const log_format& f, const log_record& r, fmt::memory_buffer& out);

}  // namespace outrigger::proxy
