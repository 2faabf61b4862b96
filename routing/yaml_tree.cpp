#include "routing/yaml_tree.hpp"

#include <algorithm>
#include <map>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

namespace outrigger::routing::yaml_tree {

namespace {

/// Thrown by `fast_parser` when the document is outside the subset it reads; yaml-cpp takes over.
struct fast_path_bail {};

/// Reads one document of the YAML subset that Kubernetes manifests use: block maps and
/// sequences (including compact `- key: v` and same-indent sequences), flow maps and sequences
/// (may span lines), single-line plain, single- and double-quoted scalars, comments. Anything else,
/// and anything it is not sure yaml-cpp reads the same way, throws `fast_path_bail`. (Checked
/// against yaml-cpp on the corpus and on thousands of mutated manifests: same trees, same marks.)
class fast_parser {
public:
    fast_parser(std::string_view text, std::uint32_t first_line, ydoc& doc)
        : s_(text), line_(first_line), doc_(doc) {}

    /// Returns false when the document holds no node.
    bool parse(ynode& root) {
        // A last line of spaces or a comment without a line break moves where yaml-cpp places
        // an empty value at the end of the text (depending on the indentation): not worth
        // copying.
        const std::size_t last = s_.rfind('\n');
        const std::string_view tail = s_.substr(last == std::string_view::npos ? 0 : last + 1);
        const std::size_t content = tail.find_first_not_of(' ');
        if (!tail.empty() && (content == std::string_view::npos || tail[content] == '#')) {
            throw fast_path_bail{};
        }
        if (!to_content_line()) {
            return false;
        }
        if (col() == 0 && starts_marker("---")) {
            pos_ += 3;
            skip_spaces();
            if (!at_eol() && !at_comment()) {
                throw fast_path_bail{};
            }
            skip_line();
            if (!to_content_line()) {
                return false;
            }
        }
        parse_block_node(root);
        if (to_content_line()) {
            throw fast_path_bail{};
        }
        return true;
    }

private:
    [[nodiscard]] bool eos(std::size_t p) const { return p >= s_.size(); }
    [[nodiscard]] char at(std::size_t p) const { return p < s_.size() ? s_[p] : '\0'; }
    [[nodiscard]] std::uint32_t col() const {
        return static_cast<std::uint32_t>(pos_ - line_start_);
    }
    [[nodiscard]] bool at_eol() const { return eos(pos_) || s_[pos_] == '\n'; }
    [[nodiscard]] bool blank_or_eol(std::size_t p) const {
        return eos(p) || s_[p] == ' ' || s_[p] == '\n';
    }
    /// A `#` starts a comment at the beginning of a line or after a space.
    [[nodiscard]] bool at_comment() const {
        return at(pos_) == '#' && (pos_ == line_start_ || s_[pos_ - 1] == ' ');
    }
    [[nodiscard]] bool starts_marker(std::string_view m) const {
        return s_.substr(pos_, m.size()) == m && blank_or_eol(pos_ + m.size());
    }
    [[nodiscard]] bool at_seq_dash() const { return at(pos_) == '-' && blank_or_eol(pos_ + 1); }

    void skip_spaces() {
        while (at(pos_) == ' ') {
            ++pos_;
        }
    }

    void skip_line() {
        const auto nl = s_.find('\n', pos_);
        if (nl == std::string_view::npos) {
            pos_ = s_.size();
            return;
        }
        pos_ = nl + 1;
        ++line_;
        line_start_ = pos_;
    }

    /// From the start of a line, skips blank and comment-only lines and stops at the first
    /// character of the next line with content. False at the end of the text.
    bool to_content_line() {
        for (;;) {
            skip_spaces();
            if (eos(pos_)) {
                return false;
            }
            if (s_[pos_] == '\n' || s_[pos_] == '#') {
                skip_line();
                continue;
            }
            return true;
        }
    }

    /// After an inline value: only spaces and a comment may follow on the line.
    void finish_line() {
        skip_spaces();
        if (at_eol() || at_comment()) {
            skip_line();
            return;
        }
        throw fast_path_bail{};
    }

