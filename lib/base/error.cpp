// Errc names, the std::error_category, and Error::to_string().
#include "rcache/error.hpp"

namespace rcache {

std::string_view to_string(Errc code) noexcept {
  switch (code) {
    case Errc::timeout:
      return "timeout";
    case Errc::connection:
      return "connection";
    case Errc::protocol:
      return "protocol";
    case Errc::server:
      return "server";
    case Errc::auth:
      return "auth";
    case Errc::invalid_argument:
      return "invalid_argument";
    case Errc::too_large:
      return "too_large";
    case Errc::corrupt_value:
      return "corrupt_value";
    case Errc::disabled:
      return "disabled";
    case Errc::circuit_open:
      return "circuit_open";
    case Errc::rejected:
      return "rejected";
    case Errc::shutdown:
      return "shutdown";
    case Errc::tls:
      return "tls";
  }
  return "unknown";
}

namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "rcache"; }
  std::string message(int value) const override {
    return std::string(to_string(static_cast<Errc>(value)));
  }
};
}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

std::error_code make_error_code(Errc code) noexcept {
  return {static_cast<int>(code), error_category()};
}

std::string Error::to_string() const {
  std::string out(rcache::to_string(code));
  out += ": ";
  out += message;
  return out;
}

void abort_on_bad_result_access(const Error& e) noexcept {
  std::fprintf(stderr, "rcache: value() called on a Result holding an error: %s\n",
               e.to_string().c_str());
  std::abort();
}

}  // namespace rcache
