#include "routing/config_error.hpp"

#include <algorithm>
#include <cctype>
#include <tuple>

#include <fmt/format.h>

namespace outrigger::routing {

namespace {

config_error make_error(severity level, const object_meta& obj, const std::string& field,
                        std::string message) {
    config_error e;
    e.level = level;
    e.loc = obj.where(field);
    e.kind = obj.kind;
    e.ns = obj.ns;
    e.name = obj.name;
    e.field = field;
    e.message = std::move(message);
    return e;
}

const std::string& file_name(const std::vector<std::string>& files, std::uint32_t index) {
    static const std::string unknown;
    return index < files.size() ? files[index] : unknown;
}

/// Plain Levenshtein distance over ASCII-lower-cased characters, O(|a|·|b|) time, O(|b|) memory.
std::size_t edit_distance(const std::string& a, const std::string& b) {
    const auto lower = [](char c) {
        return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    };
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const std::size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + cost});
            diagonal = above;
        }
    }
    return row[b.size()];
}

const char* plural(std::size_t n, const char* one, const char* many) {
    return n == 1 ? one : many;
}

}  // namespace

void diagnostics::error(const object_meta& obj, const std::string& field, std::string message) {
    items_.push_back(make_error(severity::error, obj, field, std::move(message)));
}

void diagnostics::warning(const object_meta& obj, const std::string& field, std::string message) {
    items_.push_back(make_error(severity::warning, obj, field, std::move(message)));
}

void diagnostics::error_at(source_loc loc, std::string message) {
    config_error e;
    e.level = severity::error;
    e.loc = loc;
    e.message = std::move(message);
    items_.push_back(std::move(e));
}

void diagnostics::warning_at(source_loc loc, std::string message) {
    config_error e;
    e.level = severity::warning;
    e.loc = loc;
    e.message = std::move(message);
    items_.push_back(std::move(e));
}

std::size_t diagnostics::error_count() const {
    return static_cast<std::size_t>(
        std::count_if(items_.begin(), items_.end(),
                      [](const config_error& e) { return e.level == severity::error; }));
}

std::size_t diagnostics::warning_count() const {
    return items_.size() - error_count();
}

void diagnostics::sort_and_dedupe(const std::vector<std::string>& files) {
    const auto position = [&files](const config_error& e) {
        return std::tie(file_name(files, e.loc.file), e.loc.line, e.loc.col);
    };
    std::stable_sort(items_.begin(), items_.end(),
                     [&](const config_error& a, const config_error& b) {
                         return position(a) < position(b);
                     });
    // Equal entries share a position, so only entries of the same position group are compared.
    const auto same = [&](const config_error& a, const config_error& b) {
        return a.level == b.level && position(a) == position(b) && a.kind == b.kind &&
               a.ns == b.ns && a.name == b.name && a.field == b.field && a.message == b.message;
    };
    std::vector<config_error> kept;
    kept.reserve(items_.size());
    std::size_t group_start = 0;
    for (auto& e : items_) {
        if (!kept.empty() && position(kept.back()) != position(e)) {
            group_start = kept.size();
        }
        const bool duplicate = std::any_of(kept.begin() + static_cast<std::ptrdiff_t>(group_start),
                                           kept.end(),
                                           [&](const config_error& k) { return same(k, e); });
        if (!duplicate) {
            kept.push_back(std::move(e));
        }
    }
    items_ = std::move(kept);
}

std::string format(const config_error& e, const std::vector<std::string>& files) {
    std::string out;
    if (e.loc.file != no_file) {
        out = file_name(files, e.loc.file);
        if (e.loc.line > 0) {
            out += fmt::format(":{}:{}", e.loc.line, e.loc.col);
        }
        out += ": ";
    }
    out += e.level == severity::error ? "error: " : "warning: ";
    if (!e.kind.empty()) {
        out += e.kind;
        out += ' ';
        if (!e.ns.empty()) {
            out += e.ns;
            out += '/';
        }
        out += e.name;
        out += ": ";
    }
    if (!e.field.empty()) {
        out += e.field;
        out += ": ";
    }
    out += e.message;
    return out;
}

std::string format_count(const diagnostics& d) {
    const std::size_t errors = d.error_count();
    const std::size_t warnings = d.warning_count();
    return fmt::format("{} {}, {} {}", errors, plural(errors, "error", "errors"), warnings,
                       plural(warnings, "warning", "warnings"));
}

std::string closest(const std::string& word, const std::vector<std::string>& candidates) {
    const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
    std::size_t best_distance = limit + 1;
    const std::string* best = nullptr;
    for (const auto& c : candidates) {
        const std::size_t d = edit_distance(word, c);
        if (d < best_distance) {
            best_distance = d;
            best = &c;
        }
    }
    return best != nullptr ? *best : std::string{};
}

}  // namespace outrigger::routing