    void mark(ynode& n) const {
        n.line = line_;
        n.col = col();
    }

    /// yaml-cpp places an empty (null) value at the token that follows it: the next content after
    /// blank and comment lines (`more`), or column 0 of the line where the text ends.
    void mark_next(ynode& n, bool more) const {
        n.line = line_;
        n.col = more ? col() : 0;
    }

    static bool bad_plain_start(char c) {
        // Indicators that start something other than a plain scalar (or a yaml-cpp error).
        switch (c) {
        case '&':
        case '*':
        case '!':
        case '|':
        case '>':
        case '%':
        case '@':
        case '`':
        case '?':
        case ':':
        case ',':
        case '[':
        case ']':
        case '{':
        case '}':
        case '#':
        case '"':
        case '\'':
        case '\t':
        case '\r':
            return true;
        default:
            return false;
        }
    }

    /// Is the text at pos_ an implicit mapping key (`key:` followed by a blank)?
    [[nodiscard]] bool looks_like_key() const {
        std::size_t p = pos_;
        const char c = at(p);
        if (c == '"' || c == '\'') {
            ++p;
            while (!eos(p) && s_[p] != '\n') {
                if (c == '\'' && s_[p] == '\'') {
                    if (at(p + 1) == '\'') {
                        p += 2;
                        continue;
                    }
                    break;
                }
                if (c == '"' && s_[p] == '\\') {
                    p += 2;
                    continue;
                }
                if (c == '"' && s_[p] == '"') {
                    break;
                }
                ++p;
            }
            return at(p) == c && at(p + 1) == ':' && blank_or_eol(p + 2);
        }
        if (bad_plain_start(c) || (c == '-' && blank_or_eol(p + 1))) {
            return false;
        }
        for (; !eos(p) && s_[p] != '\n'; ++p) {
            if (s_[p] == ':' && blank_or_eol(p + 1)) {
                return true;
            }
            if (s_[p] == '#' && s_[p - 1] == ' ') {
                return false;
            }
        }
        return false;
    }

    void parse_block_node(ynode& out) {
        const std::uint32_t c = col();
        const char ch = at(pos_);
        if (at_seq_dash()) {
            parse_block_seq(c, out);
        } else if (ch == '[' || ch == '{') {
            parse_flow(out);
            finish_line();
        } else if (looks_like_key()) {
            parse_block_map(c, out);
        } else {
            parse_inline_scalar(out);
            finish_line();
        }
    }

    /// The value after `key:` or `- ` on the same line.
    void parse_inline_value(ynode& out) {
        const char ch = at(pos_);
        if (ch == '[' || ch == '{') {
            parse_flow(out);
        } else {
            parse_inline_scalar(out);
        }
        finish_line();
    }

    void parse_block_map(std::uint32_t indent, ynode& out) {
        const nesting guard(depth_);
        out.type = ynode::type_t::map;
        mark(out);
        const std::size_t opened = doc_.open();
        for (;;) {
            ynode key;
            parse_block_key(key);
            ynode value;
            skip_spaces();
            if (at_eol() || at(pos_) == '#') {
                // Value on the following lines, or null.
                skip_line();
                const bool more = to_content_line();
                mark_next(value, more);
                if (more && (col() > indent || (col() == indent && at_seq_dash()))) {
                    parse_block_node(value);
                }
            } else if (at_seq_dash() || at(pos_) == '?') {
                throw fast_path_bail{};
            } else {
                parse_inline_value(value);
            }
            doc_.push(key);
            doc_.push(value);
            if (!to_content_line() || col() < indent) {
                break;
            }
            if (col() > indent || !looks_like_key()) {
                throw fast_path_bail{};
            }
        }
        doc_.close(out, opened);
    }

