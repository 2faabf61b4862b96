#include "proxy/access_log_format.hpp"

#include <ctime>
#include <iterator>

namespace outrigger::proxy {

namespace {

struct op_name {
    std::string_view name;
    log_op_kind kind;
};

constexpr op_name simple_ops[] = {
    {"PROTOCOL", log_op_kind::protocol},
    {"RESPONSE_CODE", log_op_kind::response_code},
    {"RESPONSE_FLAGS", log_op_kind::response_flags},
    {"BYTES_RECEIVED", log_op_kind::bytes_received},
    {"BYTES_SENT", log_op_kind::bytes_sent},
    {"DURATION", log_op_kind::duration},
    {"RESPONSE_DURATION", log_op_kind::response_duration},
    {"REQUEST_DURATION", log_op_kind::request_duration},
    {"UPSTREAM_HOST", log_op_kind::upstream_host},
    {"UPSTREAM_CLUSTER", log_op_kind::upstream_cluster},
    {"DOWNSTREAM_REMOTE_ADDRESS", log_op_kind::downstream_remote_address},
    {"DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT", log_op_kind::downstream_remote_address_without_port},
    {"UPSTREAM_ATTEMPTS", log_op_kind::upstream_attempts},
    {"ROUTE_NAME", log_op_kind::route_name},
    {"VIRTUAL_SERVICE", log_op_kind::virtual_service},
    {"GATEWAY_ROUTE", log_op_kind::gateway_route},
    {"LISTENER", log_op_kind::listener},
    {"REQUESTED_SERVER_NAME", log_op_kind::requested_server_name},
    {"DOWNSTREAM_LOCAL_ADDRESS", log_op_kind::downstream_local_address},
};

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

bool valid_header_name(std::string_view s) {
    if (s.empty()) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '_' || c == '.' || (c == ':' && i == 0);
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool is_op_char(char c) { return (c >= 'A' && c <= 'Z') || c == '_'; }

void flush_literal(std::string& lit, std::vector<log_op>& out) {
    if (lit.empty()) {
        return;
    }
    log_op op;
    op.kind = log_op_kind::literal;
    op.text = std::move(lit);
    out.push_back(std::move(op));
    lit.clear();
}

}  // namespace

bool parse_format_ops(std::string_view text, std::vector<log_op>& out, format_parse_error& err) {
    out.clear();
    std::string lit;
    std::size_t i = 0;
    while (i < text.size()) {
        const char c = text[i];
        if (c != '%') {
            lit.push_back(c);
            ++i;
            continue;
        }
        if (i + 1 < text.size() && text[i + 1] == '%') {
            lit.push_back('%');
            i += 2;
            continue;
        }
        const std::size_t start = i;
        std::size_t j = i + 1;
        while (j < text.size() && is_op_char(text[j])) {
            ++j;
        }
        const std::string_view name = text.substr(i + 1, j - i - 1);
        if (name.empty()) {
            err = {start, "'%' must start an operator such as %RESPONSE_CODE% (write %% for a percent sign)"};
            return false;
        }
        std::optional<std::string_view> arg;
        if (j < text.size() && text[j] == '(') {
            const std::size_t close = text.find(')', j + 1);
            if (close == std::string_view::npos) {
                err = {j, fmt::format("unterminated argument of %{}(", name)};
                return false;
            }
            arg = text.substr(j + 1, close - j - 1);
            j = close + 1;
        }
        std::size_t max_len = 0;
        if (j < text.size() && text[j] == ':') {
            std::size_t k = j + 1;
            while (k < text.size() && text[k] >= '0' && text[k] <= '9') {
                ++k;
            }
            if (k == j + 1 || k - j - 1 > 6) {
                err = {j, fmt::format("%{}: expects a length of 1 to 6 digits after ':'", name)};
                return false;
            }
            max_len = static_cast<std::size_t>(std::stoul(std::string(text.substr(j + 1, k - j - 1))));
            if (max_len == 0) {
                err = {j, fmt::format("%{}: a truncation length must be at least 1", name)};
                return false;
            }
            j = k;
        }
        if (j >= text.size() || text[j] != '%') {
            err = {start, fmt::format("operator %{} is not closed by '%'", name)};
            return false;
        }
        ++j;
        log_op op;
        op.max_len = max_len;
        if (name == "REQ" || name == "RESP") {
            op.kind = name == "REQ" ? log_op_kind::req_header : log_op_kind::resp_header;
            if (!arg || arg->empty()) {
                err = {start, fmt::format("%{}% needs a header name: %{}(X-NAME)%", name, name)};
                return false;
            }
            const auto q = arg->find('?');
            const std::string_view main = arg->substr(0, q);
            const std::string_view alt = q == std::string_view::npos ? std::string_view{} : arg->substr(q + 1);
            if (!valid_header_name(main) || (q != std::string_view::npos && !valid_header_name(alt))) {
                err = {start, fmt::format("%{}({})%: invalid header name", name, *arg)};
                return false;
            }
            op.text = lower(main);
            op.fallback = lower(alt);
        } else if (name == "GRPC_STATUS") {
            // Envoy's %GRPC_STATUS(X)%: X = CAMEL_STRING (the default), SNAKE_STRING or NUMBER.
            op.kind = log_op_kind::grpc_status;
            if (arg && *arg != "CAMEL_STRING" && *arg != "SNAKE_STRING" && *arg != "NUMBER") {
                err = {start, fmt::format("%GRPC_STATUS({})%: expects CAMEL_STRING, SNAKE_STRING or NUMBER", *arg)};
                return false;
            }
            if (arg && *arg != "CAMEL_STRING") {
                op.text.assign(*arg);
            }
        } else if (name == "START_TIME") {
            op.kind = log_op_kind::start_time;
            if (arg) {
                if (arg->size() > 256) {
                    err = {start, "%START_TIME(...)%: format longer than 256 characters"};
                    return false;
                }
                op.text.assign(*arg);
            }
        } else {
            bool found = false;
            for (const auto& s : simple_ops) {
                if (s.name == name) {
                    op.kind = s.kind;
                    found = true;
                    break;
                }
            }
            if (!found) {
                err = {start, fmt::format("unknown operator %{}%", name)};
                return false;
            }
            if (arg) {
                err = {start, fmt::format("operator %{}% takes no argument", name)};
                return false;
            }
        }
        flush_literal(lit, out);
        out.push_back(std::move(op));
        i = j;
    }
    flush_literal(lit, out);
    return true;
}

namespace {

bool wants_resp(const std::vector<log_op>& ops) {
    for (const auto& op : ops) {
        if (op.kind == log_op_kind::resp_header &&
            (op.text != "x-envoy-upstream-service-time" || !op.fallback.empty())) {
            return true;
        }
    }
    return false;
}

}  // namespace

std::shared_ptr<const log_format> parse_text_format(std::string_view text, format_parse_error& err) {
    auto f = std::make_shared<log_format>();
    if (!parse_format_ops(text, f->text, err)) {
        return nullptr;
    }
    if (text.empty() || text.back() != '\n') {
        if (!f->text.empty() && f->text.back().kind == log_op_kind::literal) {
            f->text.back().text.push_back('\n');
        } else {
            f->text.push_back(log_op{log_op_kind::literal, "\n", {}, 0});
        }
    }
    f->wants_response_headers = wants_resp(f->text);
    return f;
}

std::shared_ptr<const log_format> parse_json_format(
    const std::vector<std::pair<std::string, std::string>>& fields, format_parse_error& err) {
    auto f = std::make_shared<log_format>();
    f->json = true;
    for (const auto& [key, value] : fields) {
        std::vector<log_op> ops;
        if (!parse_format_ops(value, ops, err)) {
            err.message = fmt::format("key \"{}\": {}", key, err.message);
            return nullptr;
        }
        f->wants_response_headers = f->wants_response_headers || wants_resp(ops);
        f->fields.emplace_back(key, std::move(ops));
    }
    return f;
}

// ---- rendering ------------------------------------------------------------------------------

namespace {

using out_t = fmt::memory_buffer;

void append(out_t& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

void append_json_escaped(out_t& out, std::string_view s) {
    for (const char c : s) {
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out.push_back(c);
        }
    }
}

void format_start_time(const log_op& op, std::chrono::system_clock::time_point t, out_t& out) {
    const auto since = t.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(since - secs).count();
    const std::time_t tt = static_cast<std::time_t>(secs.count());
    std::tm tm{};
    gmtime_r(&tt, &tm);
    if (op.text.empty()) {
        // Envoy's default: 2024-05-01T12:00:00.123Z
        char buf[32];
        const std::size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
        append(out, std::string_view(buf, n));
        fmt::format_to(std::back_inserter(out), ".{:03}Z", nanos / 1'000'000);
        return;
    }
    // strftime piece by piece, with Envoy's %1f..%9f / %f (fractional seconds) extension.
    std::string piece;
    auto flush_piece = [&] {
        if (piece.empty()) {
            return;
        }
        char buf[512];
        const std::size_t n = std::strftime(buf, sizeof(buf), piece.c_str(), &tm);
        append(out, std::string_view(buf, n));
        piece.clear();
    };
    const std::string& f = op.text;
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == '%' && i + 1 < f.size()) {
            const char n = f[i + 1];
            int digits = 0;
            std::size_t skip = 0;
            if (n == 'f') {
                digits = 9;
                skip = 1;
            } else if (n >= '1' && n <= '9' && i + 2 < f.size() && f[i + 2] == 'f') {
                digits = n - '0';
                skip = 2;
            }
            if (digits > 0) {
                flush_piece();
                const std::string frac = fmt::format("{:09}", nanos);
                append(out, std::string_view(frac).substr(0, static_cast<std::size_t>(digits)));
                i += skip;
                continue;
            }
            piece.push_back(f[i]);
            piece.push_back(n);
            ++i;
            continue;
        }
        piece.push_back(f[i]);
    }
    flush_piece();
}

std::optional<std::string_view> header_value(const header_source* src, const log_op& op) {
    if (src == nullptr) {
        return std::nullopt;
    }
    auto v = src->find(op.text);
    if (!v && !op.fallback.empty()) {
        v = src->find(op.fallback);
    }
    return v;
}

std::uint64_t millis(std::chrono::microseconds d) {
    return static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count() / 1000);
}

