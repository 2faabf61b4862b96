#include "cli/inject/json_to_yaml.hpp"

#include <algorithm>
#include <cmath>
#include <string_view>

#include <boost/json.hpp>
#include <fmt/format.h>

namespace outrigger::inject {

namespace json = boost::json;

namespace {

constexpr int indent_step = 2;

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

std::string to_lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

/// Characters that force quoting or escapes anywhere: C0 controls but tab and newline, DEL, and
/// the UTF-8 forms of U+0085, U+2028, U+2029 and U+FEFF (line breaks or a BOM to some readers).
bool has_special_bytes(std::string_view s) {
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
            return true;
        }
        if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x85) {
            return true;
        }
        if (c == 0xE2 && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
            (static_cast<unsigned char>(s[i + 2]) == 0xA8 ||
             static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
            return true;
        }
        if (c == 0xEF && i + 2 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xBB &&
            static_cast<unsigned char>(s[i + 2]) == 0xBF) {
            return true;
        }
    }
    return false;
}

/// `50m`, `32Mi`, `1.5Gi`, `10s`: digits, an optional fraction, then letters only. No YAML reader
/// takes these for numbers, except the `0x`/`0o`/`0b` forms, which are excluded.
bool is_quantity(std::string_view s) {
    std::size_t i = 0;
    auto digits = [&] {
        const std::size_t b = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            ++i;
        }
        return i - b;
    };
    const std::size_t lead = digits();
    if (lead == 0) {
        return false;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (digits() == 0) {
            return false;
        }
    } else if (lead == 1 && s[0] == '0' && i < s.size() &&
               std::string_view("xXoObB").find(s[i]) != std::string_view::npos) {
        return false;
    }
    const std::size_t letters = i;
    while (i < s.size() && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z'))) {
        ++i;
    }
    // A lone `e`/`E` after digits is not a float without exponent digits, in any reader.
    return i == s.size() && i > letters;
}

/// Whether a one-line string can be written plain and read back as the same string.
bool plain_is_safe(std::string_view s) {
    if (s.empty() || has_special_bytes(s) || s.find_first_of("\n\t") != std::string_view::npos) {
        return false;
    }
    if (s.front() == ' ' || s.back() == ' ') {
        return false;
    }
    // `-x` and `--flag` are plain; `-`, `- x`, `-1` and `-.5` are not.
    if (s.front() == '-') {
        if (s.size() == 1 || s[1] == ' ' || (s[1] >= '0' && s[1] <= '9') || s[1] == '.') {
            return false;
        }
    } else {
        constexpr std::string_view indicators = "?:,[]{}#&*!|>'\"%@`=<";
        if (indicators.find(s.front()) != std::string_view::npos) {
            return false;
        }
    }
    if (s.find(": ") != std::string_view::npos || s.find(" #") != std::string_view::npos ||
        s.back() == ':') {
        return false;
    }
    // Anything a YAML 1.1 (go-yaml v2, kubectl) or 1.2 reader would resolve to a non-string.
    const std::string l = to_lower(s);
    static constexpr std::string_view words[] = {"y",    "n",     "yes", "no", "on",
                                                 "off",  "true",  "false", "null", "~"};
    if (std::find(std::begin(words), std::end(words), l) != std::end(words)) {
        return false;
    }
    const char c = s.front();
    if (c == '.' || c == '+') {
        return false;  // +1, .5, .inf, .nan
    }
    if (c >= '0' && c <= '9') {
        return is_quantity(s);  // numbers, timestamps, sexagesimals, IPs: quoted
    }
    return true;
}