    void parse_block_seq(std::uint32_t indent, ynode& out) {
        const nesting guard(depth_);
        out.type = ynode::type_t::seq;
        mark(out);
        const std::size_t opened = doc_.open();
        for (;;) {
            ynode item;
            mark(item);
            ++pos_;  // the dash
            skip_spaces();
            if (at_eol() || at(pos_) == '#') {
                skip_line();
                const bool more = to_content_line();
                mark_next(item, more);
                if (more && col() > indent) {
                    parse_block_node(item);
                }
            } else if (at_seq_dash()) {
                parse_block_seq(col(), item);
            } else if (at(pos_) == '[' || at(pos_) == '{') {
                parse_flow(item);
                finish_line();
            } else if (looks_like_key()) {
                parse_block_map(col(), item);
            } else {
                parse_inline_scalar(item);
                finish_line();
            }
            doc_.push(item);
            if (!to_content_line() || col() < indent) {
                break;
            }
            if (col() > indent) {
                throw fast_path_bail{};
            }
            if (!at_seq_dash()) {
                break;  // a key of the enclosing map at the same indentation
            }
        }
        doc_.close(out, opened);
    }

    /// Key of a block map entry; leaves pos_ after the `:`.
    void parse_block_key(ynode& key) {
        const std::size_t key_start = pos_;
        const char c = at(pos_);
        if (c == '"' || c == '\'') {
            parse_quoted(key);
        } else {
            key.type = ynode::type_t::scalar;
            mark(key);
            const std::size_t start = pos_;
            while (!(s_[pos_] == ':' && blank_or_eol(pos_ + 1))) {
                ++pos_;
            }
            std::size_t end = pos_;
            while (end > start && s_[end - 1] == ' ') {
                --end;
            }
            key.value = s_.substr(start, end - start);
            if (is_null_word(key.value)) {
                throw fast_path_bail{};
            }
        }
        if (at(pos_) != ':' || pos_ - key_start > max_implicit_key) {
            throw fast_path_bail{};
        }
        ++pos_;
    }

    /// YAML limits implicit keys to 1024 characters and yaml-cpp rejects longer ones (found by
    /// fuzz_yaml_fast_path): longer keys, with some margin for multi-byte characters, are left to
    /// it.
    static constexpr std::size_t max_implicit_key = 1000;

    static bool is_null_word(std::string_view v) {
        return v.empty() || v == "~" || v == "null" || v == "Null" || v == "NULL";
    }

    /// A single-line plain or quoted scalar in block context.
    void parse_inline_scalar(ynode& out) {
        const char c = at(pos_);
        if (c == '"' || c == '\'') {
            parse_quoted(out);
            return;
        }
        if (bad_plain_start(c) || (c == '-' && blank_or_eol(pos_ + 1))) {
            throw fast_path_bail{};
        }
        mark(out);
        const std::size_t start = pos_;
        std::size_t end = start;
        for (; !at_eol(); ++pos_) {
            const char ch = s_[pos_];
            if (ch == ':' && blank_or_eol(pos_ + 1)) {
                throw fast_path_bail{};  // `a: b: c` and the like
            }
            if (ch == '#' && s_[pos_ - 1] == ' ') {
                break;
            }
            if (ch == '\t' || ch == '\r') {
                throw fast_path_bail{};
            }
            if (ch != ' ') {
                end = pos_ + 1;
            }
        }
        set_plain(out, s_.substr(start, end - start));
    }

    static void set_plain(ynode& out, std::string_view text) {
        if (is_null_word(text)) {
            out.type = ynode::type_t::null;
            return;
        }
        out.type = ynode::type_t::scalar;
        out.value = text;
    }

    static int hex_value(char c) {
        if (c >= '0' && c <= '9') {
            return c - '0';
        }
        if (c >= 'a' && c <= 'f') {
            return c - 'a' + 10;
        }
        if (c >= 'A' && c <= 'F') {
            return c - 'A' + 10;
        }
        return -1;
    }

