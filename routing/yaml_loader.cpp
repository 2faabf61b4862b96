#include "routing/yaml_loader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <set>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "routing/matchers.hpp"
#include "routing/yaml_tree.hpp"

// How it works. routing/yaml_tree turns each document of a file into a small tree (the fast
// subset parser, or yaml-cpp where it bails). `document_loader` takes each App Mesh document (and
// each item of a Kubernetes List) and `decoder` walks its tree into the model structs, building
// field paths incrementally and recording the position of every node it reads.

namespace outrigger::routing {

namespace {

using yaml_tree::ydoc;
using yaml_tree::ynode;

// ------------------------------------------------------------------------------------------------
// Decoding

using sv = std::string_view;

constexpr sv appmesh_api_version = "appmesh.k8s.aws/v1beta2";
constexpr sv appmesh_group_prefix = "appmesh.k8s.aws/";

bool present(const ynode& n) {
    return n.type != ynode::type_t::null;
}

std::string describe(const ynode& n) {
    switch (n.type) {
    case ynode::type_t::map:
        return "a map";
    case ynode::type_t::seq:
        return "a list";
    case ynode::type_t::null:
        return "nothing";
    case ynode::type_t::scalar:
        break;
    }
    constexpr std::size_t max_shown = 60;
    if (n.value.size() > max_shown) {
        return fmt::format("\"{}...\"", n.value.substr(0, max_shown));
    }
    return fmt::format("\"{}\"", n.value);
}

/// `a, b or c`
std::string join_choices(std::initializer_list<sv> choices) {
    std::string out;
    std::size_t i = 0;
    for (const sv c : choices) {
        if (i > 0) {
            out += i + 1 == choices.size() ? " or " : ", ";
        }
        out += c;
        ++i;
    }
    return out;
}

bool parse_bool(sv s, bool& out) {
    // YAML 1.1 spellings too, as Kubernetes' YAML decoder accepts them.
    static constexpr std::array<sv, 11> truthy{"true", "True", "TRUE", "yes", "Yes", "YES",
                                               "on",   "On",   "ON",   "y",   "Y"};
    static constexpr std::array<sv, 11> falsy{"false", "False", "FALSE", "no", "No", "NO",
                                              "off",   "Off",   "OFF",   "n",  "N"};
    if (std::find(truthy.begin(), truthy.end(), s) != truthy.end()) {
        out = true;
        return true;
    }
    if (std::find(falsy.begin(), falsy.end(), s) != falsy.end()) {
        out = false;
        return true;
    }
    return false;
}

/// Which TLS source kinds a block accepts (spec §2.5).
enum class source_role {
    listener_certificate,    // acm.certificateARN | file{chain,key} | sds
    client_certificate,      // file{chain,key} | sds
    listener_trust,          // file.certificateChain | sds
    gateway_listener_trust,  // acm.certificateAuthorityARNs | file.certificateChain | sds
    client_trust,            // acm.certificateAuthorityARNs | file.certificateChain | sds
};

/// Walks the tree of one object into the model. `path_` is the field path of the node being
/// read; every node read is recorded in the object's `field_locs`.
class decoder {
public:
    decoder(diagnostics& diags, std::uint32_t file) : diags_(diags), file_(file) {
        path_.reserve(128);
    }

    void set_document(const ydoc& doc) { doc_ = &doc; }

    void begin(object_meta& meta) {
        meta_ = &meta;
        path_.clear();
    }

    [[nodiscard]] source_loc loc(const ynode& n) const { return {file_, n.line + 1, n.col + 1}; }

    // -- generic walking ------------------------------------------------------------------------

    /// Calls `on_field(key, value)` for each entry of `map` with `path_` extended by the key;
    /// a false return marks the key as unknown (warning with the closest of `known`).
    template <class F>
    void fields(const ynode& map, std::initializer_list<sv> known, F&& on_field) {
        const auto ch = doc_->children(map);
        for (std::size_t i = 0; i + 1 < ch.size(); i += 2) {
            const ynode& k = ch[i];
            const ynode& v = ch[i + 1];
            const sv key = k.type == ynode::type_t::scalar ? sv(k.value) : sv("?");
            const std::size_t saved = path_.size();
            if (!path_.empty()) {
                path_ += '.';
            }
            path_ += key;
            // Scalars are located at their value (where a type error is), the rest at the key.
            const std::size_t recorded = meta_->field_locs.size();
            record(v.type == ynode::type_t::scalar ? v : k);
            if (is_duplicate(ch, i)) {
                // Located at the repeated key (where() would find the first one).
                config_error e;
                e.loc = loc(k);
                e.kind = meta_->kind;
                e.ns = meta_->ns;
                e.name = meta_->name;
                e.field = path_;
                e.message = fmt::format("duplicate field \"{}\" (the first one is used)", key);
                diags_.add(std::move(e));
            } else if (!on_field(key, v)) {
                meta_->field_locs[recorded].second = loc(k);
                unknown(key, known);
            }
            path_.resize(saved);
        }
    }

    /// Calls `on_item(item)` for each item of `seq` with `path_` extended by `[i]`.
    template <class F>
    void items(const ynode& seq, F&& on_item) {
        const auto ch = doc_->children(seq);
        for (std::size_t i = 0; i < ch.size(); ++i) {
            const std::size_t saved = path_.size();
            std::array<char, 24> buf{};
            const auto res = std::to_chars(buf.data(), buf.data() + buf.size(), i);
            path_ += '[';
            path_.append(buf.data(), res.ptr);
            path_ += ']';
            record(ch[i]);
            on_item(ch[i]);
            path_.resize(saved);
        }
    }

    void record(const ynode& n) { meta_->field_locs.emplace_back(path_, loc(n)); }

    void error(std::string message) { diags_.error(*meta_, path_, std::move(message)); }

    void require(bool given, sv field) {
        if (!given) {
            diags_.error(*meta_, fmt::format("{}.{}", path_, field), "required field is missing");
        }
    }

    void unknown(sv key, std::initializer_list<sv> known) {
        const std::vector<std::string> candidates(known.begin(), known.end());
        const std::string best = closest(std::string(key), candidates);
        diags_.warning(*meta_, path_,
                       best.empty()
                           ? fmt::format("unknown field \"{}\"", key)
                           : fmt::format("unknown field \"{}\" (did you mean \"{}\"?)", key, best));
    }

    // -- typed values: absent (null) -> false, no message; wrong type -> error, false -----------

    bool is_map(const ynode& v) {
        if (v.type == ynode::type_t::map) {
            return true;
        }
        if (v.type != ynode::type_t::null) {
            error(fmt::format("expected a map, got {}", describe(v)));
        }
        return false;
    }

    /// A list item must be a map; an empty item is an error too.
    bool is_item_map(const ynode& v) {
        if (v.type == ynode::type_t::map) {
            return true;
        }
        error(fmt::format("expected a map, got {}", describe(v)));
        return false;
    }

    bool is_seq(const ynode& v) {
        if (v.type == ynode::type_t::seq) {
            return true;
        }
        if (v.type != ynode::type_t::null) {
            error(fmt::format("expected a list, got {}", describe(v)));
        }
        return false;
    }

    bool get(const ynode& v, std::string& out) {
        if (v.type == ynode::type_t::scalar) {
            out = v.value;
            return true;
        }
        if (v.type != ynode::type_t::null) {
            error(fmt::format("expected a string, got {}", describe(v)));
        }
        return false;
    }

    bool get(const ynode& v, std::optional<std::string>& out) {
        std::string s;
        if (!get(v, s)) {
            return false;
        }
        out = std::move(s);
        return true;
    }

    bool get(const ynode& v, std::int64_t& out) {
        std::int64_t n = 0;
        if (v.type == ynode::type_t::scalar && parse_int64(v.value, n)) {
            out = n;
            return true;
        }
        if (v.type != ynode::type_t::null) {
            error(fmt::format("expected an integer, got {}", describe(v)));
        }
        return false;
    }

    bool get(const ynode& v, std::optional<std::int64_t>& out) {
        std::int64_t n = 0;
        if (!get(v, n)) {
            return false;
        }
        out = n;
        return true;
    }

    bool get(const ynode& v, bool& out) {
        if (v.type == ynode::type_t::scalar && parse_bool(v.value, out)) {
            return true;
        }
        if (v.type != ynode::type_t::null) {
            error(fmt::format("expected true or false, got {}", describe(v)));
        }
        return false;
    }

    /// A string that must be one of `choices`; `what` names it in the message.
    bool get_enum(const ynode& v, std::string& out, std::initializer_list<sv> choices, sv what) {
        std::string s;
        if (!get(v, s)) {
            return false;
        }
        if (std::find(choices.begin(), choices.end(), sv(s)) == choices.end()) {
            error(fmt::format("unknown {} \"{}\" (expected {})", what, s, join_choices(choices)));
            return false;
        }
        out = std::move(s);
        return true;
    }

    bool get_enum(const ynode& v, std::optional<std::string>& out,
                  std::initializer_list<sv> choices, sv what) {
        std::string s;
        if (!get_enum(v, s, choices, what)) {
            return false;
        }
        out = std::move(s);
        return true;
    }

    void get_strings(const ynode& v, std::vector<std::string>& out) {
        if (!is_seq(v)) {
            return;
        }
        out.reserve(out.size() + v.count);
        items(v, [&](const ynode& item) {
            std::string s;
            if (get(item, s)) {
                out.push_back(std::move(s));
            }
        });
    }

    void get_enum_list(const ynode& v, std::vector<std::string>& out,
                       std::initializer_list<sv> choices, sv what) {
        if (!is_seq(v)) {
            return;
        }
        items(v, [&](const ynode& item) {
            std::string s;
            if (get_enum(item, s, choices, what)) {
                out.push_back(std::move(s));
            }
        });
    }