/// One value: string (may be absent) or number.
struct value_t {
    enum class kind_t { absent, str, num } kind = kind_t::absent;
    std::string_view s;
    std::uint64_t n = 0;
};

/// %GRPC_STATUS%: the name of gRPC status `code` as Envoy prints it; absent ("-") when the
/// response carried none. Codes past 16 print as a number.
value_t grpc_status_value(const log_op& op, int code) {
    static constexpr std::string_view snake[] = {
        "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
        "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
        "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
        "UNAUTHENTICATED"};
    static constexpr std::string_view camel[] = {
        "Ok", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
        "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
        "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
        "Unauthenticated"};
    if (code < 0) {
        return {};
    }
    if (op.text == "NUMBER" || code > 16) {
        return {value_t::kind_t::num, {}, static_cast<std::uint64_t>(code)};
    }
    const auto i = static_cast<std::size_t>(code);
    return {value_t::kind_t::str, op.text == "SNAKE_STRING" ? snake[i] : camel[i], 0};
}

value_t eval(const log_op& op, const log_record& r, std::string& scratch) {
    auto str = [](std::string_view s) {
        return s.empty() ? value_t{} : value_t{value_t::kind_t::str, s, 0};
    };
    auto num = [](std::uint64_t n) { return value_t{value_t::kind_t::num, {}, n}; };
    auto dur = [&](const std::optional<std::chrono::microseconds>& d) {
        return d ? num(millis(*d)) : value_t{};
    };
    switch (op.kind) {
    case log_op_kind::literal:
        return {value_t::kind_t::str, op.text, 0};
    case log_op_kind::start_time: {
        out_t b;
        format_start_time(op, r.start, b);
        scratch.assign(b.data(), b.size());
        return str(scratch);
    }
    case log_op_kind::req_header:
    case log_op_kind::resp_header: {
        const auto v = header_value(op.kind == log_op_kind::req_header ? r.request : r.response, op);
        if (!v) {
            return {};
        }
        return {value_t::kind_t::str, *v, 0};
    }
    case log_op_kind::protocol:
        return str(r.protocol);
    case log_op_kind::response_code:
        return num(r.status);
    case log_op_kind::response_flags:
        return str(r.flags.empty() ? std::string_view("-") : r.flags);
    case log_op_kind::bytes_received:
        return num(r.bytes_received);
    case log_op_kind::bytes_sent:
        return num(r.bytes_sent);
    case log_op_kind::duration:
        return dur(r.duration);
    case log_op_kind::response_duration:
        return dur(r.response_duration);
    case log_op_kind::request_duration:
        return dur(r.request_duration);
    case log_op_kind::upstream_host:
        return str(r.upstream_host);
    case log_op_kind::upstream_cluster:
        return str(r.upstream_cluster);
    case log_op_kind::downstream_remote_address:
        return str(r.downstream_remote);
    case log_op_kind::downstream_remote_address_without_port: {
        std::string_view a = r.downstream_remote;
        const auto colon = a.rfind(':');
        if (colon != std::string_view::npos) {
            a = a.substr(0, colon);
        }
        if (a.size() >= 2 && a.front() == '[' && a.back() == ']') {
            a = a.substr(1, a.size() - 2);
        }
        return str(a);
    }
    case log_op_kind::upstream_attempts:
        return num(r.attempts);
    case log_op_kind::route_name:
        return str(r.route_name);
    case log_op_kind::virtual_service:
        return str(r.virtual_service);
    case log_op_kind::gateway_route:
        return str(r.gateway_route);
    case log_op_kind::listener:
        return str(r.listener);
    case log_op_kind::requested_server_name:
        return str(r.requested_server_name);
    case log_op_kind::downstream_local_address:
        return str(r.downstream_local);
    case log_op_kind::grpc_status:
        return grpc_status_value(op, r.grpc_status);
    }
    return {};
}