    static void append_utf8(std::string& out, std::uint32_t cp) {
        if (cp < 0x80) {
            out += static_cast<char>(cp);
        } else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    /// Single-line quoted scalar; leaves pos_ after the closing quote.
    void parse_quoted(ynode& out) {
        out.type = ynode::type_t::scalar;
        mark(out);
        const char q = s_[pos_++];
        const std::size_t start = pos_;
        bool transformed = false;  // an escape or `''`: the value is not a slice of the source
        buf_.clear();
        for (;;) {
            if (at_eol()) {
                throw fast_path_bail{};  // multi-line or unterminated: yaml-cpp decides
            }
            const char c = s_[pos_];
            if (c == '\t' || c == '\r') {
                throw fast_path_bail{};
            }
            if (c == q) {
                if (q == '\'' && at(pos_ + 1) == '\'') {
                    buf_ += '\'';
                    pos_ += 2;
                    transformed = true;
                    continue;
                }
                out.value = transformed ? doc_.keep(buf_) : s_.substr(start, pos_ - start);
                ++pos_;
                return;
            }
            if (q == '"' && c == '\\') {
                parse_escape(buf_);
                transformed = true;
                continue;
            }
            buf_ += c;
            ++pos_;
        }
    }

    void parse_escape(std::string& v) {
        const char e = at(pos_ + 1);
        pos_ += 2;
        int digits = 0;
        switch (e) {
        case '0':
            v += '\0';
            return;
        case 'a':
            v += '\a';
            return;
        case 'b':
            v += '\b';
            return;
        case 't':
            v += '\t';
            return;
        case 'n':
            v += '\n';
            return;
        case 'v':
            v += '\v';
            return;
        case 'f':
            v += '\f';
            return;
        case 'r':
            v += '\r';
            return;
        case 'e':
            v += '\x1b';
            return;
        case ' ':
        case '"':
        case '/':
        case '\\':
            v += e;
            return;
        case 'x':
            digits = 2;
            break;
        case 'u':
            digits = 4;
            break;
        case 'U':
            digits = 8;
            break;
        default:
            throw fast_path_bail{};
        }
        std::uint32_t cp = 0;
        for (int i = 0; i < digits; ++i) {
            const int h = hex_value(at(pos_));
            if (h < 0) {
                throw fast_path_bail{};
            }
            cp = cp * 16 + static_cast<std::uint32_t>(h);
            ++pos_;
        }
        if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            throw fast_path_bail{};
        }
        append_utf8(v, cp);
    }

    /// Skips spaces, line breaks and comments inside a flow collection.
    void skip_flow_space() {
        for (;;) {
            skip_spaces();
            if (eos(pos_)) {
                throw fast_path_bail{};  // unterminated
            }
            if (s_[pos_] == '\n') {
                skip_line();
            } else if (at_comment()) {
                skip_line();
            } else if (s_[pos_] == '#') {
                throw fast_path_bail{};
            } else {
                if (col() == 0 && (starts_marker("---") || starts_marker("..."))) {
                    throw fast_path_bail{};
                }
                return;
            }
        }
    }

    void parse_flow(ynode& out) {
        const nesting guard(depth_);
        const bool is_map = s_[pos_] == '{';
        const char close = is_map ? '}' : ']';
        out.type = is_map ? ynode::type_t::map : ynode::type_t::seq;
        mark(out);
        ++pos_;
        const std::size_t opened = doc_.open();
        for (;;) {
            skip_flow_space();
            if (s_[pos_] == close) {
                ++pos_;
                break;
            }
            if (is_map) {
                ynode key;
                const std::size_t key_start = pos_;
                parse_flow_scalar(key);
                if (key.type != ynode::type_t::scalar) {
                    throw fast_path_bail{};
                }
                skip_spaces();
                if (at(pos_) != ':' || pos_ - key_start > max_implicit_key) {
                    throw fast_path_bail{};
                }
                ++pos_;
                ynode value;
                if (!blank_or_eol(pos_) && at(pos_) != ',' && at(pos_) != '}') {
                    throw fast_path_bail{};
                }
                skip_flow_space();
                mark(value);  // an empty value is placed at the `,` or `}` that ends it
                if (s_[pos_] != ',' && s_[pos_] != '}') {
                    parse_flow_value(value);
                }
                doc_.push(key);
                doc_.push(value);
            } else {
                ynode item;
                parse_flow_value(item);
                doc_.push(item);
            }
            skip_flow_space();
            if (s_[pos_] == ',') {
                ++pos_;
            } else if (s_[pos_] != close) {
                throw fast_path_bail{};
            }
        }
        doc_.close(out, opened);
    }