    void get_ints(const ynode& v, std::vector<std::int64_t>& out) {
        if (!is_seq(v)) {
            return;
        }
        items(v, [&](const ynode& item) {
            std::int64_t n = 0;
            if (get(item, n)) {
                out.push_back(n);
            }
        });
    }

    bool get_protocol(const ynode& v, protocol& out) {
        std::string s;
        if (!get(v, s)) {
            return false;
        }
        if (s == "http") {
            out = protocol::http;
        } else if (s == "http2") {
            out = protocol::http2;
        } else if (s == "grpc") {
            out = protocol::grpc;
        } else if (s == "tcp") {
            out = protocol::tcp;
        } else {
            error(fmt::format("unknown protocol \"{}\" (expected http, http2, grpc or tcp)", s));
            return false;
        }
        return true;
    }

    void get_string_map(const ynode& v, std::map<std::string, std::string>& out) {
        if (!is_map(v)) {
            return;
        }
        fields(v, {}, [&](sv key, const ynode& x) {
            std::string s;
            get(x, s);  // an empty value is ""
            out.insert_or_assign(std::string(key), std::move(s));
            return true;
        });
    }

    // -- building blocks (spec §2) --------------------------------------------------------------

    bool get_duration(const ynode& v, duration& d) {
        if (!is_map(v)) {
            return false;
        }
        bool has_value = false;
        bool has_unit = false;
        fields(v, {"value", "unit"}, [&](sv k, const ynode& x) {
            if (k == "value") {
                has_value = present(x);
                get(x, d.value);
                return true;
            }
            if (k == "unit") {
                has_unit = present(x);
                std::string u;
                if (get(x, u)) {
                    if (u == "s") {
                        d.unit = duration::unit_t::s;
                    } else if (u == "ms") {
                        d.unit = duration::unit_t::ms;
                    } else {
                        error(fmt::format("unknown duration unit \"{}\" (expected s or ms)", u));
                    }
                }
                return true;
            }
            return false;
        });
        require(has_value, "value");
        require(has_unit, "unit");
        return true;
    }

    bool get_duration(const ynode& v, std::optional<duration>& out) {
        duration d;
        if (!get_duration(v, d)) {
            return false;
        }
        out = d;
        return true;
    }

    /// `portMapping` (required wherever it appears).
    void get_port_mapping(const ynode& v, port_mapping& pm) {
        if (!is_map(v)) {
            return;
        }
        bool has_port = false;
        bool has_protocol = false;
        fields(v, {"port", "protocol"}, [&](sv k, const ynode& x) {
            if (k == "port") {
                has_port = present(x);
                get(x, pm.port);
                return true;
            }
            if (k == "protocol") {
                has_protocol = present(x);
                get_protocol(x, pm.proto);
                return true;
            }
            return false;
        });
        require(has_port, "port");
        require(has_protocol, "protocol");
    }

    /// `xxxRef: {name, namespace}` (meshRef and virtualGatewayRef also carry a uid).
    void get_ref(const ynode& v, object_ref& r, bool with_uid = false) {
        if (!is_map(v)) {
            return;
        }
        bool has_name = false;
        fields(v, {"name", "namespace", "uid"}, [&](sv k, const ynode& x) {
            if (k == "name") {
                has_name = present(x);
                get(x, r.name);
                return true;
            }
            if (k == "namespace") {
                r.ns_given = get(x, r.ns);
                return true;
            }
            if (k == "uid" && with_uid) {
                std::string ignored;
                get(x, ignored);
                return true;
            }
            return false;
        });
        require(has_name, "name");
    }

    /// A list item that is itself a reference (backendGroups[], virtualservices[]).
    void get_ref_list(const ynode& v, std::vector<object_ref>& out) {
        if (!is_seq(v)) {
            return;
        }
        out.reserve(out.size() + v.count);
        items(v, [&](const ynode& item) {
            if (!is_item_map(item)) {
                return;
            }
            object_ref r;
            get_ref(item, r);
            out.push_back(std::move(r));
        });
    }

    void get_mesh_ref(const ynode& v) {
        object_ref r;
        get_ref(v, r, /*with_uid=*/true);
        if (present(v) && !r.name.empty()) {
            meta_->mesh_ref = std::move(r.name);
        }
    }

    void get_selector(const ynode& v, label_selector& sel) {
        fields(v, {"matchLabels", "matchExpressions"}, [&](sv k, const ynode& x) {
            if (k == "matchLabels") {
                get_string_map(x, sel.match_labels);
                return true;
            }
            if (k == "matchExpressions") {
                if (!is_seq(x)) {
                    return true;
                }
                items(x, [&](const ynode& item) {
                    if (!is_item_map(item)) {
                        return;
                    }
                    label_selector::expression e;
                    bool has_key = false;
                    bool has_op = false;
                    fields(item, {"key", "operator", "values"}, [&](sv ek, const ynode& ex) {
                        if (ek == "key") {
                            has_key = present(ex);
                            get(ex, e.key);
                            return true;
                        }
                        if (ek == "operator") {
                            has_op = present(ex);
                            get(ex, e.op);
                            return true;
                        }
                        if (ek == "values") {
                            get_strings(ex, e.values);
                            return true;
                        }
                        return false;
                    });
                    require(has_key, "key");
                    require(has_op, "operator");
                    sel.match_expressions.push_back(std::move(e));
                });
                return true;
            }
            return false;
        });
    }

    bool get_selector(const ynode& v, std::optional<label_selector>& out) {
        if (!is_map(v)) {
            return false;
        }
        label_selector sel;
        get_selector(v, sel);
        out = std::move(sel);
        return true;
    }

    /// HeaderMatchMethod / GRPCRouteMetadataMatchMethod (§2.4).
    void get_string_match(const ynode& v, string_match& m) {
        if (!is_map(v)) {
            return;
        }
        const auto given = [&](string_match::kind_t kind) {
            if (++m.kinds_given == 1) {
                m.kind = kind;
                return true;
            }
            return false;
        };
        fields(v, {"exact", "prefix", "suffix", "regex", "range"}, [&](sv k, const ynode& x) {
            string_match::kind_t kind = string_match::kind_t::exact;
            if (k == "exact") {
                kind = string_match::kind_t::exact;
            } else if (k == "prefix") {
                kind = string_match::kind_t::prefix;
            } else if (k == "suffix") {
                kind = string_match::kind_t::suffix;
            } else if (k == "regex") {
                kind = string_match::kind_t::regex;
            } else if (k == "range") {
                if (!is_map(x)) {
                    return true;
                }
                std::int64_t start = 0;
                std::int64_t end = 0;
                bool has_start = false;
                bool has_end = false;
                fields(x, {"start", "end"}, [&](sv rk, const ynode& rx) {
                    if (rk == "start") {
                        has_start = present(rx);
                        get(rx, start);
                        return true;
                    }
                    if (rk == "end") {
                        has_end = present(rx);
                        get(rx, end);
                        return true;
                    }
                    return false;
                });
                require(has_start, "start");
                require(has_end, "end");
                if (given(string_match::kind_t::range)) {
                    m.range_start = start;
                    m.range_end = end;
                }
                return true;
            } else {
                return false;
            }
            std::string s;
            if (get(x, s) && given(kind)) {
                m.value = std::move(s);
            }
            return true;
        });
    }

    void get_headers(const ynode& v, std::vector<header_match>& out) {
        if (!is_seq(v)) {
            return;
        }
        out.reserve(v.count);
        items(v, [&](const ynode& item) {
            if (!is_item_map(item)) {
                return;
            }
            header_match h;
            bool has_name = false;
            fields(item, {"name", "match", "invert"}, [&](sv k, const ynode& x) {
                if (k == "name") {
                    has_name = present(x);
                    get(x, h.name);
                    return true;
                }
                if (k == "match") {
                    get_string_match(x, h.match);
                    return true;
                }
                if (k == "invert") {
                    get(x, h.invert);
                    return true;
                }
                return false;
            });
            require(has_name, "name");
            out.push_back(std::move(h));
        });
    }

    void get_query(const ynode& v, std::vector<query_match>& out) {
        if (!is_seq(v)) {
            return;
        }
        out.reserve(v.count);
        items(v, [&](const ynode& item) {
            if (!is_item_map(item)) {
                return;
            }
            query_match q;
            bool has_name = false;
            fields(item, {"name", "match"}, [&](sv k, const ynode& x) {
                if (k == "name") {
                    has_name = present(x);
                    get(x, q.name);
                    return true;
                }
                if (k == "match") {
                    q.match_block = is_map(x);
                    if (q.match_block) {
                        fields(x, {"exact"}, [&](sv mk, const ynode& mx) {
                            if (mk == "exact") {
                                get(mx, q.exact);
                                return true;
                            }
                            return false;
                        });
                    }
                    return true;
                }
                return false;
            });
            require(has_name, "name");
            out.push_back(std::move(q));
        });
    }

