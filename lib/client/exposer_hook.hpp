// What Client::create needs for Config::metrics_address, declared here and defined in the layer
// above (export/prometheus.cpp, or export/no_prometheus.cpp in a build without prometheus-cpp):
// the facade owns the exposer without depending on prometheus-cpp.
//
// Thread safety: called once, from Client::create.
#pragma once

#include <memory>
#include <string>

#include "rcache/error.hpp"

namespace rcache {
class Client;
}

namespace rcache::detail {

// Starts an exposer serving `client`'s metrics on `address`; the returned handle stops it.
Result<std::shared_ptr<void>> start_owned_exposer(Client& client, const std::string& address);

}  // namespace rcache::detail
