// libFuzzer target: decode_value() on arbitrary stored bytes must never crash, hang or allocate
// past its cap, and whatever it accepts must re-encode and decode to the same bytes.
// Build and run: see README ("Fuzzing").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "codec/envelope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rcache::detail::EnvelopeOptions o;
  o.max_decompressed = 1 << 20;  // small cap: an over-allocation would show at once
  o.legacy_hex = (size & 1) != 0;
  std::string stored(reinterpret_cast<const char*>(data), size);
  auto r = rcache::detail::decode_value(std::move(stored), o, "fuzz");
  if (r.ok()) {
    if (r->size() > o.max_decompressed && rcache::detail::looks_like_envelope(std::string_view(
                                              reinterpret_cast<const char*>(data), size))) {
      std::abort();  // decoded past the cap
    }
    const auto e = rcache::detail::encode_value(*r, o);
    auto again = rcache::detail::decode_value(std::string(e.view(*r)), o, "fuzz");
    if (!again.ok() || *again != *r) std::abort();  // round trip broken
  }
  return 0;
}
