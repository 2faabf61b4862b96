#pragma once
// INTERNAL to routing/ (the loader and fuzz/fuzz_yaml_fast_path): YAML text -> document trees.
// Not part of the public routing API; yaml-cpp stays out of this header.
//
// A text is cut into documents at `---` lines. Each document becomes a small tree (`ynode`s in
// a reused arena, `ydoc`) either by the fast subset parser, which reads the block/flow subset
// real manifests use (about 40 times faster than yaml-cpp, whose parser alone took over a second
// for a 10,000-service mesh), or, whenever the document uses anything else (anchors, tags, block
// scalars, multi-line scalars, tabs, CRLF, ...) or is malformed, by yaml-cpp's event parser,
// which also produces the syntax errors. Both build identical trees with yaml-cpp's marks;
// fuzz/fuzz_yaml_fast_path checks that claim on every input the fast parser accepts.
//
// Thread-affinity: none (no shared state); a `ydoc` belongs to one caller at a time.

#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace outrigger::routing::yaml_tree {

/// A node of a document. Children live in the document's arena, contiguously:
/// seq: items; map: key, value, key, value, ...
struct ynode {
    enum class type_t : std::uint8_t { null, scalar, seq, map };
    type_t type = type_t::null;
    std::uint32_t line = 0;  // 0-based, as yaml-cpp marks
    std::uint32_t col = 0;
    std::uint32_t first = 0;  // index of the first child in the arena
    std::uint32_t count = 0;  // number of children
    std::string_view value;   // scalar: into the source text or the document's string pool
};

/// Storage of one document, reused from one document to the next so that parsing allocates
/// (almost) nothing once warmed up.
class ydoc {
public:
    [[nodiscard]] std::span<const ynode> children(const ynode& n) const {
        return {nodes_.data() + n.first, n.count};
    }
    [[nodiscard]] std::size_t size() const { return nodes_.size(); }

    void clear() {
        nodes_.clear();
        scratch_.clear();
        pool_.clear();
    }

    // Building: children of open collections wait in `scratch_`; when a collection closes they
    // move to the arena as one block.
    [[nodiscard]] std::size_t open() const { return scratch_.size(); }
    void push(const ynode& n) { scratch_.push_back(n); }
    void close(ynode& collection, std::size_t opened) {
        collection.first = static_cast<std::uint32_t>(nodes_.size());
        collection.count = static_cast<std::uint32_t>(scratch_.size() - opened);
        nodes_.insert(nodes_.end(), scratch_.begin() + static_cast<std::ptrdiff_t>(opened),
                      scratch_.end());
        scratch_.resize(opened);
    }
    /// Keeps a string that is not a slice of the source (unescaped text, yaml-cpp's scalars).
    std::string_view keep(std::string_view text) { return pool_.emplace_back(text); }

private:
    std::vector<ynode> nodes_;
    std::vector<ynode> scratch_;
    std::deque<std::string> pool_;  // a deque: growing it never moves the strings
};

/// Receives the documents of a text, in order.
class document_sink {
public:
    virtual ~document_sink() = default;
    /// `root` and its children live in `doc` until the next document starts.
    virtual void on_document(const ynode& root, const ydoc& doc) = 0;
    /// A YAML syntax error at a 0-based line/column of the whole text; the rest of the document
    /// (or, for yaml-cpp errors in a text read whole, of the text) is not read.
    virtual void on_syntax_error(std::uint32_t line, std::uint32_t col, std::string message) = 0;
};

enum class parse_mode {
    automatic,      // what the loader does: fast parser per document, yaml-cpp where it bails
    fast_only,      // the fast parser only: parse_text returns false as soon as it bails
    yaml_cpp_only,  // yaml-cpp reads the whole text (the reference the fuzzer compares with)
};

/// Parses `text` and hands each document with a root node to `sink` (empty documents give
/// nothing; a document holding only `~` gives a null root). Returns false only in fast_only mode,
/// when a document is outside the fast subset (documents before it were delivered).
bool parse_text(std::string_view text, parse_mode mode, ydoc& doc, document_sink& sink);

/// The differential check of fuzz/fuzz_yaml_fast_path (and of the regression tests): parses
/// `text` with the fast parser alone and, when it accepts every document, with yaml-cpp reading
/// the whole text, and compares the documents (null roots aside, which the loader skips): node
/// types, scalar values, lines and columns. `difference` is empty when they agree (or when the
/// fast parser did not accept the text: then yaml-cpp alone reads it in the loader).
struct differential_result {
    bool fast_accepted = false;
    std::string difference;  // first difference, with both sides shown
};
[[nodiscard]] differential_result differential_check(std::string_view text);

}  // namespace outrigger::routing::yaml_tree
