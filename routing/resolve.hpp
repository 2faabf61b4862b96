#pragma once
// Resolution (spec §9): awsName defaults, namespace defaulting of references, ARN references
// mapped to loaded objects, mesh membership (namespaceSelector against Namespace labels; with one
// mesh every object belongs to it; DECISIONS §3.11 implicit mesh), BackendGroup expansion,
// duplicate objects, references that point nowhere. Then `validate` (validate.hpp) checks the
// field rules. `mesh_index` gives O(1) lookups by namespace/name for both and for compile.
//
// Thread-affinity: control thread only.

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "routing/config_error.hpp"
#include "routing/mesh_model.hpp"

namespace outrigger::routing {

/// Lookups into a resolved `mesh_input` (pointers stay valid while the input is not modified).
class mesh_index {
public:
    explicit mesh_index(const mesh_input& in);

    [[nodiscard]] const virtual_node* node(const object_ref& r) const;
    [[nodiscard]] const virtual_service* service(const object_ref& r) const;
    [[nodiscard]] const virtual_router* router(const object_ref& r) const;
    [[nodiscard]] const virtual_gateway* gateway(const object_ref& r) const;
    [[nodiscard]] const backend_group* group(const object_ref& r) const;
    [[nodiscard]] const virtual_node* node(const std::string& ns, const std::string& name) const;
    [[nodiscard]] const virtual_service* service(const std::string& ns, const std::string& name) const;
    [[nodiscard]] const virtual_router* router(const std::string& ns, const std::string& name) const;

    const mesh_input& input() const { return in_; }

private:
    const mesh_input& in_;
    std::unordered_map<std::string, const virtual_node*> nodes_;
    std::unordered_map<std::string, const virtual_service*> services_;
    std::unordered_map<std::string, const virtual_router*> routers_;
    std::unordered_map<std::string, const virtual_gateway*> gateways_;
    std::unordered_map<std::string, const backend_group*> groups_;
};

/// `ns/name` key used by `mesh_index`.
[[nodiscard]] std::string object_key(const std::string& ns, const std::string& name);

struct resolve_options {
    /// `--node` as given (name, namespace/name, mesh/<mesh>/virtualNode/<awsName>, or an ARN);
    /// empty = no node (mesh-wide client, or validate everything).
    std::string node;
    /// `--gateway` as given (name, namespace/name, mesh/<mesh>/virtualGateway/<awsName>, or an
    /// ARN); empty = not a gateway. Exclusive with `node` (the CLI refuses both).
    std::string gateway;
};

struct resolve_result {
    /// The mesh the run/validation is about (index into input.meshes); nullopt when ambiguous.
    std::optional<std::size_t> mesh;
    /// The node selected by `--node`, if any (index into input.virtual_nodes).
    std::optional<std::size_t> node;
    /// The gateway selected by `--gateway`, if any (index into input.virtual_gateways).
    std::optional<std::size_t> gateway;
};

/// Applies defaults and resolves references in place; reports problems into `diags`.
resolve_result resolve(mesh_input& in, const resolve_options& opts, diagnostics& diags);

/// Finds the node named by `spec` (see resolve_options::node). Returns nullopt and a message when
/// there is none or it is ambiguous.
[[nodiscard]] std::optional<std::size_t> find_node(const mesh_input& in, const std::string& spec,
                                                   std::string& error);

/// Finds the gateway named by `spec` (see resolve_options::gateway). Returns nullopt and a message
/// naming the gateways the input has when there is none or it is ambiguous.
[[nodiscard]] std::optional<std::size_t> find_gateway(const mesh_input& in, const std::string& spec,
                                                      std::string& error);

/// True when `spec` is App Mesh's resource form of a gateway: `mesh/M/virtualGateway/NAME` or
/// `arn:aws:appmesh:REGION:ACCOUNT:mesh/M/virtualGateway/NAME` (what APPMESH_RESOURCE_ARN and
/// APPMESH_VIRTUAL_NODE_NAME hold in a gateway pod; the controller sets both).
[[nodiscard]] bool names_virtual_gateway(const std::string& spec);

}  // namespace outrigger::routing
