#include "cli/inject/yaml_to_json.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <limits>
#include <map>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace outrigger::inject {

namespace json = boost::json;

namespace {

// ------------------------------------------------------------------------------------------------
// Scalar resolution (go-yaml v2's resolve.go, which kubectl's sigs.k8s.io/yaml uses)

bool is_one_of(std::string_view s, std::initializer_list<std::string_view> words) {
    return std::find(words.begin(), words.end(), s) != words.end();
}

bool is_null_word(std::string_view s) { return is_one_of(s, {"", "~", "null", "Null", "NULL"}); }

/// 1 true, 0 false, -1 not a boolean word.
int bool_word(std::string_view s) {
    if (is_one_of(s, {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"})) {
        return 1;
    }
    if (is_one_of(s,
                  {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"})) {
        return 0;
    }
    return -1;
}

int digit_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return 99;
}

/// Go's strconv.ParseInt/ParseUint with base 0 (0x, 0o, 0b prefixes; a leading 0 is octal),
/// after go-yaml removed every `_`. Sets `out` to an int64 or uint64 JSON number.
bool parse_integer(std::string s, json::value& out) {
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    bool negative = false;
    std::size_t i = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        negative = s[i] == '-';
        ++i;
    }
    int base = 10;
    if (s.size() - i >= 2 && s[i] == '0') {
        const char p = s[i + 1];
        if (p == 'x' || p == 'X') {
            base = 16;
            i += 2;
        } else if (p == 'o' || p == 'O') {
            base = 8;
            i += 2;
        } else if (p == 'b' || p == 'B') {
            base = 2;
            i += 2;
        } else {
            base = 8;
            i += 1;
        }
    }
    if (i >= s.size()) {
        return false;
    }
    std::uint64_t v = 0;
    constexpr std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    for (; i < s.size(); ++i) {
        const int d = digit_value(s[i]);
        if (d >= base) {
            return false;
        }
        if (v > (max - static_cast<std::uint64_t>(d)) / static_cast<std::uint64_t>(base)) {
            return false;  // out of range: go-yaml then tries a float
        }
        v = v * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(d);
    }
    constexpr auto int_max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    if (negative) {
        if (v > int_max + 1) {
            return false;
        }
        out = v == int_max + 1 ? std::numeric_limits<std::int64_t>::min()
                               : -static_cast<std::int64_t>(v);
        return true;
    }
    if (v <= int_max) {
        out = static_cast<std::int64_t>(v);
    } else {
        out = v;
    }
    return true;
}

/// go-yaml's yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
bool is_yaml_float(std::string_view s) {
    std::size_t i = 0;
    auto digits = [&] {
        const std::size_t b = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            ++i;
        }
        return i - b;
    };
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        ++i;
    }
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (digits() == 0) {
            return false;
        }
    } else {
        if (digits() == 0) {
            return false;
        }
        if (i < s.size() && s[i] == '.') {
            ++i;
            digits();
        }
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
            ++i;
        }
        if (digits() == 0) {
            return false;
        }
    }
    return i == s.size();
}

/// A plain (unquoted, untagged) scalar as kubectl reads it.
json::value resolve_plain(const std::string& s) {
    if (is_null_word(s)) {
        return nullptr;
    }
    if (const int b = bool_word(s); b >= 0) {
        return b == 1;
    }
    const char c = s[0];
    if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
        json::value v;
        if (parse_integer(s, v)) {
            return v;
        }
        std::string plain = s;
        plain.erase(std::remove(plain.begin(), plain.end(), '_'), plain.end());
        if (is_yaml_float(plain)) {
            return std::strtod(plain.c_str(), nullptr);
        }
        // `.inf`, `.nan` are floats to go-yaml, but JSON (and so the API server) has no such
        // numbers: they stay strings.
    }
    return json::string(s);
}

/// A scalar with its yaml-cpp tag: "?" plain, "!" quoted or block, else an explicit tag.
json::value resolve_scalar(const std::string& tag, const std::string& value) {
    if (tag == "?") {
        return resolve_plain(value);
    }
    constexpr std::string_view core = "tag:yaml.org,2002:";
    if (tag.starts_with(core)) {
        const std::string_view t = std::string_view(tag).substr(core.size());
        if (t == "int" || t == "float" || t == "bool" || t == "null") {
            return resolve_plain(value);
        }
    }
    return json::string(value);
}