    void parse_flow_value(ynode& out) {
        const char c = at(pos_);
        if (c == '[' || c == '{') {
            parse_flow(out);
        } else {
            parse_flow_scalar(out);
        }
    }

    void parse_flow_scalar(ynode& out) {
        const char c = at(pos_);
        if (c == '"' || c == '\'') {
            parse_quoted(out);
            return;
        }
        if (bad_plain_start(c) || (c == '-' && blank_or_eol(pos_ + 1))) {
            throw fast_path_bail{};
        }
        mark(out);
        const std::size_t start = pos_;
        std::size_t end = start;
        for (; !at_eol(); ++pos_) {
            const char ch = s_[pos_];
            if (ch == ',' || ch == '[' || ch == ']' || ch == '{' || ch == '}') {
                break;
            }
            if (ch == ':') {
                const char next = at(pos_ + 1);
                if (blank_or_eol(pos_ + 1) || next == ',' || next == ']' || next == '}') {
                    break;
                }
            }
            if (ch == '#' && s_[pos_ - 1] == ' ') {
                break;
            }
            if (ch == '?' || ch == '\t' || ch == '\r') {
                throw fast_path_bail{};  // yaml-cpp ends flow scalars at `?`
            }
            if (ch != ' ') {
                end = pos_ + 1;
            }
        }
        set_plain(out, s_.substr(start, end - start));
    }

    /// Bounds the recursion (every recursive step opens a collection); deeper documents go to
    /// yaml-cpp, which has its own limit.
    class nesting {
    public:
        explicit nesting(int& depth) : depth_(depth) {
            if (++depth_ > max_nesting) {
                throw fast_path_bail{};
            }
        }
        ~nesting() { --depth_; }
        nesting(const nesting&) = delete;
        nesting& operator=(const nesting&) = delete;

    private:
        int& depth_;
    };
    static constexpr int max_nesting = 100;

    std::string_view s_;
    std::size_t pos_ = 0;
    std::size_t line_start_ = 0;
    std::uint32_t line_;
    ydoc& doc_;
    std::string buf_;  // unescaped quoted scalars
    int depth_ = 0;
};

/// Builds documents from yaml-cpp parser events (the general path).
class tree_builder : public YAML::EventHandler {
public:
    tree_builder(std::uint32_t line_offset, ydoc& doc) : line_offset_(line_offset), doc_(doc) {}

    /// The root of the document just parsed, if it has one; the next document reuses `doc`.
    bool take(ynode& out) {
        if (!has_root_) {
            return false;
        }
        out = root_;
        has_root_ = false;
        return true;
    }

    /// Where the last document started (to detect yaml-cpp making no progress).
    [[nodiscard]] std::pair<int, int> document_start() const { return document_start_; }

    void OnDocumentStart(const YAML::Mark& mark) override {
        document_start_ = {mark.line, mark.column};
        doc_.clear();
        anchors_.clear();
        frames_.clear();
        has_root_ = false;
    }
    void OnDocumentEnd() override {}

    void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        add(node_at(mark, ynode::type_t::null), anchor);
    }

    void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
        ynode n = node_at(mark, ynode::type_t::null);
        const auto it = anchors_.find(anchor);
        if (it != anchors_.end()) {
            // The alias shares the anchored node's children. Bound the expansion anyway: the
            // decoder walks what aliases expand to ("billion laughs").
            copied_nodes_ += it->second.second;
            if (copied_nodes_ > max_copied_nodes) {
                throw YAML::ParserException(mark, "aliases expand to too many nodes");
            }
            n = it->second.first;
            set_mark(n, mark);
        }
        add(n, 0);
    }