    /// `file` / `sds` / `acm` union (§2.5).
    void get_tls_source(const ynode& v, tls_source& src, source_role role) {
        if (!is_map(v)) {
            return;
        }
        const bool certificate =
            role == source_role::listener_certificate || role == source_role::client_certificate;
        const bool acm = role != source_role::client_certificate &&
                         role != source_role::listener_trust;
        const auto given = [&](tls_source::kind_t kind) {
            if (++src.kinds_given == 1) {
                src.kind = kind;
            }
        };
        const auto on_field = [&](sv k, const ynode& x) {
            if (k == "file") {
                if (!is_map(x)) {
                    return true;
                }
                given(tls_source::kind_t::file);
                bool has_chain = false;
                bool has_key = false;
                fields(x, {"certificateChain", "privateKey"}, [&](sv fk, const ynode& fx) {
                    if (fk == "certificateChain") {
                        has_chain = present(fx);
                        get(fx, src.certificate_chain);
                        return true;
                    }
                    if (fk == "privateKey" && certificate) {
                        has_key = present(fx);
                        get(fx, src.private_key);
                        return true;
                    }
                    return false;
                });
                require(has_chain, "certificateChain");
                if (certificate) {
                    require(has_key, "privateKey");
                }
                return true;
            }
            if (k == "sds") {
                if (!is_map(x)) {
                    return true;
                }
                given(tls_source::kind_t::sds);
                bool has_secret = false;
                fields(x, {"secretName"}, [&](sv sk, const ynode& sx) {
                    if (sk == "secretName") {
                        has_secret = present(sx);
                        get(sx, src.secret_name);
                        return true;
                    }
                    return false;
                });
                require(has_secret, "secretName");
                return true;
            }
            if (k == "acm" && acm) {
                if (!is_map(x)) {
                    return true;
                }
                given(tls_source::kind_t::acm);
                const sv arn_key = certificate ? "certificateARN" : "certificateAuthorityARNs";
                bool has_arn = false;
                fields(x, {arn_key}, [&](sv ak, const ynode& ax) {
                    if (ak != arn_key) {
                        return false;
                    }
                    has_arn = present(ax);
                    if (certificate) {
                        std::string arn;
                        if (get(ax, arn)) {
                            src.acm_arns.push_back(std::move(arn));
                        }
                    } else {
                        get_strings(ax, src.acm_arns);
                    }
                    return true;
                });
                require(has_arn, arn_key);
                return true;
            }
            return false;
        };
        if (acm) {
            fields(v, {"acm", "file", "sds"}, on_field);
        } else {
            fields(v, {"file", "sds"}, on_field);
        }
    }

    /// `subjectAlternativeNames: {match: {exact: [...]}}`
    void get_sans(const ynode& v, std::vector<std::string>& out) {
        if (!is_map(v)) {
            return;
        }
        fields(v, {"match"}, [&](sv k, const ynode& x) {
            if (k != "match") {
                return false;
            }
            if (is_map(x)) {
                fields(x, {"exact"}, [&](sv mk, const ynode& mx) {
                    if (mk != "exact") {
                        return false;
                    }
                    get_strings(mx, out);
                    return true;
                });
            }
            return true;
        });
    }

    void get_listener_tls(const ynode& v, std::optional<listener_tls>& out, bool gateway) {
        if (!is_map(v)) {
            return;
        }
        listener_tls t;
        bool has_mode = false;
        fields(v, {"mode", "certificate", "validation"}, [&](sv k, const ynode& x) {
            if (k == "mode") {
                has_mode = present(x);
                get_enum(x, t.mode, {"STRICT", "PERMISSIVE", "DISABLED"}, "TLS mode");
                return true;
            }
            if (k == "certificate") {
                get_tls_source(x, t.certificate, source_role::listener_certificate);
                return true;
            }
            if (k == "validation") {
                if (!is_map(x)) {
                    return true;
                }
                fields(x, {"trust", "subjectAlternativeNames"}, [&](sv vk, const ynode& vx) {
                    if (vk == "trust") {
                        if (is_map(vx)) {
                            t.validation_trust.emplace();
                            get_tls_source(vx, *t.validation_trust,
                                           gateway ? source_role::gateway_listener_trust
                                                   : source_role::listener_trust);
                        }
                        return true;
                    }
                    if (vk == "subjectAlternativeNames") {
                        get_sans(vx, t.validation_sans);
                        return true;
                    }
                    return false;
                });
                return true;
            }
            return false;
        });
        require(has_mode, "mode");
        out = std::move(t);
    }

    void get_client_policy(const ynode& v, std::optional<client_policy>& out) {
        if (!is_map(v)) {
            return;
        }
        client_policy cp;
        fields(v, {"tls"}, [&](sv k, const ynode& x) {
            if (k != "tls") {
                return false;
            }
            if (!is_map(x)) {
                return true;
            }
            client_tls_policy p;
            const auto on_tls_field = [&](sv tk, const ynode& tx) {
                if (tk == "enforce") {
                    get(tx, p.enforce);
                    return true;
                }
                if (tk == "ports") {
                    get_ints(tx, p.ports);
                    return true;
                }
                if (tk == "certificate") {
                    if (is_map(tx)) {
                        p.certificate.emplace();
                        get_tls_source(tx, *p.certificate, source_role::client_certificate);
                    }
                    return true;
                }
                if (tk == "validation") {
                    if (!is_map(tx)) {
                        return true;
                    }
                    fields(tx, {"trust", "subjectAlternativeNames"}, [&](sv vk, const ynode& vx) {
                        if (vk == "trust") {
                            get_tls_source(vx, p.validation_trust, source_role::client_trust);
                            return true;
                        }
                        if (vk == "subjectAlternativeNames") {
                            get_sans(vx, p.validation_sans);
                            return true;
                        }
                        return false;
                    });
                    return true;
                }
                return false;
            };
            fields(x, {"enforce", "ports", "certificate", "validation"}, on_tls_field);
            cp.tls = std::move(p);
            return true;
        });
        out = std::move(cp);
    }

    /// `backendDefaults: {clientPolicy: ...}`
    void get_backend_defaults(const ynode& v, std::optional<client_policy>& out) {
        if (!is_map(v)) {
            return;
        }
        fields(v, {"clientPolicy"}, [&](sv k, const ynode& x) {
            if (k != "clientPolicy") {
                return false;
            }
            get_client_policy(x, out);
            return true;
        });
    }

    void get_health_check(const ynode& v, std::optional<health_check>& out, bool gateway) {
        if (!is_map(v)) {
            return;
        }
        health_check h;
        bool has_protocol = false;
        bool has_interval = false;
        bool has_timeout = false;
        bool has_healthy = false;
        bool has_unhealthy = false;
        fields(v,
               {"protocol", "port", "path", "intervalMillis", "timeoutMillis", "healthyThreshold",
                "unhealthyThreshold"},
               [&](sv k, const ynode& x) {
                   if (k == "protocol") {
                       has_protocol = present(x);
                       protocol p = protocol::http;
                       if (get_protocol(x, p)) {
                           h.protocol = x.value;
                       }
                       return true;
                   }
                   if (k == "port") {
                       get(x, h.port);
                       return true;
                   }
                   if (k == "path") {
                       get(x, h.path);
                       return true;
                   }
                   if (k == "intervalMillis") {
                       has_interval = present(x);
                       get(x, h.interval_ms);
                       return true;
                   }
                   if (k == "timeoutMillis") {
                       has_timeout = present(x);
                       get(x, h.timeout_ms);
                       return true;
                   }
                   if (k == "healthyThreshold") {
                       has_healthy = present(x);
                       get(x, h.healthy_threshold);
                       return true;
                   }
                   if (k == "unhealthyThreshold") {
                       has_unhealthy = present(x);
                       get(x, h.unhealthy_threshold);
                       return true;
                   }
                   return false;
               });
        require(has_protocol, "protocol");
        require(has_interval, "intervalMillis");
        require(has_timeout, "timeoutMillis");
        if (!gateway) {
            require(has_healthy, "healthyThreshold");  // optional in the VirtualGateway CRD (§7)
        }
        require(has_unhealthy, "unhealthyThreshold");
        out = std::move(h);
    }

    void get_outlier_detection(const ynode& v, std::optional<outlier_detection>& out) {
        if (!is_map(v)) {
            return;
        }
        outlier_detection o;
        bool has_errors = false;
        bool has_interval = false;
        bool has_base = false;
        bool has_percent = false;
        fields(v, {"maxServerErrors", "interval", "baseEjectionDuration", "maxEjectionPercent"},
               [&](sv k, const ynode& x) {
                   if (k == "maxServerErrors") {
                       has_errors = present(x);
                       get(x, o.max_server_errors);
                       return true;
                   }
                   if (k == "interval") {
                       has_interval = present(x);
                       get_duration(x, o.interval);
                       return true;
                   }
                   if (k == "baseEjectionDuration") {
                       has_base = present(x);
                       get_duration(x, o.base_ejection_duration);
                       return true;
                   }
                   if (k == "maxEjectionPercent") {
                       has_percent = present(x);
                       get(x, o.max_ejection_percent);
                       return true;
                   }
                   return false;
               });
        require(has_errors, "maxServerErrors");
        require(has_interval, "interval");
        require(has_base, "baseEjectionDuration");
        require(has_percent, "maxEjectionPercent");
        out = std::move(o);
    }

    void get_connection_pool(const ynode& v, std::optional<connection_pool>& out, bool gateway) {
        if (!is_map(v)) {
            return;
        }
        connection_pool cp;
        const auto on_field = [&](sv k, const ynode& x) {
            const bool connections = k == "tcp" || k == "http";
            if (!connections && k != "http2" && k != "grpc") {
                return false;
            }
            if (gateway && k == "tcp") {
                return false;
            }
            if (!is_map(x)) {
                return true;
            }
            const bool first = ++cp.kinds_given == 1;
            if (first) {
                cp.kind = std::string(k);
            }
            connection_pool scratch;  // a second kind is still checked (validate reports it)
            connection_pool& into = first ? cp : scratch;
            bool has_required = false;
            if (k == "tcp") {
                fields(x, {"maxConnections"}, [&](sv pk, const ynode& px) {
                    if (pk == "maxConnections") {
                        has_required = present(px);
                        get(px, into.max_connections);
                        return true;
                    }
                    return false;
                });
                require(has_required, "maxConnections");
            } else if (k == "http") {
                fields(x, {"maxConnections", "maxPendingRequests"}, [&](sv pk, const ynode& px) {
                    if (pk == "maxConnections") {
                        has_required = present(px);
                        get(px, into.max_connections);
                        return true;
                    }
                    if (pk == "maxPendingRequests") {
                        get(px, into.max_pending_requests);
                        return true;
                    }
                    return false;
                });
                require(has_required, "maxConnections");
            } else {
                fields(x, {"maxRequests"}, [&](sv pk, const ynode& px) {
                    if (pk == "maxRequests") {
                        has_required = present(px);
                        get(px, into.max_requests);
                        return true;
                    }
                    return false;
                });
                require(has_required, "maxRequests");
            }
            return true;
        };
        if (gateway) {
            fields(v, {"http", "http2", "grpc"}, on_field);
        } else {
            fields(v, {"tcp", "http", "http2", "grpc"}, on_field);
        }
        out = std::move(cp);
    }

