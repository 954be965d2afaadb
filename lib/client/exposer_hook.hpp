// What Client::create needs for Config::metrics_address, declared here and defined in the layer
// above (export/prometheus.cpp, or export/no_prometheus.cpp in a build without prometheus-cpp):
// the facade owns the exposer without depending on prometheus-cpp.
//
// Thread safety: start_owned_exposer is called from Client::create; visit_live_clients from any
// thread.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "rcache/error.hpp"

namespace rcache {
class Client;
}

namespace rcache::detail {

// Serves `client`'s metrics on `address`: clients that name the same address (port 0 excepted)
// share one exposer. The returned handle takes the client off it; the last one stops it.
Result<std::shared_ptr<void>> start_owned_exposer(Client& client, const std::string& address);

// Calls fn for every Client alive in the process, in creation order, under a lock that a Client's
// destructor takes before anything else (so fn may call const members such as stats()).
void visit_live_clients(const std::function<void(Client&)>& fn);

}  // namespace rcache::detail