    void OnScalar(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                  const std::string& value) override {
        ynode n = node_at(mark, ynode::type_t::scalar);
        n.value = doc_.keep(value);
        add(n, anchor);
    }

    void OnSequenceStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                         YAML::EmitterStyle::value /*style*/) override {
        frames_.push_back({node_at(mark, ynode::type_t::seq), anchor, doc_.open()});
    }
    void OnSequenceEnd() override { close(); }

    void OnMapStart(const YAML::Mark& mark, const std::string& /*tag*/, YAML::anchor_t anchor,
                    YAML::EmitterStyle::value /*style*/) override {
        frames_.push_back({node_at(mark, ynode::type_t::map), anchor, doc_.open()});
    }
    void OnMapEnd() override { close(); }

private:
    struct frame {
        ynode node;
        YAML::anchor_t anchor;
        std::size_t opened;
    };

    void set_mark(ynode& n, const YAML::Mark& mark) const {
        n.line = static_cast<std::uint32_t>(std::max(mark.line, 0)) + line_offset_;
        n.col = static_cast<std::uint32_t>(std::max(mark.column, 0));
    }

    [[nodiscard]] ynode node_at(const YAML::Mark& mark, ynode::type_t type) const {
        ynode n;
        n.type = type;
        set_mark(n, mark);
        return n;
    }

    void close() {
        frame f = frames_.back();
        frames_.pop_back();
        doc_.close(f.node, f.opened);
        add(f.node, f.anchor);
    }

    [[nodiscard]] std::size_t count_nodes(const ynode& n) const {
        std::size_t count = 1;
        for (const auto& c : doc_.children(n)) {
            count += count_nodes(c);
        }
        return count;
    }

    void add(const ynode& n, YAML::anchor_t anchor) {
        if (anchor != 0) {
            anchors_.insert_or_assign(anchor, std::make_pair(n, count_nodes(n)));
        }
        if (frames_.empty()) {
            root_ = n;
            has_root_ = true;
        } else {
            doc_.push(n);
        }
    }

    static constexpr std::size_t max_copied_nodes = 1'000'000;

    std::uint32_t line_offset_;
    ydoc& doc_;
    std::vector<frame> frames_;
    std::map<YAML::anchor_t, std::pair<ynode, std::size_t>> anchors_;  // node, its node count
    std::size_t copied_nodes_ = 0;
    ynode root_;
    bool has_root_ = false;
    std::pair<int, int> document_start_{-1, -1};
};

/// Does the line starting at `p` begin with the marker `m` followed by a blank?
bool marker_at(std::string_view text, std::size_t p, std::string_view m) {
    if (text.substr(p, m.size()) != m) {
        return false;
    }
    const std::size_t q = p + m.size();
    return q >= text.size() || text[q] == ' ' || text[q] == '\t' || text[q] == '\n' ||
           text[q] == '\r';
}

/// `unexpected ","` for the character at a 0-based line/column of `text`.
std::string unexpected_text(std::string_view text, int line, int col) {
    std::size_t p = 0;
    for (int l = 0; l < line && p != std::string_view::npos; ++l) {
        p = text.find('\n', p);
        p = p == std::string_view::npos ? p : p + 1;
    }
    if (p == std::string_view::npos || col < 0 ||
        p + static_cast<std::size_t>(col) >= text.size()) {
        return "unexpected text";
    }
    return fmt::format("unexpected \"{}\"", text[p + static_cast<std::size_t>(col)]);
}