void append_double_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        case 0: out += "\\0"; break;
        default:
            if (c < 0x20 || c == 0x7F) {
                out += fmt::format("\\x{:02X}", c);
            } else if (c == 0xC2 && i + 1 < s.size() &&
                       static_cast<unsigned char>(s[i + 1]) == 0x85) {
                out += "\\N";
                ++i;
            } else if (c == 0xE2 && i + 2 < s.size() &&
                       static_cast<unsigned char>(s[i + 1]) == 0x80 &&
                       (static_cast<unsigned char>(s[i + 2]) == 0xA8 ||
                        static_cast<unsigned char>(s[i + 2]) == 0xA9)) {
                out += static_cast<unsigned char>(s[i + 2]) == 0xA8 ? "\\L" : "\\P";
                i += 2;
            } else if (c == 0xEF && i + 2 < s.size() &&
                       static_cast<unsigned char>(s[i + 1]) == 0xBB &&
                       static_cast<unsigned char>(s[i + 2]) == 0xBF) {
                out += "\\uFEFF";
                i += 2;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

/// Whether `s` (which holds a newline) reads back unchanged as a literal block scalar whose
/// indentation is detected from its first non-blank line.
bool literal_is_safe(std::string_view s) {
    if (has_special_bytes(s)) {
        return false;
    }
    // The first line with content sets the indentation: it must not start with a blank, and no
    // blank-only line may come before it (it would be taken for more indentation).
    std::size_t line_start = 0;
    while (line_start < s.size()) {
        const std::size_t end = std::min(s.find('\n', line_start), s.size());
        const std::string_view line = s.substr(line_start, end - line_start);
        if (line.find_first_not_of(" \t") != std::string_view::npos) {
            return line.front() != ' ' && line.front() != '\t';
        }
        if (!line.empty()) {
            return false;
        }
        line_start = end + 1;
    }
    return false;  // only line breaks: a quoted string is clearer
}

void append_literal(std::string& out, std::string_view s, int content_indent) {
    std::string_view body = s;
    if (s.ends_with("\n\n")) {
        out += "|+";
    } else if (s.ends_with('\n')) {
        out += '|';
    } else {
        out += "|-";
    }
    if (body.ends_with('\n')) {
        body.remove_suffix(1);
    }
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = std::min(body.find('\n', start), body.size());
        const std::string_view line = body.substr(start, end - start);
        out += '\n';
        if (!line.empty()) {
            out.append(static_cast<std::size_t>(content_indent), ' ');
            out += line;
        }
        if (end >= body.size()) {
            break;
        }
        start = end + 1;
    }
}

void append_string(std::string& out, std::string_view s, int content_indent) {
    if (s.find('\n') != std::string_view::npos && literal_is_safe(s)) {
        append_literal(out, s, content_indent);
    } else if (plain_is_safe(s)) {
        out += s;
    } else {
        append_double_quoted(out, s);
    }
}

std::string number_text(double d) {
    if (std::isnan(d)) {
        return ".nan";
    }
    if (std::isinf(d)) {
        return d > 0 ? ".inf" : "-.inf";
    }
    std::string t = fmt::format("{}", d);
    // Keep it a float when read back (fmt writes 3.0 as "3").
    if (t.find_first_of(".eEn") == std::string::npos) {
        t += ".0";
    }
    return t;
}

/// A scalar or an empty container, in place (block scalars continue on the next lines).
void append_scalar(std::string& out, const json::value& v, int content_indent) {
    switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::int64: out += std::to_string(v.get_int64()); break;
    case json::kind::uint64: out += std::to_string(v.get_uint64()); break;
    case json::kind::double_: out += number_text(v.get_double()); break;
    case json::kind::string: append_string(out, v.get_string(), content_indent); break;
    case json::kind::object: out += "{}"; break;
    case json::kind::array: out += "[]"; break;
    }
}

void append_key(std::string& out, std::string_view key) {
    if (plain_is_safe(key)) {
        out += key;
    } else {
        append_double_quoted(out, key);
    }
}

void append_object(std::string& out, const json::object& obj, int indent, bool first_inline);
void append_array(std::string& out, const json::array& arr, int indent, bool first_inline);

/// After `key:` or `-`: the value on the same line, or nested on the following lines.
void append_value(std::string& out, const json::value& v, int indent, bool in_sequence) {
    if (v.is_object() && !v.get_object().empty()) {
        if (in_sequence) {
            out += ' ';
            append_object(out, v.get_object(), indent + indent_step, true);
        } else {
            out += '\n';
            append_object(out, v.get_object(), indent + indent_step, false);
        }
        return;
    }
    if (v.is_array() && !v.get_array().empty()) {
        if (in_sequence) {
            out += ' ';
            append_array(out, v.get_array(), indent + indent_step, true);
        } else {
            out += '\n';
            append_array(out, v.get_array(), indent + indent_step, false);
        }
        return;
    }
    out += ' ';
    append_scalar(out, v, indent + indent_step);
    out += '\n';
}

void append_object(std::string& out, const json::object& obj, int indent, bool first_inline) {
    bool first = true;
    for (const auto& kv : obj) {
        if (!(first && first_inline)) {
            out.append(static_cast<std::size_t>(indent), ' ');
        }
        first = false;
        append_key(out, kv.key());
        out += ':';
        append_value(out, kv.value(), indent, false);
    }
}

void append_array(std::string& out, const json::array& arr, int indent, bool first_inline) {
    bool first = true;
    for (const auto& item : arr) {
        if (!(first && first_inline)) {
            out.append(static_cast<std::size_t>(indent), ' ');
        }
        first = false;
        out += '-';
        append_value(out, item, indent, true);
    }
}

}  // namespace

std::string to_yaml(const json::value& document) {
    std::string out;
    if (document.is_object() && !document.get_object().empty()) {
        append_object(out, document.get_object(), 0, false);
    } else if (document.is_array() && !document.get_array().empty()) {
        append_array(out, document.get_array(), 0, false);
    } else {
        append_scalar(out, document, indent_step);
        out += '\n';
    }
    return out;
}

}  // namespace outrigger::inject
