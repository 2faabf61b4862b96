#pragma once
// Boost.JSON value -> YAML text in block style, for `outrigger inject`'s output. Reading the text
// back with parse_yaml_documents (or kubectl) gives the same value: strings that a YAML 1.1 or
// 1.2 reader would take for something else (`yes`, `on`, `null`, `8080`, `1e3`, `0.0.0.0:80`),
// that start with an indicator (`*&!%@-?:,[]{}#|>'"` and backquote), hold `: ` or ` #`, end in
// `:`, have leading or trailing blanks, or are empty are double-quoted; strings with line breaks
// are literal blocks (`|`, `|-`, `|+`) unless they cannot be (a first line that starts with a
// blank, control characters), then double-quoted with escapes. Sequences are indented under
// their key (`key:\n  - item`), empty containers are `{}` and `[]`. Key order is kept.
//
// Thread-affinity: none (pure functions).

#include <string>

#include <boost/json/value.hpp>

namespace outrigger::inject {

/// One document, without a leading `---`; ends with a newline.
[[nodiscard]] std::string to_yaml(const boost::json::value& document);

}  // namespace outrigger::inject
