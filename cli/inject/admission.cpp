#include "cli/inject/admission.hpp"

#include <boost/json.hpp>
#include <fmt/format.h>

#include "cli/inject/json_patch.hpp"

namespace outrigger::inject {

namespace json = boost::json;

namespace {

admission_answer bad_request(std::string message) {
    admission_answer a;
    a.http_status = 400;
    a.content_type = "text/plain; charset=utf-8";
    a.log_line = "bad request: " + message;
    a.body = std::move(message) + "\n";
    return a;
}

std::string string_at(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

}  // namespace

std::string base64_encode(std::string_view data) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        const auto n = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8) |
                       static_cast<unsigned char>(data[i + 2]);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    if (i + 1 == data.size()) {
        const auto n = static_cast<unsigned char>(data[i]) << 16;
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == data.size()) {
        const auto n = (static_cast<unsigned char>(data[i]) << 16) |
                       (static_cast<unsigned char>(data[i + 1]) << 8);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

admission_answer review_admission(const injector& inj, std::string_view body) {
    json::parse_options po;
    po.max_depth = 200;  // Boost.JSON's default of 32 is below what some objects nest
    boost::system::error_code ec;
    json::value doc = json::parse(body, ec, {}, po);
    if (ec) {
        return bad_request("the body is not JSON: " + ec.message());
    }
    if (!doc.is_object() || string_at(doc.get_object(), "kind") != "AdmissionReview") {
        return bad_request("the body is not an AdmissionReview");
    }
    const std::string api_version = string_at(doc.get_object(), "apiVersion");
    if (api_version != "admission.k8s.io/v1") {
        return bad_request(fmt::format("AdmissionReview apiVersion \"{}\" is not served (only "
                                       "admission.k8s.io/v1: set admissionReviewVersions: [v1])",
                                       api_version));
    }
    const json::value* req_v = doc.get_object().if_contains("request");
    if (req_v == nullptr || !req_v->is_object()) {
        return bad_request("the AdmissionReview has no request");
    }
    const json::object& req = req_v->get_object();
    const std::string uid = string_at(req, "uid");
    if (uid.empty()) {
        return bad_request("the AdmissionReview request has no uid");
    }

    json::object response{{"uid", uid}, {"allowed", true}};
    json::array warnings;
    admission_answer a;
    auto finish = [&]() {
        if (!warnings.empty()) {
            response["warnings"] = std::move(warnings);
        }
        json::object review{{"apiVersion", "admission.k8s.io/v1"},
                            {"kind", "AdmissionReview"},
                            {"response", std::move(response)}};
        a.body = json::serialize(review);
        return a;
    };

    const json::object* kind = nullptr;
    if (const json::value* k = req.if_contains("kind"); k != nullptr && k->is_object()) {
        kind = &k->get_object();
    }
    const bool is_pod = kind != nullptr && string_at(*kind, "kind") == "Pod" &&
                        string_at(*kind, "group").empty() && string_at(*kind, "version") == "v1";
    const json::value* object = req.if_contains("object");
    if (!is_pod || string_at(req, "operation") != "CREATE" || object == nullptr ||
        !object->is_object()) {
        a.log_line = fmt::format("{} {}: not a Pod CREATE, allowed unchanged",
                                 string_at(req, "operation"),
                                 kind != nullptr ? string_at(*kind, "kind") : "?");
        return finish();
    }

    std::string ns = string_at(req, "namespace");
    std::string name = string_at(req, "name");
    if (const json::value* m = object->get_object().if_contains("metadata"); m && m->is_object()) {
        if (ns.empty()) {
            ns = string_at(m->get_object(), "namespace");
        }
        if (name.empty()) {
            name = string_at(m->get_object(), "name");
        }
        if (name.empty() && !string_at(m->get_object(), "generateName").empty()) {
            name = string_at(m->get_object(), "generateName") + "*";
        }
    }
    if (ns.empty()) {
        ns = "default";
    }
    json::value pod = *object;
    const pod_result r = inj.inject(pod.get_object(), ns);
    for (const auto& w : r.warnings) {
        warnings.push_back(json::string("outrigger inject: " + w));
    }
    const std::string who = fmt::format("Pod {}/{}", ns, name);
    switch (r.status) {
    case pod_result::status_t::injected: {
        const json::array patch = json_patch(*object, pod);
        response["patchType"] = "JSONPatch";
        response["patch"] = base64_encode(json::serialize(patch));
        a.log_line = fmt::format("{}: injected as {}", who, r.message);
        break;
    }
    case pod_result::status_t::unchanged:
        a.log_line = fmt::format("{}: not injected: {}", who, r.message);
        break;
    case pod_result::status_t::error:
        warnings.push_back(json::string("outrigger inject: not injected: " + r.message));
        a.log_line = fmt::format("{}: error: not injected: {}", who, r.message);
        break;
    }
    return finish();
}

}  // namespace outrigger::inject