    /// `timeout: {perRequest, idle}` of routes and listeners; tcp has only `idle`.
    void get_timeout(const ynode& v, timeout_block& t, bool tcp) {
        if (!is_map(v)) {
            return;
        }
        const auto on_field = [&](sv k, const ynode& x) {
            if (k == "perRequest" && !tcp) {
                get_duration(x, t.per_request);
                return true;
            }
            if (k == "idle") {
                get_duration(x, t.idle);
                return true;
            }
            return false;
        };
        if (tcp) {
            fields(v, {"idle"}, on_field);
        } else {
            fields(v, {"perRequest", "idle"}, on_field);
        }
    }

    void get_access_log(const ynode& v, std::optional<access_log>& out) {
        if (!is_map(v)) {
            return;
        }
        fields(v, {"accessLog"}, [&](sv k, const ynode& x) {
            if (k != "accessLog") {
                return false;
            }
            if (!is_map(x)) {
                return true;
            }
            fields(x, {"file"}, [&](sv fk, const ynode& fx) {
                if (fk != "file") {
                    return false;
                }
                if (!is_map(fx)) {
                    return true;
                }
                access_log log;
                bool has_path = false;
                fields(fx, {"path", "format"}, [&](sv lk, const ynode& lx) {
                    if (lk == "path") {
                        has_path = present(lx);
                        get(lx, log.path);
                        return true;
                    }
                    if (lk == "format") {
                        if (is_map(lx)) {
                            get_log_format(lx, log);
                        }
                        return true;
                    }
                    return false;
                });
                require(has_path, "path");
                out = std::move(log);
                return true;
            });
            return true;
        });
    }

    void get_log_format(const ynode& v, access_log& log) {
        fields(v, {"text", "json"}, [&](sv k, const ynode& x) {
            if (k == "text") {
                get(x, log.text_format);
                return true;
            }
            if (k != "json") {
                return false;
            }
            if (!is_seq(x)) {
                return true;
            }
            log.json_format.reserve(x.count);
            items(x, [&](const ynode& item) {
                if (!is_item_map(item)) {
                    return;
                }
                std::pair<std::string, std::string> kv;
                bool has_key = false;
                bool has_value = false;
                fields(item, {"key", "value"}, [&](sv jk, const ynode& jx) {
                    if (jk == "key") {
                        has_key = present(jx);
                        get(jx, kv.first);
                        return true;
                    }
                    if (jk == "value") {
                        has_value = present(jx);
                        get(jx, kv.second);
                        return true;
                    }
                    return false;
                });
                require(has_key, "key");
                require(has_value, "value");
                log.json_format.push_back(std::move(kv));
            });
            return true;
        });
    }

    // -- routes ---------------------------------------------------------------------------------

    /// Match block of router routes (`gateway == false`) and gateway routes.
    void get_route_match(const ynode& v, route_kind kind, bool gateway, route_match& m) {
        const bool http = kind == route_kind::http || kind == route_kind::http2;
        const bool grpc = kind == route_kind::grpc;
        const auto on_field = [&](sv k, const ynode& x) {
            if (k == "port") {
                get(x, m.port);
                return true;
            }
            if (http) {
                if (k == "prefix") {
                    get(x, m.prefix);
                    return true;
                }
                if (k == "path") {
                    m.path_block = is_map(x);
                    if (m.path_block) {
                        fields(x, {"exact", "regex"}, [&](sv pk, const ynode& px) {
                            if (pk == "exact") {
                                get(px, m.path_exact);
                                return true;
                            }
                            if (pk == "regex") {
                                get(px, m.path_regex);
                                return true;
                            }
                            return false;
                        });
                    }
                    return true;
                }
                if (k == "method") {
                    get_enum(x, m.method,
                             {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT",
                              "TRACE"},
                             "method");
                    return true;
                }
                if (k == "headers") {
                    get_headers(x, m.headers);
                    return true;
                }
                if (k == "queryParameters") {
                    get_query(x, m.query);
                    return true;
                }
                if (k == "scheme" && !gateway) {
                    get(x, m.scheme);
                    return true;
                }
            }
            if (grpc) {
                if (k == "serviceName") {
                    get(x, m.service_name);
                    return true;
                }
                if (k == "methodName" && !gateway) {
                    get(x, m.method_name);
                    return true;
                }
                if (k == "metadata") {
                    get_headers(x, m.headers);
                    return true;
                }
            }
            if (gateway && k == "hostname") {
                if (is_map(x)) {
                    fields(x, {"exact", "suffix"}, [&](sv hk, const ynode& hx) {
                        if (hk == "exact") {
                            get(hx, m.hostname_exact);
                            return true;
                        }
                        if (hk == "suffix") {
                            get(hx, m.hostname_suffix);
                            return true;
                        }
                        return false;
                    });
                }
                return true;
            }
            return false;
        };
        if (gateway) {
            if (grpc) {
                fields(v, {"serviceName", "hostname", "metadata", "port"}, on_field);
            } else {
                fields(v,
                       {"prefix", "path", "hostname", "method", "headers", "queryParameters",
                        "port"},
                       on_field);
            }
        } else if (http) {
            fields(v,
                   {"prefix", "path", "method", "scheme", "headers", "queryParameters", "port"},
                   on_field);
        } else if (grpc) {
            fields(v, {"serviceName", "methodName", "metadata", "port"}, on_field);
        } else {
            fields(v, {"port"}, on_field);
        }
    }

    void get_targets(const ynode& v, std::vector<weighted_target>& out) {
        if (!is_seq(v)) {
            return;
        }
        out.reserve(v.count);
        items(v, [&](const ynode& item) {
            if (!is_item_map(item)) {
                return;
            }
            weighted_target t;
            bool has_weight = false;
            fields(item, {"virtualNodeRef", "virtualNodeARN", "weight", "port"},
                   [&](sv k, const ynode& x) {
                       if (k == "virtualNodeRef") {
                           get_ref(x, t.node);
                           return true;
                       }
                       if (k == "virtualNodeARN") {
                           get(x, t.node.arn);
                           return true;
                       }
                       if (k == "weight") {
                           has_weight = present(x);
                           get(x, t.weight);
                           return true;
                       }
                       if (k == "port") {
                           get(x, t.port);
                           return true;
                       }
                       return false;
                   });
            require(has_weight, "weight");
            out.push_back(std::move(t));
        });
    }

    void get_retry_policy(const ynode& v, route_kind kind, std::optional<retry_policy>& out) {
        if (!is_map(v)) {
            return;
        }
        retry_policy r;
        bool has_max = false;
        const auto on_field = [&](sv k, const ynode& x) {
            if (k == "maxRetries") {
                has_max = present(x);
                get(x, r.max_retries);
                return true;
            }
            if (k == "perRetryTimeout") {
                get_duration(x, r.per_retry_timeout);
                return true;
            }
            if (k == "httpRetryEvents") {
                get_enum_list(x, r.http_events,
                              {"server-error", "gateway-error", "client-error", "stream-error"},
                              "retry event");
                return true;
            }
            if (k == "tcpRetryEvents") {
                get_enum_list(x, r.tcp_events, {"connection-error"}, "retry event");
                return true;
            }
            if (k == "grpcRetryEvents" && kind == route_kind::grpc) {
                get_enum_list(x, r.grpc_events,
                              {"cancelled", "deadline-exceeded", "internal", "resource-exhausted",
                               "unavailable"},
                              "retry event");
                return true;
            }
            return false;
        };
        if (kind == route_kind::grpc) {
            fields(v,
                   {"maxRetries", "perRetryTimeout", "httpRetryEvents", "tcpRetryEvents",
                    "grpcRetryEvents"},
                   on_field);
        } else {
            fields(v, {"maxRetries", "perRetryTimeout", "httpRetryEvents", "tcpRetryEvents"},
                   on_field);
        }
        require(has_max, "maxRetries");
        out = std::move(r);
    }

    /// Body of `httpRoute` / `http2Route` / `grpcRoute` / `tcpRoute` of a router route.
    void get_route_body(const ynode& v, route_kind kind, route& r) {
        if (!is_map(v)) {
            return;
        }
        const bool tcp = kind == route_kind::tcp;
        const auto on_field = [&](sv k, const ynode& x) {
            if (k == "match") {
                r.match_given = is_map(x);
                if (r.match_given) {
                    get_route_match(x, kind, /*gateway=*/false, r.match);
                }
                return true;
            }
            if (k == "action") {
                if (is_map(x)) {
                    fields(x, {"weightedTargets"}, [&](sv ak, const ynode& ax) {
                        if (ak != "weightedTargets") {
                            return false;
                        }
                        get_targets(ax, r.targets);
                        return true;
                    });
                }
                return true;
            }
            if (k == "retryPolicy" && !tcp) {
                get_retry_policy(x, kind, r.retry);
                return true;
            }
            if (k == "timeout") {
                get_timeout(x, r.timeout, tcp);
                return true;
            }
            return false;
        };
        if (tcp) {
            fields(v, {"match", "action", "timeout"}, on_field);
        } else {
            fields(v, {"match", "action", "retryPolicy", "timeout"}, on_field);
        }
    }

    static bool route_kind_key(sv k, route_kind& kind) {
        if (k == "httpRoute") {
            kind = route_kind::http;
        } else if (k == "http2Route") {
            kind = route_kind::http2;
        } else if (k == "grpcRoute") {
            kind = route_kind::grpc;
        } else if (k == "tcpRoute") {
            kind = route_kind::tcp;
        } else {
            return false;
        }
        return true;
    }

