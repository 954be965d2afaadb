// The public view of the envelope (rcache/stored_value.hpp) over codec/envelope.
#include "rcache/stored_value.hpp"

#include "cache/xfetch.hpp"
#include "codec/envelope.hpp"

namespace rcache {

std::string_view to_string(StoredValueInfo::Codec c) noexcept {
  switch (c) {
    case StoredValueInfo::Codec::plain:
      return "plain";
    case StoredValueInfo::Codec::stored:
      return "stored";
    case StoredValueInfo::Codec::zlib:
      return "zlib";
    case StoredValueInfo::Codec::legacy_hex:
      return "legacy_hex";
    case StoredValueInfo::Codec::not_found:
      return "not_found";
  }
  return "unknown";
}

Result<StoredValueInfo> inspect_stored(std::string_view stored, bool legacy_hex) {
  StoredValueInfo info;
  info.stored_bytes = stored.size();
  info.original_bytes = stored.size();
  if (stored == detail::kNegativeMarker) {
    info.codec = StoredValueInfo::Codec::not_found;
    info.original_bytes = 0;
    return info;
  }
  if (!detail::looks_like_envelope(stored)) {
    constexpr std::string_view kLegacy = "compressed:";
    if (legacy_hex && stored.substr(0, kLegacy.size()) == kLegacy) {
      // The original length is only known by inflating: decode_stored() tells it.
      info.codec = StoredValueInfo::Codec::legacy_hex;
    }
    return info;
  }
  auto head = detail::read_envelope_head(stored, "");
  if (!head) return std::move(head).error();
  info.codec = head->compressed ? StoredValueInfo::Codec::zlib : StoredValueInfo::Codec::stored;
  info.original_bytes = head->length;
  return info;
}

Result<std::string> decode_stored(std::string stored, bool legacy_hex,
                                  std::size_t max_decompressed) {
  if (stored == detail::kNegativeMarker) {
    return Error{Errc::invalid_argument,
                 "the value is get_or_load's cached \"not found\" marker, not a value"};
  }
  detail::EnvelopeOptions o;
  o.legacy_hex = legacy_hex;
  o.max_decompressed = max_decompressed;
  try {
    return detail::decode_value(std::move(stored), o, "");
  } catch (const std::bad_alloc&) {
    return Error{Errc::too_large, "out of memory decoding the value"};
  }
}

}  // namespace rcache