std::string_view bounded(const log_op& op, std::string_view s) {
    std::size_t cap = max_value_len;
    if (op.max_len > 0 && op.max_len < cap) {
        cap = op.max_len;
    }
    return s.substr(0, cap);
}

void render_text_ops(const std::vector<log_op>& ops, const log_record& r, out_t& out, bool json_escape) {
    std::string scratch;
    for (const auto& op : ops) {
        const value_t v = eval(op, r, scratch);
        switch (v.kind) {
        case value_t::kind_t::absent:
            out.push_back('-');
            break;
        case value_t::kind_t::num:
            fmt::format_to(std::back_inserter(out), "{}", v.n);
            break;
        case value_t::kind_t::str: {
            const std::string_view s = op.kind == log_op_kind::literal ? v.s : bounded(op, v.s);
            if (json_escape) {
                append_json_escaped(out, s);
            } else {
                append(out, s);
            }
            break;
        }
        }
    }
}

}  // namespace

void render(const log_format& f, const log_record& r, fmt::memory_buffer& out) {
    if (!f.json) {
        render_text_ops(f.text, r, out, false);
        return;
    }
    out.push_back('{');
    bool first = true;
    std::string scratch;
    for (const auto& [key, ops] : f.fields) {
        if (!first) {
            out.push_back(',');
        }
        first = false;
        out.push_back('"');
        append_json_escaped(out, key);
        append(out, "\":");
        if (ops.size() == 1 && ops.front().kind != log_op_kind::literal) {
            // A lone operator keeps its type: numbers as numbers, absent as null (Envoy).
            const value_t v = eval(ops.front(), r, scratch);
            if (v.kind == value_t::kind_t::absent) {
                append(out, "null");
            } else if (v.kind == value_t::kind_t::num) {
                fmt::format_to(std::back_inserter(out), "{}", v.n);
            } else {
                out.push_back('"');
                append_json_escaped(out, bounded(ops.front(), v.s));
                out.push_back('"');
            }
            continue;
        }
        out.push_back('"');
        render_text_ops(ops, r, out, true);
        out.push_back('"');
    }
    append(out, "}\n");
}

}  // namespace outrigger::proxy