    void get_route(const ynode& v, route& r) {
        bool has_name = false;
        fields(v, {"name", "priority", "httpRoute", "http2Route", "grpcRoute", "tcpRoute"},
               [&](sv k, const ynode& x) {
                   if (k == "name") {
                       has_name = present(x);
                       get(x, r.name);
                       return true;
                   }
                   if (k == "priority") {
                       get(x, r.priority);
                       return true;
                   }
                   route_kind kind = route_kind::http;
                   if (!route_kind_key(k, kind)) {
                       return false;
                   }
                   if (!present(x)) {
                       return true;
                   }
                   if (++r.kinds_given == 1) {
                       r.kind = kind;
                       get_route_body(x, kind, r);
                   } else {
                       route extra;  // still checked, so that its mistakes are reported too
                       get_route_body(x, kind, extra);
                   }
                   return true;
               });
        require(has_name, "name");
    }

    // -- kinds ----------------------------------------------------------------------------------

    void get_mesh_spec(const ynode& v, mesh& m) {
        fields(v, {"awsName", "namespaceSelector", "egressFilter", "meshOwner",
                   "meshServiceDiscovery"},
               [&](sv k, const ynode& x) {
                   if (k == "awsName") {
                       get(x, m.aws_name);
                       return true;
                   }
                   if (k == "namespaceSelector") {
                       get_selector(x, m.namespace_selector);
                       return true;
                   }
                   if (k == "egressFilter") {
                       if (!is_map(x)) {
                           return true;
                       }
                       bool has_type = false;
                       fields(x, {"type"}, [&](sv ek, const ynode& ex) {
                           if (ek != "type") {
                               return false;
                           }
                           has_type = present(ex);
                           get_enum(ex, m.egress_filter, {"ALLOW_ALL", "DROP_ALL"},
                                    "egress filter type");
                           return true;
                       });
                       require(has_type, "type");
                       return true;
                   }
                   if (k == "meshOwner") {
                       std::string ignored;  // shared-mesh account id: no data-plane meaning
                       get(x, ignored);
                       return true;
                   }
                   if (k == "meshServiceDiscovery") {
                       if (is_map(x)) {
                           fields(x, {"ipPreference"}, [&](sv dk, const ynode& dx) {
                               if (dk != "ipPreference") {
                                   return false;
                               }
                               get(dx, m.ip_preference);
                               return true;
                           });
                       }
                       return true;
                   }
                   return false;
               });
    }

    void get_virtual_service_spec(const ynode& v, virtual_service& vs) {
        fields(v, {"awsName", "provider", "meshRef"}, [&](sv k, const ynode& x) {
            if (k == "awsName") {
                get(x, vs.aws_name);
                return true;
            }
            if (k == "meshRef") {
                get_mesh_ref(x);
                return true;
            }
            if (k != "provider") {
                return false;
            }
            if (!is_map(x)) {
                return true;
            }
            fields(x, {"virtualNode", "virtualRouter"}, [&](sv pk, const ynode& px) {
                const bool node = pk == "virtualNode";
                if (!node && pk != "virtualRouter") {
                    return false;
                }
                if (!is_map(px)) {
                    return true;
                }
                const bool first = ++vs.providers_given == 1;
                if (first) {
                    vs.provider = node ? virtual_service::provider_t::node
                                       : virtual_service::provider_t::router;
                }
                object_ref scratch;
                object_ref& ref = first ? vs.provider_ref : scratch;
                const sv ref_key = node ? "virtualNodeRef" : "virtualRouterRef";
                const sv arn_key = node ? "virtualNodeARN" : "virtualRouterARN";
                fields(px, {ref_key, arn_key}, [&](sv rk, const ynode& rx) {
                    if (rk == ref_key) {
                        get_ref(rx, ref);
                        return true;
                    }
                    if (rk == arn_key) {
                        get(rx, ref.arn);
                        return true;
                    }
                    return false;
                });
                return true;
            });
            return true;
        });
    }

    void get_virtual_router_spec(const ynode& v, virtual_router& vr) {
        fields(v, {"awsName", "listeners", "routes", "meshRef"}, [&](sv k, const ynode& x) {
            if (k == "awsName") {
                get(x, vr.aws_name);
                return true;
            }
            if (k == "meshRef") {
                get_mesh_ref(x);
                return true;
            }
            if (k == "listeners") {
                if (!is_seq(x)) {
                    return true;
                }
                vr.listeners.reserve(x.count);
                items(x, [&](const ynode& item) {
                    if (!is_item_map(item)) {
                        return;
                    }
                    port_mapping pm;
                    bool has_pm = false;
                    fields(item, {"portMapping"}, [&](sv lk, const ynode& lx) {
                        if (lk != "portMapping") {
                            return false;
                        }
                        has_pm = present(lx);
                        get_port_mapping(lx, pm);
                        return true;
                    });
                    require(has_pm, "portMapping");
                    vr.listeners.push_back(pm);
                });
                return true;
            }
            if (k == "routes") {
                if (!is_seq(x)) {
                    return true;
                }
                vr.routes.reserve(x.count);
                items(x, [&](const ynode& item) {
                    if (!is_item_map(item)) {
                        return;
                    }
                    route r;
                    r.index = static_cast<std::uint32_t>(&item - doc_->children(x).data());
                    get_route(item, r);
                    vr.routes.push_back(std::move(r));
                });
                return true;
            }
            return false;
        });
    }

    void get_node_listener(const ynode& v, node_listener& l) {
        bool has_pm = false;
        fields(v,
               {"portMapping", "tls", "healthCheck", "outlierDetection", "connectionPool",
                "timeout"},
               [&](sv k, const ynode& x) {
                   if (k == "portMapping") {
                       has_pm = present(x);
                       get_port_mapping(x, l.port_mapping);
                       return true;
                   }
                   if (k == "tls") {
                       get_listener_tls(x, l.tls, /*gateway=*/false);
                       return true;
                   }
                   if (k == "healthCheck") {
                       get_health_check(x, l.health_check, /*gateway=*/false);
                       return true;
                   }
                   if (k == "outlierDetection") {
                       get_outlier_detection(x, l.outlier_detection);
                       return true;
                   }
                   if (k == "connectionPool") {
                       get_connection_pool(x, l.connection_pool, /*gateway=*/false);
                       return true;
                   }
                   if (k == "timeout") {
                       if (is_map(x)) {
                           fields(x, {"http", "http2", "grpc", "tcp"}, [&](sv tk, const ynode& tx) {
                               if (tk != "http" && tk != "http2" && tk != "grpc" && tk != "tcp") {
                                   return false;
                               }
                               if (is_map(tx)) {
                                   get_timeout(tx, l.timeouts[std::string(tk)], tk == "tcp");
                               }
                               return true;
                           });
                       }
                       return true;
                   }
                   return false;
               });
        require(has_pm, "portMapping");
    }

    void get_service_discovery(const ynode& v, service_discovery& sd) {
        if (!is_map(v)) {
            return;
        }
        fields(v, {"dns", "awsCloudMap"}, [&](sv k, const ynode& x) {
            const bool dns = k == "dns";
            if (!dns && k != "awsCloudMap") {
                return false;
            }
            if (!is_map(x)) {
                return true;
            }
            if (++sd.kinds_given == 1) {
                sd.kind = dns ? service_discovery::kind_t::dns
                              : service_discovery::kind_t::cloud_map;
            }
            if (dns) {
                bool has_host = false;
                fields(x, {"hostname", "responseType"}, [&](sv dk, const ynode& dx) {
                    if (dk == "hostname") {
                        has_host = present(dx);
                        get(dx, sd.hostname);
                        return true;
                    }
                    if (dk == "responseType") {
                        get_enum(dx, sd.response_type, {"LOADBALANCER", "ENDPOINTS"},
                                 "response type");
                        return true;
                    }
                    return false;
                });
                require(has_host, "hostname");
                return true;
            }
            bool has_ns = false;
            bool has_service = false;
            fields(x, {"namespaceName", "serviceName", "attributes"}, [&](sv ck, const ynode& cx) {
                if (ck == "namespaceName") {
                    has_ns = present(cx);
                    get(cx, sd.namespace_name);
                    return true;
                }
                if (ck == "serviceName") {
                    has_service = present(cx);
                    get(cx, sd.service_name);
                    return true;
                }
                if (ck != "attributes") {
                    return false;
                }
                if (!is_seq(cx)) {
                    return true;
                }
                items(cx, [&](const ynode& item) {
                    if (!is_item_map(item)) {
                        return;
                    }
                    std::pair<std::string, std::string> kv;
                    bool has_key = false;
                    bool has_value = false;
                    fields(item, {"key", "value"}, [&](sv ak, const ynode& ax) {
                        if (ak == "key") {
                            has_key = present(ax);
                            get(ax, kv.first);
                            return true;
                        }
                        if (ak == "value") {
                            has_value = present(ax);
                            get(ax, kv.second);
                            return true;
                        }
                        return false;
                    });
                    require(has_key, "key");
                    require(has_value, "value");
                    sd.attributes.push_back(std::move(kv));
                });
                return true;
            });
            require(has_ns, "namespaceName");
            require(has_service, "serviceName");
            return true;
        });
    }

    void get_backends(const ynode& v, std::vector<backend>& out) {
        if (!is_seq(v)) {
            return;
        }
        out.reserve(v.count);
        items(v, [&](const ynode& item) {
            if (!is_item_map(item)) {
                return;
            }
            backend b;
            fields(item, {"virtualService"}, [&](sv k, const ynode& x) {
                if (k != "virtualService") {
                    return false;
                }
                if (!is_map(x)) {
                    return true;
                }
                fields(x, {"virtualServiceRef", "virtualServiceARN", "clientPolicy"},
                       [&](sv bk, const ynode& bx) {
                           if (bk == "virtualServiceRef") {
                               get_ref(bx, b.virtual_service);
                               return true;
                           }
                           if (bk == "virtualServiceARN") {
                               get(bx, b.virtual_service.arn);
                               return true;
                           }
                           if (bk == "clientPolicy") {
                               get_client_policy(bx, b.client_policy);
                               return true;
                           }
                           return false;
                       });
                return true;
            });
            out.push_back(std::move(b));
        });
    }