/// Parses `text` with yaml-cpp (marks shifted by `first_line`) and hands each document over.
void parse_with_yaml_cpp(std::string_view text, std::uint32_t first_line, ydoc& doc,
                         document_sink& sink) {
    std::istringstream in{std::string(text)};
    tree_builder builder(first_line, doc);
    const auto report = [&](int mark_line, int mark_col, const std::string& message) {
        const auto line = static_cast<std::uint32_t>(std::max(mark_line, 0)) + first_line;
        const auto col = static_cast<std::uint32_t>(std::max(mark_col, 0));
        sink.on_syntax_error(line, col, message);
    };
    try {
        YAML::Parser parser(in);
        std::pair<int, int> previous_start{-1, -1};
        while (parser.HandleNextDocument(builder)) {
            // yaml-cpp 0.7 emits empty documents forever, without consuming input, on a stray
            // flow indicator such as a `,` in block context: stop when a document starts where
            // the previous one did.
            if (builder.document_start() == previous_start) {
                const auto [line, col] = previous_start;
                report(line, col, unexpected_text(text, line, col));
                return;
            }
            previous_start = builder.document_start();
            ynode root;
            if (builder.take(root)) {
                sink.on_document(root, doc);
            }
        }
    } catch (const YAML::DeepRecursion& e) {
        report(e.mark.line, e.mark.column, "nested too deeply");  // yaml-cpp says "bad file"
    } catch (const YAML::Exception& e) {
        report(e.mark.line, e.mark.column, e.msg);
    }
}

/// Is `text` printable ASCII and line feeds, or well-formed UTF-8 of printable characters?
/// Tabs, CRs and a byte-order mark are legal YAML but outside the fast subset; control
/// characters (yaml-cpp stops at a NUL), non-printable code points and malformed UTF-8 (which
/// yaml-cpp's decoder replaces) are left to yaml-cpp, whose reading is the reference.
bool plain_text(std::string_view text) {
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        const unsigned char c = *p;
        if (c < 0x80) {
            if ((c < 0x20 && c != '\n') || c == 0x7F) {
                return false;
            }
            ++p;
            continue;
        }
        std::size_t len = 0;
        std::uint32_t cp = 0;
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1Fu;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0Fu;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) < len) {
            return false;
        }
        for (std::size_t i = 1; i < len; ++i) {
            if ((p[i] & 0xC0) != 0x80) {
                return false;
            }
            cp = (cp << 6) | (p[i] & 0x3Fu);
        }
        constexpr std::uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
            cp <= 0x9F || cp == 0xFEFF || cp == 0x2028 || cp == 0x2029 || cp == 0xFFFE ||
            cp == 0xFFFF) {
            return false;  // overlong, surrogate, C1 control, BOM, line/paragraph separators
        }
        p += len;
    }
    return true;
}

/// One document (a chunk between `---` lines). False when the fast parser bailed in fast_only
/// mode.
bool parse_document_text(std::string_view chunk, std::uint32_t first_line, parse_mode mode,
                         ydoc& doc, document_sink& sink) {
    const bool simple = plain_text(chunk);
    if (simple) {
        try {
            doc.clear();
            fast_parser parser(chunk, first_line, doc);
            ynode root;
            if (parser.parse(root)) {
                sink.on_document(root, doc);
            }
            return true;
        } catch (const fast_path_bail&) {
            // Outside the subset or malformed: yaml-cpp reads it (and reports any syntax error).
        }
    }
    if (mode == parse_mode::fast_only) {
        return false;
    }
    parse_with_yaml_cpp(chunk, first_line, doc, sink);
    return true;
}

}  // namespace

bool parse_text(std::string_view text, parse_mode mode, ydoc& doc, document_sink& sink) {
    if (mode == parse_mode::yaml_cpp_only) {
        parse_with_yaml_cpp(text, 0, doc, sink);
        return true;
    }
    // Cut at `---` lines (a document marker always ends the previous document) and parse each
    // document on its own. Directives (`%`) and `...` markers change how documents relate, so a
    // text that has them goes to yaml-cpp whole.
    std::vector<std::pair<std::size_t, std::uint32_t>> starts;  // offset, line
    starts.emplace_back(0, 0);
    std::uint32_t line = 0;
    for (std::size_t p = 0; p < text.size();) {
        if (text[p] == '%' || marker_at(text, p, "...")) {
            if (mode == parse_mode::fast_only) {
                return false;
            }
            parse_with_yaml_cpp(text, 0, doc, sink);
            return true;
        }
        if (p != 0 && marker_at(text, p, "---")) {
            starts.emplace_back(p, line);
        }
        const std::size_t nl = text.find('\n', p);
        if (nl == std::string_view::npos) {
            break;
        }
        p = nl + 1;
        ++line;
    }
    for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::size_t begin = starts[i].first;
        const std::size_t end = i + 1 < starts.size() ? starts[i + 1].first : text.size();
        if (!parse_document_text(text.substr(begin, end - begin), starts[i].second, mode, doc,
                                 sink)) {
            return false;
        }
    }
    return true;
}

