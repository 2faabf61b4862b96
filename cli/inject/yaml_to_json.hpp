#pragma once
// YAML text -> Boost.JSON values, one per document, the way kubectl reads a manifest
// (sigs.k8s.io/yaml: YAML 1.1 scalars of go-yaml v2, then JSON). `outrigger inject` works on this
// generic tree so that every field of a workload survives, including the ones outrigger knows
// nothing about. The second yaml-cpp user after routing/yaml_loader.cpp (STYLE.md: yaml-cpp stays
// behind one file per module); yaml-cpp types never leave the .cpp.
//
// Scalars resolve as kubectl resolves them, so the output means to the API server what the input
// meant: plain `true/yes/on/y` and `false/no/off/n` (any of their three cases) are booleans,
// `~`/`null`/empty are null, `0x1F`/`0o17`/`0644`/`1_000` are integers (`0644` is octal: 420),
// `1.5`/`1e3`/`.inf`/`.nan` are floats; quoted and block scalars and `!!str` are strings.
// Anchors and aliases are expanded (bounded), `<<` merge keys are merged, keys are strings
// (non-string keys are converted as kubectl does). Comments are not kept.
//
// Thread-affinity: none (pure function).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/value.hpp>

namespace outrigger::inject {

/// 1-based line and column.
struct text_position {
    std::uint32_t line = 0;
    std::uint32_t col = 0;
};

/// One YAML document as JSON, with the position of every mapping in it.
struct yaml_document {
    boost::json::value root;  // null for an empty document
    text_position start;      // the document's first node
    /// JSON pointer (RFC 6901, "" = root) of every mapping -> where it starts, in document order.
    std::vector<std::pair<std::string, text_position>> maps;

    /// Position of the mapping at `pointer`, or of its closest enclosing mapping, or `start`.
    [[nodiscard]] text_position where(std::string_view pointer) const;
};

struct yaml_parse_result {
    std::vector<yaml_document> documents;
    /// Empty on success; otherwise "LINE:COL: message" context is in `error_at`.
    std::string error;
    text_position error_at;
};

/// Parses every document of `text`. On a syntax error, a duplicate key, a complex key or an alias
/// bomb, `error` is set and `documents` holds nothing (a stream is taken whole or not at all).
[[nodiscard]] yaml_parse_result parse_yaml_documents(const std::string& text);

/// `~` -> `~0`, `/` -> `~1` (RFC 6901).
[[nodiscard]] std::string escape_pointer_token(std::string_view token);

}  // namespace outrigger::inject