    void get_virtual_node_spec(const ynode& v, virtual_node& vn) {
        fields(v,
               {"awsName", "podSelector", "listeners", "serviceDiscovery", "backends",
                "backendGroups", "backendDefaults", "logging", "meshRef"},
               [&](sv k, const ynode& x) {
                   if (k == "awsName") {
                       get(x, vn.aws_name);
                       return true;
                   }
                   if (k == "meshRef") {
                       get_mesh_ref(x);
                       return true;
                   }
                   if (k == "podSelector") {
                       get_selector(x, vn.pod_selector);  // read by `outrigger inject`
                       return true;
                   }
                   if (k == "listeners") {
                       if (!is_seq(x)) {
                           return true;
                       }
                       vn.listeners.reserve(x.count);
                       items(x, [&](const ynode& item) {
                           if (!is_item_map(item)) {
                               return;
                           }
                           node_listener l;
                           get_node_listener(item, l);
                           vn.listeners.push_back(std::move(l));
                       });
                       return true;
                   }
                   if (k == "serviceDiscovery") {
                       get_service_discovery(x, vn.service_discovery);
                       return true;
                   }
                   if (k == "backends") {
                       get_backends(x, vn.backends);
                       return true;
                   }
                   if (k == "backendGroups") {
                       get_ref_list(x, vn.backend_groups);
                       return true;
                   }
                   if (k == "backendDefaults") {
                       get_backend_defaults(x, vn.backend_defaults);
                       return true;
                   }
                   if (k == "logging") {
                       get_access_log(x, vn.logging);
                       return true;
                   }
                   return false;
               });
    }

    void get_virtual_gateway_spec(const ynode& v, virtual_gateway& vg) {
        fields(v,
               {"awsName", "namespaceSelector", "gatewayRouteSelector", "podSelector", "listeners",
                "logging", "backendDefaults", "meshRef"},
               [&](sv k, const ynode& x) {
                   if (k == "awsName") {
                       get(x, vg.aws_name);
                       return true;
                   }
                   if (k == "meshRef") {
                       get_mesh_ref(x);
                       return true;
                   }
                   if (k == "namespaceSelector") {
                       get_selector(x, vg.namespace_selector);
                       return true;
                   }
                   if (k == "gatewayRouteSelector") {
                       get_selector(x, vg.gateway_route_selector);
                       return true;
                   }
                   if (k == "podSelector") {
                       std::optional<label_selector> ignored;
                       get_selector(x, ignored);
                       return true;
                   }
                   if (k == "listeners") {
                       if (!is_seq(x)) {
                           return true;
                       }
                       vg.listeners.reserve(x.count);
                       items(x, [&](const ynode& item) {
                           if (!is_item_map(item)) {
                               return;
                           }
                           vg.listeners.push_back(get_gateway_listener(item));
                       });
                       return true;
                   }
                   if (k == "logging") {
                       get_access_log(x, vg.logging);
                       return true;
                   }
                   if (k == "backendDefaults") {
                       get_backend_defaults(x, vg.backend_defaults);
                       return true;
                   }
                   return false;
               });
    }

    gateway_listener get_gateway_listener(const ynode& v) {
        gateway_listener l;
        bool has_pm = false;
        fields(v, {"portMapping", "tls", "healthCheck", "connectionPool"},
               [&](sv k, const ynode& x) {
                   if (k == "portMapping") {
                       has_pm = present(x);
                       get_port_mapping(x, l.port_mapping);
                       return true;
                   }
                   if (k == "tls") {
                       get_listener_tls(x, l.tls, /*gateway=*/true);
                       return true;
                   }
                   if (k == "healthCheck") {
                       get_health_check(x, l.health_check, /*gateway=*/true);
                       return true;
                   }
                   if (k == "connectionPool") {
                       get_connection_pool(x, l.connection_pool, /*gateway=*/true);
                       return true;
                   }
                   return false;
               });
        require(has_pm, "portMapping");
        return l;
    }

    void get_gateway_rewrite(const ynode& v, route_kind kind, gateway_route& gr) {
        const auto on_field = [&](sv k, const ynode& x) {
            if (k == "hostname") {
                if (is_map(x)) {
                    fields(x, {"defaultTargetHostname"}, [&](sv hk, const ynode& hx) {
                        if (hk != "defaultTargetHostname") {
                            return false;
                        }
                        get(hx, gr.rewrite_default_target_hostname);
                        return true;
                    });
                }
                return true;
            }
            if (kind == route_kind::grpc) {
                return false;
            }
            if (k == "prefix") {
                if (is_map(x)) {
                    fields(x, {"defaultPrefix", "value"}, [&](sv pk, const ynode& px) {
                        if (pk == "defaultPrefix") {
                            get(px, gr.rewrite_default_prefix);
                            return true;
                        }
                        if (pk == "value") {
                            get(px, gr.rewrite_prefix_value);
                            return true;
                        }
                        return false;
                    });
                }
                return true;
            }
            if (k == "path") {
                if (is_map(x)) {
                    fields(x, {"exact"}, [&](sv pk, const ynode& px) {
                        if (pk != "exact") {
                            return false;
                        }
                        get(px, gr.rewrite_path_exact);
                        return true;
                    });
                }
                return true;
            }
            return false;
        };
        if (kind == route_kind::grpc) {
            fields(v, {"hostname"}, on_field);
        } else {
            fields(v, {"hostname", "prefix", "path"}, on_field);
        }
    }

    /// Body of `httpRoute` / `http2Route` / `grpcRoute` of a gateway route.
    void get_gateway_route_body(const ynode& v, route_kind kind, gateway_route& gr) {
        if (!is_map(v)) {
            return;
        }
        fields(v, {"match", "action"}, [&](sv k, const ynode& x) {
            if (k == "match") {
                if (is_map(x)) {
                    get_route_match(x, kind, /*gateway=*/true, gr.match);
                }
                return true;
            }
            if (k != "action") {
                return false;
            }
            if (!is_map(x)) {
                return true;
            }
            fields(x, {"target", "rewrite"}, [&](sv ak, const ynode& ax) {
                if (ak == "rewrite") {
                    gr.rewrite_block = is_map(ax);
                    if (gr.rewrite_block) {
                        get_gateway_rewrite(ax, kind, gr);
                    }
                    return true;
                }
                if (ak != "target") {
                    return false;
                }
                if (!is_map(ax)) {
                    return true;
                }
                fields(ax, {"virtualService", "port"}, [&](sv tk, const ynode& tx) {
                    if (tk == "port") {
                        get(tx, gr.target_port);
                        return true;
                    }
                    if (tk != "virtualService") {
                        return false;
                    }
                    if (is_map(tx)) {
                        fields(tx, {"virtualServiceRef", "virtualServiceARN"},
                               [&](sv sk, const ynode& sx) {
                                   if (sk == "virtualServiceRef") {
                                       get_ref(sx, gr.target_service);
                                       return true;
                                   }
                                   if (sk == "virtualServiceARN") {
                                       get(sx, gr.target_service.arn);
                                       return true;
                                   }
                                   return false;
                               });
                    }
                    return true;
                });
                return true;
            });
            return true;
        });
    }

    void get_gateway_route_spec(const ynode& v, gateway_route& gr) {
        fields(v,
               {"awsName", "priority", "httpRoute", "http2Route", "grpcRoute", "virtualGatewayRef",
                "meshRef"},
               [&](sv k, const ynode& x) {
                   if (k == "awsName") {
                       get(x, gr.aws_name);
                       return true;
                   }
                   if (k == "priority") {
                       get(x, gr.priority);
                       return true;
                   }
                   if (k == "meshRef") {
                       get_mesh_ref(x);
                       return true;
                   }
                   if (k == "virtualGatewayRef") {
                       // Written by the admission webhook (§8); exported manifests carry it.
                       object_ref ref;
                       get_ref(x, ref, /*with_uid=*/true);
                       if (!ref.name.empty()) {
                           gr.virtual_gateway_ref = std::move(ref);
                       }
                       return true;
                   }
                   route_kind kind = route_kind::http;
                   if (!route_kind_key(k, kind) || kind == route_kind::tcp) {
                       return false;
                   }
                   if (!present(x)) {
                       return true;
                   }
                   if (++gr.kinds_given == 1) {
                       gr.kind = kind;
                       get_gateway_route_body(x, kind, gr);
                   } else {
                       gateway_route extra;
                       get_gateway_route_body(x, kind, extra);
                   }
                   return true;
               });
    }

    void get_backend_group_spec(const ynode& v, backend_group& bg) {
        fields(v, {"virtualservices", "meshRef"}, [&](sv k, const ynode& x) {
            if (k == "virtualservices") {
                get_ref_list(x, bg.virtual_services);
                return true;
            }
            if (k == "meshRef") {
                get_mesh_ref(x);
                return true;
            }
            return false;
        });
    }

    // -- metadata -------------------------------------------------------------------------------

    void get_metadata(const ynode& v, bool namespaced) {
        if (!is_map(v)) {
            if (!present(v)) {
                require(false, "name");
            }
            return;
        }
        bool has_name = false;
        fields(v, {}, [&](sv k, const ynode& x) {
            if (k == "name") {
                has_name = present(x);
                get(x, meta_->name);
            } else if (k == "namespace") {
                std::string ns;
                if (get(x, ns) && namespaced) {
                    meta_->ns = std::move(ns);
                }
            } else if (k == "labels") {
                get_string_map(x, meta_->labels);
            }
            return true;  // annotations, uid, ... belong to Kubernetes
        });
        require(has_name, "name");
    }