/// A map key as text: sigs.k8s.io/yaml turns non-string keys into their JSON text.
std::string key_text(const std::string& tag, const std::string& value) {
    const json::value v = resolve_scalar(tag, value);
    if (v.is_string()) {
        return std::string(v.get_string());
    }
    if (v.is_null()) {
        return "null";
    }
    if (v.is_bool()) {
        return v.get_bool() ? "true" : "false";
    }
    if (v.is_int64()) {
        return std::to_string(v.get_int64());
    }
    if (v.is_uint64()) {
        return std::to_string(v.get_uint64());
    }
    return fmt::format("{}", v.get_double());
}

std::size_t node_count(const json::value& v) {
    std::size_t n = 1;
    if (v.is_object()) {
        for (const auto& kv : v.get_object()) {
            n += node_count(kv.value());
        }
    } else if (v.is_array()) {
        for (const auto& e : v.get_array()) {
            n += node_count(e);
        }
    }
    return n;
}

text_position position_of(const YAML::Mark& m) {
    return {static_cast<std::uint32_t>(std::max(m.line, 0)) + 1,
            static_cast<std::uint32_t>(std::max(m.column, 0)) + 1};
}

/// A failure inside the event handler, carried out through yaml-cpp by an exception (yaml-cpp's
/// own interface has no other way); caught at the boundary of parse_yaml_documents.
struct build_error {
    text_position at;
    std::string message;
};

/// Builds JSON values from yaml-cpp's parser events.
class json_builder : public YAML::EventHandler {
public:
    explicit json_builder(std::vector<yaml_document>& out) : out_(out) {}

    [[nodiscard]] text_position document_start() const { return doc_start_; }

    void OnDocumentStart(const YAML::Mark& mark) override {
        doc_start_ = position_of(mark);
        out_.emplace_back();
        out_.back().start = doc_start_;
        frames_.clear();
        anchors_.clear();
    }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        if (awaiting_key()) {
            set_key("null", false, mark);
            return;
        }
        add(nullptr, anchor);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        const auto it = anchors_.find(anchor);
        if (it == anchors_.end()) {
            throw build_error{position_of(mark), "unknown alias"};
        }
        copied_ += it->second.second;
        if (copied_ > max_copied_nodes) {
            throw build_error{position_of(mark), "aliases expand to too many nodes"};
        }
        if (awaiting_key()) {
            if (!it->second.first.is_string()) {
                throw build_error{position_of(mark), "a mapping key must be a scalar"};
            }
            set_key(std::string(it->second.first.get_string()), false, mark);
            return;
        }
        add(it->second.first, 0);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  const std::string& value) override {
        if (awaiting_key()) {
            set_key(key_text(tag, value), tag == "?" && value == "<<", mark);
            return;
        }
        add(resolve_scalar(tag, value), anchor);
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/,
                         YAML::anchor_t anchor, YAML::EmitterStyle::value /*style*/) override {
        open(json::array(), anchor, mark);
    }
    void OnSequenceEnd() override { close(); }

    void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value /*style*/) override {
        open(json::object(), anchor, mark);
        out_.back().maps.emplace_back(frames_.back().pointer, position_of(mark));
    }
    void OnMapEnd() override {
        frame& f = frames_.back();
        // `<<: *base` or `<<: [*a, *b]`: keys given explicitly win, then earlier sources.
        json::object& obj = f.value.get_object();
        for (const auto& src : f.merges) {
            for (const auto& kv : src.get_object()) {
                if (!obj.contains(kv.key())) {
                    obj.emplace(kv.key(), kv.value());
                }
            }
        }
        close();
    }

