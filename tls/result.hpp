#pragma once
// `tls::result<T>`: a value or a one-line, human-readable error message (which names the file
// involved when there is one). The tls/ module never lets exceptions escape; every fallible
// control-plane call returns one of these.

#include <string>
#include <utility>
#include <variant>

namespace outrigger::tls {

/// The error side of `result`. A distinct type so that `result<std::string>` is unambiguous.
struct error_message {
    std::string text;
};

template <class T>
class [[nodiscard]] result {
public:
    result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
    result(error_message err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT

    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    /// Precondition: `has_value()`.
    [[nodiscard]] T& value() & { return std::get<0>(v_); }
    [[nodiscard]] const T& value() const& { return std::get<0>(v_); }
    [[nodiscard]] T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }

    /// Precondition: `!has_value()`.
    [[nodiscard]] const std::string& error() const { return std::get<1>(v_).text; }

private:
    std::variant<T, error_message> v_;
};

/// Shorthand for building the error side: `return fail("cannot read '" + path + "'")`.
[[nodiscard]] inline error_message fail(std::string text) {
    return error_message{std::move(text)};
}

}  // namespace outrigger::tls