    std::string& path() { return path_; }

private:
    static bool is_duplicate(std::span<const ynode> ch, std::size_t i) {
        const ynode& k = ch[i];
        if (k.type != ynode::type_t::scalar) {
            return false;
        }
        for (std::size_t j = 0; j < i; j += 2) {
            if (ch[j].type == ynode::type_t::scalar && ch[j].value == k.value) {
                return true;
            }
        }
        return false;
    }

    diagnostics& diags_;
    std::uint32_t file_;
    const ydoc* doc_ = nullptr;
    object_meta* meta_ = nullptr;
    std::string path_;
};

// ------------------------------------------------------------------------------------------------
// Documents and files

enum class appmesh_kind {
    none,
    mesh,
    virtual_service,
    virtual_router,
    virtual_node,
    virtual_gateway,
    gateway_route,
    backend_group
};

constexpr std::array<sv, 7> appmesh_kinds{"Mesh",           "VirtualService", "VirtualRouter",
                                          "VirtualNode",    "VirtualGateway", "GatewayRoute",
                                          "BackendGroup"};

appmesh_kind kind_of(sv kind) {
    if (kind == "Mesh") {
        return appmesh_kind::mesh;
    }
    if (kind == "VirtualService") {
        return appmesh_kind::virtual_service;
    }
    if (kind == "VirtualRouter") {
        return appmesh_kind::virtual_router;
    }
    if (kind == "VirtualNode") {
        return appmesh_kind::virtual_node;
    }
    if (kind == "VirtualGateway") {
        return appmesh_kind::virtual_gateway;
    }
    if (kind == "GatewayRoute") {
        return appmesh_kind::gateway_route;
    }
    if (kind == "BackendGroup") {
        return appmesh_kind::backend_group;
    }
    return appmesh_kind::none;
}

/// Index of the value of top-level key `key` among `map`'s children, or 0 when absent (0 is a
/// key).
std::size_t find_value(std::span<const ynode> map, sv key) {
    for (std::size_t i = 0; i + 1 < map.size(); i += 2) {
        const ynode& k = map[i];
        if (k.type == ynode::type_t::scalar && k.value == key) {
            return i + 1;
        }
    }
    return 0;
}

std::size_t count_nodes(const ydoc& doc, const ynode& n) {
    std::size_t count = 1;
    for (const auto& c : doc.children(n)) {
        count += count_nodes(doc, c);
    }
    return count;
}

/// What one `load_paths` call found besides App Mesh objects: the "no App Mesh object" error
/// says what the input held instead.
struct load_tally {
    std::map<std::string, std::size_t> other_kinds;  // kind -> documents and List items
    std::size_t without_kind = 0;                    // documents that are no Kubernetes object
    std::size_t empty_lists = 0;
    std::size_t documents = 0;
};

/// Turns the document trees of one file into model objects. Kubernetes lists (`kind: List`,
/// `VirtualNodeList`, ... any `*List` with `items`) are unpacked: each item is read as if it were
/// a document of its own, at its own position.
class document_loader : public yaml_tree::document_sink {
public:
    document_loader(mesh_input& out, diagnostics& diags, std::uint32_t file, load_tally& tally)
        : out_(out), diags_(diags), dec_(diags, file), file_(file), tally_(tally) {}

    void on_document(const ynode& root, const ydoc& doc) override {
        if (root.type == ynode::type_t::null) {
            return;  // `~` or `null` alone: an empty document
        }
        ++tally_.documents;
        doc_ = &doc;
        dec_.set_document(doc);
        object(root, nullptr, 0);
    }

    void on_syntax_error(std::uint32_t line, std::uint32_t col, std::string message) override {
        diags_.error_at({file_, line + 1, col + 1}, fmt::format("invalid YAML: {}", message));
    }

private:
    /// What a typed list (`VirtualNodeList`) gives items that carry no kind or apiVersion of their
    /// own (the API server's list answers leave them out for built-in kinds).
    struct list_defaults {
        sv kind;
        sv api;
    };
    static constexpr int max_list_depth = 8;

    void object(const ynode& root, const list_defaults* from_list, int depth) {
        if (root.type != ynode::type_t::map) {
            ++tally_.without_kind;
            return;
        }
        const auto top = doc_->children(root);
        const std::size_t kind_at = find_value(top, "kind");
        sv kind;
        source_loc kind_loc;
        if (kind_at != 0 && top[kind_at].type == ynode::type_t::scalar) {
            kind = top[kind_at].value;
            kind_loc = dec_.loc(top[kind_at - 1]);
        } else if (kind_at == 0 && from_list != nullptr && !from_list->kind.empty()) {
            kind = from_list->kind;
            kind_loc = dec_.loc(root);
        } else {
            ++tally_.without_kind;
            return;
        }
        const std::size_t api_at = find_value(top, "apiVersion");
        sv api;
        if (api_at != 0) {
            api = top[api_at].type == ynode::type_t::scalar ? top[api_at].value : sv();
        } else if (from_list != nullptr && !from_list->kind.empty()) {
            api = from_list->api;
        }
        const std::size_t items_at = find_value(top, "items");
        if (kind.size() >= 4 && kind.substr(kind.size() - 4) == "List" && items_at != 0) {
            list(top[items_at], kind, api, kind_loc, depth);
            return;
        }
        if (kind == "Namespace") {
            ++tally_.other_kinds["Namespace"];
            if (api == "v1") {
                load_namespace(root, kind_loc);
            }
            return;
        }
        const appmesh_kind id = kind_of(kind);
        const bool appmesh_group = api.starts_with(appmesh_group_prefix);
        if (id == appmesh_kind::none) {
            if (appmesh_group) {
                unknown_kind(root, kind, kind_loc, kind_at);
            } else {
                ++tally_.other_kinds[std::string(kind)];
            }
            return;
        }
        if (api != appmesh_api_version) {
            if (appmesh_group) {
                object_meta meta;
                begin(meta, std::string(kind), kind_loc, root, id != appmesh_kind::mesh);
                dec_.path() = "apiVersion";
                dec_.record(top[api_at]);
                diags_.error(meta, "apiVersion",
                             fmt::format("unsupported apiVersion \"{}\" (outrigger reads {})", api,
                                         appmesh_api_version));
            } else {
                ++tally_.other_kinds[std::string(kind)];
            }
            return;
        }
        const std::string k(kind);
        switch (id) {
        case appmesh_kind::mesh:
            load<mesh>(root, k, kind_loc, out_.meshes, &decoder::get_mesh_spec);
            break;
        case appmesh_kind::virtual_service:
            load<virtual_service>(root, k, kind_loc, out_.virtual_services,
                                  &decoder::get_virtual_service_spec);
            break;
        case appmesh_kind::virtual_router:
            load<virtual_router>(root, k, kind_loc, out_.virtual_routers,
                                 &decoder::get_virtual_router_spec);
            break;
        case appmesh_kind::virtual_node:
            load<virtual_node>(root, k, kind_loc, out_.virtual_nodes,
                               &decoder::get_virtual_node_spec);
            break;
        case appmesh_kind::virtual_gateway:
            load<virtual_gateway>(root, k, kind_loc, out_.virtual_gateways,
                                  &decoder::get_virtual_gateway_spec);
            break;
        case appmesh_kind::gateway_route:
            load<gateway_route>(root, k, kind_loc, out_.gateway_routes,
                                &decoder::get_gateway_route_spec);
            break;
        case appmesh_kind::backend_group:
            load<backend_group>(root, k, kind_loc, out_.backend_groups,
                                &decoder::get_backend_group_spec);
            break;
        case appmesh_kind::none:
            break;
        }
    }

    /// `items` of a List: each item is an object of its own. List-level fields (metadata with
    /// resourceVersion and continue, ...) belong to the API server and are not read.
    void list(const ynode& items, sv kind, sv api, source_loc kind_loc, int depth) {
        const bool appmesh_group = api.starts_with(appmesh_group_prefix);
        list_defaults defaults;
        if (kind != "List") {
            defaults.kind = kind.substr(0, kind.size() - 4);
            defaults.api = api;
            if (appmesh_group && kind_of(defaults.kind) == appmesh_kind::none) {
                diags_.error_at(kind_loc, unknown_kind_message(kind, true));
                return;
            }
        }
        if (items.type == ynode::type_t::null) {
            ++tally_.empty_lists;
            return;
        }
        if (items.type != ynode::type_t::seq) {
            diags_.error_at(dec_.loc(items), fmt::format("{}: items: expected a list, got {}", kind,
                                                         describe(items)));
            return;
        }
        if (depth >= max_list_depth) {
            diags_.error_at(kind_loc, fmt::format("{}: lists nested more than {} deep", kind,
                                                  max_list_depth));
            return;
        }
        if (items.count == 0) {
            ++tally_.empty_lists;
        }
        for (const ynode& item : doc_->children(items)) {
            object(item, &defaults, depth + 1);
        }
    }

    static std::string unknown_kind_message(sv kind, bool is_list) {
        std::vector<std::string> candidates;
        for (const sv k : appmesh_kinds) {
            candidates.emplace_back(is_list ? std::string(k) + "List" : std::string(k));
        }
        const std::string best = closest(std::string(kind), candidates);
        if (!best.empty()) {
            return fmt::format("unknown App Mesh kind \"{}\" (did you mean \"{}\"?)", kind, best);
        }
        return fmt::format("unknown App Mesh kind \"{}\" (the kinds are Mesh, VirtualService, "
                           "VirtualRouter, VirtualNode, VirtualGateway, GatewayRoute and "
                           "BackendGroup{})",
                           kind, is_list ? ", and their lists" : "");
    }

    /// An `appmesh.k8s.aws/...` document of a kind App Mesh does not have: never silently
    /// skipped, it is almost always a typo that would leave the object out of the mesh.
    void unknown_kind(const ynode& root, sv kind, source_loc kind_loc, std::size_t kind_at) {
        object_meta meta;
        begin(meta, std::string(kind), kind_loc, root, /*namespaced=*/true);
        if (kind_at != 0) {
            dec_.path() = "kind";
            dec_.record(doc_->children(root)[kind_at]);
        }
        diags_.error(meta, "kind", unknown_kind_message(kind, false));
    }