private:
    struct frame {
        json::value value;  // object or array
        std::string pointer;
        YAML::anchor_t anchor = 0;
        bool have_key = false;
        bool key_is_merge = false;
        std::string key;
        text_position key_at;
        std::vector<json::value> merges;  // objects named by `<<`
    };

    [[nodiscard]] bool awaiting_key() const {
        return !frames_.empty() && frames_.back().value.is_object() && !frames_.back().have_key;
    }

    void set_key(std::string key, bool merge, const YAML::Mark& mark) {
        frame& f = frames_.back();
        if (!merge && f.value.get_object().contains(key)) {
            throw build_error{position_of(mark), fmt::format("duplicate key \"{}\"", key)};
        }
        f.key = std::move(key);
        f.key_is_merge = merge;
        f.key_at = position_of(mark);
        f.have_key = true;
    }

    [[nodiscard]] std::string child_pointer() const {
        if (frames_.empty()) {
            return {};
        }
        const frame& f = frames_.back();
        if (f.value.is_array()) {
            return f.pointer + "/" + std::to_string(f.value.get_array().size());
        }
        return f.pointer + "/" + escape_pointer_token(f.key);
    }

    void open(json::value v, YAML::anchor_t anchor, const YAML::Mark& mark) {
        if (awaiting_key()) {
            throw build_error{position_of(mark), "a mapping key must be a scalar"};
        }
        frame f;
        f.pointer = child_pointer();
        f.value = std::move(v);
        f.anchor = anchor;
        frames_.push_back(std::move(f));
    }

    void close() {
        frame f = std::move(frames_.back());
        frames_.pop_back();
        add(std::move(f.value), f.anchor);
    }

    void add(json::value v, YAML::anchor_t anchor) {
        if (anchor != 0) {
            const std::size_t n = node_count(v);
            anchors_.insert_or_assign(anchor, std::make_pair(v, n));
        }
        if (frames_.empty()) {
            out_.back().root = std::move(v);
            return;
        }
        frame& f = frames_.back();
        if (f.value.is_array()) {
            f.value.get_array().push_back(std::move(v));
            return;
        }
        f.have_key = false;
        if (f.key_is_merge) {
            if (v.is_object()) {
                f.merges.push_back(std::move(v));
                return;
            }
            if (v.is_array() && std::all_of(v.get_array().begin(), v.get_array().end(),
                                            [](const json::value& e) { return e.is_object(); })) {
                for (auto& e : v.get_array()) {
                    f.merges.push_back(std::move(e));
                }
                return;
            }
            throw build_error{f.key_at, "a merge key (<<) needs a mapping or a list of mappings"};
        }
        f.value.get_object().emplace(f.key, std::move(v));
    }

    static constexpr std::size_t max_copied_nodes = 1'000'000;

    std::vector<yaml_document>& out_;
    std::vector<frame> frames_;
    std::map<YAML::anchor_t, std::pair<json::value, std::size_t>> anchors_;
    std::size_t copied_ = 0;
    text_position doc_start_;
};

}  // namespace

text_position yaml_document::where(std::string_view pointer) const {
    std::string p(pointer);
    for (;;) {
        for (const auto& [ptr, pos] : maps) {
            if (ptr == p) {
                return pos;
            }
        }
        if (p.empty()) {
            return start;
        }
        p.resize(p.rfind('/'));
    }
}

std::string escape_pointer_token(std::string_view token) {
    std::string out;
    out.reserve(token.size());
    for (const char c : token) {
        if (c == '~') {
            out += "~0";
        } else if (c == '/') {
            out += "~1";
        } else {
            out += c;
        }
    }
    return out;
}

yaml_parse_result parse_yaml_documents(const std::string& text) {
    yaml_parse_result r;
    std::istringstream in(text);
    json_builder builder(r.documents);
    auto fail = [&](text_position at, std::string message) {
        r.documents.clear();
        r.error = std::move(message);
        r.error_at = at;
    };
    try {
        YAML::Parser parser(in);
        text_position previous{0, 0};
        bool first = true;
        while (parser.HandleNextDocument(builder)) {
            // yaml-cpp 0.7 emits empty documents forever, without consuming input, on a stray
            // flow indicator in block context: stop when a document starts where the last did.
            const text_position at = builder.document_start();
            if (!first && at.line == previous.line && at.col == previous.col) {
                fail(at, "unexpected text");
                return r;
            }
            first = false;
            previous = at;
        }
    } catch (const build_error& e) {
        fail(e.at, e.message);
    } catch (const YAML::DeepRecursion& e) {
        fail(position_of(e.mark), "nested too deeply");
    } catch (const YAML::Exception& e) {
        fail(position_of(e.mark), e.msg);
    }
    return r;
}

}  // namespace outrigger::inject
