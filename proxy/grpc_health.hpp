#pragma once
// The gRPC health protocol (grpc.health.v1, github.com/grpc/grpc/blob/master/doc/health-checking.md)
// as far as an active health check needs it, without protobuf: the request is the empty
// `HealthCheckRequest{service: ""}` (an empty message, so the 5-byte gRPC frame 00 00000000);
// the response `HealthCheckResponse` carries one field, `status` (field 1, varint enum).
//
// Thread-affinity: stateless; safe everywhere.

#include <optional>
#include <string_view>

namespace outrigger::proxy {

inline constexpr std::string_view grpc_health_check_path = "/grpc.health.v1.Health/Check";

/// HealthCheckRequest{service: ""}: the length-prefixed frame of an empty message.
inline constexpr std::string_view grpc_health_check_request{"\0\0\0\0\0", 5};

/// HealthCheckResponse.ServingStatus values.
enum class grpc_serving_status : int { unknown = 0, serving = 1, not_serving = 2, service_unknown = 3 };

/// The `status` of the first message in `body` (the response's DATA bytes, gRPC length-prefixed
/// framing). nullopt when the body holds no complete, uncompressed message or the message is
/// not valid protobuf. A message without the field is UNKNOWN (proto3 default).
[[nodiscard]] std::optional<int> parse_grpc_health_response(std::string_view body);

/// "SERVING", "NOT_SERVING", ...; "an unknown status" for values the protocol does not name.
[[nodiscard]] std::string_view grpc_serving_status_name(int status);

}  // namespace outrigger::proxy