    /// Starts an object: kind, position, and metadata first, so that every diagnostic about the
    /// rest of the document names the object.
    void begin(object_meta& meta, const std::string& kind, source_loc kind_loc, const ynode& root,
               bool namespaced) {
        meta.kind = kind;
        meta.loc = kind_loc;
        dec_.begin(meta);
        const auto top = doc_->children(root);
        const std::size_t md = find_value(top, "metadata");
        dec_.path() = "metadata";
        if (md == 0) {
            dec_.require(false, "name");
        } else {
            dec_.record(top[md - 1]);
            dec_.get_metadata(top[md], namespaced);
        }
        dec_.path().clear();
    }

    template <class T>
    void load(const ynode& root, const std::string& kind, source_loc kind_loc, std::vector<T>& list,
              void (decoder::*read_spec)(const ynode&, T&)) {
        T obj;
        // About one position per key or list item: about half the nodes (of this object: a List
        // holds many).
        obj.meta.field_locs.reserve(count_nodes(*doc_, root) / 2 + 4);
        begin(obj.meta, kind, kind_loc, root, !std::is_same_v<T, mesh>);
        dec_.fields(root, {"apiVersion", "kind", "metadata", "spec", "status"},
                    [&](sv k, const ynode& x) {
                        if (k == "spec") {
                            if (dec_.is_map(x)) {
                                (dec_.*read_spec)(x, obj);
                            }
                            return true;
                        }
                        // metadata was read first; status is the controller's and ignored.
                        return k == "apiVersion" || k == "kind" || k == "metadata" || k == "status";
                    });
        list.push_back(std::move(obj));
    }

    void load_namespace(const ynode& root, source_loc kind_loc) {
        // Read through the decoder for its type checks; only name and labels are kept.
        object_meta meta;
        begin(meta, "Namespace", kind_loc, root, /*namespaced=*/false);
        namespace_doc ns;
        ns.name = std::move(meta.name);
        ns.labels = std::move(meta.labels);
        ns.loc = kind_loc;
        out_.namespaces.push_back(std::move(ns));
    }

    mesh_input& out_;
    diagnostics& diags_;
    decoder dec_;
    std::uint32_t file_;
    load_tally& tally_;
    const ydoc* doc_ = nullptr;
};

void load_text(sv text, std::uint32_t file, mesh_input& out, diagnostics& diags,
               load_tally& tally) {
    document_loader docs(out, diags, file, tally);
    ydoc doc;
    (void)yaml_tree::parse_text(text, yaml_tree::parse_mode::automatic, doc, docs);
}

std::uint32_t add_file(mesh_input& out, std::string name) {
    out.files.push_back(std::move(name));
    return static_cast<std::uint32_t>(out.files.size() - 1);
}

bool read_file(const std::string& path, std::string& text, std::string& error) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) {
        error = std::generic_category().message(errno);
        return false;
    }
    std::array<char, 65536> buf{};
    for (;;) {
        const std::size_t n = std::fread(buf.data(), 1, buf.size(), f);
        text.append(buf.data(), n);
        if (n < buf.size()) {
            break;
        }
    }
    const bool failed = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (failed) {
        error = std::generic_category().message(err);
        return false;
    }
    return true;
}

void load_file(const std::string& path, mesh_input& out, diagnostics& diags, load_tally& tally) {
    const std::uint32_t file = add_file(out, path);
    std::string text;
    std::string error;
    if (!read_file(path, text, error)) {
        diags.error_at({file, 0, 0}, fmt::format("cannot read file: {}", error));
        return;
    }
    load_text(text, file, out, diags, tally);
}

bool is_yaml_name(const std::filesystem::path& p) {
    const auto ext = p.extension();
    return ext == ".yaml" || ext == ".yml";
}

/// Walks `dir` (symlinks followed, hidden entries skipped, each real directory once).
void walk_directory(const std::string& dir, std::vector<std::string>& found, input_files& out,
                    std::set<std::string>& seen_dirs) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path real = fs::canonical(dir, ec);
    if (!seen_dirs.insert(ec ? dir : real.string()).second) {
        return;  // reached twice (a symlink to a directory already walked, or a loop)
    }
    out.directories.push_back(dir);
    fs::directory_iterator it(dir, ec);
    const fs::directory_iterator end;
    while (!ec && it != end) {
        const fs::path& p = it->path();
        const std::string name = p.filename().string();
        // kubelet's `..data` and `..<timestamp>` of ConfigMap/Secret volumes, editors' swap and
        // backup files, `.git`: never mesh input.
        if (!name.starts_with('.')) {
            std::error_code sec;
            const auto st = fs::status(p, sec);  // follows symlinks
            if (!sec && fs::is_directory(st)) {
                walk_directory(p.string(), found, out, seen_dirs);
            } else if (!sec && fs::is_regular_file(st) && is_yaml_name(p)) {
                found.push_back(p.string());
            } else {
                out.ignored.push_back(p.string());  // other names; dangling symlinks
            }
        }
        it.increment(ec);
    }
    if (ec) {
        out.unreadable.emplace_back(dir, ec.message());
    }
}

std::size_t object_count(const mesh_input& in) {
    return in.meshes.size() + in.virtual_services.size() + in.virtual_routers.size() +
           in.virtual_nodes.size() + in.virtual_gateways.size() + in.gateway_routes.size() +
           in.backend_groups.size();
}

std::string plural(std::size_t n, sv one, sv many) {
    return fmt::format("{} {}", n, n == 1 ? one : many);
}

/// `a, b and c`, at most `max` of them, then `and N more`.
std::string join_names(const std::vector<std::string>& names, std::size_t max) {
    std::string out;
    const std::size_t shown = std::min(names.size(), max);
    for (std::size_t i = 0; i < shown; ++i) {
        if (i > 0) {
            out += i + 1 == shown && shown == names.size() ? " and " : ", ";
        }
        out += names[i];
    }
    if (shown < names.size()) {
        out += fmt::format(" and {} more", names.size() - shown);
    }
    return out;
}

/// The error of an input that holds no App Mesh object at all: an empty directory, a directory
/// of ConfigMap keys without a .yaml name, a file of Deployments, an empty `kubectl get` List.
std::string nothing_found_message(const std::vector<std::string>& paths, const input_files& inputs,
                                  const load_tally& tally) {
    std::string msg = fmt::format("no App Mesh object found in {}", join_names(paths, 5));
    if (inputs.files.empty()) {
        msg += paths.size() == 1 ? ": no *.yaml or *.yml file in it"
                                 : ": no *.yaml or *.yml file in them";
        if (!inputs.ignored.empty()) {
            std::vector<std::string> names;
            for (const auto& p : inputs.ignored) {
                names.push_back(std::filesystem::path(p).filename().string());
            }
            std::sort(names.begin(), names.end());
            msg += fmt::format(" (not read: {})", join_names(names, 4));
        }
        return msg;
    }
    std::vector<std::string> held;
    for (const auto& [kind, n] : tally.other_kinds) {
        held.push_back(fmt::format("{} {}", n, kind));
    }
    if (tally.empty_lists > 0) {
        held.push_back(plural(tally.empty_lists, "empty List", "empty Lists"));
    }
    if (tally.without_kind > 0) {
        held.push_back(plural(tally.without_kind, "document without a kind",
                              "documents without a kind"));
    }
    const std::string files = plural(inputs.files.size(), "file", "files");
    if (held.empty()) {
        return msg + fmt::format(" ({} read, holding no YAML document)", files);
    }
    return msg + fmt::format(" ({} read, holding {}); App Mesh objects have apiVersion {} and "
                             "kind Mesh, VirtualService, VirtualRouter, VirtualNode, "
                             "VirtualGateway or GatewayRoute",
                             files, join_names(held, 6), appmesh_api_version);
}

}  // namespace

input_files list_inputs(const std::vector<std::string>& paths) {
    namespace fs = std::filesystem;
    input_files out;
    std::set<std::string> seen_files;
    std::set<std::string> seen_dirs;
    const auto add_once = [&](const std::string& f) {
        std::error_code ec;
        const fs::path real = fs::canonical(f, ec);
        // A path that does not resolve is kept as given (loading it reports why).
        if (seen_files.insert(ec ? "\n" + f : real.string()).second) {
            out.files.push_back(f);
        }
    };
    for (const auto& path : paths) {
        std::error_code ec;
        if (fs::is_directory(fs::status(path, ec)) && !ec) {
            std::vector<std::string> found;
            walk_directory(path, found, out, seen_dirs);
            std::sort(found.begin(), found.end());
            for (const auto& f : found) {
                add_once(f);
            }
        } else {
            add_once(path);
        }
    }
    return out;
}

void load_paths(const std::vector<std::string>& paths, mesh_input& out, diagnostics& diags) {
    const input_files inputs = list_inputs(paths);
    const std::size_t objects_before = object_count(out);
    const std::size_t errors_before = diags.error_count();
    load_tally tally;
    for (const auto& [dir, why] : inputs.unreadable) {
        const std::uint32_t file = add_file(out, dir);
        diags.error_at({file, 0, 0}, fmt::format("cannot read directory: {}", why));
    }
    for (const auto& f : inputs.files) {
        load_file(f, out, diags, tally);
    }
    // Reading nothing is never a valid mesh (an implicit empty mesh refuses every request). When
    // something else went wrong, that error says why already.
    if (!paths.empty() && object_count(out) == objects_before &&
        diags.error_count() == errors_before) {
        diags.error_at({no_file, 0, 0}, nothing_found_message(paths, inputs, tally));
    }
}

void load_string(const std::string& yaml, const std::string& filename, mesh_input& out,
                 diagnostics& diags) {
    const std::uint32_t file = add_file(out, filename);
    load_tally tally;
    load_text(yaml, file, out, diags, tally);
}

}  // namespace outrigger::routing
