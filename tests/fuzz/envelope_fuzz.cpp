// libFuzzer target: decode_value() on arbitrary stored bytes must never crash, hang or allocate
// past what the stored bytes can justify, and whatever it accepts must re-encode and decode to
// the same bytes. The decoder is compiled into this target with coverage instrumentation, and the
// options are the defaults (64 MiB cap), so every size the library accepts is reachable.
// Run: scripts/fuzz.sh [seconds] (CI runs it for a bounded time; README, "Fuzzing").
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "codec/envelope.hpp"

namespace {

// The most a decode may return for `size` stored bytes: an envelope's payload inflates at most
// ~1032:1 (the decoder refuses a declared length above that), a legacy hex value half as much.
std::size_t most_justified(std::size_t size) {
  return size * rcache::detail::kDeflateMaxRatio + 1024;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  rcache::detail::EnvelopeOptions o;  // the defaults: the cap users get
  o.legacy_hex = (size & 1) != 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto r = rcache::detail::decode_value(std::string(input), o, "fuzz");
  if (r.ok()) {
    const bool decoded = rcache::detail::looks_like_envelope(input) ||
                         (o.legacy_hex && input.substr(0, 11) == "compressed:");
    if (decoded && (r->size() > o.max_decompressed || r->size() > most_justified(size))) {
      std::abort();  // decoded past the cap or past what the input could hold
    }
    const auto e = rcache::detail::encode_value(*r, o);
    auto again = rcache::detail::decode_value(std::string(e.view(*r)), o, "fuzz");
    if (!again.ok() || *again != *r) std::abort();  // round trip broken
  }
  return 0;
}