namespace {

/// A document tree that owns its strings (a `ydoc` is reused from one document to the next).
struct owned_node {
    ynode::type_t type = ynode::type_t::null;
    std::uint32_t line = 0;
    std::uint32_t col = 0;
    std::string value;
    std::vector<owned_node> children;
};

owned_node own(const ynode& n, const ydoc& doc) {
    owned_node o{n.type, n.line, n.col, std::string(n.value), {}};
    if (n.type != ynode::type_t::scalar) {
        o.value.clear();
    }
    for (const auto& c : doc.children(n)) {
        o.children.push_back(own(c, doc));
    }
    return o;
}

class collector : public document_sink {
public:
    void on_document(const ynode& root, const ydoc& doc) override {
        if (root.type != ynode::type_t::null) {
            docs.push_back(own(root, doc));
        }
    }
    void on_syntax_error(std::uint32_t line, std::uint32_t col, std::string message) override {
        error = fmt::format("{}:{}: {}", line + 1, col + 1, message);
    }
    std::vector<owned_node> docs;
    std::string error;
};

const char* type_name(ynode::type_t t) {
    switch (t) {
    case ynode::type_t::null:
        return "null";
    case ynode::type_t::scalar:
        return "scalar";
    case ynode::type_t::seq:
        return "seq";
    case ynode::type_t::map:
        return "map";
    }
    return "?";
}

std::string show(const owned_node& n) {
    std::string s = fmt::format("{}@{}:{}", type_name(n.type), n.line + 1, n.col + 1);
    if (n.type == ynode::type_t::scalar) {
        s += fmt::format(" \"{}\"", n.value);
    }
    if (n.type == ynode::type_t::map || n.type == ynode::type_t::seq) {
        s += fmt::format(" ({} children)", n.children.size());
    }
    return s;
}

/// First difference between two trees, or empty; `where` is the path to the node.
std::string compare(const owned_node& fast, const owned_node& ref, const std::string& where) {
    if (fast.type != ref.type || fast.line != ref.line || fast.col != ref.col ||
        fast.value != ref.value || fast.children.size() != ref.children.size()) {
        return fmt::format("at {}: fast parser {}, yaml-cpp {}", where.empty() ? "root" : where,
                           show(fast), show(ref));
    }
    for (std::size_t i = 0; i < fast.children.size(); ++i) {
        std::string d = compare(fast.children[i], ref.children[i], fmt::format("{}/{}", where, i));
        if (!d.empty()) {
            return d;
        }
    }
    return {};
}

}  // namespace

differential_result differential_check(std::string_view text) {
    differential_result r;
    ydoc doc;
    collector fast;
    r.fast_accepted = parse_text(text, parse_mode::fast_only, doc, fast);
    if (!r.fast_accepted) {
        return r;
    }
    collector ref;
    (void)parse_text(text, parse_mode::yaml_cpp_only, doc, ref);
    if (!ref.error.empty()) {
        r.difference = fmt::format("the fast parser accepted a text yaml-cpp rejects ({})",
                                   ref.error);
        return r;
    }
    if (fast.docs.size() != ref.docs.size()) {
        r.difference = fmt::format("the fast parser read {} documents, yaml-cpp {}",
                                   fast.docs.size(), ref.docs.size());
        return r;
    }
    for (std::size_t i = 0; i < fast.docs.size(); ++i) {
        std::string d = compare(fast.docs[i], ref.docs[i], "");
        if (!d.empty()) {
            r.difference = fmt::format("document {}: {}", i + 1, d);
            return r;
        }
    }
    return r;
}

}  // namespace outrigger::routing::yaml_tree
