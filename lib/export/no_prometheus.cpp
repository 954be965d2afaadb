// Config::metrics_address in a build without prometheus-cpp: a clear error instead of an exposer.
#include "client/exposer_hook.hpp"

namespace rcache::detail {

Result<std::shared_ptr<void>> start_owned_exposer(Client&, const std::string& address) {
  return Error{Errc::invalid_argument,
               "metrics_address = '" + address +
                   "': this rcache was built without Prometheus support (meson -Dprometheus)"};
}

}  // namespace rcache::detail
