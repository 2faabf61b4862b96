#pragma once
// Diagnostics of the config plane: every error and warning found while loading, resolving and
// validating a mesh, in the format of DECISIONS.md §1:
//   FILE:LINE:COL: error: KIND NAMESPACE/NAME: FIELD.PATH: message
// Cluster-scoped objects (Mesh) print `Mesh NAME`. Errors that belong to no object (a YAML syntax
// error, an unreadable file) print `FILE:LINE:COL: error: message`.

#include <string>
#include <vector>

#include "routing/mesh_model.hpp"

namespace outrigger::routing {

enum class severity { error, warning };

/// `source_loc::file` of a diagnostic that belongs to no input file (e.g. `--node` names nothing):
/// printed as `error: message`.
inline constexpr std::uint32_t no_file = 0xFFFFFFFFu;

struct config_error {
    severity level = severity::error;
    source_loc loc;
    std::string kind;  // empty when no object is involved
    std::string ns;
    std::string name;
    std::string field;  // field path, may be empty
    std::string message;
};

/// Collects diagnostics; cheap to pass around by reference.
class diagnostics {
public:
    void error(const object_meta& obj, const std::string& field, std::string message);
    void warning(const object_meta& obj, const std::string& field, std::string message);
    void error_at(source_loc loc, std::string message);
    void warning_at(source_loc loc, std::string message);
    void add(config_error e) { items_.push_back(std::move(e)); }

    [[nodiscard]] std::size_t error_count() const;
    [[nodiscard]] std::size_t warning_count() const;
    [[nodiscard]] bool has_errors() const { return error_count() > 0; }
    [[nodiscard]] const std::vector<config_error>& items() const { return items_; }
    std::vector<config_error>& items() { return items_; }

    /// Sorts by file, line, column (stable, so equal positions keep discovery order) and removes
    /// exact duplicates.
    void sort_and_dedupe(const std::vector<std::string>& files);

private:
    std::vector<config_error> items_;
};

/// One line, without a trailing newline.
[[nodiscard]] std::string format(const config_error& e, const std::vector<std::string>& files);

/// `N errors, M warnings` (the count line printed after the list).
[[nodiscard]] std::string format_count(const diagnostics& d);

/// Levenshtein-closest candidate to `word`, or empty when none is reasonably close.
[[nodiscard]] std::string closest(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace outrigger::routing
